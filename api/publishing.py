"""The show's podcast feed, built from its published episodes at request time."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.urls import base_url, cover_url, feed_url, media_url
from infra.consent import current_states
from infra.models import Episode, Show, Space
from pipeline.consent import snapshot_allowed
from pipeline.episode import persons, transcript_links
from pipeline.feed import FeedItem, build_feed
from pipeline.feed import Show as FeedShow


def published_episodes(session: Session, show_id: str) -> list[tuple[Episode, Space]]:
    """The show's episodes that may be heard now: every voice and word in them is consented to."""
    rows = session.execute(
        select(Episode, Space)
        .join(Space, Space.id == Episode.space_id)
        .where(Episode.show_id == show_id)
        .order_by(Episode.published_at.desc())
    )
    return [
        (episode, space)
        for episode, space in rows
        if episode.media
        and snapshot_allowed(episode.consent_snapshot, current_states(session, space.id))
    ]


def show_feed(session: Session, show: Show) -> bytes:
    items = []
    for episode, space in published_episodes(session, show.id):
        mp3 = episode.media["mp3"]
        items.append(
            FeedItem(
                guid=episode.guid,
                title=episode.title,
                description=episode.description,
                link=show.link,
                published_at=episode.published_at,
                enclosure_url=media_url(episode, "episode.mp3"),
                enclosure_bytes=mp3["size_bytes"],
                enclosure_type=mp3["mime_type"],
                duration_s=episode.duration_s,
                persons=persons([(p["name"], p["role"]) for p in episode.persons]),
                transcripts=transcript_links(
                    {fmt: media_url(episode, f"transcript.{fmt}") for fmt in episode.transcripts},
                    space.language,
                ),
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
