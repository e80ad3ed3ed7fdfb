"""Spaces: create under a show, register participants, upload their tracks, finish (which queues
the pipeline), follow progress, the host's decisions, and the episode."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from api import schemas
from api.access import show_for, space_for
from api.auth import reporter_of
from api.deps import SessionDep, StoreDep
from api.limits import rate_limited
from api.roles import Host, Ingest
from api.tracks import BINARY_BODY, UploadTooLarge, receive_to_file
from api.views import episode_out, participant_out, space_out
from infra.db import session_scope
from infra.settings import get_settings
from services import ingest, spaces
from services.errors import Invalid
from services.ledger import current_states

router = APIRouter(tags=["spaces"])


def _spec(body: schemas.ParticipantIn) -> spaces.ParticipantSpec:
    return spaces.ParticipantSpec(
        body.id, body.name, body.role, body.offset, body.consent.model_dump(), body.language,
        end_s=body.end,
    )  # fmt: skip


@router.post("/shows/{show_id}/spaces", status_code=201, response_model=schemas.SpaceOut)
def create_space(
    show_id: str, body: schemas.SpaceIn, session: SessionDep, principal: Ingest
) -> schemas.SpaceOut:
    space = spaces.create(
        session,
        show_for(session, principal, show_id, ingest=True),
        title=body.title,
        description=body.description,
        language=body.language,
        started_at=body.started_at,
        participants=[_spec(p) for p in body.participants],
        by=reporter_of(principal),
        room_url=str(body.room_url) if body.room_url else None,
        stream_url=str(body.stream_url) if body.stream_url else None,
    )
    return space_out(session, space)


@router.get("/spaces/{space_id}", response_model=schemas.SpaceOut)
def read_space(space_id: str, session: SessionDep, principal: Ingest) -> schemas.SpaceOut:
    return space_out(session, space_for(session, principal, space_id, ingest=True))


@router.post(
    "/spaces/{space_id}/participants", status_code=201, response_model=schemas.ParticipantOut
)
def register_participant(
    space_id: str, body: schemas.ParticipantIn, session: SessionDep, principal: Ingest
) -> schemas.ParticipantOut:
    space = space_for(session, principal, space_id, ingest=True)
    spaces.require_recording(space)
    participant = spaces.register(session, space, _spec(body), reporter_of(principal))
    return participant_out(participant, current_states(session, space.id).get(participant.id))


@router.patch("/spaces/{space_id}/participants/{handle}", response_model=schemas.ParticipantOut)
def update_participant(
    space_id: str,
    handle: str,
    body: schemas.ParticipantPatch,
    session: SessionDep,
    principal: Ingest,
) -> schemas.ParticipantOut:
    space = space_for(session, principal, space_id, ingest=True)
    participant = spaces.update_participant(
        session,
        space,
        handle,
        name=body.name,
        role=body.role,
        offset_s=body.offset,
        end_s=body.end,
        language=body.language,
    )
    return participant_out(participant, current_states(session, space.id).get(participant.id))


@router.put(
    "/spaces/{space_id}/participants/{handle}/track",
    status_code=201,
    response_model=schemas.TrackOut,
    responses={413: {"model": schemas.ErrorOut}, 422: {"model": schemas.ErrorOut}},
    dependencies=[Depends(rate_limited("upload", "upload_rate", noun="track uploads"))],
    openapi_extra=BINARY_BODY,
)
async def upload_track(
    space_id: str, handle: str, request: Request, store: StoreDep, principal: Ingest
) -> schemas.TrackOut:
    """The raw audio of one participant, as the request body (any container Spacecast reads)."""
    settings = get_settings()

    def _check() -> None:  # who may send, before reading what they send
        with session_scope(settings.database_url) as session:
            space = space_for(session, principal, space_id, ingest=True)
            ingest.recording_participant(session, space, handle)

    await run_in_threadpool(_check)
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isascii() and declared.isdigit() else 0
    if length > settings.max_track_bytes:
        raise UploadTooLarge(
            f"upload of {length / 1024**2:.0f} MiB is larger than the limit of "
            f"{settings.max_track_bytes / 1024**2:.0f} MiB"
        )
    path, sha256, size = await receive_to_file(
        request.stream(), max_bytes=settings.max_track_bytes, settings=settings
    )
    if size == 0:
        path.unlink(missing_ok=True)
        raise Invalid(f"track of {handle}: the upload is empty (0 bytes)")

    def _store() -> tuple[schemas.TrackOut, str | None]:
        with session_scope(settings.database_url) as session:
            space = space_for(session, principal, space_id, ingest=True)
            track, old_key = ingest.accept_upload(
                session, store, settings, space, handle, path, sha256
            )
            return participant_out(track.participant).track, old_key

    try:
        out, old_key = await run_in_threadpool(_store)
    finally:
        path.unlink(missing_ok=True)
    if old_key:
        await run_in_threadpool(store.delete, old_key)
    return out


@router.post("/spaces/{space_id}/finish", status_code=202, response_model=schemas.SpaceOut)
def finish_space(
    space_id: str, session: SessionDep, principal: Ingest, body: schemas.FinishIn | None = None
) -> schemas.SpaceOut:
    """The room has ended: check every recorded participant's track is in, then queue the pipeline.

    ``missing`` is the host's choice for participants who have not answered the consent prompt:
    ``hold`` publication until they do (the default), or ``exclude`` them and publish now. A
    failed space can be finished again; its failed stages are retried.
    """
    body = body or schemas.FinishIn()
    space = space_for(session, principal, space_id, ingest=True)
    spaces.finish(session, space, missing=body.missing, duck_excluded=body.duck_excluded)
    return space_out(session, space)


@router.get(
    "/spaces/{space_id}/episode",
    response_model=schemas.EpisodeOut,
    responses={404: {"model": schemas.ErrorOut}},
)
def read_space_episode(space_id: str, session: SessionDep, principal: Host) -> schemas.EpisodeOut:
    space = space_for(session, principal, space_id)
    return episode_out(spaces.published_episode_of(session, space))


@router.post("/spaces/{space_id}/decision", response_model=schemas.SpaceOut)
def decide(
    space_id: str, body: schemas.DecisionIn, session: SessionDep, principal: Host
) -> schemas.SpaceOut:
    """The host's choices after the room: publish without those who have not answered (or keep
    holding), and whether to duck the tracks an excluded speaker bleeds into."""
    space = space_for(session, principal, space_id)
    spaces.decide(session, space, missing=body.missing, duck_excluded=body.duck_excluded)
    return space_out(session, space)
