"""Live work's bookkeeping: when an acknowledged chunk asks for a live step (debounced in the
database by one statement of the chunk's own transaction, never slowing the chunk down), what a
participant's live work may do under their consent, the fingerprint of what it assumes, and the
one decision whether the stages adopt it at the end (the same chunks, settings, offset and
consent entries) or run as for a whole track."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from infra.models import ConsentEntry, LiveTrack, Participant, Space, TrackChunk, utcnow
from infra.queue import enqueue
from infra.settings import Settings
from pipeline import live as policy
from pipeline.chunks import RATE_HZ, ChunkSpan
from pipeline.consent import ConsentState, Participation, decide_publication
from pipeline.states import ACTIVE, SpaceStatus
from pipeline.transcribe import (
    AUTO,
    chosen_model,
    model_fingerprint,
    primary_language,
    speaker_language,
)
from services.ledger import current_states

log = logging.getLogger("spacecast.live")

LIVE_ACTOR = "live_track"


def chunk_stored(
    session: Session, settings: Settings, participant: Participant, span: ChunkSpan
) -> bool:
    """In the transaction that stores a chunk, before its commit: mark a live step of the
    participant as asked for when :data:`pipeline.live.STEP_S` of new audio waits and none is
    queued; True when this chunk asked (queue it with :func:`ask_for_step` once committed).
    One statement: the participant's live row is made by their first chunk, or its flag
    flipped, by an upsert whose condition is the debounce."""
    if not settings.live_work:
        return False
    waiting = span.end_sample - int(policy.STEP_S * RATE_HZ)
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    upsert = (
        insert(LiveTrack)
        .values(
            participant_id=participant.id,
            space_id=participant.space_id,
            updated_at=utcnow(),
            queued=waiting >= 0,  # a new row's chain ends at sample 0
        )
        .on_conflict_do_update(
            index_elements=[LiveTrack.participant_id],
            set_={"queued": True},
            where=(
                LiveTrack.queued.is_(False)
                & LiveTrack.final.is_(False)
                & (LiveTrack.chain_end_sample <= waiting)
            ),
        )
        .returning(LiveTrack.queued)
    )
    row = session.execute(upsert).first()  # no row: the row is there and was left alone
    return row is not None and row.queued


def ask_for_step(session: Session, participant: Participant) -> None:
    """After the chunk that asked for a live step is committed: queue the step. A broker that
    does not answer at once leaves the step to the next chunk (or to the end), never holding
    the chunk's acknowledgement."""
    try:
        enqueue(LIVE_ACTOR, participant.id, within_s=0)
    except Exception:
        log.warning(
            "space=%s participant=%s: live step not queued (broker); the next chunk asks again",
            participant.space_id,
            participant.id,
            exc_info=True,
        )
        session.execute(
            update(LiveTrack).where(LiveTrack.participant_id == participant.id).values(queued=False)
        )
        session.commit()


def step_started(session: Session, participant_id: str) -> None:
    """A live step runs: chunks that arrive from now on may ask for the next one."""
    session.execute(
        update(LiveTrack).where(LiveTrack.participant_id == participant_id).values(queued=False)
    )
    session.commit()


def lock(session: Session, participant_id: str) -> None:
    """Hold the participant's live work until the transaction ends (one step at a time, the
    live actor's or the finishing stage's). A killed worker's connection releases it."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite (the embedded demo) lets one writer in at a time
    key = int.from_bytes(hashlib.sha256(f"live:{participant_id}".encode()).digest()[:8], "big")
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key - (1 << 63)})


@dataclass(frozen=True)
class LiveWork:
    """What a live step of one participant may do now, and from what."""

    participant: Participant
    row: LiveTrack
    fingerprint: str
    spans: list[ChunkSpan]
    keys: dict[int, str]  # chunk seq -> object key (while the chunks are in the vault)
    transcribe: bool  # their words may be published: transcribe while live
    language: str
    assembled: bool  # the track is assembled from exactly these chunks: the end is known


def _consent_entries(session: Session, participant: Participant) -> list[int]:
    return list(
        session.scalars(
            select(ConsentEntry.seq)
            .where(ConsentEntry.participant_id == participant.id)
            .order_by(ConsentEntry.seq)
        )
    )


def _allowed(session: Session, space: Space, participant: Participant) -> tuple[bool, bool]:
    """May the participant's track be kept (activity), and their words published (transcript)?
    Decided by the same rules as the episode's plan."""
    states = current_states(session, space.id)
    state = states.get(participant.id, ConsentState())
    keep = state.keeps_track(vault_open=space.vault_deleted_at is None)
    publication = decide_publication(
        [Participation(p.id, p.name, has_track=True) for p in space.participants], states
    )
    return keep, participant.id in publication.transcribed


def fingerprint(
    session: Session, settings: Settings, participant: Participant, *, transcribe: bool
) -> str:
    """Everything live work assumes besides the chunks: versions, the detector's and the
    transcriber's settings, the language, the track's place in the room, every consent entry of
    the participant (any answer, a withdrawal above all, makes it differ) and a moderator's
    removal."""
    space = participant.space
    language = speaker_language(participant.language, space.language)
    whisper = settings.whisper_settings()
    model = model_fingerprint(replace(whisper, model=chosen_model(whisper, language)))
    parts = [
        policy.LIVE_VERSION,
        language,
        model if transcribe else None,
        round(participant.offset_s, 6),
        _consent_entries(session, participant),
        participant.removed_at is not None,  # a moderator's removal, whatever they answered
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def live_work(session: Session, settings: Settings, participant_id: str) -> LiveWork | None:
    """The participant's live work, or None when there is none to do (live work is off, the
    room is neither live nor being finished, or their answers allow nothing)."""
    participant = session.get(Participant, participant_id)
    if participant is None or not settings.live_work:
        return None
    space = participant.space
    if space.status != SpaceStatus.RECORDING and space.status not in ACTIVE:
        return None
    keep, transcribe = _allowed(session, space, participant)
    if not keep:
        return None
    row = session.get(LiveTrack, participant_id)
    if row is None:
        row = LiveTrack(participant_id=participant.id, space_id=space.id, updated_at=utcnow())
        session.add(row)
        session.flush()
    chunks = list(
        session.scalars(
            select(TrackChunk)
            .where(TrackChunk.participant_id == participant.id)
            .order_by(TrackChunk.seq)
        )
    )
    spans = [ChunkSpan(c.seq, c.start_sample, c.samples, c.sha256) for c in chunks]
    track = participant.track
    language = speaker_language(participant.language, space.language)
    transcribe = transcribe and language != AUTO  # one language for every piece: known ahead
    assembled = (
        track is not None
        and track.chunks_sha256 is not None
        and track.chunk_count == len(spans)
        and policy.chain_of(spans).seq == len(spans) - 1
    )
    return LiveWork(
        participant=participant,
        row=row,
        fingerprint=fingerprint(session, settings, participant, transcribe=transcribe),
        spans=spans,
        keys={c.seq: c.object_key for c in chunks},
        transcribe=transcribe,
        language=language,
        assembled=assembled,
    )


def still_assumed(
    session: Session, settings: Settings, row: LiveTrack, participant: Participant, work: LiveWork
) -> bool:
    """Before a step records what it made: under the live row's lock (``forget_withdrawn``
    takes it too, so a withdrawal and a step see each other, one after the other), do the
    answers and settings the step began from still stand?"""
    session.flush()
    session.refresh(row, with_for_update=True)
    return row.settings_fp == work.fingerprint and work.fingerprint == fingerprint(
        session, settings, participant, transcribe=work.transcribe
    )


def reset(row: LiveTrack, fp: str) -> list[str]:
    """Start the participant's live work again (its assumptions changed); the transcript pieces
    to delete once the transaction commits."""
    stale = list(row.transcript_keys or [])
    row.settings_fp, row.chain_seq, row.chain_fp, row.chain_end_sample = fp, -1, "", 0
    row.done_s, row.segments, row.transcribed_s, row.transcript_keys = 0.0, [], 0.0, []
    row.final, row.cpu_s = False, 0.0
    return stale


def progress_of(row: LiveTrack) -> policy.ActivityProgress:
    return policy.ActivityProgress(
        tuple((float(a), float(b)) for a, b in row.segments or []), float(row.done_s)
    )


def save(
    row: LiveTrack,
    chain: policy.Chain,
    progress: policy.ActivityProgress,
    *,
    transcribed_s: float,
    keys: list[str],
    final: bool,
    cpu_s: float,
) -> None:
    row.chain_seq, row.chain_fp, row.chain_end_sample = chain.seq, chain.fp, chain.end_sample
    row.segments = [list(s) for s in progress.segments]
    row.done_s = progress.done_s
    row.transcribed_s = transcribed_s
    row.transcript_keys = keys
    row.final = final
    row.cpu_s = round(row.cpu_s + cpu_s, 3)
    row.updated_at = utcnow()


@dataclass(frozen=True)
class Adopted:
    """Live results the stages take over: speech on the track (seconds of the track) and, when
    the participant was transcribed live, the transcript pieces."""

    segments: list[tuple[float, float]]
    track_s: float
    transcript_keys: list[str] | None
    cpu_s: float
    language: str  # what Whisper transcribed (a code: the language is never detected live)
    model: str


def adoptable(session: Session, settings: Settings, participant_id: str) -> Adopted | None:
    """The live results of a participant, when what they were computed from is what the stages
    would compute from now: every chunk of the assembled track in the chain, the same
    fingerprint (settings, language, offset, consent entries), the work finished to the end.
    The one place the stages ask; None means they run as for a whole track."""
    work = live_work(session, settings, participant_id)
    if work is None or not work.assembled:
        return None
    row = work.row
    chain = policy.chain_of(work.spans)
    if not (
        row.final
        and row.settings_fp == work.fingerprint
        and row.chain_seq == chain.seq
        and row.chain_fp == chain.fp
        and row.chain_end_sample == chain.end_sample
    ):
        return None
    return Adopted(
        segments=[(float(a), float(b)) for a, b in row.segments],
        track_s=chain.end_sample / RATE_HZ,
        transcript_keys=list(row.transcript_keys)
        if work.transcribe and row.transcribed_s >= row.done_s
        else None,
        cpu_s=row.cpu_s,
        language=primary_language(work.language) or work.language,
        model=chosen_model(settings.whisper_settings(), work.language),
    )


def forget_withdrawn(session: Session, space: Space, states) -> list[str]:
    """Live work the current answers no longer allow: a track that may not be kept loses all of
    it, words that may not be published lose their transcript pieces. Returns the object keys to
    delete once the transaction commits."""
    keys: list[str] = []
    vault_open = space.vault_deleted_at is None
    # Locked: a live step that is saving finishes first, and its pieces are seen here.
    rows = session.scalars(
        select(LiveTrack).where(LiveTrack.space_id == space.id).with_for_update()
    )
    for row in rows:
        state = states.get(row.participant_id, ConsentState())
        if not state.keeps_track(vault_open=vault_open):
            keys += reset(row, "")
        elif not state.allows("transcribe") and row.transcript_keys:
            keys += list(row.transcript_keys)
            row.transcript_keys, row.transcribed_s, row.settings_fp = [], 0.0, ""
    return keys
