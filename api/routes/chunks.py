"""Live chunks of a participant's track: send one (idempotent), list what was acknowledged (to
resume), and finish (assemble the track)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import schemas
from api.access import space_for
from api.deps import StoreDep
from api.limits import rate_limited
from api.roles import Ingest
from api.tracks import BINARY_BODY
from api.views import participant_out
from infra.db import session_scope
from infra.models import Participant
from infra.settings import get_settings
from pipeline.chunks import BYTES_PER_SAMPLE, RATE_HZ, ChunkRefused, check_chunk
from services import ingest, spaces

router = APIRouter(tags=["live ingest"])

_PATH = "/spaces/{space_id}/participants/{handle}/chunks"
MAX_SEQ = 2**31 - 1  # chunk numbers are stored as 32-bit integers


def _recording_participant(session, principal, space_id: str, handle: str) -> Participant:
    return ingest.recording_participant(
        session, space_for(session, principal, space_id, ingest=True), handle
    )


def _chunk_out(span, stored: bool) -> schemas.ChunkOut:
    return schemas.ChunkOut(
        seq=span.seq,
        start_sample=span.start_sample,
        samples=span.samples,
        start_s=span.start_s,
        duration_s=span.duration_s,
        sha256=span.sha256,
        stored=stored,
    )


@router.put(
    _PATH + "/{seq}",
    status_code=201,
    response_model=schemas.ChunkOut,
    dependencies=[Depends(rate_limited("chunk", "chunk_rate", noun="chunks"))],
    responses={
        200: {"model": schemas.ChunkOut, "description": "already acknowledged; nothing changed"},
        409: {"model": schemas.ErrorOut},
        422: {"model": schemas.ErrorOut},
        503: {"model": schemas.ErrorOut},
    },
    openapi_extra=BINARY_BODY,
)
async def put_chunk(
    space_id: str,
    handle: str,
    seq: Annotated[int, Path(ge=0, le=MAX_SEQ, description="the chunk's number, from 0")],
    request: Request,
    response: Response,
    store: StoreDep,
    principal: Ingest,
    start_sample: Annotated[int, Query(ge=0, description="position on the track (48 kHz)")],
    sha256: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$", description="of the body")],
) -> schemas.ChunkOut:
    """One chunk of a participant's audio while the room is live: raw PCM, signed 16-bit
    little-endian, 48 kHz, mono, as the request body. Acknowledged (201) once it is stored;
    the same chunk again is acknowledged with 200 and stored once."""
    settings = get_settings()

    def _reachable() -> None:
        with session_scope(settings.database_url) as session:
            space = space_for(session, principal, space_id, ingest=True)
            ingest.sending_participant(session, space, handle)

    # Who may send for whom, before reading what they send: a space or participant the key
    # does not reach is 404 (a room no longer live 409) without a byte of the body read. Whether the
    # participant's answers let the chunk be kept is checked once, below, in the transaction
    # that stores it, so a withdrawal committed while the body was arriving refuses it; the
    # body read first is bounded (``max_chunk_s``), and a refused one is dropped, never stored.
    await run_in_threadpool(_reachable)
    max_bytes = int(settings.max_chunk_s * RATE_HZ) * BYTES_PER_SAMPLE
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise ChunkRefused(
            f"chunk {seq} of {handle}: {int(declared)} bytes is more than the "
            f"{settings.max_chunk_s:.0f} s ({max_bytes} bytes) a chunk may hold"
        )
    body = bytearray()
    async for block in request.stream():
        body += block
        if len(body) > max_bytes:
            raise ChunkRefused(
                f"chunk {seq} of {handle}: more than the {settings.max_chunk_s:.0f} s "
                f"({max_bytes} bytes) a chunk may hold"
            )
    span = check_chunk(
        handle,
        seq,
        start_sample,
        bytes(body),
        sha256,
        settings.max_chunk_s,
        max_track_s=settings.max_track_duration_s,
    )

    def _store() -> bool:
        with session_scope(settings.database_url) as session:
            participant = _recording_participant(session, principal, space_id, handle)
            return ingest.store_chunk(session, store, participant, span, bytes(body))

    stored = await run_in_threadpool(_store)
    if not stored:
        response.status_code = 200
    return _chunk_out(span, stored)


@router.get(_PATH, response_model=schemas.ChunkListOut)
def list_chunks(space_id: str, handle: str, principal: Ingest) -> schemas.ChunkListOut:
    """What was acknowledged: a recorder resuming after a crash continues from ``next_seq``."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        space = space_for(session, principal, space_id, ingest=True)
        participant = spaces.participant(session, space, handle)
        spans = [ingest.span_of(r) for r in ingest.acknowledged(session, participant)]
        track = participant.track
        assembled = track is not None and track.chunks_sha256 is not None
        return schemas.ChunkListOut(
            participant=handle,
            rate_hz=RATE_HZ,
            format="s16le",
            chunks=[_chunk_out(s, False) for s in spans],
            next_seq=max((s.seq for s in spans), default=-1) + 1,
            next_start_sample=max((s.end_sample for s in spans), default=0),
            acknowledged_s=round(sum(s.samples for s in spans) / RATE_HZ, 6),
            assembled=assembled,
            track=participant_out(participant).track if track else None,
        )


@router.post(
    "/spaces/{space_id}/participants/{handle}/track/assemble",
    status_code=201,
    response_model=schemas.TrackOut,
    responses={
        200: {"model": schemas.TrackOut, "description": "already assembled; nothing changed"},
        409: {"model": schemas.ErrorOut},
    },
)
async def finish_track(
    space_id: str,
    handle: str,
    body: schemas.ChunksFinishIn,
    response: Response,
    store: StoreDep,
    principal: Ingest,
) -> schemas.TrackOut:
    """Every chunk was sent: assemble them (silence where none was sent) into the participant's
    track and check the checksum of the whole. Finishing again with the same values is 200."""
    settings = get_settings()

    def _finish() -> tuple[schemas.TrackOut, bool]:
        with session_scope(settings.database_url) as session:
            space = space_for(session, principal, space_id, ingest=True)
            participant = spaces.participant(session, space, handle)
            track = participant.track
            if track is None or track.chunks_sha256 is None:
                participant = ingest.recording_participant(session, space, handle)
            made = ingest.finish_chunks(
                session, store, settings, participant, body.chunks, body.sha256
            )
            return participant_out(participant).track, made

    out, made = await run_in_threadpool(_finish)
    if not made:
        response.status_code = 200
    return out
