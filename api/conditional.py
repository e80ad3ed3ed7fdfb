"""Conditional GET: ``ETag`` and ``Last-Modified`` on what podcast apps poll, and ``304 Not
Modified`` when the client already holds the current version (RFC 9110: ``If-None-Match`` wins
over ``If-Modified-Since``)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request, Response


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` list names ``etag`` (weak comparison, as GET uses)."""
    bare = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == bare:
            return True
    return False


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


def validators(etag: str, last_modified: datetime | None, cache_control: str) -> dict[str, str]:
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    return headers


def not_modified(
    request: Request, etag: str, last_modified: datetime | None, headers: dict[str, str]
) -> Response | None:
    """A 304 with ``headers`` when the request's validators say the client holds this version,
    else None. ``last_modified`` None: only the ETag can say so."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return Response(status_code=304, headers=headers) if _matches(if_none_match, etag) else None
    if_modified_since = request.headers.get("if-modified-since")
    if (
        if_modified_since
        and last_modified is not None
        and _not_modified_since(if_modified_since, last_modified)
    ):
        return Response(status_code=304, headers=headers)
    return None
