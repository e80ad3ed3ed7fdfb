import io
import time
from dataclasses import replace
from datetime import UTC, datetime

import feedparser
import podcastparser
from lxml import etree

from pipeline.feed import (
    PODCAST_NS,
    AlternateEnclosure,
    FeedItem,
    Person,
    Show,
    TranscriptLink,
    build_feed,
    carry_over_items,
    podcast_guid,
)

SHOW = Show(
    title="Town Square Live",
    author="Alice",
    description="Neighbours talk.",
    link="https://example.org/town-square",
    feed_url="https://example.org/town-square/feed.xml",
    image_url="https://example.org/town-square/cover.png",
)


def item(guid: str, day: int, url: str) -> FeedItem:
    return FeedItem(
        guid=guid,
        title=f"Episode {day}",
        description="Recorded live.",
        link=None,
        published_at=datetime(2026, 11, day, 18, tzinfo=UTC),
        enclosure_url=url,
        enclosure_bytes=1_385_579,
        enclosure_type="audio/mpeg",
        duration_s=3725.4,
        persons=[Person("Alice", "host"), Person("Chioma", "guest")],
        transcripts=[
            TranscriptLink(url + ".vtt", "text/vtt", "en", "captions"),
            TranscriptLink(url + ".json", "application/json", "en"),
        ],
    )


def test_podcast_guid_follows_the_spec_derivation() -> None:
    # Scheme and trailing slash are ignored, as the Podcasting 2.0 namespace prescribes.
    assert podcast_guid("https://example.org/feed.xml/") == podcast_guid(
        "http://example.org/feed.xml"
    )
    assert (
        podcast_guid("https://bigal.github.io/breakfast-wrap-feed/breakfast-wrap.xml")
        == "f95d7b89-e1ee-554c-be7f-f126f0b92dae"
    )


def test_podcast_clients_read_episode_enclosure_duration_transcript_and_persons() -> None:
    xml = build_feed(SHOW, [item("ep-1", 20, "https://cdn.example.org/1.mp3")])
    parsed = podcastparser.parse(SHOW.feed_url, io.BytesIO(xml))
    assert parsed["title"] == "Town Square Live"
    assert parsed["cover_url"] == SHOW.image_url
    (episode,) = parsed["episodes"]
    assert episode["guid"] == "ep-1"
    assert episode["enclosures"] == [
        {"url": "https://cdn.example.org/1.mp3", "file_size": 1_385_579, "mime_type": "audio/mpeg"}
    ]
    assert episode["total_time"] == 3725
    assert episode["transcript_url"].startswith("https://cdn.example.org/1.mp3.")
    assert [(p["name"], p["role"]) for p in episode["persons"]] == [
        ("Alice", "host"),
        ("Chioma", "guest"),
    ]
    assert parsed["explicit"] is False

    other = feedparser.parse(xml)
    assert other.bozo == 0
    assert other.entries[0].enclosures[0].href == "https://cdn.example.org/1.mp3"
    assert other.entries[0].itunes_duration == "01:02:05"
    assert other.feed.podcast_guid == podcast_guid(SHOW.feed_url)


def test_explicit_shows_are_marked_explicit() -> None:
    explicit = Show(**{**SHOW.__dict__, "explicit": True})
    xml = build_feed(explicit, [item("ep-1", 20, "https://cdn.example.org/1.mp3")])
    assert podcastparser.parse(SHOW.feed_url, io.BytesIO(xml))["explicit"] is True


def test_channel_has_the_tags_apple_requires() -> None:
    root = etree.fromstring(build_feed(SHOW, [item("ep-1", 20, "https://cdn.example.org/1.mp3")]))
    itunes = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
    channel = root.find("channel")
    for tag in ("title", "description", "language", "link"):
        assert channel.findtext(tag), tag
    assert channel.find(f"{itunes}image").get("href") == SHOW.image_url
    assert channel.find(f"{itunes}category").get("text") == "Society & Culture"
    assert channel.findtext(f"{itunes}explicit") == "false"
    assert channel.findtext(f"{{{PODCAST_NS}}}guid") == podcast_guid(SHOW.feed_url)
    transcripts = channel.find("item").findall(f"{{{PODCAST_NS}}}transcript")
    assert [(t.get("type"), t.get("rel")) for t in transcripts] == [
        ("text/vtt", "captions"),
        ("application/json", None),
    ]


def test_earlier_items_are_kept_newest_first() -> None:
    first = build_feed(SHOW, [item("ep-1", 20, "https://cdn.example.org/1.mp3")])
    second = carry_over_items(
        build_feed(SHOW, [item("ep-2", 21, "https://cdn.example.org/2.mp3")]), first
    )
    episodes = podcastparser.parse(SHOW.feed_url, io.BytesIO(second))["episodes"]
    assert [e["guid"] for e in episodes] == ["ep-2", "ep-1"]
    assert episodes[1]["persons"][0]["name"] == "Alice"
    # Publishing the same episode again replaces it instead of duplicating it.
    again = carry_over_items(
        build_feed(SHOW, [item("ep-2", 21, "https://cdn.example.org/2b.mp3")]), second
    )
    episodes = podcastparser.parse(SHOW.feed_url, io.BytesIO(again))["episodes"]
    assert [e["guid"] for e in episodes] == ["ep-2", "ep-1"]
    assert episodes[0]["enclosures"][0]["url"] == "https://cdn.example.org/2b.mp3"


def test_chapters_are_linked_as_json_and_inline_for_podcast_apps() -> None:
    chaptered = replace(
        item("ep-1", 20, "https://cdn.example.org/1.mp3"),
        chapters_url="https://cdn.example.org/1/chapters.json",
        chapters=[(0.0, "Jupiter and telescope"), (3605.25, "Sourdough & oven")],
    )
    xml = build_feed(SHOW, [chaptered, item("ep-2", 21, "https://cdn.example.org/2.mp3")])
    newest, older = feedparser.parse(xml).entries
    assert feedparser.parse(xml).bozo == 0
    assert newest.guid == "ep-2" and "podcast_chapters" not in newest
    assert older.podcast_chapters == {
        "url": "https://cdn.example.org/1/chapters.json",
        "type": "application/json+chapters",
    }
    episodes = podcastparser.parse(SHOW.feed_url, io.BytesIO(xml))["episodes"]
    assert [e.get("chapters") for e in episodes] == [
        None,
        [
            {"start": 0, "title": "Jupiter and telescope"},
            {"start": 3605, "title": "Sourdough & oven"},
        ],
    ]


def test_the_same_items_make_the_same_document() -> None:
    items = [item("ep-1", 20, "https://cdn.example.org/1.mp3")]
    first = build_feed(SHOW, items)
    time.sleep(1.1)  # feedgen's own lastBuildDate would differ by now
    assert build_feed(SHOW, items) == first
    assert feedparser.parse(first).feed.updated_parsed[:3] == (2026, 11, 20)


def test_each_delivered_file_is_an_alternate_enclosure() -> None:
    both = replace(
        item("ep-1", 20, "https://cdn.example.org/1.mp3"),
        alternates=[
            AlternateEnclosure("https://cdn.example.org/1.mp3", "audio/mpeg", 1_385_579,
                               2975.6, "MP3", default=True),
            AlternateEnclosure("https://cdn.example.org/1.opus", "audio/ogg", 900_000,
                               1932.7, "Opus"),
        ],
    )  # fmt: skip
    doc = etree.fromstring(build_feed(SHOW, [both]))
    found = doc.findall(f".//{{{PODCAST_NS}}}alternateEnclosure")
    assert [
        (a.get("type"), a.get("length"), a.get("bitrate"), a.get("default")) for a in found
    ] == [
        ("audio/mpeg", "1385579", "2976", "true"),
        ("audio/ogg", "900000", "1933", None),
    ]
    assert [a.find(f"{{{PODCAST_NS}}}source").get("uri") for a in found] == [
        "https://cdn.example.org/1.mp3",
        "https://cdn.example.org/1.opus",
    ]
    assert feedparser.parse(build_feed(SHOW, [both])).bozo == 0


def test_live_rooms_are_live_items_with_their_status_times_and_room() -> None:
    from pipeline.feed import LiveItem

    start = datetime(2026, 12, 3, 18, tzinfo=UTC)
    live = [
        LiveItem("g-next", "Next week", "Scheduled.", "pending", start, None,
                 "https://rooms.example/next"),
        LiveItem("g-now", "On air", "Now.", "live", datetime(2026, 12, 2, 18, tzinfo=UTC), None,
                 "https://rooms.example/now", "https://stream.example/now.mp3"),
    ]  # fmt: skip
    doc = etree.fromstring(build_feed(SHOW, [item("a", 1, "https://x/a.mp3")], live))
    found = doc.findall(f"channel/{{{PODCAST_NS}}}liveItem")
    assert [(e.get("status"), e.findtext("guid")) for e in found] == [
        ("live", "g-now"),
        ("pending", "g-next"),
    ]
    on_air, scheduled = found
    assert on_air.get("start") == "2026-12-02T18:00:00+00:00" and on_air.get("end") is None
    assert on_air.find("enclosure").get("url") == "https://stream.example/now.mp3"
    link = on_air.find(f"{{{PODCAST_NS}}}contentLink")
    assert link.get("href") == "https://rooms.example/now"
    assert scheduled.find("enclosure") is None  # no stream: nothing to play yet
    # The live items are not episodes: an app's parser lists the one item only.
    parsed = feedparser.parse(etree.tostring(doc))
    assert [e.id for e in parsed.entries] == ["a"]


def test_items_carry_numbers_summary_and_escaped_html_notes() -> None:
    from pipeline.notes import notes_html

    hostile = 'Hi <script>alert(1)</script> & see https://example.org/a?b=1&c="x" <b>x</b>\n\nBye'
    numbered = replace(
        item("a", 1, "https://x/a.mp3"),
        number=7,
        season=2,
        summary=hostile,
        content_html=notes_html("Recorded live.", hostile),
    )
    xml = build_feed(replace(SHOW, locked=True, owner_email="alice@example.org"), [numbered])
    parsed = feedparser.parse(xml)
    entry = parsed.entries[0]
    assert entry.itunes_episode == "7" and entry.itunes_episodetype == "full"
    assert entry.itunes_season == "2"
    html_text = entry.content[0].value
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text
    assert "<b>" not in html_text and "&lt;b&gt;x&lt;/b&gt;" in html_text
    assert '<a href="https://example.org/a?b=1&amp;c=" rel="nofollow noopener">' in html_text
    assert html_text.startswith("<p>Recorded live.</p>") and html_text.endswith("<p>Bye</p>")
    doc = etree.fromstring(xml)
    assert doc.findtext(f"channel/item/{{{PODCAST_NS}}}episode") == "7"
    assert doc.findtext(f"channel/item/{{{PODCAST_NS}}}season") == "2"
    locked = doc.find(f"channel/{{{PODCAST_NS}}}locked")
    assert locked.text == "yes" and locked.get("owner") == "alice@example.org"
    # Unlocked (the default), no podcast:locked at all.
    assert (
        etree.fromstring(build_feed(SHOW, [numbered])).find(f"channel/{{{PODCAST_NS}}}locked")
        is None
    )
