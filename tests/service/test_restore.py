"""Restore from a backup, as docs/operations.md tells an operator to: a published space's
PostgreSQL database (``pg_dump -Fc``) and then its bucket (``rclone sync``) copied away; the
database dropped and the bucket emptied; both restored (``pg_restore``, ``rclone sync`` back)
under a new deployment, which serves the same episode, byte for byte, to the same keys."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from pathlib import Path

import podcastparser
import psycopg
import pytest

from infra.s3server import LocalS3Server, rclone_binary
from infra.samples import build_sample_space, load_spec
from spacecast.demo import publish_sample
from tests.service.stack import PG_ADMIN, ServiceStack

pytestmark = pytest.mark.slow


def _rclone_env(s3: LocalS3Server) -> dict[str, str]:
    """An rclone remote named ``bucket`` for the S3 endpoint, configured through the
    environment (no config file, no keys on the command line)."""
    return {
        **os.environ,
        "RCLONE_CONFIG_BUCKET_TYPE": "s3",
        "RCLONE_CONFIG_BUCKET_PROVIDER": "Other",
        "RCLONE_CONFIG_BUCKET_ENDPOINT": s3.endpoint_url,
        "RCLONE_CONFIG_BUCKET_ACCESS_KEY_ID": s3.access_key,
        "RCLONE_CONFIG_BUCKET_SECRET_ACCESS_KEY": s3.secret_key,
        "RCLONE_CONFIG_BUCKET_FORCE_PATH_STYLE": "true",
    }


def _rclone(s3: LocalS3Server, source: str, dest: str) -> None:
    subprocess.run(
        [rclone_binary(), "sync", "--config", "/dev/null", "--checksum", source, dest],
        env=_rclone_env(s3),
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_a_deployment_restored_from_its_database_and_bucket_backups_serves_the_same_episode(
    s3_server: LocalS3Server, tmp_path: Path
):
    folder = tmp_path / "space"
    spec = load_spec("quick_chat")
    spec["participants"][2]["consent"] = {"record": True, "publish": False}  # every answer given
    build_sample_space(spec, folder)
    original = ServiceStack("redis", s3_server, tmp_path / "original").start()
    with original.client() as client:
        state = publish_sample(client, folder, timeout_s=600)
        assert state["status"] == "published", state["error"]
        episode = state["episode"]
        mp3 = client.get(episode["audio"]["mp3"]).raise_for_status().content
        transcript = client.get(episode["transcripts"]["vtt"]).raise_for_status().text
    host_key = original.host_key
    objects = sorted(original.store().list_keys(""))
    assert any(key.startswith("media/") for key in objects)

    # The backup: the database first, then the bucket (so every object the dump names is in
    # the bucket's copy; objects written in between are only unreferenced extras).
    dump = tmp_path / "backup" / "spacecast.dump"
    dump.parent.mkdir()
    source_db = f"postgresql://postgres@127.0.0.1:5432/{original.database}"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), source_db], check=True, timeout=300)
    bucket_copy = tmp_path / "backup" / "bucket"
    _rclone(s3_server, f"bucket:{original.bucket}", str(bucket_copy))

    # The disaster: the database dropped, the bucket emptied.
    original.stop()
    store = original.store()
    for key in objects:
        store.delete(key)
    assert store.list_keys("") == []

    # The restore, into a new deployment's database and bucket.
    restored = ServiceStack("redis", s3_server, tmp_path / "restored")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restored.database}"')
    target_db = f"postgresql://postgres@127.0.0.1:5432/{restored.database}"
    subprocess.run(
        ["pg_restore", "--no-owner", "-d", target_db, str(dump)], check=True, timeout=300
    )
    restored.store().ensure_bucket()
    _rclone(s3_server, str(bucket_copy), f"bucket:{restored.bucket}")
    restored.start()  # spacecast migrate, then the API and a worker
    try:
        assert sorted(restored.store().list_keys("")) == objects
        with restored.client(host_key) as client:  # the keys came back with the database
            assert client.get("/readyz").status_code == 200
            again = client.get(f"/spaces/{state['id']}").raise_for_status().json()
            assert again["status"] == "published"
            assert again["episode"]["id"] == episode["id"]
            served = client.get(again["episode"]["audio"]["mp3"]).raise_for_status().content
            assert hashlib.sha256(served).hexdigest() == hashlib.sha256(mp3).hexdigest()
            vtt = client.get(again["episode"]["transcripts"]["vtt"]).raise_for_status().text
            assert vtt == transcript
            feed_url = again["episode"]["feed_url"]
            feed = podcastparser.parse(feed_url, io.BytesIO(client.get(feed_url).content))
            assert [e["guid"] for e in feed["episodes"]] == [episode["guid"]]
    finally:
        restored.stop()
