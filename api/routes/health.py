"""Probes and metrics for load balancers, orchestrators and Prometheus: ``/healthz`` (the
process answers; touches nothing), ``/readyz`` (its dependencies answer, each within
``SPACECAST_READY_TIMEOUT_S``) and ``/metrics`` (monitor or admin key)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.roles import Monitor

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    """The process is up and serving; no dependency is asked (a database outage must not make
    an orchestrator restart every API process)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "a dependency is not ready; `checks` names which and why"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers at the newest migration and the broker and the bucket
    answer; otherwise 503, naming what is not ready (a load balancer sends no traffic here)."""
    results = await run_in_threadpool(request.app.state.readiness.run)
    ready = all(r.ready for r in results)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {r.name: {"ready": r.ready, "detail": r.detail} for r in results},
        "not_ready": [r.name for r in results if not r.ready],
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(request: Request, _: Monitor) -> Response:
    """This process's request counts and latencies per route, and the deployment's spaces,
    stage runs, dead letters, vault deletions and queue depths, in Prometheus's format."""
    body = await run_in_threadpool(generate_latest, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
