"""Clip actors: render a clip from its episode's mix (cached on the worker), and its audiogram.
(Withdrawing and expiring clips happens where consent or the episode changes:
``services.publishing``.)"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path

import dramatiq

from infra.db import session_scope
from infra.logs import stage_logger
from infra.models import Clip, Episode, Space, utcnow
from infra.queue import queue_name
from infra.settings import get_settings
from infra.storage import ObjectStore, clip_key
from pipeline.clips import excerpt_transcript, render_audiogram, render_clip
from pipeline.errors import SpacecastError
from pipeline.states import ClipStatus
from pipeline.transcript import (
    Segment,
    merge_transcripts,
    segments_from_data,
    segments_to_data,
    to_podcast_json,
    to_webvtt,
)
from services.clips import clip_context
from workers.cache import cached_object
from workers.runs import object_store

_OPTIONS = {"max_retries": 5, "min_backoff": 1_000, "max_backoff": 60_000, "time_limit": 600_000}


def _episode_words(store: ObjectStore, transcript_keys: list[str], shift_s: float) -> list[Segment]:
    """The episode's word-timed transcript (each published speaker's transcription result),
    on the episode timeline."""
    per_speaker = [segments_from_data(json.loads(store.get_bytes(k))) for k in transcript_keys]
    return merge_transcripts(per_speaker, shift_s=shift_s)


def render_clip_audio(clip_id: str) -> None:
    """Cut, master and store one clip; safe to run twice (a finished rendering is kept)."""
    settings = get_settings()
    store = object_store(settings)
    started = time.monotonic()
    with session_scope(settings.database_url) as session:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.status not in (ClipStatus.QUEUED, ClipStatus.FAILED):
            return
        episode = session.get(Episode, clip.episode_id)
        space = session.get(Space, clip.space_id)
        context = clip_context(session, space, episode)
        log = stage_logger(space.id, "clip", clip.id)
        _, blockers = context.blockers(clip.start_s, clip.end_s)
        if blockers:
            clip.status, clip.error = ClipStatus.WITHDRAWN, blockers[0].reason
            return
        if context.mix_key is None or context.profile_key is None:
            # The episode is being made again (a consent change): publishing it sends this clip
            # again, and it is cut from the new mix.
            clip.error = "waiting for the episode to be made again"
            return
        target = settings.loudness_target()
        render_id = hashlib.sha256(
            json.dumps([clip.start_s, clip.end_s, context.mix_key, target.integrated_lufs]).encode()
        ).hexdigest()[:16]
        transcript_keys = sorted(context.transcript_keys.values())
        start, end = clip.start_s - context.timeline_start_s, clip.end_s - context.timeline_start_s
        title = clip.title or episode.title
    with tempfile.TemporaryDirectory(prefix="spacecast-clip-", dir=settings.work_dir) as tmp:
        folder = Path(tmp)
        try:
            mix = cached_object(store, context.mix_key, settings)
            momentary = json.loads(cached_object(store, context.profile_key, settings).read_text())
            result = render_clip(
                mix,
                momentary,
                start,
                end - start,
                folder,
                target=target,
                timeout_s=settings.stage_timeout_s,
            )
        except SpacecastError as exc:
            with session_scope(settings.database_url) as session:
                failed = session.get(Clip, clip_id)
                failed.status, failed.error = ClipStatus.FAILED, str(exc)
            log.warning("clip failed: %s", exc)
            return
        words = _episode_words(store, transcript_keys, -context.timeline_start_s)
        excerpt = excerpt_transcript(words, start, end)
        delivered = result.files["mp3"]
        media = {
            "mp3": {
                "key": clip_key(clip.space_id, clip.id, render_id, "clip.mp3"),
                **delivered.as_dict(),
            }
        }
        store.put_file(media["mp3"]["key"], delivered.path, content_type=delivered.fmt.mime_type)
        vtt_key = clip_key(clip.space_id, clip.id, render_id, "clip.vtt")
        store.put_bytes(
            vtt_key, to_webvtt(excerpt).encode(), content_type="text/vtt; charset=utf-8"
        )
        json_key = clip_key(clip.space_id, clip.id, render_id, "clip.json")
        store.put_bytes(
            json_key, json.dumps(to_podcast_json(excerpt)).encode(), content_type="application/json"
        )
        media["vtt"] = {"key": vtt_key}
        media["json"] = {"key": json_key}
    with session_scope(settings.database_url) as session:
        clip = session.get(Clip, clip_id)
        if clip.status not in ("queued", "failed"):
            return  # withdrawn or deleted while rendering: what was just made is not used
        clip.status, clip.error = "ready", None
        clip.render_id, clip.media = render_id, media
        clip.transcript = segments_to_data(excerpt)
        clip.title = title
        clip.render_s = round(time.monotonic() - started, 3)
        clip.ready_at = utcnow()
    log.info("clip ready in %.2f s", time.monotonic() - started)


def render_clip_audiogram(clip_id: str) -> None:
    """The clip as a square MP4 with its waveform and captions, for social networks."""
    settings = get_settings()
    store = object_store(settings)
    with session_scope(settings.database_url) as session:
        clip = session.get(Clip, clip_id)
        if clip is None or clip.status != "ready" or "mp4" in clip.media:
            return
        audio_key, render_id, title = clip.media["mp3"]["key"], clip.render_id, clip.title
        captions = segments_from_data(clip.transcript)
        mp4_key = clip_key(clip.space_id, clip.id, render_id, "clip.mp4")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spacecast-audiogram-", dir=settings.work_dir) as tmp:
        audio = store.get_file(audio_key, Path(tmp) / "clip.mp3")
        video = render_audiogram(audio, captions, title, Path(tmp) / "clip.mp4", timeout_s=600)
        store.put_file(mp4_key, video, content_type="video/mp4")
        size = video.stat().st_size
    with session_scope(settings.database_url) as session:
        clip = session.get(Clip, clip_id)
        if clip.status != "ready" or clip.render_id != render_id:
            store.delete(mp4_key)
            return
        clip.media = {
            **clip.media,
            "mp4": {
                "key": mp4_key,
                "size_bytes": size,
                "render_s": round(time.monotonic() - started, 3),
            },
        }


def register(broker: dramatiq.Broker) -> None:
    clips = queue_name("clips")
    dramatiq.actor(render_clip_audio, queue_name=clips, broker=broker, **_OPTIONS)
    dramatiq.actor(render_clip_audiogram, queue_name=clips, broker=broker, **_OPTIONS)
