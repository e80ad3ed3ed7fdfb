"""Every error becomes a JSON body ``{"detail": ...}`` with a message a user can act on; no stack
trace or internal path ever reaches a response."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import schemas
from api.tracks import UploadTooLarge
from infra.faults import dependency_unavailable
from pipeline.chunks import ChunkConflict
from pipeline.errors import (
    FFmpegFailed,
    InvalidEdit,
    InvalidLanguage,
    InvalidManifest,
    InvalidTrack,
    ModelUnavailable,
    NothingToPublish,
    SpacecastError,
    TimeLimitExceeded,
)
from services.errors import Conflict, Forbidden, Gone, Invalid, NotFound

log = logging.getLogger("spacecast.api")

# Most specific first.
STATUS: list[tuple[type[SpacecastError], int]] = [
    (UploadTooLarge, 413),
    (ChunkConflict, 409),
    (InvalidTrack, 422),
    (InvalidManifest, 422),
    (InvalidEdit, 422),
    (InvalidLanguage, 422),
    (TimeLimitExceeded, 422),  # a pathological input: the same one would run out again
    (NothingToPublish, 409),
    (ModelUnavailable, 503),
    # ffmpeg could not make what a request renders on the spot (a cut's preview of a stored mix
    # it cannot read): the server's own part failed, not the request; the message names what.
    (FFmpegFailed, 502),
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (Gone, 410),
    (Invalid, 422),
]


def status_for(exc: SpacecastError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


# Documented on every operation, so clients and schema checkers know every error's shape.
COMMON_RESPONSES: dict[int | str, dict] = {
    status: {"model": schemas.ErrorOut, "description": description}
    for status, description in [
        (400, "bad request"),
        (401, "no API key, or an unknown, revoked or expired one"),
        (403, "the caller's role may not use this endpoint"),
        (404, "not found, or not the caller's to see"),
        (409, "conflicts with the object's state"),
        (410, "no longer available (withdrawn, taken down, used up)"),
        (413, "request body too large"),
        (422, "invalid input; detail names the field"),
        (429, "rate limit; see Retry-After"),
    ]
}


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    where = _location(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def all_routes(routes) -> list:
    """Every route, with included routers flattened."""
    flat = []
    for route in routes:
        included = getattr(route, "original_router", None)
        flat += all_routes(included.routes) if included is not None else [route]
    return flat


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route serves on this path (Starlette names only the first route's)."""
    allowed: set[str] = set()
    for route in all_routes(request.app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            allowed |= set(getattr(route, "methods", None) or ())
    return sorted(allowed)


PAGE_HEADINGS = {
    403: "Not for this account",
    404: "Not found",
    410: "No longer available",
}


def _wants_page(request: Request) -> bool:
    """A browser asking for one of the web pages (API clients get JSON from them too)."""
    route = request.scope.get("route")
    return getattr(route, "response_class", None) is HTMLResponse and "text/html" in (
        request.headers.get("accept", "")
    )


def _page_error(request: Request, exc: StarletteHTTPException) -> Response:
    from api.web import login_redirect, templates

    if exc.status_code == 401:
        return login_redirect(request)
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "viewer": None,
            "status": exc.status_code,
            "heading": PAGE_HEADINGS.get(exc.status_code, "Something went wrong"),
            "detail": exc.detail,
            "path": request.url.path,
        },
        status_code=exc.status_code,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_page(request) and exc.status_code != 405:
            return _page_error(request, exc)
        headers = dict(exc.headers or {})
        detail = exc.detail
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    @app.exception_handler(SpacecastError)
    async def _spacecast_error(request: Request, exc: SpacecastError) -> Response:
        status = status_for(exc)
        if _wants_page(request):
            return _page_error(request, StarletteHTTPException(status, str(exc)))
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        unavailable = dependency_unavailable(exc)
        if unavailable:
            log.warning(
                "%s %s: %s unavailable: %r", request.method, request.url.path, unavailable, exc
            )
            return JSONResponse(
                {
                    "detail": f"the {unavailable} is unavailable for a moment; nothing of this "
                    "request was acknowledged, retry it"
                },
                status_code=503,
                headers={"Retry-After": "2"},
            )
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
