"""A viral clip: a listener's clip of a published episode, its share page and its audio asked
for at ``--rate`` requests per second for ``--seconds`` (half each), open loop, while another
space is processing in the same deployment (API, worker, PostgreSQL, Redis, the S3 server).

    nice -n 15 .venv/bin/python -m bench.clip_load --rate 500 --seconds 30

Requests go out on schedule whether or not earlier ones were answered (at most
``--connections`` in flight; one waiting for a connection is late, and its latency counts from
when it was due, so a slow service cannot hide behind a slow client). Every audio body is checked
against the clip's bytes as served before the load began. Reports p50/p99 by kind, counts by status,
the rate achieved, whether the other space was still processing, and CPU seconds of the API,
worker and S3 server (and per 1000 requests). Bounded: the schedule is ``rate x seconds``
requests, each with a timeout; what is unanswered 60 s after the schedule ends is cancelled and
counted.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import RequestLog, cpu_by_role, load_average, load_stack
from bench.monitor import ProcessMonitor
from infra.samples import build_sample_space, load_spec
from infra.stack import ServiceStack
from spacecast.demo import submit_sample, wait_until_done


def _say(line: str) -> None:
    print(f"clip-load: {line}", file=sys.stderr, flush=True)


def _published_clip(stack: ServiceStack, sample: Path) -> dict:
    """A published episode of the sample and a listener's ready clip of its first 20 s."""
    with stack.client() as host:
        space_id = submit_sample(host, sample, finish={"missing": "exclude"})
        state = wait_until_done(host, space_id, timeout_s=600)
        if state["status"] != "published":
            raise RuntimeError(f"the sample space ended {state['status']}: {state['stages']}")
    with stack.client(key=None) as anyone:
        made = anyone.post("/listeners", json={"name": "Lee"}).raise_for_status()
        listener = made.json()["key"]["token"]
    with stack.client(key=listener) as client:
        made = client.post(
            f"/episodes/{state['episode']['id']}/clips",
            json={"start_s": 1.0, "end_s": 21.0, "title": "The moment"},
        ).raise_for_status()
        deadline = time.monotonic() + 120
        while True:
            clip = client.get(f"/clips/{made.json()['id']}").raise_for_status().json()
            if clip["status"] in ("ready", "failed"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"clip still {clip['status']}")
            time.sleep(0.2)
        if clip["status"] != "ready":
            raise RuntimeError(f"clip failed: {clip['error']}")
        audio = client.get(clip["audio_url"], follow_redirects=True)
        clip["audio_bytes"] = audio.raise_for_status().content
    return clip


async def _hammer(
    base_url: str,
    urls: list[tuple[str, str]],
    rate: float,
    seconds: float,
    connections: int,
    audio_sha256: str,
    log: RequestLog,
    service: RequestLog,
) -> dict:
    """Send ``rate x seconds`` GETs on schedule, cycling through ``urls`` (kind, path)."""
    total = int(rate * seconds)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    slots = asyncio.Semaphore(connections)
    corrupt = 0
    late = 0  # requests sent more than 100 ms after they were due (no connection free)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=30, follow_redirects=True
    ) as client:

        async def one(kind: str, path: str, due: float) -> None:
            nonlocal corrupt, late
            async with slots:  # a connection of the pool is free for it from here
                sent = time.monotonic()
                late += sent - due > 0.1
                try:
                    response = await client.get(path)
                    status = str(response.status_code)
                    whole = hashlib.sha256(response.content).hexdigest() == audio_sha256
                    if kind == "audio" and response.status_code == 200 and not whole:
                        corrupt += 1
                        status = "200 corrupt"
                except httpx.HTTPError as exc:
                    status = f"error: {type(exc).__name__}"
                done = time.monotonic()
            log.add(kind, status, done - due)  # from when it was due: waiting for a slot counts
            service.add(kind, status, done - sent)  # from when it was sent

        began = time.monotonic()
        tasks = []
        for n in range(total):
            due = began + n / rate
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            kind, path = urls[n % len(urls)]
            tasks.append(asyncio.ensure_future(one(kind, path, due)))
        scheduled_s = time.monotonic() - began
        _, unfinished = await asyncio.wait(tasks, timeout=60)
        for task in unfinished:
            task.cancel()
        wall_s = time.monotonic() - began
    return {
        "scheduled": total,
        "schedule_wall_s": round(scheduled_s, 1),
        "wall_s": round(wall_s, 1),
        "sent_late": late,
        "unanswered": len(unfinished),
        "audio_corrupt": corrupt,
    }


def run(rate: float, seconds: float, connections: int, delivery: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="clip-load-", dir=out))
    sample = work / "sample"
    spec = load_spec("quick_chat")
    build_sample_space(spec, sample)
    s3, stack = load_stack(work, SPACECAST_MEDIA_DELIVERY=delivery)
    report: dict = {
        "config": {
            "rate": rate,
            "seconds": seconds,
            "connections": connections,
            "media_delivery": delivery,
        },
        "load_average_before": load_average(),
    }
    try:
        stack.start()
        assert stack.api is not None and s3.process is not None
        clip = _published_clip(stack, sample)
        audio_sha256 = hashlib.sha256(clip["audio_bytes"]).hexdigest()
        report["clip"] = {"id": clip["id"], "audio_bytes": len(clip["audio_bytes"])}
        base = stack.base_url
        urls = [
            ("page", clip["share_url"].removeprefix(base)),
            ("audio", clip["audio_url"].removeprefix(base)),
        ]
        with stack.client() as host:
            busy = submit_sample(host, sample, finish={"missing": "exclude"})
            deadline = time.monotonic() + 120
            while (status := host.get(f"/spaces/{busy}").json()["status"]) != "processing":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the other space is {status}, not processing")
                time.sleep(0.2)
        roots = {"api": stack.api.pid, "worker": stack.workers[0].pid, "s3": s3.process.pid}
        log, service = RequestLog(), RequestLog()
        monitor = ProcessMonitor(roots, interval_s=0.5).start()
        cpu_before = time.process_time()
        _say(f"{rate:g} requests/s for {seconds:g} s on the share page and the audio")
        figures = asyncio.run(
            _hammer(base, urls, rate, seconds, connections, audio_sha256, log, service)
        )
        monitor.stop()
        figures["load_generator_cpu_s"] = round(time.process_time() - cpu_before, 1)
        with stack.client() as host:
            state = host.get(f"/spaces/{busy}").raise_for_status().json()
            stages = [s["stage"] for s in state["stages"] if s["status"] == "done"]
        everything = log.summary()
        report |= {
            **figures,
            "achieved_rate_per_s": round(everything["requests"] / figures["wall_s"], 1),
            "all": everything,
            "page": log.summary("page"),
            "audio": log.summary("audio"),
            "service_time": {"page": service.summary("page"), "audio": service.summary("audio")},
            "other_space": {"status_after": state["status"], "stages_done_by_then": stages},
            "cpu": cpu_by_role(monitor, everything["requests"]),
            "machine": monitor.other_cpu_s(),
            "load_average_after": load_average(),
        }
        _say(json.dumps({k: report[k] for k in ("all", "cpu")}))
    finally:
        stack.stop()
        s3.stop()
        subprocess.run(["rm", "-rf", str(work / "s3"), str(work / "scratch")], check=False)
    return report


def markdown(report: dict) -> str:
    c = report["config"]
    lines = [
        f"## Viral clip: share page + audio at {c['rate']:g} requests/s for {c['seconds']:g} s "
        f"while another space processes (media delivery: {c['media_delivery']})",
        "",
        f"{report['all']['requests']} of {report['scheduled']} requests answered in "
        f"{report['wall_s']} s ({report['achieved_rate_per_s']}/s; {report['sent_late']} sent "
        f"over 100 ms late for want of a free connection, {report['unanswered']} unanswered); "
        f"5xx {report['all']['server_errors']}, transport errors "
        f"{report['all']['transport_errors']}, audio bodies not byte-exact "
        f"{report['audio_corrupt']}. The other space was {report['other_space']['status_after']} "
        "when the load ended.",
        "",
        "| kind | requests | by status | p50 ms | p99 ms | max ms | service p50 ms | "
        "service p99 ms |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for kind in ("page", "audio"):
        s, t = report[kind], report["service_time"][kind]
        lines.append(
            f"| {kind} | {s['requests']} | {s['by_status']} | {s['p50_ms']} | {s['p99_ms']} | "
            f"{s['max_ms']} | {t['p50_ms']} | {t['p99_ms']} |"
        )
    lines += [
        "",
        "| process | CPU s under load | CPU s per 1000 requests |",
        "|---|---:|---:|",
        *[
            f"| {role} | {v['cpu_s']} | {v['cpu_s_per_1000_requests']} |"
            for role, v in report["cpu"].items()
        ],
        "",
        f"Load generator CPU {report['load_generator_cpu_s']} s. Load average before "
        f"{report['load_average_before']}, after {report['load_average_after']}; machine busy "
        f"{report['machine']['machine_busy_s']} CPU s "
        f"({report['machine']['outside_watched_s']} s outside the deployment).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=100, help="at most in flight")
    parser.add_argument(
        "--media-delivery",
        choices=("proxy", "redirect"),
        default="proxy",
        help="SPACECAST_MEDIA_DELIVERY: the API streams the audio, or redirects to the bucket",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    report = run(args.rate, args.seconds, args.connections, args.media_delivery, args.out)
    name = f"clip-load-{args.rate:g}x{args.seconds:g}s-{args.media_delivery}"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (args.out / f"{name}.md").write_text(text)
    print(text)
    bad = report["all"]["server_errors"] or report["audio_corrupt"] or report["unanswered"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
