"""Abuse limits: per-caller rate limits on costly actions, and a cap on request bodies.

Rate limits count in Redis when ``SPACECAST_RATE_LIMIT_REDIS_URL`` is set (shared by every API
process), otherwise in this process's memory.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal, principal_dep
from api.input import send_refusal
from infra.settings import get_settings

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """'30/minute', '5/hour' ..."""
        count, _, unit = text.partition("/")
        return cls(int(count), _UNITS[unit.strip().rstrip("s")])

    def describe(self) -> str:
        unit = next(name for name, seconds in _UNITS.items() if seconds == self.window_s)
        return f"{self.count} per {unit}"


class MemoryCounter:
    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, rate: Rate) -> float | None:
        """Record a hit; return seconds to wait when over the rate, else None."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - rate.window_s:
                hits.popleft()
            if len(hits) >= rate.count:
                return hits[0] + rate.window_s - now
            hits.append(now)
            return None


class RedisCounter:
    """Fixed windows in Redis (INCR + EXPIRE): shared by every API process."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, rate: Rate) -> float | None:
        window = int(time.time() // rate.window_s)
        name = f"spacecast:rate:{key}:{window}"
        count = self._redis.incr(name)
        if count == 1:
            self._redis.expire(name, rate.window_s + 1)
        if count > rate.count:
            return (window + 1) * rate.window_s - time.time()
        return None


@lru_cache
def _counter() -> MemoryCounter | RedisCounter:
    url = get_settings().rate_limit_redis_url
    return RedisCounter(url) if url else MemoryCounter()


def rate_limited(action: str, setting: str, *, noun: str) -> Callable[..., None]:
    """A dependency limiting ``action`` per caller (per client address when anonymous)."""

    def _dependency(
        request: Request, principal: Annotated[Principal, Depends(principal_dep)]
    ) -> None:
        rate = Rate.parse(getattr(get_settings(), setting))
        who = (
            principal.subject
            if principal.user_id or principal.key_id
            else (f"ip:{request.client.host if request.client else 'unknown'}")
        )
        wait = _counter().hit(f"{action}:{who}", rate)
        if wait is not None:
            raise _too_many(noun, rate, wait)

    return _dependency


def refuse_after_failures(request: Request, presented: str, *, setting: str, noun: str) -> None:
    """Count a failed attempt (a wrong key) against the client's address and against the
    presented key's prefix; 429 once either is over the rate. Only failures count, so another
    client's wrong guesses from a shared address never lock out someone with a valid key."""
    rate = Rate.parse(getattr(get_settings(), setting))
    address = request.client.host if request.client else "unknown"
    waits = [
        _counter().hit(f"{setting}:ip:{address}", rate),
        _counter().hit(f"{setting}:prefix:{presented[:12]}", rate),
    ]
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        raise _too_many(noun, rate, wait)


def _too_many(noun: str, rate: Rate, wait_s: float) -> HTTPException:
    retry = max(1, round(wait_s))
    return HTTPException(
        429,
        f"too many {noun}: at most {rate.describe()}; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


class BodyLimit:
    """ASGI middleware refusing request bodies over the limit with 413, before they are read
    in full. Track uploads, live chunks and a show's own audio have their own, larger limit.

    A body without Content-Length (chunked) is counted as it arrives; past the limit the app
    is told the client went away (an exception raised into it would become FastAPI's 400 for
    an unreadable body), whatever it answers to that is dropped, and the 413 is sent instead.
    """

    def __init__(self, app: ASGIApp, *, default_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.upload_bytes = upload_bytes
        # Tracks, live chunks and a show's own audio (whose route caps it lower).
        self._upload_path = re.compile(
            r"^(/spaces/[^/]+/participants/[^/]+/(track|chunks/[0-9]+)|/shows/[^/]+/audio)$"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if self._upload_path.match(scope["path"]) else self.default_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if (
            declared is not None
            and declared.isascii()
            and declared.isdigit()
            and int(declared) > limit
        ):
            await _refuse(send, limit)
            return
        seen = 0
        over = False  # the body passed the limit
        started = False  # the app had begun its response by then

        async def _counting_receive() -> Message:
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def _guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a body cut short; the 413 goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, _counting_receive, _guarded_send)
        except Exception:
            if not over:
                raise  # a body cut at the limit explains any error the app raised reading it
        if over and not started:
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    await send_refusal(
        send, 413, f"request body is larger than the limit of {limit / 1024**2:.1f} MiB"
    )
