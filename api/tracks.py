"""Receiving a participant's raw track: streamed to disk under a size cap with its SHA-256,
probed with ffprobe, stored in the bucket, then recorded. A rejected upload stores nothing and
leaves any earlier track of the participant untouched."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.orm import Session

from infra.models import Participant, Track, new_id
from infra.settings import Settings
from infra.storage import ObjectStore, raw_track_key
from pipeline.errors import InvalidTrack
from pipeline.probe import probe_track

MIME_BY_FORMAT = {
    "ogg": "audio/ogg",
    "matroska,webm": "audio/webm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
}

# OpenAPI for endpoints whose request body is raw audio bytes (whole tracks, live chunks).
BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class UploadTooLarge(InvalidTrack):
    pass


async def receive_to_file(
    chunks: AsyncIterator[bytes], *, max_bytes: int, settings: Settings
) -> tuple[Path, str, int]:
    """Write the request body to a temporary file; return (path, sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    handle, name = tempfile.mkstemp(prefix="spacecast-upload-", dir=settings.work_dir)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(
                        f"upload is larger than the limit of {max_bytes / 1024**2:.0f} MiB"
                    )
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


def store_track(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    participant: Participant,
    upload: Path,
    sha256: str,
) -> tuple[Track, str | None]:
    """Probe, store and record an upload; return the new track and any replaced object's key.

    The replaced object is deleted by the caller once the new record is committed.
    """
    probe = probe_track(
        upload, label=f"track of {participant.handle}", limits=settings.track_limits()
    )
    track_id = new_id()
    key = raw_track_key(participant.space_id, participant.id, track_id)
    store.put_file(
        key,
        upload,
        content_type=MIME_BY_FORMAT.get(probe.format_name, "application/octet-stream"),
        sha256=sha256,
    )
    replaced = participant.track
    old_key = replaced.object_key if replaced is not None else None
    if replaced is not None:
        session.delete(replaced)
        session.flush()
    track = Track(
        id=track_id,
        participant_id=participant.id,
        object_key=key,
        sha256=sha256,
        size_bytes=probe.size_bytes,
        format_name=probe.format_name,
        codec=probe.codec,
        sample_rate_hz=probe.sample_rate_hz,
        channels=probe.channels,
        duration_s=probe.duration_s,
    )
    participant.track = track
    session.flush()
    return track, old_key
