"""The show's own audio, a cut's preview and the kept feed probed as someone who should not get
their way would: another host's ids, names with markup and control characters, bodies that
are not audio, versions and cuts that do not exist, a preview of an episode taken down, and a
feed polled before and after a takedown. Each refusal names what is wrong and stores nothing."""

from __future__ import annotations

import re
from pathlib import Path

import feedparser

from tests.api.conftest import World, store_opus_track


def _upload(world: World, who: str, show: str, name: str, body: bytes):
    return world.client.post(
        f"/shows/{world.shows[show]}/audio",
        params={"name": name},
        content=body,
        headers=world.headers(who),
    )


def _with_a_track(world: World, target: str, audio: Path) -> str:
    """A fresh published episode of show ``target`` whose speaker Alice has a stored track, so
    an edit list has a room to fit."""
    from infra.db import session_scope
    from infra.models import Episode, Participant
    from infra.settings import get_settings

    episode_id = world.fresh_episode(target)
    with session_scope(get_settings().database_url) as session:
        space_id = session.get(Episode, episode_id).space_id
        alice = session.query(Participant).filter_by(space_id=space_id, handle="alice").one()
        store_opus_track(session, alice, audio, "probe", duration_s=60.0)
    return episode_id


def _with_a_mix(episode_id: str, voices: str) -> None:
    """A finished mix of the episode's room holding ``voices`` ("alice", or "alice+bruno": a
    voice the episode may not carry); its object is not in the bucket."""
    from infra.db import session_scope
    from infra.models import Episode, Participant, StageRun
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        space_id = session.get(Episode, episode_id).space_id
        alice = session.query(Participant).filter_by(space_id=space_id, handle="alice").one()
        ids = [alice.id] + (["bruno-never-published"] if "bruno" in voices else [])
        run = session.query(StageRun).filter_by(space_id=space_id, stage="mix").one_or_none()
        if run is None:
            run = StageRun(space_id=space_id, stage="mix", subject="", fingerprint="probe")
            session.add(run)
        run.status = "done"
        run.result = {"key": f"work/{space_id}/mix-probe.flac", "voices": ids}


def _listed(world: World, show: str) -> list[dict]:
    response = world.client.get(
        f"/shows/{world.shows[show]}/audio",
        headers=world.headers("host" if show == "A" else "other_host"),
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_hostile_host_audio_uploads_are_refused_naming_the_problem(
    world: World, short_opus: Path
) -> None:
    audio = short_opus.read_bytes()
    before = _listed(world, "A")
    for name, why in (
        ("intro\x00.opus", "control character"),
        ("bell\x07", "control character"),
        ("line\nbreak", "line break"),
        ("   ", "name"),
        ("x" * 201, "name"),
    ):
        refused = _upload(world, "host", "A", name, audio)
        # a control character is refused as the query is read (400), the rest by the rule (422)
        assert refused.status_code in (400, 422), (name, refused.status_code, refused.text)
        assert why in refused.text, (name, refused.text)
    for body, why in ((b"", "empty"), (b"<html>not audio</html>" * 100, "host audio")):
        refused = _upload(world, "host", "A", "intro", body)
        assert 400 <= refused.status_code < 500 and why in refused.text, refused.text
    declared = world.client.post(
        f"/shows/{world.shows['A']}/audio",
        params={"name": "huge"},
        content=b"x" * 16,
        headers={**world.headers("host"), "content-length": str(10**12)},
    )
    assert declared.status_code == 413, declared.text
    # Into another host's show, or by a listener or a participant: refused, nothing stored.
    for who in ("other_host", "listener", "participant", "anonymous"):
        refused = _upload(world, who, "A", "intro", audio)
        assert refused.status_code in (401, 403, 404), (who, refused.status_code)
    assert _listed(world, "A") == before

    # Markup in a name is a name: kept as typed, escaped where a page shows it.
    marked = _upload(world, "host", "A", '<img src=x onerror="alert(1)">', audio)
    assert marked.status_code == 201 or marked.status_code == 200, marked.text
    assert marked.json()["name"] == '<img src=x onerror="alert(1)">'
    page = world.client.get(
        f"/host/episodes/{world.episodes['A']}/edit", headers=world.headers("host")
    )
    assert page.status_code == 200, page.text[:300]
    assert '<img src=x onerror="alert(1)">' not in page.text
    assert "&lt;img src=x onerror=" in page.text


def test_a_version_naming_another_shows_audio_is_refused_by_its_id(
    world: World, short_opus: Path
) -> None:
    theirs = _upload(world, "other_host", "B", "their intro", short_opus.read_bytes())
    assert theirs.status_code in (200, 201), theirs.text
    their_id = theirs.json()["id"]
    episode = _with_a_track(world, "A", short_opus)
    url = f"/episodes/{episode}/versions"
    mine = _upload(world, "host", "A", "my intro", short_opus.read_bytes()).json()["id"]
    made = world.client.post(
        url, json={"operations": [{"op": "intro", "audio_id": mine}]}, headers=world.headers("host")
    )
    assert made.status_code in (200, 201), made.text  # the probe can succeed with its own
    before = world.client.get(url, headers=world.headers("host")).json()
    for op in (
        {"op": "intro", "audio_id": their_id},
        {"op": "outro", "audio_id": their_id},
        {"op": "bed", "audio_id": their_id},
        {"op": "intro", "audio_id": "no-such-audio"},
        {"op": "intro", "audio_id": "../" * 50},
    ):
        refused = world.client.post(url, json={"operations": [op]}, headers=world.headers("host"))
        assert refused.status_code == 422, (op, refused.status_code, refused.text)
        assert op["op"] in refused.text, refused.text
    assert world.client.get(url, headers=world.headers("host")).json() == before
    # Another host's audio is not listed to this host either.
    assert world.client.get(
        f"/shows/{world.shows['B']}/audio", headers=world.headers("host")
    ).status_code in (403, 404)


def test_a_cut_preview_of_what_does_not_exist_or_is_taken_down_is_refused(world: World) -> None:
    episode = world.fresh_episode("A")
    base = f"/episodes/{episode}/versions"
    for path, allowed in (
        (f"{base}/0/cuts/0/audio", {422}),
        (f"{base}/0/cuts/10001/audio", {422}),
        (f"{base}/0/cuts/-1/audio", {422}),
        (f"{base}/99/cuts/1/audio", {404, 409}),
        (f"{base}/0/cuts/1/audio", {409, 422}),  # no mix on hand here, or no cut: no audio
    ):
        response = world.client.get(path, headers=world.headers("host"))
        assert response.status_code in allowed, (path, response.status_code, response.text)
        assert response.json()["detail"]
        assert "audio/mpeg" not in response.headers.get("content-type", "")
    # Another host's episode: not found, whatever the version and cut.
    other = world.client.get(f"{base}/0/cuts/1/audio", headers=world.headers("other_host"))
    assert other.status_code == 404, other.text
    space = world.client.get(f"/episodes/{episode}").json()["space_id"]
    down = world.client.post(
        f"/moderation/spaces/{space}/takedown",
        json={"category": "violence", "reason": "a live threat"},
        headers=world.headers("admin"),
    )
    assert down.status_code == 201, down.text
    after = world.client.get(f"{base}/0/cuts/1/audio", headers=world.headers("host"))
    assert after.status_code in (404, 409, 410), after.text
    assert "audio/mpeg" not in after.headers.get("content-type", "")


def test_a_kept_feed_loses_an_episode_at_its_takedown(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Episode
    from infra.settings import get_settings

    episode = world.fresh_episode("B")
    with session_scope(get_settings().database_url) as session:
        guid = session.get(Episode, episode).guid
    url = f"/shows/{world.shows['B']}/feed.xml"
    first = world.client.get(url)
    assert guid in [e.id for e in feedparser.parse(first.content).entries]
    assert world.client.get(url).content == first.content  # served from the kept feed
    space = world.client.get(f"/episodes/{episode}").json()["space_id"]
    down = world.client.post(
        f"/moderation/spaces/{space}/takedown",
        json={"category": "violence", "reason": "a live threat"},
        headers=world.headers("admin"),
    )
    assert down.status_code == 201, down.text
    polled = world.client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert polled.status_code == 200
    assert guid not in [e.id for e in feedparser.parse(polled.content).entries]


def test_a_live_room_taken_down_leaves_the_kept_feed_and_only_web_addresses_are_links(
    world: World,
) -> None:
    from lxml import etree

    from pipeline.feed import PODCAST_NS

    made = world.client.post(
        "/shows", json={"title": "Probe Live", "author": "Alice"}, headers=world.headers("host")
    )
    show_id = made.json()["id"]
    assert (
        world.client.patch(
            f"/shows/{show_id}", json={"live_items": True}, headers=world.headers("host")
        ).status_code
        == 200
    )
    url = f"/shows/{show_id}/spaces"
    for bad in ("javascript:alert(1)", "data:text/html,<script>x</script>", "file:///etc/passwd"):
        for field in ("room_url", "stream_url"):
            refused = world.client.post(
                url, json={"title": "Bad", field: bad}, headers=world.headers("host")
            )
            assert refused.status_code == 422 and field in refused.text, (field, bad)
    body = {
        "title": "Live <b>now</b> & here",
        "started_at": "2020-01-01T00:00:00+00:00",
        "stream_url": "https://stream.example/room.m3u8",
    }
    space = world.client.post(url, json=body, headers=world.headers("host")).json()["id"]
    feed = f"/shows/{show_id}/feed.xml"

    def live_titles() -> list[str]:
        doc = etree.fromstring(world.client.get(feed).content)
        return [e.findtext("title") for e in doc.findall(f"channel/{{{PODCAST_NS}}}liveItem")]

    assert live_titles() == ["Live <b>now</b> & here"]  # a title, as text (XML escaped)
    assert "<b>now</b>" not in world.client.get(feed).text
    down = world.client.post(
        f"/moderation/spaces/{space}/takedown",
        json={"category": "violence", "reason": "a live threat"},
        headers=world.headers("admin"),
    )
    assert down.status_code == 201, down.text
    assert live_titles() == []  # not from the kept feed either
    assert "stream.example" not in world.client.get(feed).text


def test_host_notes_with_tricky_addresses_or_megabytes_never_become_markup(world: World) -> None:
    episode = world.fresh_episode("A")
    url = f"/episodes/{episode}/notes"
    big = world.client.put(url, json={"text": "x" * 5_000_000}, headers=world.headers("host"))
    assert big.status_code in (413, 422) and big.json()["detail"], big.status_code
    for bad in ("right\u202eleft", "nul\x00", "esc\x1b[31m"):
        refused = world.client.put(url, json={"text": bad}, headers=world.headers("host"))
        assert refused.status_code == 422 and "position" in refused.text, (bad, refused.text)
    notes = (
        'See https://example.org/a"onmouseover="alert(1) and '
        "javascript:alert(2) and https://example.org/<script>x</script> and "
        "https://example.org/?a=1&b=<i>2</i>"
    )
    stored = world.client.put(url, json={"text": notes}, headers=world.headers("host"))
    assert stored.status_code == 200, stored.text
    feed = world.client.get(f"/shows/{world.shows['A']}/feed.xml").content
    from infra.db import session_scope
    from infra.models import Episode
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        guid = session.get(Episode, episode).guid
    entry = next(e for e in feedparser.parse(feed).entries if e.id == guid)
    content = entry.content[0].value
    page = world.client.get(f"/e/{episode}").text
    for html_text in (content, page):
        assert "<script>" not in html_text and "<i>" not in html_text
        assert 'onmouseover="alert' not in html_text
        assert 'href="javascript' not in html_text
    # The links made are the web addresses only, each ending before the first quote or "<".
    hrefs = re.findall(r'href="([^"]*)"', content)
    assert hrefs == [
        "https://example.org/a",
        "https://example.org/",
        "https://example.org/?a=1&amp;b=",
    ], hrefs
    # Back to the generated notes: the show's feed is shared by the module's other tests.
    assert world.client.delete(url, headers=world.headers("host")).status_code == 200


def test_a_cut_preview_with_a_voice_it_may_not_carry_or_an_unreadable_mix(
    world: World, short_opus: Path
) -> None:
    """Through the API with a finished mix on record: one holding a voice the episode may not
    carry (withdrawn since) is never previewed; one ffmpeg cannot read is an error naming the
    problem, never the presigned URL it was read through."""
    episode = _with_a_track(world, "A", short_opus)
    made = world.client.post(
        f"/episodes/{episode}/versions",
        json={"operations": [{"op": "cut", "start_s": 10.0, "end_s": 20.0}]},
        headers=world.headers("host"),
    )
    assert made.status_code == 201, made.text
    url = f"/episodes/{episode}/versions/{made.json()['number']}/cuts/1/audio"
    _with_a_mix(episode, "alice+bruno")
    held = world.client.get(url, headers=world.headers("host"))
    assert held.status_code == 409 and "made again" in held.text, held.text
    _with_a_mix(episode, "alice")
    # With a mix on hand: a cut or a version the episode does not have is named, not rendered.
    base = f"/episodes/{episode}/versions"
    no_cut = world.client.get(
        f"{base}/{made.json()['number']}/cuts/2/audio", headers=world.headers("host")
    )
    assert no_cut.status_code == 422 and "cut 2: the version has 1 cut" in no_cut.text, no_cut.text
    no_version = world.client.get(f"{base}/99/cuts/1/audio", headers=world.headers("host"))
    assert no_version.status_code == 404 and "version 99" in no_version.text, no_version.text
    theirs = world.client.get(url, headers=world.headers("other_host"))
    assert theirs.status_code == 404, theirs.text
    failed = world.client.get(url, headers=world.headers("host"))
    assert failed.status_code == 502 and "audio/mpeg" not in failed.headers["content-type"]
    detail = failed.json()["detail"]
    assert "previewing cut 1" in detail and ("404" in detail or "Not Found" in detail), detail
    for secret in ("://", "X-Amz", "Signature", "mix-probe", "work/"):
        assert secret not in detail, detail
    # The object is there but is not audio: ffmpeg names the URL it could not read.
    from infra.db import session_scope
    from infra.models import Episode
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    with session_scope(get_settings().database_url) as session:
        space_id = session.get(Episode, episode).space_id
    ObjectStore(get_settings()).put_bytes(
        f"work/{space_id}/mix-probe.flac", b"not audio " * 500, content_type="audio/flac"
    )
    garbled = world.client.get(url, headers=world.headers("host"))
    assert garbled.status_code == 502, garbled.status_code
    detail = garbled.json()["detail"]
    assert "previewing cut 1" in detail and "Invalid data" in detail, detail
    endpoint = get_settings().s3_endpoint_url.split("://", 1)[-1]
    for secret in ("://", "X-Amz", "Signature", "mix-probe", "work/", endpoint):
        assert secret not in detail, detail


def test_a_kept_feed_loses_an_episode_whose_voice_withdrew(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Episode
    from infra.settings import get_settings

    episode = world.fresh_episode("B")
    with session_scope(get_settings().database_url) as session:
        found = session.get(Episode, episode)
        guid, space = found.guid, found.space_id
    url = f"/shows/{world.shows['B']}/feed.xml"
    first = world.client.get(url)

    def enclosures(content: bytes) -> list[str]:
        entry = next((e for e in feedparser.parse(content).entries if e.id == guid), None)
        return [] if entry is None else [link.href for link in entry.get("enclosures", [])]

    assert enclosures(first.content)
    assert world.client.get(url).content == first.content  # kept
    withdrawn = world.client.post(
        f"/spaces/{space}/participants/alice/consent",
        json={"answers": {"publish": False}, "note": "asked in the room to be left out"},
        headers=world.headers("other_host"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    polled = world.client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert polled.status_code == 200
    assert enclosures(polled.content) == []  # her voice is not offered from the kept feed


def test_live_work_made_before_a_withdrawal_and_regrant_has_another_fingerprint(
    world: World,
) -> None:
    """The stages adopt live work only under the fingerprint it was made with
    (``services.live.adoptable``); a withdrawal answered through the API, then the same
    answers again (the consent state as before), still makes the fingerprint differ."""
    from infra.db import session_scope
    from infra.models import Participant, Space
    from infra.settings import get_settings
    from services import live

    settings = get_settings()
    made = world.client.post(
        f"/shows/{world.shows['A']}/spaces", json={"title": "Live work probe"},
        headers=world.headers("host"),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    space_id = made.json()["id"]
    with session_scope(settings.database_url) as session:
        assert session.get(Space, space_id).status == "recording"
        someone = Participant(space_id=space_id, handle="livework", name="Live Work")
        session.add(someone)
        session.flush()
        pid = someone.id

    def said(answers: dict) -> str:
        response = world.client.post(
            f"/spaces/{space_id}/participants/livework/consent",
            json={"answers": answers, "note": "said in the room"},
            headers=world.headers("host"),
        )
        assert response.status_code == 200, response.text
        with session_scope(settings.database_url) as session:
            participant = session.get(Participant, pid)
            return live.fingerprint(session, settings, participant, transcribe=True)

    grant = {"record": True, "publish": True, "transcribe": True}
    before = said(grant)
    withdrawn = said({"publish": False, "transcribe": False})
    again = said(grant)
    assert len({before, withdrawn, again}) == 3
