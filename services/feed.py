"""A show as podcast apps see it: its feed, built from its published episodes at request time, and
its cover art (drawn once from the title when the host gave none)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import Clip, Episode, Show
from infra.storage import ObjectStore, show_key
from infra.urls import base_url, cover_url, feed_url, media_url
from pipeline.chapters import chapters_from_data
from pipeline.cover import render_cover
from pipeline.episode import persons, transcript_links
from pipeline.feed import AlternateEnclosure, FeedItem, Soundbite, build_feed
from pipeline.feed import Show as FeedShow
from pipeline.notes import NOTES_METHOD, Quote, show_notes
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


def show_feed(session: Session, show: Show) -> bytes:
    items = []
    for episode, space in published_episodes(session, show.id):
        mp3 = episode.media["mp3"]
        chapters = (
            chapters_from_data(episode.chapters) if chapters_servable(session, episode) else []
        )
        generated = episode_notes(session, episode)
        description = episode.description + ("\n\n" + generated if generated else "")
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
            )
        )
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
    )
    return build_feed(feed_show, items)


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
