"""HEAD for every GET route: podcast apps, directories and feed validators ask for a feed's or an
enclosure's headers (its length, type, validators, whether it takes byte ranges) before they
fetch it, and Apple Podcasts requires media servers to answer HEAD as well as byte ranges.

The route runs as for a GET (the same access checks, the same headers, the same status) and
the body is not sent. Media streamed from the bucket is not read at all for a HEAD
(:func:`head_only`, used by :func:`api.streaming.stream_object`); media whose GET is redirected
to a signed URL is answered so too, since a URL signed for GET refuses a HEAD."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEAD_ONLY = "spacecast.head_only"


def head_only(request: Request) -> bool:
    """Whether this request is a HEAD, run as a GET whose body will not be sent."""
    return bool(request.scope.get(_HEAD_ONLY))


class HeadRequests:
    """ASGI middleware running a HEAD request as the GET of the same URL, without its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        inner = {**scope, "method": "GET", _HEAD_ONLY: True}
        ended = False

        async def without_body(message: Message) -> None:
            nonlocal ended
            if "route" in inner:  # the matched route, for the metrics' label outside
                scope["route"] = inner["route"]
            if message["type"] != "http.response.body":
                await send(message)
            elif not ended:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(inner, receive, without_body)
