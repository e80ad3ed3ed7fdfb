"""Redelivery after ``kill -9`` of a worker mid-transcription, on Redis and on RabbitMQ: the time
from the kill (a new worker started at once) to the stage's next attempt starting, which is how
long a crashed worker host holds up a space.

RabbitMQ hands a dead consumer's unacknowledged messages back as soon as its connection closes.
Dramatiq's Redis broker hands them back only in a maintenance pass, run by a share of broker
commands (``SPACECAST_REDIS_MAINTENANCE_CHANCE``) once the dead worker has missed its heartbeats
for ``SPACECAST_REDIS_HEARTBEAT_TIMEOUT_S``. ``--redis-chance 0.001`` measures Dramatiq's own
default; the scheduler's stuck rule (the retry backoff plus ten minutes) bounds it either way.

    .venv/bin/python -m bench.redelivery [--brokers redis rabbitmq] [--redis-chance 0.1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psycopg

from infra.s3server import LocalS3Server
from infra.samples import build_sample_space, load_spec
from infra.stack import ServiceStack
from spacecast.demo import submit_sample


def _transcription(stack: ServiceStack, space_id: str) -> tuple[str, int] | None:
    """(subject, attempts) of a running transcription of the space."""
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT subject, attempts FROM stage_runs WHERE space_id = %s "
            "AND stage = 'transcribe' AND status = 'running' ORDER BY started_at LIMIT 1",
            (space_id,),
        ).fetchone()
    return (row[0], row[1]) if row else None


def _attempts(stack: ServiceStack, space_id: str, subject: str) -> int:
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT attempts FROM stage_runs WHERE space_id = %s AND stage = 'transcribe' "
            "AND subject = %s",
            (space_id, subject),
        ).fetchone()[0]


def measure(broker: str, s3: LocalS3Server, sample: Path, logs: Path, env: dict, give_up_s: float):
    stack = ServiceStack(broker, s3, logs, **env).start()
    try:
        with stack.client() as client:
            space_id = submit_sample(client, sample)
            deadline = time.monotonic() + 300
            while (running := _transcription(stack, space_id)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("no transcription started")
                time.sleep(0.01)
            subject, attempts = running
            stack.kill_workers()
            killed = time.monotonic()
            stack.start_worker()
            while _attempts(stack, space_id, subject) == attempts:
                if time.monotonic() - killed > give_up_s:
                    return {"broker": broker, "redelivered_s": None, "gave_up_after_s": give_up_s}
                time.sleep(0.1)
            return {"broker": broker, "redelivered_s": round(time.monotonic() - killed, 1)}
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--brokers", nargs="+", default=["redis", "rabbitmq"])
    parser.add_argument("--redis-chance", default="0.1", help="SPACECAST_REDIS_MAINTENANCE_CHANCE")
    parser.add_argument("--give-up-s", type=float, default=1200.0)
    parser.add_argument("--out", default="bench/out/redelivery.json")
    args = parser.parse_args()
    env = {"SPACECAST_REDIS_MAINTENANCE_CHANCE": args.redis_chance}
    results = []
    with tempfile.TemporaryDirectory() as tmp, LocalS3Server(Path(tmp) / "s3") as s3:
        sample = Path(tmp) / "sample"
        build_sample_space(load_spec("quick_chat"), sample)
        for broker in args.brokers:
            result = measure(broker, s3, sample, Path(tmp) / broker, env, args.give_up_s)
            result["redis_maintenance_chance"] = float(args.redis_chance)
            print(json.dumps(result), flush=True)
            results.append(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
