"""Moderation actors: review transcripts of a reported space, and the vault sweep."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

import dramatiq

from infra.db import session_scope
from infra.logs import stage_logger
from infra.queue import queue_name
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore, review_transcript_key, sha256_file
from pipeline.transcribe import transcribe_track
from pipeline.transcript import segments_to_data
from services.moderation import review_todo
from services.retention import sweep


def prepare_review(space_id: str) -> None:
    """Transcribe every retained track of a reported space, for its moderators only.

    Words of speakers who did not consent to transcription are transcribed too: they are never
    published, live in the vault and are deleted with it. Safe to run twice: a track whose review
    transcript exists is skipped.
    """
    settings = get_settings()
    store = ObjectStore(settings)
    log = stage_logger(space_id, "review")
    with session_scope(settings.database_url) as session:
        todo = review_todo(session, space_id)
    for participant_id, name, offset_s, object_key, sha256, language in todo:
        key = review_transcript_key(space_id, participant_id, sha256)
        if store.exists(key):
            continue
        with tempfile.TemporaryDirectory(dir=settings.work_dir) as scratch:
            path = store.get_file(object_key, Path(scratch) / "track")
            if sha256_file(path) != sha256:
                raise RuntimeError(f"retained track of {participant_id} fails its checksum")
            result = transcribe_track(
                path,
                speaker_id=participant_id,
                speaker=name,
                offset_s=offset_s,
                language=language,
                settings=settings.whisper_settings(),
                timeout_s=settings.stage_timeout_s,
            )
        data = json.dumps(segments_to_data(result.segments)).encode()
        store.put_bytes(key, data, content_type="application/json")
        log.info("review transcript of %s: %d lines", participant_id, len(result.segments))


def sweep_vault(now: str | None = None) -> None:
    """Delete expired, unheld raw recordings. ``now`` (ISO 8601) is for operators replaying a
    sweep as of a given time; scheduled sweeps leave it out."""
    settings = get_settings()
    at = datetime.fromisoformat(now) if now else None
    report = sweep(ObjectStore(settings), settings.database_url, settings.retention_policy(), at)
    if report.objects_failed:
        # Recorded as pending; raising makes Dramatiq try again with backoff as well.
        raise RuntimeError(f"{report.objects_failed} vault objects could not be deleted yet")


def register(broker: dramatiq.Broker, settings: Settings) -> None:
    dramatiq.actor(
        prepare_review,
        queue_name=queue_name("transcribe"),
        max_retries=8,
        min_backoff=2_000,
        max_backoff=300_000,
        time_limit=int((settings.stage_timeout_s + 600) * 1000),
        broker=broker,
    )
    dramatiq.actor(
        sweep_vault, queue_name=queue_name("control"), max_retries=5, min_backoff=10_000,
        broker=broker,
    )  # fmt: skip
