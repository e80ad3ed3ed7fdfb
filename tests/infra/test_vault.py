"""The vault sweep against real PostgreSQL and a real S3 server, with time passed in: expired
spaces lose every raw object (checked on the bucket listing), held ones keep theirs, released
holds let them go, published media is untouched, and deletions that fail are retried."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from infra.db import migrate, session_scope
from infra.models import Complaint, Deletion, Participant, Show, Space, Track, utcnow
from infra.s3server import LocalS3Server
from infra.settings import Settings
from infra.storage import ObjectStore, media_key, raw_track_key, review_transcript_key
from services.retention import sweep

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = timedelta(days=1)


@pytest.fixture
def database_url() -> Iterator[str]:
    name = f"spacecast_vault_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    migrate(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path / "s3").start()
    yield server
    server.stop()


def _store(s3: LocalS3Server, database_url: str, **extra) -> tuple[ObjectStore, Settings]:
    env = s3.env(f"vault-{secrets.token_hex(3)}")
    settings = Settings(
        **{k.removeprefix("SPACECAST_").lower(): v for k, v in env.items()},
        database_url=database_url,
        **extra,
    )
    store = ObjectStore(settings)
    store.ensure_bucket()
    return store, settings


def _show(session) -> Show:
    show = Show(title="Show", author="Host")
    session.add(show)
    session.flush()
    return show


def _space(session, store: ObjectStore, show: Show, title: str, ended, speakers=2) -> str:
    """A finished space with raw tracks, a review transcript, a stray upload and an episode file."""
    space = Space(show_id=show.id, title=title, status="published", finished_at=ended)
    session.add(space)
    session.flush()
    for n in range(speakers):
        participant = Participant(space_id=space.id, handle=f"p{n}", name=f"P{n}")
        session.add(participant)
        session.flush()
        key = raw_track_key(space.id, participant.id, f"t{n}")
        store.put_bytes(key, b"raw audio " * 100, content_type="audio/ogg")
        store.put_bytes(
            review_transcript_key(space.id, participant.id, "ab" * 32),
            b"[]",
            content_type="application/json",
        )
        session.add(
            Track(
                participant_id=participant.id,
                object_key=key,
                sha256="0" * 64,
                size_bytes=1000,
                format_name="ogg",
                codec="opus",
                sample_rate_hz=48000,
                channels=1,
                duration_s=10.0,
                uploaded_at=ended,
            )
        )
    # An upload that crashed before its row was written: swept with the rest of the vault.
    store.put_bytes(f"raw/{space.id}/orphan/upload", b"x", content_type="audio/ogg")
    store.put_bytes(media_key(space.id, "r1", "episode.mp3"), b"mp3", content_type="audio/mpeg")
    session.flush()
    return space.id


def _complain(session, space_id: str, *, status="open", decided_at=None) -> None:
    session.add(
        Complaint(
            space_id=space_id,
            target="space",
            category="harassment",
            text="t",
            reporter="user:x",
            status=status,
            decided_at=decided_at,
        )
    )


def test_sweep_deletes_expired_unheld_recordings_and_keeps_held_ones(s3, database_url) -> None:
    store, settings = _store(s3, database_url)
    t0 = utcnow()
    now = t0 + 31 * DAY  # "31 days later", injected
    window = settings.retention_policy().appeal_window
    with session_scope(database_url) as session:
        show = _show(session)
        expired = _space(session, store, show, "expired", t0)
        fresh = _space(session, store, show, "ended yesterday", t0 + 30 * DAY)
        held = _space(session, store, show, "open complaint", t0)
        _complain(session, held)
        released = _space(session, store, show, "appeal window over", now - window - 10 * DAY)
        _complain(session, released, status="dismissed", decided_at=now - window - DAY)
        appeal = _space(session, store, show, "appeal window open", now - window - 10 * DAY)
        _complain(session, appeal, status="actioned", decided_at=now - window + DAY)

    report = sweep(store, database_url, settings.retention_policy(), now)

    def vault(space_id: str) -> list[str]:
        return store.list_keys(f"raw/{space_id}/")

    assert vault(expired) == [] and vault(released) == []
    assert len(vault(fresh)) == 5 and len(vault(held)) == 5 and len(vault(appeal)) == 5
    for space_id in (expired, released, fresh, held, appeal):  # published media is not the vault
        assert store.exists(media_key(space_id, "r1", "episode.mp3"))
    assert report.spaces_swept == 2 and report.objects_deleted == 10 and report.objects_failed == 0
    assert report.spaces_held == 2
    with session_scope(database_url) as session:
        for space_id in (expired, released):
            assert session.get(Space, space_id).vault_deleted_at is not None
            tracks = session.scalars(
                select(Track).join(Participant).where(Participant.space_id == space_id)
            ).all()
            assert tracks == []
            records = session.scalars(select(Deletion).where(Deletion.space_id == space_id)).all()
            assert len(records) == 5 and all(r.deleted_at is not None for r in records)
            assert all(r.reason.startswith("retention: expired") for r in records)
        assert session.get(Space, held).vault_deleted_at is None

    again = sweep(store, database_url, settings.retention_policy(), now)
    assert again.objects_deleted == 0 and again.spaces_swept == 0  # safe to run twice

    later = sweep(store, database_url, settings.retention_policy(), now + 60 * DAY)
    assert vault(fresh) == [] and vault(appeal) == [] and len(vault(held)) == 5
    assert later.spaces_swept == 2


def test_a_failed_deletion_is_recorded_and_retried_until_the_objects_are_gone(
    s3, database_url
) -> None:
    store, settings = _store(s3, database_url, s3_max_attempts=1)
    t0 = utcnow()
    with session_scope(database_url) as session:
        show = _show(session)
        space_id = _space(session, store, show, "expired", t0)
    s3.stop()  # the S3 endpoint is down during the sweep
    try:
        report = sweep(store, database_url, settings.retention_policy(), t0 + 31 * DAY)
    finally:
        s3.start()
    assert report.objects_failed == 2 and report.objects_deleted == 0
    with session_scope(database_url) as session:
        pending = session.scalars(select(Deletion).where(Deletion.deleted_at.is_(None))).all()
        assert len(pending) == 2 and all(r.attempts == 1 and r.last_error for r in pending)
        assert session.get(Space, space_id).vault_deleted_at is None
    assert len(store.list_keys(f"raw/{space_id}/")) == 5  # nothing was lost or half-forgotten

    retried = sweep(store, database_url, settings.retention_policy(), t0 + 31 * DAY)
    assert retried.objects_deleted == 5 and retried.objects_failed == 0
    assert store.list_keys(f"raw/{space_id}/") == []
    with session_scope(database_url) as session:
        records = session.scalars(select(Deletion)).all()
        assert len(records) == 5 and all(r.deleted_at is not None for r in records)


def test_a_track_withdrawn_while_held_goes_when_the_hold_ends(s3, database_url) -> None:
    # A year's retention, so the hold ends before the rest of the vault expires.
    store, settings = _store(s3, database_url, retention_days=365)
    t0 = utcnow()
    with session_scope(database_url) as session:
        show = _show(session)
        space_id = _space(session, store, show, "held", t0)
        _complain(session, space_id, status="dismissed", decided_at=t0 + DAY)
        track = session.scalars(
            select(Track).join(Participant).where(Participant.space_id == space_id)
        ).first()
        track.erase_requested_at = t0 + 2 * DAY
        withdrawn_key = track.object_key
    policy = settings.retention_policy()
    sweep(store, database_url, policy, t0 + 5 * DAY)
    assert store.exists(withdrawn_key)  # the appeal window still holds it
    report = sweep(store, database_url, policy, t0 + 92 * DAY)
    assert not store.exists(withdrawn_key) and report.tracks_erased == 1
    assert len(store.list_keys(f"raw/{space_id}/")) == 4  # the others' recordings stay
    with session_scope(database_url) as session:
        assert session.scalars(select(Track).where(Track.object_key == withdrawn_key)).all() == []
        record = session.scalars(select(Deletion).where(Deletion.object_key == withdrawn_key)).one()
        assert record.reason == "record consent withdrawn" and record.deleted_at is not None


def _sweep_with_clock(s3: LocalS3Server, store: ObjectStore, database_url: str, offset: str):
    """``spacecast sweep`` as its own process with its clock moved by ``offset`` (libfaketime,
    e.g. "+31d"): every clock call of that process, Python's and its libraries', is moved.
    Returns (exit status, report)."""
    env = {
        **os.environ,
        **s3.env(store.bucket),
        "SPACECAST_DATABASE_URL": database_url,
        "SPACECAST_S3_CREATE_BUCKET": "false",
        "SPACECAST_S3_MAX_ATTEMPTS": "1",
    }
    done = subprocess.run(
        ["faketime", "-f", offset, sys.executable, "-m", "spacecast", "sweep"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def _deletions(database_url: str, space_id: str) -> list[Deletion]:
    with session_scope(database_url) as session:
        return list(session.scalars(select(Deletion).where(Deletion.space_id == space_id)))


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs libfaketime (bootstrap test)")
def test_a_sweeper_whose_clock_jumps_31_days_neither_deletes_early_nor_misses_a_due_vault(
    s3, database_url
) -> None:
    """The sweeper decides by the database's clock, not its host's. 31 days behind, it still
    finds the due vault and writes its deletions down (the S3 server refuses the skewed
    signatures, so they stay pending and the next sweep with a right clock finishes them);
    31 days ahead, it decides nothing early."""
    store, _ = _store(s3, database_url)
    t0 = utcnow()
    with session_scope(database_url) as session:
        show = _show(session)
        due = _space(session, store, show, "ended 31 days ago", t0 - 31 * DAY)
        fresh = _space(session, store, show, "ended an hour ago", t0 - DAY / 24)
    vault = {space: sorted(store.list_keys(f"raw/{space}/")) for space in (due, fresh)}
    assert len(vault[fresh]) == 5  # 2 tracks, 2 review transcripts, 1 stray upload

    status, behind = _sweep_with_clock(s3, store, database_url, "-31d")
    assert behind["spaces_checked"] == 1  # the due one, not missed
    recorded = _deletions(database_url, due)
    tracks = {key for key in vault[due] if "/review/" not in key and "/orphan/" not in key}
    assert len(tracks) == 2
    assert tracks <= {d.object_key for d in recorded}  # known from the database: written down
    if status == 1:  # the S3 server refused the skewed signatures: pending, retried
        assert all(d.deleted_at is None and d.last_error for d in recorded)

    status, ahead = _sweep_with_clock(s3, store, database_url, "+31d")
    assert ahead["spaces_checked"] <= 1 and ahead["spaces_swept"] <= 1  # only the due one
    assert _deletions(database_url, fresh) == []  # nothing decided early
    assert sorted(store.list_keys(f"raw/{fresh}/")) == vault[fresh]

    status, right = _sweep_with_clock(s3, store, database_url, "+0d")
    assert status == 0, right
    assert store.list_keys(f"raw/{due}/") == []
    assert all(d.deleted_at is not None for d in _deletions(database_url, due))
    assert sorted(store.list_keys(f"raw/{fresh}/")) == vault[fresh]

    # Time really passes (the space's end moved back 31 days): the next sweep takes it.
    with session_scope(database_url) as session:
        space = session.get(Space, fresh)
        space.finished_at = t0 - 31 * DAY
        for participant in space.participants:
            participant.track.uploaded_at = t0 - 31 * DAY
    assert _sweep_with_clock(s3, store, database_url, "+0d")[1]["spaces_swept"] == 1
    assert store.list_keys(f"raw/{fresh}/") == []
    assert store.list_keys(f"media/{fresh}/")  # published media is not the vault's


def test_a_sweep_proves_nothing_of_the_vault_is_left_not_even_an_unfinished_upload(
    s3, database_url
) -> None:
    """A multipart upload that crashed mid-way leaves parts under the vault that no listing of
    objects shows. The sweep aborts it and proves from the bucket that nothing of the vault is
    left: no object, no unfinished upload, and no version or delete marker where the bucket
    keeps versions. rclone's S3 server keeps none (it answers NotImplemented to versioning),
    so there the listing of objects and uploads is the whole proof."""
    store, settings = _store(s3, database_url)
    t0 = utcnow()
    with session_scope(database_url) as session:
        show = _show(session)
        space_id = _space(session, store, show, "expired", t0)
    key = f"raw/{space_id}/crashed/upload"
    upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
    store.client.upload_part(
        Bucket=store.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1000
    )
    with pytest.raises(store.client.exceptions.ClientError, match="NotImplemented"):
        store.client.put_bucket_versioning(
            Bucket=store.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    assert store.versioned() is False and store.versions(f"raw/{space_id}/") == []
    assert store.pending_multipart_uploads(f"raw/{space_id}/") == [key]

    report = sweep(store, database_url, settings.retention_policy(), t0 + 31 * DAY)
    assert report.objects_failed == 0 and report.objects_deleted == 5
    assert store.pending_multipart_uploads(f"raw/{space_id}/") == []
    assert store.list_keys(f"raw/{space_id}/") == []
    with session_scope(database_url) as session:
        assert session.get(Space, space_id).vault_deleted_at is not None


def test_on_a_versioned_bucket_a_sweep_leaves_no_version_and_no_delete_marker(
    database_url,
) -> None:
    """The same proof on a bucket that keeps versions. The S3 server of the tests (rclone) has
    no versioning, so this one runs against moto's in-process S3, a fake that says so: it
    follows AWS's versioning rules (a delete adds a delete marker and keeps every version)."""
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        settings = Settings(
            database_url=database_url, s3_endpoint_url=None, s3_bucket="vault-versioned",
            s3_access_key="testing", s3_secret_key="testing",
        )  # fmt: skip
        store = ObjectStore(settings)
        store.ensure_bucket()
        store.client.put_bucket_versioning(
            Bucket=store.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        t0 = utcnow()
        with session_scope(database_url) as session:
            show = _show(session)
            space_id = _space(session, store, show, "expired", t0)
        prefix = f"raw/{space_id}/"
        rewritten = next(k for k in store.list_keys(prefix) if "/orphan/" in k)
        store.put_bytes(rewritten, b"second version", content_type="audio/ogg")
        store.client.delete_object(Bucket=store.bucket, Key=rewritten)  # a marker over both
        assert store.versioned() and len(store.versions(prefix)) == 7  # 5 objects, 1 more, 1 marker

        report = sweep(store, database_url, settings.retention_policy(), t0 + 31 * DAY)
        assert report.objects_failed == 0
        listing = store.client.list_object_versions(Bucket=store.bucket, Prefix=prefix)
        assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []
        assert store.remains([rewritten], prefix) == {}
        with session_scope(database_url) as session:
            assert session.get(Space, space_id).vault_deleted_at is not None
        media = store.list_keys(f"media/{space_id}/")
        assert len(media) == 1  # the published file is not the vault's
