"""Podcast apps polling one feed: a bounded load on loopback against the real service (API,
PostgreSQL, the S3 server), the sample space published first. Requests start on a fixed
schedule (open loop, ``--rate`` a second for ``--seconds``), 95 % of them conditional
(If-None-Match with the feed's current ETag), the rest plain. Writes the latency percentiles,
the share answered 304 and the count of 5xx. ``--sequential N`` first sends N conditional polls
one after another on one connection (no queueing: what one poll costs the server).

``--apis`` names the API processes polled in turn, each started on the same database (so on
the same published feed) and polled alone: ``memory`` (polls answered from memory, the
default), ``route`` (every poll through the route: SPACECAST_FEED_POLLS_FROM_MEMORY=false),
``memory-2`` (two processes on one port), ``baseline`` (the API of ``--baseline-tree``, e.g.
a checkout of main). For each: the figures, the CPU seconds its processes spent per 1000
polls, and the load average around it.

    .venv/bin/python -m bench.feed_polling [--rate 400] [--seconds 60] [--sequential 0]
        [--apis route,memory,memory-2,baseline --baseline-tree /work/main]
        [--out bench/out/feed_polling.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from pathlib import Path

import httpx

from infra.s3server import LocalS3Server, free_port
from infra.samples import build_sample_space, load_spec
from infra.stack import ServiceStack
from spacecast.demo import publish_sample


async def _poll(url: str, etag: str, rate: float, seconds: float, seed: int) -> list[tuple]:
    """(latency s, status, conditional, late s) per request. Request i is due at i / rate; 64
    connections take them in order, so a server that falls behind shows as lateness (the time
    a request waited past its due moment), which counts in its latency too.

    The client is plain HTTP/1.1 on asyncio streams (one request written whole, the status line
    and Content-Length read back): an HTTP library's own cost per request, on the same two
    cores, would be the bottleneck at 400/s rather than the server (measured: httpx's async
    client fell seconds behind on an idle machine while the API used a fifth of a core)."""
    total = int(rate * seconds)
    # One in 20 plain, the rest conditional: exactly 95 %, in a shuffled order.
    plan = [index % 20 != 0 for index in range(total)]
    random.Random(seed).shuffle(plan)
    parsed = httpx.URL(url)
    head = f"GET {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}:{parsed.port}\r\n"
    plain = (head + "\r\n").encode()
    conditional = (head + f"If-None-Match: {etag}\r\n\r\n").encode()
    results: list[tuple] = []
    next_index = 0
    start = time.perf_counter()

    async def connection() -> None:
        nonlocal next_index
        reader = writer = None
        while next_index < total:
            index = next_index
            next_index += 1
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
                writer.write(conditional if plan[index] else plain)
                status = await asyncio.wait_for(_response(reader), timeout=10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                status, writer = 0, None
            done = time.perf_counter()
            results.append((done - due, status, plan[index], max(0.0, sent - due)))
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(64)))
    return results


async def _response(reader: asyncio.StreamReader) -> int:
    """Read one response (status line, headers, a Content-Length body); return its status."""
    header = await reader.readuntil(b"\r\n\r\n")
    lines = header.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


def _sequential(url: str, etag: str, count: int) -> list[float]:
    """Latency (s) of ``count`` conditional polls sent one at a time on one connection."""
    latencies = []
    with httpx.Client(timeout=10) as client:
        for _ in range(count):
            sent = time.perf_counter()
            status = client.get(url, headers={"If-None-Match": etag}).status_code
            latencies.append(time.perf_counter() - sent)
            assert status == 304, status
    return latencies


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _cpu_s(session_id: int) -> float:
    """CPU seconds (user and system) of the live processes of a session (an API and the
    processes uvicorn started for it)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


_APIS = {
    "memory": {"workers": 1},
    "route": {"workers": 1, "SPACECAST_FEED_POLLS_FROM_MEMORY": "false"},
    "memory-2": {"workers": 2},
    "baseline": {"workers": 1},
}


def _measure(stack: ServiceStack, name: str, path: str, args: argparse.Namespace) -> dict:
    settings = dict(_APIS[name])
    workers = settings.pop("workers")
    tree = args.baseline_tree if name == "baseline" else None
    port = free_port()
    api = stack.start_api(port, workers=workers, tree=tree, **settings)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        first = httpx.get(url)
        etag = first.headers["etag"]
        one_by_one = _sequential(url, etag, args.sequential)
        load_before = os.getloadavg()
        cpu_before, client_before = _cpu_s(api.pid), time.process_time()
        results = asyncio.run(_poll(url, etag, args.rate, args.seconds, seed=1))
        cpu_s, client_cpu_s = _cpu_s(api.pid) - cpu_before, time.process_time() - client_before
        load_after = os.getloadavg()
    finally:
        stack.stop_process(api)
    latencies = [r[0] * 1000 for r in results]
    statuses = [r[1] for r in results]
    conditional = [r for r in results if r[2]]
    answered = sum(1 for s in statuses if s)
    figures = {
        "api": name,
        "api_processes": workers,
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
        "api_cpu_s_per_1000_polls": round(cpu_s / max(answered, 1) * 1000, 2),
        "client_cpu_s_per_1000_polls": round(client_cpu_s / max(len(results), 1) * 1000, 2),
        "load_average_1m": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    if one_by_one:
        ms = [s * 1000 for s in one_by_one]
        figures["sequential"] = {
            "requests": len(ms),
            "p50_ms": round(_percentile(ms, 0.50), 2),
            "p99_ms": round(_percentile(ms, 0.99), 2),
        }
    print(json.dumps(figures), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sequential", type=int, default=0)
    parser.add_argument("--apis", default="memory", help="comma-separated: " + ", ".join(_APIS))
    parser.add_argument("--baseline-tree", type=Path, help="source tree of the baseline API")
    parser.add_argument("--out", type=Path, default=Path("bench/out/feed_polling.json"))
    args = parser.parse_args()
    apis = args.apis.split(",")
    unknown = [name for name in apis if name not in _APIS]
    if unknown:
        parser.error(f"--apis: unknown {', '.join(unknown)} (known: {', '.join(_APIS)})")
    if "baseline" in apis and args.baseline_tree is None:
        parser.error("--apis baseline needs --baseline-tree (a source tree, e.g. of main)")
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
            path = f"/shows/{state['show_id']}/feed.xml"
            runs = [_measure(stack, name, path, args) for name in apis]
        finally:
            stack.stop()
            s3.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(runs, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
