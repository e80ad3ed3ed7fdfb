"""Vault sweep throughput: objects deleted per second on a bucket of many thousands of raw
objects (a real S3 server, rclone serve s3, and PostgreSQL), with the plain alternative (one
DeleteObject request per key) measured in the same run.

    .venv/bin/python -m bench.sweeper [--spaces 100] [--objects-per-space 100] [--plain 1000]
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import psycopg

from infra.db import migrate, session_scope
from infra.models import Participant, Show, Space, Track, utcnow
from infra.s3server import LocalS3Server
from infra.settings import Settings
from infra.storage import ObjectStore
from services.retention import sweep

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spaces", type=int, default=100)
    parser.add_argument("--objects-per-space", type=int, default=100)
    parser.add_argument("--plain", type=int, default=1000, help="keys deleted one by one")
    parser.add_argument("--out", default="bench/out/sweeper.json")
    args = parser.parse_args()
    name = f"spacecast_bench_sweep_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp, LocalS3Server(Path(tmp) / "s3") as s3:
            env = s3.env("bench-sweep")
            settings = Settings(
                **{k.removeprefix("SPACECAST_").lower(): v for k, v in env.items()},
                database_url=url,
            )
            migrate(url)
            store = ObjectStore(settings)
            store.ensure_bucket()
            ended = utcnow() - timedelta(days=40)
            keys: list[str] = []
            with session_scope(url) as session:
                show = Show(title="Bench", author="Bench")
                session.add(show)
                session.flush()
                for n in range(args.spaces):
                    space = Space(show_id=show.id, title=f"s{n}", finished_at=ended)
                    session.add(space)
                    session.flush()
                    participant = Participant(space_id=space.id, handle="p", name="P")
                    session.add(participant)
                    session.flush()
                    space_keys = [
                        f"raw/{space.id}/{participant.id}/chunk-{i:05d}"
                        for i in range(args.objects_per_space)
                    ]
                    session.add(
                        Track(
                            participant_id=participant.id,
                            object_key=space_keys[0],
                            sha256="0" * 64,
                            size_bytes=1024,
                            format_name="ogg",
                            codec="opus",
                            sample_rate_hz=48000,
                            channels=1,
                            duration_s=1.0,
                        )
                    )
                    keys.extend(space_keys)
            payload = b"\0" * 1024
            started = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda k: store.put_bytes(k, payload, content_type="x/y"), keys))
            upload_s = time.perf_counter() - started
            report = sweep(store, url, settings.retention_policy())
            left = len(store.list_keys("raw/"))
            plain_keys = [f"plain/{i:05d}" for i in range(args.plain)]
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(lambda k: store.put_bytes(k, payload, content_type="x/y"), plain_keys)
                )
            started = time.perf_counter()
            for key in plain_keys:
                store.delete(key)
            plain_s = time.perf_counter() - started
        result = {
            "objects": len(keys),
            "spaces": args.spaces,
            "upload_s": round(upload_s, 2),
            "sweep": report.as_dict(),
            "objects_left_in_bucket": left,
            "plain_delete_per_key": {
                "objects": args.plain,
                "wall_s": round(plain_s, 2),
                "objects_per_s": round(args.plain / plain_s, 1),
            },
        }
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if result["objects_left_in_bucket"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
