"""The FastAPI application: routers, error handlers, and the bucket made ready at start-up."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors
from api.deps import store_dep
from api.feed_polls import FeedPolls, KeptFeeds
from api.head import HeadRequests
from api.input import CleanURL, declare_clean_parameters
from api.limits import BodyLimit
from api.metrics import RequestIds, RequestMetrics, metrics_registry
from api.routes import (
    chunks,
    clips,
    complaints,
    consent,
    dead_letters,
    episodes,
    erasures,
    me,
    moderation,
    pages,
    search,
    shows,
    spaces,
    users,
    versions,
)
from api.routes import health as probes
from api.web import API_DIR
from infra.health import service_readiness
from infra.queue import install_broker
from infra.settings import get_settings
from services.feed_versions import FeedVersionWatch

log = logging.getLogger("spacecast.api")


@asynccontextmanager
async def _lifespan(app: FastAPI):
    settings = get_settings()
    if settings.s3_create_bucket:
        await run_in_threadpool(store_dep().ensure_bucket)
    watch = app.state.kept_feeds.watch.start() if app.state.kept_feeds.enabled else None
    try:
        yield
    finally:
        if watch is not None:
            await run_in_threadpool(watch.stop)


def content_security_policy(media_delivery: str, s3_endpoint_url: str | None) -> str:
    """The pages load scripts, styles and media only from this site (and, when media is
    redirected to signed bucket URLs, from the bucket); no inline script, no framing."""
    media = "'self'"
    if media_delivery == "redirect":
        endpoint = urlsplit(s3_endpoint_url) if s3_endpoint_url else None
        media += (
            f" {endpoint.scheme}://{endpoint.netloc}" if endpoint else " https://*.amazonaws.com"
        )
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        f"media-src {media} blob:; connect-src {media}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


class SecurityHeaders:
    """ASGI middleware adding the security headers every answer carries (a route's own win)."""

    def __init__(self, app: ASGIApp, policy: str, hsts: bool) -> None:
        self.app = app
        self.policy = policy
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    # Pages send their origin with their own form posts (the sign-in checks
                    # it; under no-referrer a browser sends "Origin: null"), never framed.
                    headers.setdefault("Referrer-Policy", "same-origin")
                    headers.setdefault("X-Frame-Options", "DENY")
                    headers.setdefault("Content-Security-Policy", self.policy)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app() -> FastAPI:
    settings = get_settings()
    install_broker()
    app = FastAPI(
        title="Spacecast",
        version="0.1.0",
        summary="Per-speaker recordings of live audio rooms in, consented podcast episodes out.",
        description=(
            "Authenticate with `Authorization: Bearer <API key>`. Each operation's access is "
            "listed in docs/security.md; objects a caller may not reach answer 404."
        ),
        lifespan=_lifespan,
    )
    errors.install(app)
    app.state.readiness = service_readiness(settings)
    app.state.metrics = metrics_registry(settings)
    app.state.kept_feeds = KeptFeeds(
        FeedVersionWatch(settings.database_url), settings.feed_polls_from_memory
    )
    app.include_router(probes.router)
    for router in (
        users.router,
        shows.router,
        spaces.router,
        chunks.router,
        consent.router,
        me.router,
        episodes.router,
        versions.router,
        clips.router,
        complaints.router,
        moderation.router,
        erasures.router,
        search.router,
        dead_letters.router,
    ):
        app.include_router(router, responses=errors.COMMON_RESPONSES)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(API_DIR / "static")), name="static")
    app.add_middleware(
        BodyLimit,
        default_bytes=settings.max_body_bytes,
        upload_bytes=settings.max_track_bytes + 64 * 1024,
    )
    app.add_middleware(CleanURL)
    # Inside the request ids, metrics and security headers, so a poll answered from memory
    # carries what the route's answer carries.
    app.add_middleware(FeedPolls, kept=app.state.kept_feeds)
    # Outside the polls from memory (a HEAD of a feed is answered from memory too), inside the
    # metrics and the access log, which keep the request's own method.
    app.add_middleware(HeadRequests)
    # Outermost, so every answer is counted: refused bodies and bad URLs too.
    app.add_middleware(RequestMetrics, registry=app.state.metrics)
    build_openapi = app.openapi
    app.openapi = lambda: declare_clean_parameters(build_openapi())  # type: ignore[method-assign]

    policy = content_security_policy(settings.media_delivery, settings.s3_endpoint_url)
    hsts = settings.public_base_url.startswith("https:")

    app.add_middleware(SecurityHeaders, policy=policy, hsts=hsts)

    # Outermost of all: the id is set in the context uvicorn's access log line is written in.
    app.add_middleware(RequestIds)

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"status": "ok"}

    return app
