"""What the listeners' pages are made of, without a browser: transcript turns, chapters and notes
shown only when an episode has them, pages of a show's episodes, the links apps subscribe with."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from fastapi import HTTPException

from api.views import (
    chapter_list,
    episode_speakers,
    fast_follow_url,
    note_paragraphs,
    page_of,
    subscribe_links,
    transcript_turns,
)
from api.web import templates
from pipeline.feed import podcast_guid


def line(who: str, start: float, text: str) -> SimpleNamespace:
    return SimpleNamespace(
        participant_id=who.lower(), speaker=who, start_s=start, end_s=start + 1.0, text=text
    )


def test_consecutive_lines_of_one_speaker_make_one_turn() -> None:
    lines = [
        line("Alice", 0.0, "Welcome back."),
        line("Alice", 1.5, "Today we plan the market."),
        line("Chioma", 3.0, "Yes."),
        line("Alice", 4.0, "Good."),
    ]
    turns = transcript_turns(lines)
    assert [(t.speaker, t.start_s, len(t.lines)) for t in turns] == [
        ("Alice", 0.0, 2),
        ("Chioma", 3.0, 1),
        ("Alice", 4.0, 1),
    ]


def test_speakers_talk_time_comes_from_the_published_tracks() -> None:
    episode = SimpleNamespace(
        persons=[{"name": "Alice", "role": "host"}],
        report={
            "tracks": [
                {"name": "Alice", "role": "host", "published": True, "speech_s": 30.0},
                {"name": "Chioma", "role": "speaker", "published": True, "speech_s": 10.0},
                {"name": "Dan", "role": "speaker", "published": False, "speech_s": 20.0},
            ]
        },
    )
    speakers = episode_speakers(episode)
    assert [(s.name, s.talk_s, s.share) for s in speakers] == [
        ("Alice", 30.0, 0.75),
        ("Chioma", 10.0, 0.25),
    ]
    bare = SimpleNamespace(persons=[{"name": "Alice", "role": "host"}], report={})
    assert [(s.name, s.talk_s) for s in episode_speakers(bare)] == [("Alice", None)]


def test_chapters_read_either_form_in_time_order_and_notes_split_into_paragraphs() -> None:
    chapters = chapter_list(
        [
            {"startTime": 65, "title": "Parking"},
            {"start_s": 0.0, "title": "Welcome", "url": "https://example.org"},
            {"startTime": 30, "title": "hidden", "toc": False},
        ]
    )
    assert [(c.start_s, c.title) for c in chapters] == [(0.0, "Welcome"), (65.0, "Parking")]
    assert chapter_list(None) == []
    assert note_paragraphs("First.\n\nSecond\nline.\n\n\n") == ["First.", "Second\nline."]
    assert note_paragraphs(None) == []


def test_episodes_come_twenty_a_page_and_a_missing_page_is_404() -> None:
    items = list(range(45))
    first, last = page_of(items, None), page_of(items, "3")
    assert (first.items, first.count, first.newer, first.older) == (items[:20], 3, None, 2)
    assert (last.items, last.newer, last.older) == (items[40:], 2, None)
    assert page_of([], None).count == 1
    for asked in ("0", "4", "-1", "two"):
        with pytest.raises(HTTPException) as refused:
            page_of(items, asked)
        assert refused.value.status_code == 404


def test_subscribe_links_carry_the_feed_and_the_show_guid() -> None:
    feed = "https://casts.example/shows/abc/feed.xml"
    links = {link.app: link.url for link in subscribe_links(feed, "Town & Square")}
    assert links["Apple Podcasts and other apps"] == "podcast://casts.example/shows/abc/feed.xml"
    assert links["Pocket Casts"] == "pktc://subscribe/casts.example/shows/abc/feed.xml"
    assert unquote(links["Overcast"].split("url=")[1]) == feed
    assert "title=Town%20%26%20Square" in links["AntennaPod"]
    follow = fast_follow_url("abc")
    page, guid = follow.split("#fastfollow-podcast:")
    assert page.endswith("/s/abc")
    assert guid == podcast_guid(page.rsplit("/s/", 1)[0] + "/shows/abc/feed.xml")


def render_episode(**extra) -> str:
    context = {
        "viewer": None,
        "show": SimpleNamespace(id="show1", title="Town Square Live", language="en"),
        "episode": SimpleNamespace(
            id="ep1",
            title="Quick chat",
            description="",
            published_at=datetime(2026, 11, 21, tzinfo=UTC),
            duration_s=95.0,
            audio={"mp3": "/m/episode.mp3"},
            transcripts={},
            persons=[],
        ),
        "page_url": "http://127.0.0.1/e/ep1",
        "speakers": [],
        "chapters": [],
        "notes": [],
        "turns": transcript_turns([line("Alice", 0.0, "Welcome back.")]),
        "clips": [],
        "report_categories": (),
        **extra,
    }
    return templates.env.get_template("episode.html").render(context)


def test_chapters_and_notes_show_only_when_the_episode_has_them() -> None:
    bare = render_episode()
    assert 'id="chapters"' not in bare and 'id="notes"' not in bare
    full = render_episode(
        chapters=chapter_list([{"startTime": 65.5, "title": "Parking"}]),
        notes=note_paragraphs("Links from the show.\n\nThanks <everyone>."),
    )
    assert 'href="#t=65.5"' in full and "Parking" in full
    assert "<p>Links from the show.</p>" in full
    assert "Thanks &lt;everyone&gt;." in full  # notes are text, never markup
