"""The room and its words as apps and people see them, on the shared deployment: the room was a
podcast:liveItem in its show's feed while live and held and gave way to the episode item under
the same guid once published (a real worker between); the host writes the show notes on the
space page, where the chapters are listed too, and listeners read both on the episode page,
the host's markup shown as text, never run."""

from __future__ import annotations

import io
import re

import feedparser
import podcastparser
import pytest
from lxml import etree

from pipeline.feed import PODCAST_NS
from tests.web.browsing import check_and_snap, signed_in

pytestmark = pytest.mark.slow

LIVE = f"channel/{{{PODCAST_NS}}}liveItem"


def test_the_room_was_a_live_item_until_its_episode_was_published(site, published) -> None:
    recording = etree.fromstring(site["feeds"]["recording"]).findall(LIVE)
    assert [e.get("status") for e in recording] == ["live"]
    guid = recording[0].findtext("guid")
    link = recording[0].find(f"{{{PODCAST_NS}}}contentLink").get("href")
    assert link.endswith(f"/shows/{site['show_id']}") or link.startswith("https://")
    # Nobody has answered in a live room: no participant is named in it (the show's author,
    # Alice here, is the show's own public name).
    assert recording[0].find(f"{{{PODCAST_NS}}}person") is None
    author = recording[0].find("{http://www.itunes.com/dtds/podcast-1.0.dtd}author")
    recording[0].remove(author)
    said = etree.tostring(recording[0]).decode()
    assert not any(name in said for name in ("Alice", "Chioma", "Dan", "Bruno"))

    held = etree.fromstring(site["feeds"]["held"]).findall(LIVE)
    assert [e.get("status") for e in held] == ["ended"] and held[0].get("end")
    assert held[0].findtext("guid") == guid
    assert held[0].find("enclosure") is None  # nothing may be heard before publication

    stack = site["stack"]
    with stack.client(key=None) as anyone:
        xml = anyone.get(f"/shows/{site['show_id']}/feed.xml").raise_for_status().content
    assert etree.fromstring(xml).findall(LIVE) == []
    parsed = feedparser.parse(xml)
    assert [e.id for e in parsed.entries] == [guid]
    assert parsed.entries[0].itunes_episode == "1"
    assert parsed.entries[0].itunes_season == "2"  # the show's season when first published
    episodes = podcastparser.parse("feed.xml", io.BytesIO(xml))["episodes"]
    assert [e["guid"] for e in episodes] == [guid]
    assert published["episode"]["guid"] == guid


def test_host_writes_the_notes_beside_the_chapters_and_listeners_read_them(
    browser, site, published, artifacts
) -> None:
    episode = published["episode"]
    stack = site["stack"]
    page = signed_in(browser, stack.base_url, stack.host_key)
    page.goto(f"/host/spaces/{site['space_id']}")
    chapters = page.locator("#host-chapters li")
    assert chapters.count() >= 2, page.locator("#episode-text").inner_text()
    host_titles = chapters.all_inner_texts()
    box = page.get_by_label(re.compile("Show notes"))
    assert "Speakers:" in box.input_value()  # the generated notes, to start from
    check_and_snap(page, artifacts, "host-space-notes")
    notes = "Thanks for coming <img src=x onerror=alert(1)>!\n\nMore: https://example.org/market"
    box.fill(notes)
    page.get_by_role("button", name="Save the notes").click()
    status = page.locator("#notes-status")
    status.filter(has_text="Saved").wait_for()

    listener = signed_in(browser, stack.base_url, None)
    listener.goto(f"/e/{episode['id']}")
    shown = listener.locator("#notes").inner_text()
    assert "<img src=x onerror=alert(1)>" in shown  # the host's markup, as text
    assert listener.locator("#notes img").count() == 0
    titles = listener.locator("#chapters li").all_inner_texts()
    assert len(titles) == len(host_titles) >= 2
    check_and_snap(listener, artifacts, "episode-host-notes")

    page.reload()
    assert page.get_by_label(re.compile("Show notes")).input_value() == notes
    # The chapters are edited there as lines; a wrong list is refused naming the chapter, and
    # nothing changes (a right one renders the episode again: tests/api/test_chapter_edits.py).
    lines = page.get_by_label(re.compile("Chapters, one a line"))
    written = [line for line in lines.input_value().splitlines() if line]
    assert len(written) == len(host_titles) and written[0].startswith("0:00")
    lines.fill("0:05 Too late a start\n1:00 Later")
    page.get_by_role("button", name="Publish the chapters").click()
    refused = page.locator("#chapters-status")
    refused.filter(has_text="Not changed").wait_for()
    assert "chapters[0].start_s" in refused.inner_text()
    with stack.client() as host:
        kept = host.get(f"/episodes/{episode['id']}/chapters").raise_for_status().json()
    assert kept["host_chapters"] is None and kept["pending"] is False
    page.get_by_role("button", name="Use the generated notes").click()
    status.filter(has_text="generated notes").wait_for()
    assert "Speakers:" in page.get_by_label(re.compile("Show notes")).input_value()
    page.context.close()
    listener.context.close()
