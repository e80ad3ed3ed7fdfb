"""Feed polls answered from memory by real API processes (the stack's, and a second one on the
same database): a change made by any process reaches every API's next polls within the stated
bound (docs/decisions.md: at once in the process that made it, a PostgreSQL notification's
delivery in the others), and an unknown show is 404 as before."""

from __future__ import annotations

import time

import httpx

from infra.db import session_scope
from infra.models import Show
from infra.s3server import free_port
from tests.service.stack import ServiceStack

BOUND_S = 2.0  # what the tests hold the notification's delivery to (measured: milliseconds)


def _kept(url: str) -> str:
    """The feed's ETag once its answer carries Last-Modified (kept from then on)."""
    deadline = time.monotonic() + 15
    while True:
        response = httpx.get(url)
        assert response.status_code == 200, response.text
        if "last-modified" in response.headers:
            return response.headers["etag"]
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _changed_within(url: str, etag: str, bound_s: float) -> tuple[httpx.Response, float]:
    """The first poll with ``etag`` that is not 304, and how long it took to come."""
    started = time.monotonic()
    while True:
        response = httpx.get(url, headers={"If-None-Match": etag})
        waited = time.monotonic() - started
        if response.status_code != 304:
            return response, waited
        assert waited < bound_s, f"the old feed was still served after {waited:.2f} s"


def test_a_change_reaches_every_api_process_within_the_bound(redis_stack: ServiceStack) -> None:
    import services.feed_versions  # noqa: F401 - this process's writes move the version too

    with redis_stack.client() as host:
        created = host.post(
            "/shows",
            json={"title": "Polled", "author": "Host", "owner_email": "host@example.org"},
        )
        assert created.status_code == 201, created.text
        show_id = created.json()["id"]
    port = free_port()
    other = redis_stack.start_api(port)
    try:
        urls = [
            f"{redis_stack.base_url}/shows/{show_id}/feed.xml",
            f"http://127.0.0.1:{port}/shows/{show_id}/feed.xml",
        ]
        etags = [_kept(url) for url in urls]
        assert etags[0] == etags[1]
        for url in urls:
            assert httpx.get(url, headers={"If-None-Match": etags[0]}).status_code == 304

        # Written by another process (this one), straight to the database: both APIs hear it.
        with session_scope(redis_stack.env["SPACECAST_DATABASE_URL"]) as session:
            session.get(Show, show_id).title = "Polled, renamed"
        for url in urls:
            response, waited = _changed_within(url, etags[0], BOUND_S)
            assert response.status_code == 200 and "Polled, renamed" in response.text, waited

        # Written through the stack's API: that process serves it on the very next poll; the
        # other within the bound.
        etags = [_kept(url) for url in urls]
        with redis_stack.client() as host:
            locked = host.patch(f"/shows/{show_id}", json={"locked": True})
            assert locked.status_code == 200, locked.text
        first = httpx.get(urls[0], headers={"If-None-Match": etags[0]})
        assert first.status_code == 200 and "podcast:locked" in first.text
        response, _ = _changed_within(urls[1], etags[1], BOUND_S)
        assert "podcast:locked" in response.text
    finally:
        redis_stack.stop_process(other)

    unknown = httpx.get(f"{redis_stack.base_url}/shows/nosuchshow/feed.xml")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "show nosuchshow not found"}


def test_a_head_over_http_sends_the_feeds_headers_and_no_byte_of_it(
    redis_stack: ServiceStack,
) -> None:
    import socket
    from urllib.parse import urlsplit

    with redis_stack.client() as host:
        created = host.post(
            "/shows", json={"title": "Headed", "author": "Host", "owner_email": "h@example.org"}
        )
        assert created.status_code == 201, created.text
    url = f"{redis_stack.base_url}/shows/{created.json()['id']}/feed.xml"
    _kept(url)
    body = httpx.get(url).content
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(
            f"HEAD {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := conn.recv(65536):  # the server closes after the answer
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert lines[0] == "HTTP/1.1 200 OK", lines[0]
    assert int(fields["content-length"]) == len(body) > 0
    assert fields["content-type"].startswith("application/rss+xml") and "etag" in fields
    assert rest == b""
