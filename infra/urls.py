"""Public URLs of the things the API serves, from SPACECAST_PUBLIC_BASE_URL."""

from __future__ import annotations

from infra.models import Episode, Show
from infra.settings import get_settings

MEDIA_FILES = {
    "episode.mp3",
    "episode.opus",
    "transcript.json",
    "transcript.vtt",
    "transcript.srt",
}


def base_url() -> str:
    return get_settings().public_base_url.rstrip("/")


def feed_url(show_id: str) -> str:
    return f"{base_url()}/shows/{show_id}/feed.xml"


def cover_url(show: Show) -> str:
    return show.image_url or f"{base_url()}/shows/{show.id}/cover.png"


def media_url(episode: Episode, filename: str) -> str:
    """Changes with every rendering, so podcast clients fetch re-rendered media afresh."""
    return f"{base_url()}/media/episodes/{episode.id}/{episode.render_id}/{filename}"


CLIP_FILES = {"clip.mp3": "mp3", "clip.mp4": "mp4", "clip.vtt": "vtt", "clip.json": "json"}


def clip_media_url(clip, filename: str) -> str:
    return f"{base_url()}/media/clips/{clip.id}/{clip.render_id}/{filename}"


def clip_share_url(clip) -> str:
    return f"{base_url()}/c/{clip.id}"


def episode_moment_url(episode: Episode, at_s: float) -> str:
    """The full episode at a moment (a media fragment on its audio)."""
    return f"{media_url(episode, 'episode.mp3')}#t={at_s:.1f}"
