"""Every error becomes a JSON body ``{"detail": ...}`` with a message a user can act on; no stack
trace or internal path ever reaches a response."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.tracks import UploadTooLarge
from pipeline.errors import (
    InvalidManifest,
    InvalidTrack,
    ModelUnavailable,
    NothingToPublish,
    SpacecastError,
)

log = logging.getLogger("spacecast.api")

# Most specific first.
STATUS: list[tuple[type[SpacecastError], int]] = [
    (UploadTooLarge, 413),
    (InvalidTrack, 422),
    (InvalidManifest, 422),
    (NothingToPublish, 409),
    (ModelUnavailable, 503),
]


def status_for(exc: SpacecastError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def install(app: FastAPI) -> None:
    @app.exception_handler(SpacecastError)
    async def _spacecast_error(request: Request, exc: SpacecastError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)
