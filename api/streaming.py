"""Streaming objects from the bucket to a client, with one HTTP byte range for seeking."""

from __future__ import annotations

from fastapi import HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from api.head import head_only
from infra.storage import ObjectStore, RangeNotSatisfiable, byte_range

# Media a consent change or a takedown can withdraw: never kept by shared caches (a CDN would
# go on serving a withdrawn voice), and revalidated by the listener's own.
WITHDRAWABLE = "private, no-store"
# Text a withdrawal can take away (chapters): the listener's own cache may keep it, and asks
# again before each use (a conditional GET, answered 304 or 410); shared caches never keep it.
REVALIDATED = "private, no-cache"
# The feed: any cache may keep it, and asks again before each use, so a change (a withdrawal
# among them) reaches every app at once while unchanged polls cost a 304.
FEED_CACHE_CONTROL = "public, no-cache"


def valid_range(header: str) -> bool:
    """A single ``bytes=START-END`` range (either end may be left out, not both)."""
    return byte_range(header) is not None


def stream_object(
    store: ObjectStore,
    key: str,
    *,
    request: Request,
    cache_control: str,
    name: str,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The object (or the requested range of it, 206) without holding it in memory; a malformed
    or unsatisfiable range is 416 naming ``name``. A HEAD reads only the object's metadata."""
    range_header = request.headers.get("range")
    if range_header and not valid_range(range_header):
        raise HTTPException(416, "Range must be a single 'bytes=START-END' range")
    try:
        read = store.read_range(key, range_header, body=not head_only(request))
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

    if read.body is None:
        return Response(status_code=read.status, media_type=read.content_type, headers=headers)

    def _chunks():
        try:
            yield from read.body.iter_chunks(chunk_size=256 * 1024)
        finally:
            read.body.close()

    return StreamingResponse(
        _chunks(), status_code=read.status, media_type=read.content_type, headers=headers
    )
