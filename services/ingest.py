"""Ingest: a participant's track arrives whole (an upload, probed, stored, then recorded; a
rejected upload stores nothing and leaves any earlier track untouched) or in numbered chunks
while the room is live (each checked against its declared SHA-256 and stored in the vault before
it is acknowledged; the same chunk again is acknowledged without a second copy; assembling puts
the chunks into the participant's track, checks the checksum of the whole and removes them).
Nothing of a participant is taken in unless their answers allow keeping their track."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.models import Participant, Space, Track, TrackChunk, new_id
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore, chunk_key, chunks_prefix, raw_track_key, sha256_file
from pipeline.chunks import (
    RATE_HZ,
    ChunkConflict,
    ChunkSpan,
    assemble_track,
    check_chunk_count,
    check_placement,
    missing_chunks,
)
from pipeline.drift import (
    ChunkArrival,
    DriftEstimate,
    best_estimate,
    drift_from_chunks,
    drift_from_declared_span,
)
from pipeline.probe import probe_track
from services import live
from services.consent import may_keep_track
from services.errors import Conflict
from services.ledger import current_states
from services.spaces import participant, require_recording

log = logging.getLogger("spacecast.ingest")

MIME_BY_FORMAT = {
    "ogg": "audio/ogg",
    "matroska,webm": "audio/webm",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
}


def sending_participant(session: Session, space: Space, handle: str) -> Participant:
    """A participant of a room that is live: whom audio may be sent for, before their answers
    are read (:func:`recording_participant` reads them)."""
    require_recording(space)
    return participant(session, space, handle)


def recording_participant(session: Session, space: Space, handle: str) -> Participant:
    """A participant whose audio may arrive now: the room is live and their answers let
    Spacecast keep their track."""
    found = sending_participant(session, space, handle)
    if not may_keep_track(current_states(session, space.id, found), found):
        raise Conflict(
            f"participant {handle!r} has consented neither to being recorded nor to "
            "publication; "
            "the audio is refused and nothing was stored"
        )
    return found


def span_of(row: TrackChunk) -> ChunkSpan:
    return ChunkSpan(row.seq, row.start_sample, row.samples, row.sha256)


def acknowledged(session: Session, participant: Participant) -> list[TrackChunk]:
    return list(
        session.scalars(
            select(TrackChunk)
            .where(TrackChunk.participant_id == participant.id)
            .order_by(TrackChunk.seq)
        )
    )


def track_drift(session: Session, participant: Participant) -> DriftEstimate | None:
    """The clock drift the stages act on for a participant's track: from its live chunks'
    arrival where it came in live, else from its length against the room time the room service
    says it spans (``end`` less ``offset``); None when neither can tell."""
    track = participant.track
    by_length = (
        drift_from_declared_span(track.duration_s, participant.offset_s, participant.end_s)
        if track is not None
        else None
    )
    return best_estimate(recorder_drift(session, participant), by_length)


def recorder_drift(session: Session, participant: Participant) -> DriftEstimate | None:
    """How far the recorder's clock ran from the service's, from when its live chunks arrived;
    None for an uploaded track (no chunk timing) or too short a span to tell."""
    track = participant.track
    if track is None or track.chunk_count is None:
        return None
    rows = acknowledged(session, participant)
    arrivals = [
        ChunkArrival(r.start_sample, r.samples, r.received_at.timestamp())
        for r in rows
        if r.seq < track.chunk_count
    ]
    return drift_from_chunks(arrivals, rate_hz=RATE_HZ)


def neighbours(
    session: Session, participant: Participant, seq: int
) -> tuple[TrackChunk | None, list[TrackChunk]]:
    """The acknowledged chunk numbered ``seq`` if any, and the acknowledged chunks just before
    and just after it in sequence. Acknowledged chunks already follow time in sequence order
    without overlapping, so a new chunk that overlaps neither neighbour overlaps none: placing
    it reads three rows, not the whole track (an hour of 1 s chunks is 3,600)."""
    # One statement, not three: on a busy database every round trip of a chunk's path is waited
    # for by the recorder.
    mine = TrackChunk.participant_id == participant.id
    before = select(func.max(TrackChunk.seq)).where(mine, TrackChunk.seq < seq)
    after = select(func.min(TrackChunk.seq)).where(mine, TrackChunk.seq > seq)
    rows = session.scalars(
        select(TrackChunk).where(
            mine,
            TrackChunk.seq.in_([seq, before.scalar_subquery(), after.scalar_subquery()]),
        )
    )
    same: TrackChunk | None = None
    around: list[TrackChunk] = []
    for row in rows:
        if row.seq == seq:
            same = row
        else:
            around.append(row)
    return same, sorted(around, key=lambda row: row.seq)


def refuse_if_assembled(participant: Participant) -> None:
    track = participant.track
    if track is not None and track.chunks_sha256 is not None:
        raise ChunkConflict(
            f"the track of {participant.handle} was already assembled from {track.chunk_count} "
            "chunks; no more chunks can be added"
        )


def store_chunk(
    session: Session,
    store: ObjectStore,
    participant: Participant,
    span: ChunkSpan,
    data: bytes,
) -> bool:
    """Store an acknowledged chunk; return False when the same chunk was already stored.

    The object is written before the row; a crash between the two leaves an object the next
    attempt overwrites (same key), or that finishing the track removes.
    """
    label = participant.handle
    same, rows = neighbours(session, participant, span.seq)
    if same is not None:
        if same.sha256 == span.sha256 and same.start_sample == span.start_sample:
            return False
        raise ChunkConflict(
            f"chunk {span.seq} of {label} was already acknowledged with other audio (sha256 "
            f"{same.sha256[:16]}..., sample {same.start_sample}); an acknowledged chunk cannot "
            "be replaced"
        )
    refuse_if_assembled(participant)
    check_placement(label, span, (span_of(r) for r in rows))
    key = chunk_key(participant.space_id, participant.id, span.seq)
    store.put_bytes(key, data, content_type="audio/L16", sha256=span.sha256)
    session.add(
        TrackChunk(
            space_id=participant.space_id,
            participant_id=participant.id,
            seq=span.seq,
            start_sample=span.start_sample,
            samples=span.samples,
            sha256=span.sha256,
            object_key=key,
        )
    )
    try:
        session.flush()
    except IntegrityError:  # the same chunk, sent twice at once: the other request stored it
        session.rollback()
        return store_chunk(session, store, participant, span, data)
    step = live.chunk_stored(session, get_settings(), participant, span)
    session.commit()
    if step:
        live.ask_for_step(session, participant)  # once the chunk is there for the step to read
    return True


def finish_chunks(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    participant: Participant,
    count: int,
    declared_sha256: str,
) -> bool:
    """Assemble the participant's chunks into their track; return False when it already was
    (the same count and checksum), so finishing again is harmless."""
    label = participant.handle
    check_chunk_count(label, count, settings.max_track_duration_s)
    track = participant.track
    if track is not None and track.chunks_sha256 is not None:
        if track.chunk_count == count and track.chunks_sha256 == declared_sha256.lower():
            remove_chunk_objects(store, participant)  # left over if a removal failed before
            return False
        raise ChunkConflict(
            f"the track of {label} was already assembled from {track.chunk_count} chunks "
            f"(sha256 {track.chunks_sha256[:16]}...), not {count} chunks with the checksum given"
        )
    rows = acknowledged(session, participant)
    missing = missing_chunks([span_of(r) for r in rows], count)
    if not rows:
        raise ChunkConflict(f"no chunk of {label} has been acknowledged; nothing to assemble")
    if missing:
        raise ChunkConflict(
            f"chunks of {label} not acknowledged yet: {_ranges(missing)}; send them, then assemble"
        )
    extra = [r.seq for r in rows if r.seq >= count]
    if extra:
        raise ChunkConflict(
            f"{count} chunks declared for {label}, but chunks {_ranges(_runs(extra))} were also "
            "acknowledged; assemble with the number of chunks sent"
        )
    spans = [span_of(r) for r in rows]
    keys = {r.seq: r.object_key for r in rows}
    # Assembly streams every chunk from the bucket through ffmpeg for as long as the track
    # takes: no transaction, and so no pooled connection, is held meanwhile. A room's recorders
    # finishing together otherwise held the whole pool, and every other request failed with
    # 500 after the pool's 30 s. What was read stays true: an acknowledged chunk is never
    # replaced, and a chunk after assembly is refused.
    session.commit()
    scratch = Path(tempfile.mkdtemp(prefix="spacecast-assemble-", dir=settings.work_dir))
    try:
        assembled = assemble_track(
            spans,
            lambda span: store.iter_object(keys[span.seq]),
            scratch / "track.flac",
            label=f"track of {label}",
            timeout_s=settings.stage_timeout_s,
        )
        if assembled.chunks_sha256 != declared_sha256.lower():
            raise ChunkConflict(
                f"track of {label}: the {count} acknowledged chunks hash to "
                f"{assembled.chunks_sha256[:16]}..., the recorder declared "
                f"{declared_sha256[:16]}...; compare GET .../chunks with what was sent"
            )
        new, old_key = store_track(
            session, store, settings, participant, assembled.path, sha256_file(assembled.path)
        )
        new.chunk_count = count
        new.chunks_sha256 = assembled.chunks_sha256
        try:
            session.commit()
        except Exception:
            store.delete(new.object_key)
            raise
    finally:
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()
    if old_key:
        store.delete(old_key)
    log.info(
        "space=%s participant=%s: assembled %d chunks, %.3f s (%.3f s of silence)",
        participant.space_id,
        participant.id,
        count,
        assembled.samples / RATE_HZ,
        assembled.silence_samples / RATE_HZ,
    )
    remove_chunk_objects(store, participant)
    return True


def remove_chunk_objects(store: ObjectStore, participant: Participant) -> None:
    """The chunks are in the assembled track now. A failure here leaves them under the vault
    prefix, where the next finish call or the retention sweep removes them."""
    try:
        store.delete_prefix(chunks_prefix(participant.space_id, participant.id))
    except Exception:
        log.exception(
            "space=%s participant=%s: chunks not removed yet", participant.space_id, participant.id
        )


_RANGES_SHOWN = 20


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted numbers as ranges of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def _ranges(runs: list[tuple[int, int]]) -> str:
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:_RANGES_SHOWN]]
    if len(runs) > _RANGES_SHOWN:
        parts.append(f"and {len(runs) - _RANGES_SHOWN} more ranges")
    return ", ".join(parts)


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
        **probe.stored(),
    )
    participant.track = track
    session.flush()
    return track, old_key


def accept_upload(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    space: Space,
    handle: str,
    upload: Path,
    sha256: str,
) -> tuple[Track, str | None]:
    """Probe, store and record an uploaded track of ``handle``; commits. Returns the track and
    the key of the object it replaced (delete it now: the new one is recorded)."""
    found = recording_participant(session, space, handle)
    track, old_key = store_track(session, store, settings, found, upload, sha256)
    try:
        session.commit()
    except Exception:
        store.delete(track.object_key)
        raise
    return track, old_key
