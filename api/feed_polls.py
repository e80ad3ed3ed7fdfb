"""Feed polls answered from memory: ``GET /shows/{id}/feed.xml`` served by an API process from
the answer the feed route last gave, without routing, a thread or the database, while the
process's :class:`~services.feed_versions.FeedVersionWatch` says the show's feed version has
not moved since that answer was made. Everything else (and every poll while the watch is not
listening) goes to the route, which makes the answer that is kept.

The kept answer is the route's own (:func:`feed_response` makes both), inside the same
middleware (request ids, metrics, security headers), so the two cannot differ in a header."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.conditional import not_modified
from infra.models import utcnow
from services.feed import MAX_KEPT_FEEDS, BuiltFeed
from services.feed_versions import FeedVersionWatch

FEED_MEDIA_TYPE = "application/rss+xml; charset=utf-8"
# The route's path with an id as ids are made (infra.models.new_id) or given in tests; any
# other shape of path is the route's to answer (or refuse).
_FEED_PATH = re.compile(r"/shows/([A-Za-z0-9_-]{1,64})/feed\.xml")
# A request carrying any of these is the route's: credentials are checked there.
_ROUTE_ONLY = frozenset({b"authorization", b"cookie", b"content-length", b"transfer-encoding"})


def feed_response(
    request: Request, xml: bytes, etag: str, modified: datetime | None, headers: dict[str, str]
) -> Response:
    """The feed route's answer: 304 when the request's validators name this version, else the
    whole feed."""
    return not_modified(request, etag, modified, headers) or Response(
        xml, media_type=FEED_MEDIA_TYPE, headers=headers
    )


@dataclass(frozen=True)
class KeptAnswer:
    mark: tuple[int, int]  # the watch's mark taken before the show's row was read
    xml: bytes
    etag: str
    modified: datetime
    headers: dict[str, str]
    good_until: datetime  # the feed's own bound: its build's max age, a scheduled room
    route: object  # the route it came from, for the metrics' route label


class KeptFeeds:
    """Each show's last answer from the feed route, kept by the route while its version was
    current and served by :class:`FeedPolls` while it stays so."""

    def __init__(self, watch: FeedVersionWatch, enabled: bool) -> None:
        self.watch = watch
        self.enabled = enabled
        self._answers: OrderedDict[str, KeptAnswer] = OrderedDict()
        self._lock = threading.Lock()

    def mark(self, show_id: str) -> tuple[int, int] | None:
        """To take before the route reads the show's row."""
        return self.watch.mark(show_id) if self.enabled else None

    def keep(
        self,
        request: Request,
        show_id: str,
        mark: tuple[int, int] | None,
        built: BuiltFeed,
        etag: str,
        modified: datetime | None,
        headers: dict[str, str],
        max_age_s: float,
    ) -> None:
        """Keep the route's answer, unless its Last-Modified is still withheld (the route's
        headers change when it is given) or the feed moved while it was made."""
        if mark is None or modified is None or not self.watch.current(show_id, mark):
            return
        good_until = built.built_at + timedelta(seconds=max_age_s)
        if built.valid_until is not None:
            good_until = min(good_until, built.valid_until)
        answer = KeptAnswer(
            mark, built.xml, etag, modified, headers, good_until, request.scope.get("route")
        )
        with self._lock:
            self._answers[show_id] = answer
            self._answers.move_to_end(show_id)
            while len(self._answers) > MAX_KEPT_FEEDS:
                self._answers.popitem(last=False)

    def answer(self, show_id: str) -> KeptAnswer | None:
        """The kept answer while it is current, else None."""
        answer = self._answers.get(show_id)
        if (
            answer is None
            or not self.watch.current(show_id, answer.mark)
            or utcnow() >= answer.good_until
        ):
            return None
        return answer


class FeedPolls:
    """ASGI middleware answering a plain GET of a show's feed from :class:`KeptFeeds`."""

    def __init__(self, app: ASGIApp, kept: KeptFeeds) -> None:
        self.app = app
        self.kept = kept

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = None
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            matched = _FEED_PATH.fullmatch(scope["path"])
            if matched and not any(name in _ROUTE_ONLY for name, _ in scope["headers"]):
                answer = self.kept.answer(matched.group(1))
        if answer is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = answer.route
        request = Request(scope, receive)
        response = feed_response(request, answer.xml, answer.etag, answer.modified, answer.headers)
        await response(scope, receive, send)
