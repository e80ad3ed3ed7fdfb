"""What the load benchmarks share: every HTTP request timed at the transport (each retry is its
own request, so a 5xx a client retried is still counted), latency percentiles, counts by status,
and the CPU of the deployment's processes per 1000 requests (wall figures move with the load on
the machine; CPU per request is comparable between runs)."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.monitor import ProcessMonitor
from infra.s3server import LocalS3Server
from infra.stack import ServiceStack


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` 0.99 for p99); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil(n * share), at least the first
    return ordered[int(rank) - 1]


@dataclass
class RequestLog:
    """Every request's kind, status ("error: ..." for a transport error) and latency in s."""

    entries: list[tuple[str, str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: str, latency_s: float) -> None:
        with self._lock:
            self.entries.append((kind, status, latency_s))

    def summary(self, kind: str | None = None) -> dict:
        with self._lock:
            chosen = [e for e in self.entries if kind is None or e[0] == kind]
        latencies = [e[2] for e in chosen]
        statuses = Counter(e[1] for e in chosen)

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 1)

        return {
            "requests": len(chosen),
            "by_status": dict(sorted(statuses.items())),
            "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
            "transport_errors": sum(n for s, n in statuses.items() if s.startswith("error")),
            "p50_ms": ms(percentile(latencies, 0.50)),
            "p99_ms": ms(percentile(latencies, 0.99)),
            "max_ms": ms(max(latencies, default=None)),
        }


class TimedTransport(httpx.BaseTransport):
    """An httpx transport that logs each request's status and the time to its response headers
    (the acknowledgement: the bodies the benchmarks time are small, or read by the caller)."""

    def __init__(self, log: RequestLog, kind_of, **options) -> None:
        self.log = log
        self.kind_of = kind_of  # request -> kind ("put_chunk", ...)
        self.inner = httpx.HTTPTransport(**options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        began = time.monotonic()
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError as exc:  # a timeout counts as the time waited
            elapsed = time.monotonic() - began
            self.log.add(self.kind_of(request), f"error: {type(exc).__name__}", elapsed)
            raise
        self.log.add(self.kind_of(request), str(response.status_code), time.monotonic() - began)
        return response

    def close(self) -> None:
        self.inner.close()


def cpu_by_role(monitor: ProcessMonitor, requests: int) -> dict:
    """CPU seconds of each watched role while the monitor ran, and per 1000 requests."""
    totals: dict[str, float] = {}
    for record in monitor.snapshot():
        totals[record.role] = totals.get(record.role, 0.0) + record.cpu_s
    return {
        role: {
            "cpu_s": round(cpu, 2),
            "cpu_s_per_1000_requests": round(cpu / requests * 1000, 2) if requests else None,
        }
        for role, cpu in sorted(totals.items())
    }


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def load_stack(work: Path, **env: str) -> tuple[LocalS3Server, ServiceStack]:
    """The deployment a load bench drives, in ``work``: an S3 server (started) and a stack on
    Redis with one worker process of one thread and one Whisper thread (started by the caller),
    its scratch and cache folders inside ``work``; ``env`` adds settings."""
    s3 = LocalS3Server(work / "s3").start()
    (work / "scratch").mkdir()
    stack = ServiceStack(
        "redis",
        s3,
        work / "logs",
        worker_processes=1,
        worker_threads=1,
        SPACECAST_WHISPER_THREADS="1",
        SPACECAST_WORK_DIR=str(work / "scratch"),
        SPACECAST_CACHE_DIR=str(work / "cache"),
        **env,
    )
    return s3, stack
