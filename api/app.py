"""The FastAPI application: routers, error handlers, and the bucket made ready at start-up."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api import errors
from api.deps import store_dep
from api.routes import episodes, shows, spaces
from infra.settings import get_settings

log = logging.getLogger("spacecast.api")


@asynccontextmanager
async def _lifespan(app: FastAPI):
    settings = get_settings()
    if settings.s3_create_bucket:
        await run_in_threadpool(store_dep().ensure_bucket)
    yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="Spacecast",
        version="0.1.0",
        summary="Per-speaker recordings of live audio rooms in, consented podcast episodes out.",
        lifespan=_lifespan,
    )
    errors.install(app)
    app.include_router(shows.router)
    app.include_router(spaces.router)
    app.include_router(episodes.router)

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"status": "ok"}

    return app
