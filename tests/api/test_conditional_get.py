"""Conditional GET on what apps poll (the real app on PostgreSQL and the S3 server): the feed
and the chapters carry ETag and Last-Modified, are answered 304 while unchanged, 200 with new
validators as soon as anything in them changes, and a withdrawal wins over any validator."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from tests.api.conftest import World


def _until_last_modified(world: World, url: str) -> dict:
    """The response headers once Last-Modified is given (it is withheld during the second the
    version first appeared)."""
    deadline = time.monotonic() + 10
    while True:
        response = world.client.get(url)
        assert response.status_code == 200, response.text
        if "last-modified" in response.headers:
            return response.headers
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_the_feed_is_answered_304_until_it_changes(world: World) -> None:
    url = f"/shows/{world.shows['A']}/feed.xml"
    first = _until_last_modified(world, url)
    etag, modified = first["etag"], first["last-modified"]
    assert first["cache-control"] == "public, no-cache"
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
        {"If-Modified-Since": "Tue, 01 Dec 2099 00:00:00 GMT"},
    ):
        response = world.client.get(url, headers=headers)
        assert response.status_code == 304, (headers, response.status_code)
        assert response.content == b""
        assert response.headers["etag"] == etag
    # If-None-Match wins over If-Modified-Since (RFC 9110): another ETag means a new version.
    assert (
        world.client.get(
            url, headers={"If-None-Match": '"old"', "If-Modified-Since": modified}
        ).status_code
        == 200
    )
    assert world.client.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200

    world.fresh_episode("A")  # a new item in the feed
    changed = world.client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert world.client.get(url, headers={"If-Modified-Since": modified}).status_code == 200
    later = _until_last_modified(world, url)
    assert parsedate_to_datetime(later["last-modified"]) > parsedate_to_datetime(modified)
    assert world.client.get(url, headers={"If-None-Match": later["etag"]}).status_code == 304


def test_chapters_are_answered_304_until_withdrawn_then_410(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Episode, Participant
    from infra.settings import get_settings
    from services.ledger import record_answers

    episode_id = world.fresh_episode("A")
    with session_scope(get_settings().database_url) as session:
        episode = session.get(Episode, episode_id)
        render, space_id = episode.render_id, episode.space_id
    url = f"/media/episodes/{episode_id}/{render}/chapters.json"
    first = _until_last_modified(world, url)
    assert first["cache-control"] == "private, no-cache"
    assert first["access-control-allow-origin"] == "*"
    assert "ETag" in first["access-control-expose-headers"]
    again = world.client.get(url, headers={"If-None-Match": first["etag"]})
    assert again.status_code == 304 and again.headers["access-control-allow-origin"] == "*"
    assert (
        world.client.get(url, headers={"If-Modified-Since": first["last-modified"]}).status_code
        == 304
    )

    with session_scope(get_settings().database_url) as session:
        alice = session.query(Participant).filter_by(space_id=space_id, handle="alice").one()
        record_answers(session, alice, {"transcribe": False}, source="api", actor="test")
    gone = world.client.get(url, headers={"If-None-Match": first["etag"]})
    assert gone.status_code == 410, gone.text


def test_transcripts_are_answered_304_and_loadable_from_any_site(world: World) -> None:
    url = f"/media/episodes/{world.episodes['A']}/{world.renders['A']}/transcript.vtt"
    first = world.client.get(url)
    assert first.status_code == 200 and first.content
    assert first.headers["cache-control"] == "private, no-cache"
    assert first.headers["access-control-allow-origin"] == "*"
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
        again = world.client.get(url, headers=headers)
        assert again.status_code == 304 and again.content == b"", headers
    assert world.client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    # Audio stays out of every cache: a withdrawal must silence it at once.
    audio = world.client.get(url.replace("transcript.vtt", "episode.mp3"))
    assert audio.headers["cache-control"] == "private, no-store" and "etag" not in audio.headers


def test_a_clip_page_is_answered_304_until_the_clip_is_taken_away(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Clip
    from infra.settings import get_settings

    clip_id = world.fresh_clip("A")
    url = f"/c/{clip_id}"
    first = world.client.get(url)
    assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
    etag = first.headers["etag"]
    again = world.client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    with session_scope(get_settings().database_url) as session:
        session.get(Clip, clip_id).title = "Renamed"
    renamed = world.client.get(url, headers={"If-None-Match": etag})
    assert renamed.status_code == 200 and "Renamed" in renamed.text
    with session_scope(get_settings().database_url) as session:
        session.get(Clip, clip_id).status = "withdrawn"  # a voice in it withdrew
    gone = world.client.get(url, headers={"If-None-Match": renamed.headers["etag"]})
    assert gone.status_code == 410
