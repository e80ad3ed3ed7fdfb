"""Podcast RSS: RSS 2.0 built with feedgen, the iTunes tags Apple requires, and Podcasting 2.0 tags
(``podcast:guid``, ``podcast:locked``, ``podcast:liveItem``, ``podcast:episode``,
``podcast:transcript``, ``podcast:person``, ``podcast:soundbite``, ...).

The ``podcast`` prefix is bound to the namespace URI the Podcasting 2.0 specification's own
example feed declares, which is also the one gPodder's podcastparser reads (see docs/decisions.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from pipeline.chapters import CHAPTERS_MIME
from pipeline.text import xml_safe

PODCAST_NS = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
# Podlove Simple Chapters: chapters inline in the item, read by gPodder and AntennaPod.
PSC_NS = "http://podlove.org/simple-chapters"
# Namespace the Podcasting 2.0 spec fixes for deriving podcast:guid from a feed URL.
_PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")

# Apple Podcasts' categories and subcategories (podcasters.apple.com, "Apple Podcasts
# categories"); a show names one, optionally as "Category > Subcategory".
ITUNES_CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": (
        "Careers", "Entrepreneurship", "Investing", "Management", "Marketing", "Non-Profit",
    ),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": (
        "Alternative Health", "Fitness", "Medicine", "Mental Health", "Nutrition", "Sexuality",
    ),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": (
        "Animation & Manga", "Automotive", "Aviation", "Crafts", "Games", "Hobbies",
        "Home & Garden", "Video Games",
    ),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": (
        "Business News", "Daily News", "Entertainment News", "News Commentary", "Politics",
        "Sports News", "Tech News",
    ),
    "Religion & Spirituality": (
        "Buddhism", "Christianity", "Hinduism", "Islam", "Judaism", "Religion", "Spirituality",
    ),
    "Science": (
        "Astronomy", "Chemistry", "Earth Sciences", "Life Sciences", "Mathematics",
        "Natural Sciences", "Nature", "Physics", "Social Sciences",
    ),
    "Society & Culture": (
        "Documentary", "Personal Journals", "Philosophy", "Places & Travel", "Relationships",
    ),
    "Sports": (
        "Baseball", "Basketball", "Cricket", "Fantasy Sports", "Football", "Golf", "Hockey",
        "Rugby", "Running", "Soccer", "Swimming", "Tennis", "Volleyball", "Wilderness",
        "Wrestling",
    ),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}  # fmt: skip


@dataclass(frozen=True)
class Show:
    title: str
    author: str
    description: str
    link: str
    feed_url: str
    image_url: str
    language: str = "en"
    category: str = "Society & Culture"
    explicit: bool = False
    owner_email: str | None = None
    locked: bool = False  # podcast:locked "yes" (with owner_email): not to be imported elsewhere


LIVE_STATUSES = ("pending", "live", "ended")


@dataclass(frozen=True)
class LiveItem:
    """A scheduled, live or just ended room (podcast:liveItem). Its guid is the guid the
    episode will have, so an app that listed the room knows the episode as the same item."""

    guid: str
    title: str
    description: str
    status: str  # one of LIVE_STATUSES
    start: datetime
    end: datetime | None
    content_link: str  # where listeners join the room
    enclosure_url: str | None = None  # the live stream, when the room service gives one
    enclosure_type: str = "audio/mpeg"


@dataclass(frozen=True)
class Person:
    name: str
    role: str = "guest"  # Podcasting 2.0 taxonomy: host, co-host, guest
    href: str | None = None
    img: str | None = None


@dataclass(frozen=True)
class TranscriptLink:
    url: str
    mime_type: str
    language: str | None = None
    rel: str | None = None


@dataclass(frozen=True)
class AlternateEnclosure:
    """One delivered file of the episode (podcast:alternateEnclosure)."""

    url: str
    mime_type: str
    length_bytes: int
    bitrate_bps: float  # average, from the file's size and duration
    title: str
    default: bool = False


@dataclass(frozen=True)
class Soundbite:
    start_s: float
    duration_s: float
    title: str = ""


@dataclass(frozen=True)
class FeedItem:
    guid: str
    title: str
    description: str
    link: str | None
    published_at: datetime
    enclosure_url: str
    enclosure_bytes: int
    enclosure_type: str
    duration_s: float
    persons: Sequence[Person] = field(default=())
    transcripts: Sequence[TranscriptLink] = field(default=())
    soundbites: Sequence[Soundbite] = field(default=())
    chapters_url: str | None = None  # the item's JSON chapters (podcast:chapters)
    chapters: Sequence[tuple[float, str]] = field(default=())  # (start, title), inline (psc)
    alternates: Sequence[AlternateEnclosure] = field(default=())
    generated_note: str | None = None  # how generated text in the item was made (podcast:txt)
    number: int | None = None  # the episode's number in the show (itunes:episode)
    season: int | None = None  # itunes:season, podcast:season
    content_html: str | None = None  # the description and notes as HTML (content:encoded)
    summary: str | None = None  # the notes as plain text (itunes:summary)


def podcast_guid(feed_url: str) -> str:
    """podcast:guid as the spec derives it: UUIDv5 of the feed URL without scheme or end slashes."""
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(_PODCAST_GUID_NAMESPACE, bare))


def format_duration(seconds: float) -> str:
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, f"{{{ns}}}{tag}")
    for key, value in attrs.items():
        if value is not None:
            element.set(key, xml_safe(value))
    if text is not None:
        element.text = xml_safe(text)
    return element


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _live_item(channel: etree._Element, live: LiveItem, author: str) -> None:
    attrs = {"status": live.status, "start": _iso(live.start)}
    if live.end is not None:
        attrs["end"] = _iso(live.end)
    element = _sub(channel, PODCAST_NS, "liveItem", **attrs)
    etree.SubElement(element, "title").text = xml_safe(live.title)
    etree.SubElement(element, "description").text = xml_safe(live.description or live.title)
    etree.SubElement(element, "link").text = xml_safe(live.content_link)
    guid = etree.SubElement(element, "guid", isPermaLink="false")
    guid.text = live.guid
    etree.SubElement(element, f"{{{ITUNES_NS}}}author").text = author
    if live.enclosure_url:
        etree.SubElement(
            element,
            "enclosure",
            url=xml_safe(live.enclosure_url),
            type=live.enclosure_type,
            length="0",  # a stream has no length
        )
    _sub(element, PODCAST_NS, "contentLink", "Join the room", href=live.content_link)


class _ChannelExtension(BaseExtension):
    def __init__(self) -> None:
        self.show: Show | None = None
        self.live: Sequence[LiveItem] = ()

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, rss_feed: etree._Element) -> etree._Element:
        assert self.show is not None
        channel = rss_feed[0]
        _sub(channel, PODCAST_NS, "guid", podcast_guid(self.show.feed_url))
        _sub(channel, ITUNES_NS, "explicit", "true" if self.show.explicit else "false")
        if self.show.locked and self.show.owner_email:
            _sub(channel, PODCAST_NS, "locked", "yes", owner=self.show.owner_email)
        author = xml_safe(self.show.author)
        for live in sorted(self.live, key=lambda item: item.start):
            _live_item(channel, live, author)
        return rss_feed


class _ItemExtension(BaseEntryExtension):
    def __init__(self) -> None:
        self.item: FeedItem | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS, "psc": PSC_NS}

    def extend_rss(self, entry: etree._Element) -> etree._Element:
        assert self.item is not None
        for transcript in self.item.transcripts:
            _sub(
                entry,
                PODCAST_NS,
                "transcript",
                url=transcript.url,
                type=transcript.mime_type,
                language=transcript.language,
                rel=transcript.rel,
            )
        if self.item.season is not None:
            _sub(entry, PODCAST_NS, "season", str(self.item.season))
        if self.item.number is not None:
            _sub(entry, PODCAST_NS, "episode", str(self.item.number))
        if self.item.generated_note:
            _sub(entry, PODCAST_NS, "txt", self.item.generated_note, purpose="generated")
        for alternate in self.item.alternates:
            element = _sub(
                entry,
                PODCAST_NS,
                "alternateEnclosure",
                type=alternate.mime_type,
                length=str(alternate.length_bytes),
                bitrate=f"{alternate.bitrate_bps:.0f}",
                title=alternate.title,
                default="true" if alternate.default else None,
            )
            _sub(element, PODCAST_NS, "source", uri=alternate.url)
        if self.item.chapters_url:
            _sub(entry, PODCAST_NS, "chapters", url=self.item.chapters_url, type=CHAPTERS_MIME)
        if self.item.chapters:
            inline = _sub(entry, PSC_NS, "chapters", version="1.2")
            for start_s, title in self.item.chapters:
                _sub(inline, PSC_NS, "chapter", start=_npt(start_s), title=title)
        for person in self.item.persons:
            _sub(
                entry,
                PODCAST_NS,
                "person",
                person.name,
                role=person.role,
                group="cast",
                href=person.href,
                img=person.img,
            )
        for bite in self.item.soundbites:
            _sub(
                entry,
                PODCAST_NS,
                "soundbite",
                bite.title or None,
                startTime=f"{bite.start_s:.3f}",
                duration=f"{bite.duration_s:.3f}",
            )
        return entry


_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def _npt(seconds: float) -> str:
    """A Podlove Simple Chapters start time: HH:MM:SS.mmm."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def _itunes_category(name: str) -> dict[str, str]:
    """feedgen's form of "Category" or "Category > Subcategory". The API admits only Apple's
    names; anything else (text stored before that rule) falls back to Society & Culture rather
    than reach feedgen, which builds an XPath from it."""
    parent, _, sub = (part.strip() for part in name.partition(">"))
    if parent not in ITUNES_CATEGORIES:
        return {"cat": "Society & Culture"}
    return {"cat": parent, "sub": sub} if sub in ITUNES_CATEGORIES[parent] else {"cat": parent}


def build_feed(show: Show, items: Sequence[FeedItem], live: Sequence[LiveItem] = ()) -> bytes:
    """The show's RSS document with ``items`` newest first and the ``live`` rooms as
    podcast:liveItem. Text is stripped of characters XML cannot hold (the API refuses them;
    this keeps a feed of older text well formed)."""
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcastindex", _ChannelExtension, _ItemExtension, atom=False)
    fg.podcastindex.show = show
    fg.podcastindex.live = live
    title, author = xml_safe(show.title), xml_safe(show.author)
    description = xml_safe(show.description or show.title)
    fg.title(title)
    fg.description(description)
    fg.link(href=show.feed_url, rel="self")
    fg.link(href=show.link, rel="alternate")
    fg.language(show.language)
    fg.image(url=show.image_url, title=title, link=show.link)
    fg.generator("Spacecast")
    fg.podcast.itunes_author(author)
    fg.podcast.itunes_image(show.image_url)
    fg.podcast.itunes_category(**_itunes_category(show.category))
    fg.podcast.itunes_type("episodic")
    fg.podcast.itunes_summary(description)
    if show.owner_email:
        fg.podcast.itunes_owner(name=author, email=show.owner_email)
    # The same items make the same document (feedgen would stamp the time of building), so its
    # hash is a validator for conditional GETs: built when its newest item was published.
    fg.lastBuildDate(max((i.published_at for i in items), default=_NEVER))
    # feedgen emits entries in the reverse order they are added; add oldest first.
    for item in sorted(items, key=lambda i: i.published_at):
        entry = fg.add_entry()
        entry.podcastindex.item = item
        entry.guid(item.guid, permalink=False)
        entry.title(xml_safe(item.title))
        entry.description(xml_safe(item.description or item.title))
        if item.link:
            entry.link(href=item.link)
        entry.pubDate(item.published_at)
        entry.enclosure(item.enclosure_url, str(item.enclosure_bytes), item.enclosure_type)
        entry.podcast.itunes_duration(format_duration(item.duration_s))
        entry.podcast.itunes_author(author)
        entry.podcast.itunes_episode_type("full")
        if item.number is not None:
            entry.podcast.itunes_episode(item.number)
        if item.season is not None:
            entry.podcast.itunes_season(item.season)
        if item.summary:
            entry.podcast.itunes_summary(xml_safe(item.summary))
        if item.content_html:
            entry.content(xml_safe(item.content_html))  # RSS: content:encoded, beside description
    return fg.rss_str(pretty=True, xml_declaration=True, encoding="UTF-8")


def carry_over_items(feed_xml: bytes, earlier_feed_xml: bytes) -> bytes:
    """Add to ``feed_xml`` every item of ``earlier_feed_xml`` whose guid it does not have.

    Items are copied as they were (every tag kept) and the channel is reordered newest first.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    doc = etree.fromstring(feed_xml, parser)
    earlier = etree.fromstring(earlier_feed_xml, parser)
    channel = doc.find("channel")
    earlier_channel = earlier.find("channel")
    if channel is None or earlier_channel is None:
        return feed_xml
    present = {item.findtext("guid") for item in channel.findall("item")}
    for item in earlier_channel.findall("item"):
        if item.findtext("guid") not in present:
            channel.append(item)
    items = channel.findall("item")
    for item in items:
        channel.remove(item)

    def _published(item: etree._Element) -> float:
        text = item.findtext("pubDate")
        try:
            return parsedate_to_datetime(text).timestamp() if text else 0.0
        except (TypeError, ValueError):
            return 0.0

    for item in sorted(items, key=_published, reverse=True):
        channel.append(item)
    etree.indent(doc, space="  ")
    return etree.tostring(doc, pretty_print=True, xml_declaration=True, encoding="UTF-8")
