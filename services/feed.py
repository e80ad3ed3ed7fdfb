"""A show as podcast apps see it: its feed, built from its published episodes (and, when the host
opts in, its scheduled and live rooms) and kept per feed version, so that a poll of an
unchanged feed costs a read of the show's row; and its cover art (drawn once from the title
when the host gave none)."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import Clip, Episode, Show, Space, utcnow
from infra.storage import ObjectStore, show_key
from infra.urls import base_url, cover_url, feed_url, media_url
from pipeline.chapters import chapters_from_data
from pipeline.cover import render_cover
from pipeline.episode import episode_guid, persons, transcript_links
from pipeline.feed import AlternateEnclosure, FeedItem, LiveItem, Soundbite, build_feed
from pipeline.feed import Show as FeedShow
from pipeline.notes import NOTES_METHOD, Quote, notes_html, show_notes
from pipeline.states import SpaceStatus
from services.errors import Invalid
from services.publishing import (
    chapters_servable,
    clip_servable,
    episode_timeline,
    published_episodes,
    transcripts_servable,
)


def soundbites(session: Session, episode: Episode) -> list[Soundbite]:
    """The host's clips marked as highlights, on the episode's timeline (one the host's edits
    no longer hold whole is not listed)."""
    on_episode = episode_timeline(episode)
    clips = session.scalars(
        select(Clip)
        .where(Clip.episode_id == episode.id, Clip.soundbite.is_(True), Clip.status == "ready")
        .order_by(Clip.start_s)
    )
    bites = []
    for c in clips:
        at = on_episode.episode_range(c.start_s, c.end_s)
        if at is not None and clip_servable(session, c, episode):
            bites.append(Soundbite(start_s=at[0], duration_s=c.end_s - c.start_s, title=c.title))
    return bites


_FORMAT_TITLES = {"mp3": "MP3", "opus": "Opus"}


def alternate_enclosures(episode: Episode) -> list[AlternateEnclosure]:
    """Every delivered file of the episode, the MP3 (the enclosure) first and default."""
    alternates = []
    for name in sorted(episode.media, key=lambda n: (n != "mp3", n)):
        entry = episode.media[name]
        duration = entry.get("duration_s") or episode.duration_s
        alternates.append(
            AlternateEnclosure(
                url=media_url(episode, f"episode.{name}"),
                mime_type=entry["mime_type"],
                length_bytes=entry["size_bytes"],
                bitrate_bps=entry["size_bytes"] * 8 / duration if duration else 0.0,
                title=_FORMAT_TITLES.get(name, name),
                default=name == "mp3",
            )
        )
    return alternates


def episode_notes(session: Session, episode: Episode) -> str:
    """The episode's generated show notes as plain text, as the feed and the episode page show
    them: chapters while they may be served, quotes while the transcripts may."""
    chapters = chapters_from_data(episode.chapters) if chapters_servable(session, episode) else []
    notes = episode.notes or {}
    quotes = [Quote(*q) for q in notes.get("quotes", [])]
    return show_notes(
        [tuple(s) for s in notes.get("speakers", [])],
        chapters,
        quotes if transcripts_servable(session, episode) else [],
    )


def published_notes(session: Session, episode: Episode) -> tuple[str, bool]:
    """The notes the feed and the episode page publish: the host's own when they wrote them,
    else the generated ones; and whether they are generated."""
    if episode.host_notes is not None:
        return episode.host_notes, False
    generated = episode_notes(session, episode)
    return generated, bool(generated)


# Streams by the address's ending; anything else is announced as MP3.
_STREAM_TYPES = {".m3u8": "application/x-mpegURL", ".aac": "audio/aac", ".ogg": "audio/ogg",
                 ".opus": "audio/ogg", ".m4a": "audio/mp4"}  # fmt: skip


def live_items(
    session: Session, show: Show, now: datetime
) -> tuple[list[LiveItem], datetime | None]:
    """The show's rooms as live items (none unless the host opted in), and the next moment one
    of them changes by itself (a scheduled room going live): pending while its start is ahead,
    live while recording, ended from its end until its episode is published (then the episode
    item takes its place, under the same guid). A room that makes no episode (nobody may be
    heard, taken down, failed) leaves the feed when it ends processing. Names of the room's
    participants are never in it: nobody has answered yet."""
    if not show.live_items:
        return [], None
    shown = (SpaceStatus.RECORDING, SpaceStatus.PROCESSING, SpaceStatus.HELD)
    rows = session.execute(
        select(Space, Episode.id)
        .outerjoin(Episode, Episode.space_id == Space.id)
        .where(Space.show_id == show.id, Space.status.in_(shown))
        .order_by(Space.started_at)
    )
    items, changes = [], None
    page = show.link or f"{base_url()}/shows/{show.id}"
    for space, episode_id in rows:
        if episode_id is not None:
            continue  # published once: its episode item is the room's item now
        start = _aware(space.started_at)
        if space.status == SpaceStatus.RECORDING:
            status, end = ("pending" if start > now else "live"), None
            if start > now:
                changes = min(changes or start, start)
        else:
            status, end = "ended", _aware(space.finished_at) if space.finished_at else None
        stream = space.stream_url if status == "live" else None
        suffix = Path(stream.split("?", 1)[0]).suffix.lower() if stream else ""
        items.append(
            LiveItem(
                guid=episode_guid(space.show_id, space.id),
                title=space.title,
                description=space.description or space.title,
                status=status,
                start=start,
                end=end,
                content_link=space.room_url or page,
                enclosure_url=stream,
                enclosure_type=_STREAM_TYPES.get(suffix, "audio/mpeg"),
            )
        )
    return items, changes


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite forgets the zone


def show_feed(session: Session, show: Show, now: datetime | None = None) -> bytes:
    return _build(session, show, now or utcnow())[0]


def _build(session: Session, show: Show, now: datetime) -> tuple[bytes, datetime | None]:
    """The feed, and the next moment it changes without a write (None: not before a write)."""
    items = []
    for episode, space in published_episodes(session, show.id):
        mp3 = episode.media["mp3"]
        chapters = (
            chapters_from_data(episode.chapters) if chapters_servable(session, episode) else []
        )
        notes, generated = published_notes(session, episode)
        description = episode.description + ("\n\n" + notes if notes else "")
        items.append(
            FeedItem(
                guid=episode.guid,
                title=episode.title,
                description=description,
                link=show.link,
                published_at=episode.published_at,
                enclosure_url=media_url(episode, "episode.mp3"),
                enclosure_bytes=mp3["size_bytes"],
                enclosure_type=mp3["mime_type"],
                duration_s=episode.duration_s,
                persons=persons([(p["name"], p["role"]) for p in episode.persons]),
                transcripts=transcript_links(
                    {fmt: media_url(episode, f"transcript.{fmt}") for fmt in episode.transcripts},
                    (episode.report.get("episode") or {}).get("language", space.language),
                )
                if transcripts_servable(session, episode)
                else [],
                soundbites=soundbites(session, episode),
                chapters_url=media_url(episode, "chapters.json") if chapters else None,
                chapters=[(c.start_s, c.title) for c in chapters],
                alternates=alternate_enclosures(episode),
                generated_note=NOTES_METHOD if generated else None,
                number=episode.number,
                season=episode.season,
                content_html=notes_html(episode.description, notes),
                summary=notes or None,
            )
        )
    live, changes = live_items(session, show, now)
    feed_show = FeedShow(
        title=show.title,
        author=show.author,
        description=show.description,
        link=show.link or f"{base_url()}/shows/{show.id}",
        feed_url=feed_url(show.id),
        image_url=cover_url(show),
        language=show.language,
        category=show.category,
        explicit=show.explicit,
        owner_email=show.owner_email,
        locked=show.locked,
    )
    return build_feed(feed_show, items, live), changes


@dataclass
class BuiltFeed:
    show_id: str
    version: int
    xml: bytes
    built_at: datetime
    valid_until: datetime | None  # a scheduled room goes live then
    since: datetime | None = None  # its Last-Modified, once the second it appeared has passed

    def remember_since(self, since: datetime | None) -> datetime | None:
        self.since = since
        return since


_BUILT: OrderedDict[str, BuiltFeed] = OrderedDict()
_BUILT_LOCK = threading.Lock()
MAX_KEPT_FEEDS = 256  # shows whose built feed this process keeps (the most recently polled)


def current_feed(session: Session, show: Show, max_age_s: float) -> BuiltFeed:
    """The show's feed at its current version: the one built for this version by this process
    if there is one (younger than ``max_age_s``, a bound on what a change that failed to move
    the version could cost), else built now and kept. A conditional poll of an unchanged feed
    reads only the show's row."""
    now = utcnow()
    with _BUILT_LOCK:
        kept = _BUILT.get(show.id)
        if kept is not None:
            _BUILT.move_to_end(show.id)
    if (
        kept is not None
        and kept.version == show.feed_version
        and (kept.valid_until is None or now < kept.valid_until)
        and now - kept.built_at < timedelta(seconds=max_age_s)
    ):
        return kept
    version = show.feed_version  # read before building: a change during the build moves it on
    xml, changes = _build(session, show, now)
    built = BuiltFeed(show.id, version, xml, now, changes)
    with _BUILT_LOCK:
        _BUILT[show.id] = built
        _BUILT.move_to_end(show.id)
        while len(_BUILT) > MAX_KEPT_FEEDS:
            _BUILT.popitem(last=False)
    return built


def set_feed_choices(
    show: Show,
    *,
    live_items: bool | None,
    locked: bool | None,
    season: int | None = None,
    no_season: bool = False,
) -> None:
    """The host's choices for the feed (None: unchanged; ``no_season``: episodes from now on
    have no season). Locking needs the owner's address: podcast:locked names whom a platform
    asks to move the feed. A season applies to episodes first published from now on."""
    if no_season:
        show.season = None
    elif season is not None:
        show.season = season
    if locked and not show.owner_email:
        raise Invalid("locked: give the show an owner_email first (podcast:locked names it)")
    if live_items is not None:
        show.live_items = live_items
    if locked is not None:
        show.locked = locked


def show_cover(store: ObjectStore, show: Show) -> bytes:
    """The show's generated cover (PNG), drawn on first request and kept in the bucket."""
    key = show_key(show.id, "cover.png")
    if store.exists(key):
        return store.get_bytes(key)
    with tempfile.TemporaryDirectory(prefix="spacecast-cover-") as tmp:
        data = render_cover(show.title, Path(tmp) / "cover.png").read_bytes()
    store.put_bytes(key, data, content_type="image/png")
    return data


def shows_of(session: Session, owner_id: str | None) -> list[Show]:
    """A host's shows (``owner_id``), or every show (None), oldest first."""
    query = select(Show).order_by(Show.created_at)
    if owner_id is not None:
        query = query.where(Show.owner_id == owner_id)
    return list(session.scalars(query))
