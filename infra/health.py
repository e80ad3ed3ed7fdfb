"""Readiness: whether this process's dependencies answer (the database at the newest migration,
the broker, the bucket), each check bounded in time, for load balancers and orchestrators."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from infra.settings import Settings


@dataclass(frozen=True)
class CheckResult:
    name: str
    ready: bool
    detail: str  # "ok", or what is wrong in words (no addresses, no internals)
    elapsed_s: float


class Readiness:
    """Named checks (each a callable that raises when its dependency is not ready), run side by
    side and each given ``timeout_s``. A check still running from an earlier call (a dependency
    that hangs) is reported as not ready without starting another, so probes every few seconds
    never pile up threads; one that ended less than ``reuse_s`` ago is answered again, so
    however often the public probe is called, each dependency is asked at most once a second
    (per API process)."""

    def __init__(
        self,
        checks: dict[str, Callable[[], str | None]],
        timeout_s: float,
        *,
        reuse_s: float = 1.0,
    ) -> None:
        self.checks = checks
        self.timeout_s = timeout_s
        self.reuse_s = reuse_s
        self._ended: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()

    def run(self) -> list[CheckResult]:
        started = time.monotonic()
        with self._lock:
            for name, check in self.checks.items():
                previous = self._running.get(name)
                fresh = (
                    previous is not None
                    and previous.done()
                    and (time.monotonic() - self._ended.get(name, 0.0) < self.reuse_s)
                )
                if previous is None or (previous.done() and not fresh):
                    future = self._pool.submit(_timed, check)
                    future.add_done_callback(
                        lambda _, name=name: self._ended.__setitem__(name, time.monotonic())
                    )
                    self._running[name] = future
            futures = dict(self._running)
        results = []
        for name, future in futures.items():
            remaining = max(0.0, self.timeout_s - (time.monotonic() - started))
            try:
                detail, elapsed_s = future.result(timeout=remaining)
                results.append(CheckResult(name, detail == "ok", detail, elapsed_s))
            except FutureTimeout:
                detail = f"no answer within {self.timeout_s:g} s"
                results.append(CheckResult(name, False, detail, time.monotonic() - started))
        return results


def _timed(check: Callable[[], str | None]) -> tuple[str, float]:
    started = time.monotonic()
    try:
        problem = check()
        detail = problem or "ok"
    except Exception as exc:  # the dependency's own error, named by kind only
        detail = f"unreachable ({type(exc).__name__})"
    return detail, round(time.monotonic() - started, 4)


def service_readiness(settings: Settings) -> Readiness:
    """The API's checks: database, migrations, broker, bucket."""
    from infra.db import schema_revisions
    from infra.queue import broker_probe
    from infra.storage import bucket_probe

    timeout_s = settings.ready_timeout_s
    url = settings.database_url

    def database() -> None:
        from sqlalchemy import text

        from infra.db import get_engine

        with get_engine(url).connect() as connection:
            connection.execute(text("SELECT 1"))

    def migrations() -> str | None:
        current, head = schema_revisions(url)
        if current != head:
            return f"schema at revision {current or 'none'}, expected {head}; run spacecast migrate"
        return None

    return Readiness(
        {
            "database": database,
            "migrations": migrations,
            "broker": broker_probe(settings.broker_url, timeout_s),
            "object_store": bucket_probe(settings, timeout_s),
        },
        timeout_s,
    )
