"""Streaming objects from the bucket to a client, with one HTTP byte range for seeking."""

from __future__ import annotations

import re

from fastapi import HTTPException
from fastapi.responses import StreamingResponse

from infra.storage import ObjectStore, RangeNotSatisfiable

# Media a consent change or a takedown can withdraw: never kept by shared caches (a CDN would
# go on serving a withdrawn voice), and revalidated by the listener's own.
WITHDRAWABLE = "private, no-store"
# Text a withdrawal can take away (chapters): the listener's own cache may keep it, and asks
# again before each use (a conditional GET, answered 304 or 410); shared caches never keep it.
REVALIDATED = "private, no-cache"
# The feed: any cache may keep it, and asks again before each use, so a change (a withdrawal
# among them) reaches every app at once while unchanged polls cost a 304.
FEED_CACHE_CONTROL = "public, no-cache"
# ASCII digits only: str.isdigit() also accepts superscripts (a Latin-1 header byte 0xB2 is
# "²"), Arabic-Indic and fullwidth digits, which int() then refuses or reads differently.
_RANGE = re.compile(r"[ \t]*bytes[ \t]*=[ \t]*([0-9]*)-([0-9]*)[ \t]*")


def valid_range(header: str) -> bool:
    """A single ``bytes=START-END`` range (either end may be left out, not both)."""
    match = _RANGE.fullmatch(header)
    if match is None:
        return False
    start, end = match.groups()
    return bool(start or end) and (not (start and end) or int(start) <= int(end))


def stream_object(
    store: ObjectStore,
    key: str,
    *,
    range_header: str | None,
    cache_control: str,
    name: str,
    extra_headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """The object (or the requested range of it, 206) without holding it in memory; a malformed
    or unsatisfiable range is 416 naming ``name``."""
    if range_header and not valid_range(range_header):
        raise HTTPException(416, "Range must be a single 'bytes=START-END' range")
    try:
        read = store.read_range(key, range_header)
    except RangeNotSatisfiable:
        raise HTTPException(416, f"range {range_header} lies outside {name}") from None
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(read.length),
        "Cache-Control": cache_control,
        **(extra_headers or {}),
    }
    if read.content_range:
        headers["Content-Range"] = read.content_range

    def _chunks():
        try:
            yield from read.body.iter_chunks(chunk_size=256 * 1024)
        finally:
            read.body.close()

    return StreamingResponse(
        _chunks(), status_code=read.status, media_type=read.content_type, headers=headers
    )
