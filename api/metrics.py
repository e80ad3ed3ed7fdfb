"""What operators observe of the API: each request's id (in its log lines and its
``X-Request-ID`` header), and what ``GET /metrics`` exposes in Prometheus's text format: this
process's requests (counted and timed per route template, never per raw path, so ids and probes
cannot grow the series) and the deployment's figures read at scrape time
(``services.monitoring``, the broker's queue depths)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.db import session_scope
from infra.logs import request_id, request_id_for
from infra.queue import queue_depths
from infra.settings import Settings
from services.monitoring import deployment_figures

log = logging.getLogger("spacecast.api")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: a page or JSON call is tens of milliseconds; uploads and media streams take longer.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


class RequestIds:
    """ASGI middleware giving each request an id: the caller's ``X-Request-ID`` when it is a
    plain token, else a new one; every log line written while answering it carries the id, and
    the response says it in ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = request_id_for(offered)
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", rid.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by method, route template and
    status. The time is to the response's first byte (a streamed episode's body is not in it);
    a path no route matches is counted as ``unmatched``."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "spacecast_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "spacecast_http_request_duration_seconds",
            "Time from a request's arrival to its response's headers, by method and route",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}  # an exception that escapes becomes a 500

        async def send_and_observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                self._observe(scope, status["code"], time.perf_counter() - started)
                status["observed"] = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            if "observed" not in status:
                self._observe(scope, status["code"], time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, elapsed_s: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = route_template(scope)
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(elapsed_s)


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/spaces/{space_id}``), a mount's prefix, or
    ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return path or "/"


class DeploymentCollector(Collector):
    """The deployment's figures, read from the database and the broker at each scrape; a
    source that does not answer is reported by ``spacecast_scrape_source_up`` and its figures
    left out (never stale ones passed off as current)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "spacecast_scrape_source_up",
            "1 when this scrape read the source's figures, 0 when it did not answer",
            labels=["source"],
        )
        try:
            with session_scope(self.settings.database_url) as session:
                figures = deployment_figures(session)
        except Exception as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
            yield from _database_families(figures)
        try:
            depths = queue_depths(self.settings.broker_url, self.settings.ready_timeout_s)
        except Exception as exc:
            log.warning("metrics: the broker did not answer (%s)", type(exc).__name__)
            up.add_metric(["broker"], 0)
        else:
            up.add_metric(["broker"], 1)
            queued = GaugeMetricFamily(
                "spacecast_queue_messages",
                "Messages the broker holds per queue: ready (waiting; on Redis also fetched and "
                "not yet acknowledged), delayed (retries in their backoff), dead (out of retries)",
                labels=["queue", "state"],
            )
            for queue, counts in sorted(depths.items()):
                for state, count in counts.items():
                    queued.add_metric([queue, state], count)
            yield queued
        yield up


def _database_families(figures) -> Iterator[Metric]:
    spaces = GaugeMetricFamily("spacecast_spaces", "Spaces by status", labels=["status"])
    for status, count in sorted(figures.spaces.items()):
        spaces.add_metric([status], count)
    yield spaces
    runs = GaugeMetricFamily(
        "spacecast_stage_runs",
        "Stage runs by stage and status (retrying: a transient error, the queue delivers it "
        "again; failed: for good, or out of retries)",
        labels=["stage", "status"],
    )
    for (stage, status), count in sorted(figures.stage_runs.items()):
        runs.add_metric([stage, status], count)
    yield runs
    dead = GaugeMetricFamily(
        "spacecast_dead_letters",
        "Messages the workers gave up on (pending: not sent again since)",
        labels=["state"],
    )
    dead.add_metric(["pending"], figures.dead_letters_pending)
    dead.add_metric(["all"], figures.dead_letters)
    yield dead
    deletions = GaugeMetricFamily(
        "spacecast_vault_deletions",
        "Vault objects the sweeper deletes: done (verified gone), pending (written down, not yet "
        "verified gone), failing (pending, and a delete was tried and failed)",
        labels=["state"],
    )
    deletions.add_metric(["done"], figures.deletions_done)
    deletions.add_metric(["pending"], figures.deletions_pending)
    deletions.add_metric(["failing"], figures.deletions_failing)
    yield deletions


def metrics_registry(settings: Settings) -> CollectorRegistry:
    """A registry of this app's own (not prometheus_client's global one, so several apps in one
    process, as in tests, keep their figures apart) with the deployment's figures in it."""
    registry = CollectorRegistry()
    registry.register(DeploymentCollector(settings))
    return registry
