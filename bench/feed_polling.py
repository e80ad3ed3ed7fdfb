"""Podcast apps polling one feed: a bounded load on loopback against the real service (API,
PostgreSQL, the S3 server), the sample space published first. Requests start on a fixed
schedule (open loop, ``--rate`` a second for ``--seconds``), 95 % of them conditional
(If-None-Match with the feed's current ETag), the rest plain. Writes the latency percentiles,
the share answered 304 and the count of 5xx.

    .venv/bin/python -m bench.feed_polling [--rate 400] [--seconds 60] [--out bench/out/feed.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from pathlib import Path

import httpx

from infra.s3server import LocalS3Server
from infra.samples import build_sample_space, load_spec
from infra.stack import ServiceStack
from spacecast.demo import publish_sample


async def _poll(url: str, etag: str, rate: float, seconds: float, seed: int) -> list[tuple]:
    """(latency s, status, conditional, late s) per request. Request i is due at i / rate; 64
    connections take them in order, so a server that falls behind shows as lateness (the time
    a request waited past its due moment), which counts in its latency too."""
    rng = random.Random(seed)
    total = int(rate * seconds)
    plan = [rng.random() < 0.95 for _ in range(total)]
    results: list[tuple] = []
    next_index = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        start = time.perf_counter()

        async def connection() -> None:
            nonlocal next_index
            while next_index < total:
                index = next_index
                next_index += 1
                due = start + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                headers = {"If-None-Match": etag} if plan[index] else {}
                sent = time.perf_counter()
                try:
                    status = (await client.get(url, headers=headers)).status_code
                except httpx.HTTPError:
                    status = 0
                done = time.perf_counter()
                results.append((done - due, status, plan[index], max(0.0, sent - due)))

        await asyncio.gather(*(connection() for _ in range(64)))
    return results


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=Path("bench/out/feed_polling.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spacecast-feed-bench-") as tmp:
        work = Path(tmp)
        sample = work / "sample"
        build_sample_space(load_spec("town_square"), sample)
        s3 = LocalS3Server(work / "s3").start()
        stack = ServiceStack("redis", s3, work / "logs")
        try:
            stack.start()
            with stack.client() as host:
                state = publish_sample(host, sample, timeout_s=900)
            url = f"{stack.base_url}/shows/{state['show_id']}/feed.xml"
            first = httpx.get(url)
            etag = first.headers["etag"]
            results = asyncio.run(_poll(url, etag, args.rate, args.seconds, seed=1))
        finally:
            stack.stop()
            s3.stop()
    latencies = [r[0] * 1000 for r in results]
    statuses = [r[1] for r in results]
    conditional = [r for r in results if r[2]]
    figures = {
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "requests": len(results),
        "feed_bytes": len(first.content),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p95_ms": round(_percentile(latencies, 0.95), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "share_304": round(statuses.count(304) / len(results), 4),
        "conditional_answered_304": round(
            sum(1 for r in conditional if r[1] == 304) / max(len(conditional), 1), 4
        ),
        "status_5xx": sum(1 for s in statuses if s >= 500),
        "failed": statuses.count(0),
        "late_p99_ms": round(_percentile([r[3] * 1000 for r in results], 0.99), 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
