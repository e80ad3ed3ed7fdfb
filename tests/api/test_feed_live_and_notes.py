"""The feed as a podcast app reads it (the real app on PostgreSQL and the S3 server, the feed
parsed with lxml and feedparser): a show's rooms as podcast:liveItem once its host opts in
(pending, live, ended, then the episode item under the same guid), podcast:locked, episode
numbers, and the host's own show notes, escaped wherever they are shown; a built feed is served
again until anything in it changes, and never after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
from lxml import etree

from pipeline.feed import PODCAST_NS
from tests.api.conftest import World


def _feed(world: World, show_id: str) -> etree._Element:
    response = world.client.get(f"/shows/{show_id}/feed.xml")
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def _live(doc: etree._Element) -> dict[str, etree._Element]:
    return {e.findtext("title"): e for e in doc.findall(f"channel/{{{PODCAST_NS}}}liveItem")}


def _show(world: World, **fields) -> str:
    body = {"title": "Live Show", "author": "Alice", **fields}
    response = world.client.post("/shows", json=body, headers=world.headers("host"))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _set_space(space_id: str, **fields) -> None:
    from infra.db import session_scope
    from infra.models import Space
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        space = session.get(Space, space_id)
        for name, value in fields.items():
            setattr(space, name, value)


def test_a_room_is_a_live_item_from_scheduled_to_published(world: World) -> None:
    show_id = _show(world)
    soon = datetime.now(UTC) + timedelta(seconds=3)
    body = {
        "title": "Tonight",
        "started_at": soon.isoformat(),
        "room_url": "https://rooms.example/tonight",
        "stream_url": "https://stream.example/tonight.m3u8",
    }
    created = world.client.post(
        f"/shows/{show_id}/spaces", json=body, headers=world.headers("host")
    )
    assert created.status_code == 201, created.text
    space_id = created.json()["id"]
    assert _live(_feed(world, show_id)) == {}  # the host has not opted in

    turned = world.client.patch(
        f"/shows/{show_id}", json={"live_items": True}, headers=world.headers("host")
    )
    assert turned.status_code == 200 and turned.json()["live_items"] is True
    pending = _live(_feed(world, show_id))["Tonight"]
    assert pending.get("status") == "pending"
    assert datetime.fromisoformat(pending.get("start")) == soon.replace(microsecond=0)
    link = pending.find(f"{{{PODCAST_NS}}}contentLink")
    assert link.get("href") == "https://rooms.example/tonight"
    assert pending.find("enclosure") is None  # nothing to hear before the room opens
    guid = pending.findtext("guid")

    # The start passes with no write at all: the kept feed knows it changes then.
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while (live := _live(_feed(world, show_id))["Tonight"]).get("status") != "live":
        assert datetime.now(UTC) < deadline, "the room never went live in the feed"
    enclosure = live.find("enclosure")
    assert enclosure.get("url") == "https://stream.example/tonight.m3u8"
    assert enclosure.get("type") == "application/x-mpegURL"

    ended_at = datetime.now(UTC).replace(microsecond=0)
    _set_space(space_id, status="processing", finished_at=ended_at)
    ended = _live(_feed(world, show_id))["Tonight"]
    assert ended.get("status") == "ended" and ended.find("enclosure") is None
    assert datetime.fromisoformat(ended.get("end")) == ended_at

    # Published: the live item gives way to the episode, which keeps the room's guid.
    from infra.db import session_scope
    from infra.models import Episode, Space
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        space = session.get(Space, space_id)
        template = session.get(Episode, world.episodes["A"])
        session.add(
            Episode(
                space_id=space_id,
                show_id=show_id,
                guid=guid,
                title=space.title,
                description="d",
                render_id=template.render_id,
                duration_s=100.0,
                media=template.media,
                transcripts={},
                persons=[],
                consent_snapshot={},
                report={},
                number=1,
            )
        )
        space.status = "published"
    doc = _feed(world, show_id)
    assert _live(doc) == {}
    parsed = feedparser.parse(etree.tostring(doc))
    assert [(e.id, e.itunes_episode) for e in parsed.entries] == [(guid, "1")]


def test_only_web_addresses_are_accepted_for_the_room_and_stream(world: World) -> None:
    for field in ("room_url", "stream_url"):
        for bad in ("javascript:alert(1)", "rooms.example/x", "https://" + "a" * 2100 + ".org"):
            response = world.client.post(
                f"/shows/{world.shows['A']}/spaces",
                json={"title": "x", field: bad},
                headers=world.headers("host"),
            )
            assert response.status_code == 422 and field in response.text, (field, bad)


def test_a_locked_feed_names_its_owner_and_needs_an_address(world: World) -> None:
    refused = world.client.post(
        "/shows", json={"title": "T", "author": "A", "locked": True}, headers=world.headers("host")
    )
    assert refused.status_code == 422 and "owner_email" in refused.text
    show_id = _show(world, owner_email="alice@example.org", locked=True)
    locked = _feed(world, show_id).find(f"channel/{{{PODCAST_NS}}}locked")
    assert locked.text == "yes" and locked.get("owner") == "alice@example.org"
    unlocked = world.client.patch(
        f"/shows/{show_id}", json={"locked": False}, headers=world.headers("host")
    )
    assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
    assert _feed(world, show_id).find(f"channel/{{{PODCAST_NS}}}locked") is None
    # Seasons: from 1; 0 ends them; anything else is refused naming the field.
    for season, stored in ((3, 3), (0, None)):
        changed = world.client.patch(
            f"/shows/{show_id}", json={"season": season}, headers=world.headers("host")
        )
        assert changed.status_code == 200 and changed.json()["season"] == stored
    for bad in (-1, "two", 10**9):
        refused = world.client.patch(
            f"/shows/{show_id}", json={"season": bad}, headers=world.headers("host")
        )
        assert refused.status_code == 422 and "season" in refused.text
    # Another host cannot change the show's choices.
    other = world.client.patch(
        f"/shows/{show_id}", json={"live_items": True}, headers=world.headers("other_host")
    )
    assert other.status_code in (403, 404)


def _item(world: World, show_id: str, guid: str):
    parsed = feedparser.parse(world.client.get(f"/shows/{show_id}/feed.xml").content)
    return next(e for e in parsed.entries if e.id == guid)


def test_host_notes_replace_the_generated_ones_escaped_everywhere(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Episode
    from infra.settings import get_settings

    episode_id = world.fresh_episode("A")
    with session_scope(get_settings().database_url) as session:
        guid = session.get(Episode, episode_id).guid
    url = f"/episodes/{episode_id}/notes"
    notes = (
        'Thanks <b onmouseover="x()">all</b> & <script>alert(1)</script>\n\nhttps://example.org/x'
    )
    etag = world.client.get(f"/shows/{world.shows['A']}/feed.xml").headers["etag"]

    for who in ("anonymous", "listener", "other_host", "moderator"):
        response = world.client.put(url, json={"text": notes}, headers=world.headers(who))
        assert response.status_code in (401, 403, 404), (who, response.status_code)
    response = world.client.put(url, json={"text": notes}, headers=world.headers("host"))
    assert response.status_code == 200, response.text
    assert response.json()["host_notes"] == notes and response.json()["text"] == notes

    # The feed changed at once (a poll with the old ETag is answered in full).
    assert (
        world.client.get(
            f"/shows/{world.shows['A']}/feed.xml", headers={"If-None-Match": etag}
        ).status_code
        == 200
    )
    entry = _item(world, world.shows["A"], guid)
    html_text = entry.content[0].value
    assert "<script>" not in html_text and "<b " not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert '<a href="https://example.org/x" rel="nofollow noopener">' in html_text
    doc = _feed(world, world.shows["A"])
    item = next(i for i in doc.iter("item") if i.findtext("guid") == guid)
    itunes = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
    assert item.findtext(f"{itunes}summary") == notes  # plain text, as written
    assert item.find(f"{{{PODCAST_NS}}}txt") is None  # the host's own, not generated
    page = world.client.get(f"/e/{episode_id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page

    for bad, why in (("x" * 10_001, "at most"), ("bell \x07", "control character")):
        refused = world.client.put(url, json={"text": bad}, headers=world.headers("host"))
        assert refused.status_code == 422 and why in refused.text, refused.text
    assert world.client.get(url, headers=world.headers("host")).json()["host_notes"] == notes

    reset = world.client.delete(url, headers=world.headers("host"))
    assert reset.status_code == 200 and reset.json()["host_notes"] is None
    assert reset.json()["text"] == reset.json()["generated"]
    assert "alert" not in world.client.get(f"/shows/{world.shows['A']}/feed.xml").text


def test_a_poll_of_an_unchanged_feed_is_served_from_the_built_feed(world: World) -> None:
    """The kept feed is served while the version stands (a write outside the ORM is not
    seen until the version moves), and a change through any session moves it."""
    from sqlalchemy import text

    from infra.db import session_scope
    from infra.settings import get_settings

    url = f"/shows/{world.shows['B']}/feed.xml"
    first = world.client.get(url).content
    with session_scope(get_settings().database_url) as session:
        session.execute(
            text("UPDATE episodes SET title = 'Sneaky' WHERE show_id = :s"),
            {"s": world.shows["B"]},
        )
    assert world.client.get(url).content == first  # built once, served again
    with session_scope(get_settings().database_url) as session:
        from infra.models import Show

        session.get(Show, world.shows["B"]).description = "Changed through the ORM"
    changed = world.client.get(url).text
    assert "Changed through the ORM" in changed and "Sneaky" in changed


def test_a_soundbite_moves_the_feed_on_and_a_listeners_clip_does_not(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Clip, Show
    from infra.settings import get_settings

    def version() -> int:
        with session_scope(get_settings().database_url) as session:
            return session.get(Show, world.shows["A"]).feed_version

    url = f"/shows/{world.shows['A']}/feed.xml"
    world.client.get(url)
    before = version()
    clip_id = world.fresh_clip("A")  # a listener's clip: not in the feed
    assert version() == before
    with session_scope(get_settings().database_url) as session:
        clip = session.get(Clip, clip_id)
        clip.soundbite, clip.title = True, "The best bit"
    assert version() == before + 1
    bites = _feed(world, world.shows["A"]).iter(f"{{{PODCAST_NS}}}soundbite")
    assert "The best bit" in [b.text for b in bites]
