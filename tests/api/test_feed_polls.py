"""Feed polls answered from memory (the real app on PostgreSQL, in this process, so the test can
count what a poll asks the database): the answer is the route's to the byte and header, and a
change to the feed (a new episode, a takedown) is served at once by the process that made it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.api.conftest import World

# A cookie sends the poll to the route (credentials are checked there), never to memory.
THROUGH_ROUTE = {"Cookie": "unrelated=1"}


def _listening(world: World) -> None:
    watch = world.client.app.state.kept_feeds.watch
    deadline = time.monotonic() + 10
    while not watch.listening:
        assert time.monotonic() < deadline, "the feed version watch never listened"
        time.sleep(0.05)


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL statements this process sends while the block runs."""
    from infra.db import get_engine
    from infra.settings import get_settings

    sent: list[str] = []
    engine = get_engine(get_settings().database_url)

    def _count(_conn, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", _count)


def _kept(world: World, url: str):
    """The route's first answer with Last-Modified (kept from then on)."""
    _listening(world)
    deadline = time.monotonic() + 10
    while True:
        response = world.client.get(url)
        assert response.status_code == 200, response.text
        if "last-modified" in response.headers:
            return response
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _headers(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k != "x-request-id"}


def test_polls_of_a_kept_feed_read_nothing_and_carry_the_routes_headers(world: World) -> None:
    url = f"/shows/{world.shows['A']}/feed.xml"
    first = _kept(world, url)
    etag = first.headers["etag"]
    for conditional in ({}, {"If-None-Match": etag}, {"If-Modified-Since": "Tue, 01 Dec 2099 00:00:00 GMT"}, {"If-None-Match": '"other"'}):  # fmt: skip
        with _statements() as sent:
            from_memory = world.client.get(url, headers=conditional)
        assert sent == [], (conditional, sent)
        routed = world.client.get(url, headers={**conditional, **THROUGH_ROUTE})
        assert from_memory.status_code == routed.status_code, conditional
        assert _headers(from_memory) == _headers(routed), conditional
        assert from_memory.content == routed.content
    assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    whole = world.client.get(url, headers={"If-None-Match": '"other"'})
    assert whole.status_code == 200 and whole.content == first.content
    assert whole.headers["etag"] == etag
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-type"] == "application/rss+xml; charset=utf-8"


def test_an_unknown_show_is_404_while_another_feed_is_kept(world: World) -> None:
    _kept(world, f"/shows/{world.shows['A']}/feed.xml")
    response = world.client.get("/shows/nosuchshow/feed.xml")
    assert response.status_code == 404
    assert response.json() == {"detail": "show nosuchshow not found"}


def test_a_new_episode_and_a_takedown_reach_the_next_poll(world: World) -> None:
    url = f"/shows/{world.shows['A']}/feed.xml"
    etag = _kept(world, url).headers["etag"]
    assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304

    episode_id = world.fresh_episode("A")  # written by this process: heard at once
    added = world.client.get(url, headers={"If-None-Match": etag})
    assert added.status_code == 200 and added.headers["etag"] != etag
    assert episode_id in added.text

    etag = _kept(world, url).headers["etag"]
    with _statements() as sent:
        assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert sent == []  # kept again
    taken = world.client.delete(f"/episodes/{episode_id}", headers=world.headers("host"))
    assert taken.status_code == 204, taken.text
    after = world.client.get(url, headers={"If-None-Match": etag})
    assert after.status_code == 200 and episode_id not in after.text


def test_a_commit_in_this_process_moves_its_marks_before_it_returns(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Show
    from infra.settings import get_settings

    _listening(world)
    watch = world.client.app.state.kept_feeds.watch
    show_id = world.shows["B"]
    mark = watch.mark(show_id)
    assert mark is not None and watch.current(show_id, mark)
    with session_scope(get_settings().database_url) as session:
        show = session.get(Show, show_id)
        show.description = show.description + " "
    # No notification needed: the writer's own process is told before its commit returns.
    assert not watch.current(show_id, mark)


def test_a_lost_listening_connection_forgets_every_kept_answer(world: World) -> None:
    import psycopg

    from infra.settings import get_settings
    from services.feed_versions import APPLICATION

    url = f"/shows/{world.shows['A']}/feed.xml"
    etag = _kept(world, url).headers["etag"]
    watch = world.client.app.state.kept_feeds.watch
    epoch = watch.mark(world.shows["A"])[0]
    # The server ends the watch's connection, as a failover or a restart would: moves made
    # until it listens again go unheard, so nothing kept before may be served after.
    conninfo = get_settings().database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (APPLICATION,),
        ).fetchall()
    assert ended, "the watch's connection was not found"
    deadline = time.monotonic() + 10
    while (watch.mark(world.shows["A"]) or (None,))[0] in (epoch, None):
        assert time.monotonic() < deadline, "the watch did not listen again"
        time.sleep(0.05)
    with _statements() as sent:
        assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert sent != []  # the route answered
    _kept(world, url)
    with _statements() as sent:
        assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert sent == []


def test_a_poll_from_memory_is_counted_under_the_feed_route(world: World) -> None:
    url = f"/shows/{world.shows['A']}/feed.xml"
    etag = _kept(world, url).headers["etag"]
    registry = world.client.app.state.metrics
    labels = {"method": "GET", "route": "/shows/{show_id}/feed.xml", "status": "304"}

    def counted() -> float:
        return registry.get_sample_value("spacecast_http_requests_total", labels) or 0.0

    before = counted()
    with _statements() as sent:
        assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert sent == [] and counted() == before + 1


def test_the_apps_lifespan_run_again_beside_the_first_leaves_the_watch_listening(
    world: World,
) -> None:
    """Another client of the same app (schemathesis's, a test's own) runs its lifespan while the
    session's runs: when that one ends, the watch still listens and polls are still answered
    from memory; the last lifespan to end stops it."""
    from fastapi.testclient import TestClient

    url = f"/shows/{world.shows['A']}/feed.xml"
    watch = world.client.app.state.kept_feeds.watch
    _listening(world)
    with TestClient(world.client.app) as other:
        assert other.get(url).status_code == 200
    assert watch.listening
    etag = _kept(world, url).headers["etag"]
    with _statements() as sent:
        assert world.client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert sent == []
