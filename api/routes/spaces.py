"""Spaces: create under a show, register participants, upload their tracks, finish (which queues
the pipeline), follow progress, and read the episode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import schemas
from api.access import show_for, space_for
from api.auth import Principal, Role, allow, reporter_of
from api.deps import SessionDep, StoreDep
from api.limits import rate_limited
from api.tracks import BINARY_BODY, UploadTooLarge, receive_to_file, store_track
from api.views import episode_out, participant_out, space_out
from infra.db import session_scope
from infra.models import Episode, Participant, Space, TrackChunk
from infra.queue import enqueue
from infra.settings import get_settings
from pipeline.consent import ConsentState, Participation, decide_publication
from pipeline.errors import NothingToPublish
from pipeline.states import RENDERED
from services.consent import record_reported
from services.errors import Conflict
from services.ledger import current_states
from services.operations import reopen_failed
from services.publishing import episode_servable

router = APIRouter(tags=["spaces"])

# Ingest: the show's host, an admin, the room's recorder key for that show, or the platform's
# room service (every show).
Ingest = Annotated[
    Principal,
    Depends(
        allow(
            Role.HOST,
            Role.ADMIN,
            Role.RECORDER,
            Role.ROOM,
            objects="own shows' spaces; a recorder key: its show's spaces; the room service: all",
        )
    ),
]
Manager = Annotated[Principal, Depends(allow(Role.HOST, Role.ADMIN, objects="own shows' spaces"))]


def get_participant(session: Session, space: Space, handle: str) -> Participant:
    participant = session.scalar(
        select(Participant).where(Participant.space_id == space.id, Participant.handle == handle)
    )
    if participant is None:
        raise HTTPException(404, f"participant {handle!r} is not registered in space {space.id}")
    return participant


def _require_recording(space: Space) -> None:
    if space.status != "recording":
        raise HTTPException(
            409, f"space {space.id} is {space.status}; participants and tracks can no longer change"
        )


def _add_participant(
    session: Session, space: Space, body: schemas.ParticipantIn, principal: Principal
) -> Participant:
    existing = session.scalar(
        select(Participant).where(Participant.space_id == space.id, Participant.handle == body.id)
    )
    if existing is not None:
        raise HTTPException(409, f"participant {body.id!r} is already registered in this space")
    cap = get_settings().max_participants
    registered = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.space_id == space.id)
    )
    if registered >= cap:
        raise Conflict(
            f"space {space.id} already has {registered} participants, the most a space may have"
        )
    participant = Participant(
        space_id=space.id,
        handle=body.id,
        name=body.name.strip(),
        role=body.role,
        offset_s=body.offset,
    )
    session.add(participant)
    session.flush()
    record_reported(
        session, participant, body.consent.model_dump(), by=reporter_of(principal), shorthand=True
    )
    return participant


@router.post("/shows/{show_id}/spaces", status_code=201, response_model=schemas.SpaceOut)
def create_space(
    show_id: str, body: schemas.SpaceIn, session: SessionDep, principal: Ingest
) -> schemas.SpaceOut:
    show = show_for(session, principal, show_id, ingest=True)
    handles = [p.id for p in body.participants]
    if len(handles) != len(set(handles)):
        raise HTTPException(422, "participants: every participant id must be unique")
    space = Space(
        show_id=show.id,
        title=body.title,
        description=body.description,
        language=body.language,
        started_at=body.started_at or datetime.now(UTC),
    )
    session.add(space)
    session.flush()
    for participant in body.participants:
        _add_participant(session, space, participant, principal)
    session.refresh(space)
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
    _require_recording(space)
    participant = _add_participant(session, space, body, principal)
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
    _require_recording(space)
    participant = get_participant(session, space, handle)
    if body.name is not None:
        participant.name = body.name.strip()
    if body.role is not None:
        participant.role = body.role
    if body.offset is not None:
        participant.offset_s = body.offset
    session.flush()
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

    def _check() -> None:
        with session_scope(settings.database_url) as session:
            space = space_for(session, principal, space_id, ingest=True)
            _require_recording(space)
            participant = get_participant(session, space, handle)
            state = current_states(session, space.id).get(participant.id, ConsentState())
            if not state.allows("record"):
                raise HTTPException(
                    409,
                    f"participant {handle!r} has not consented to being recorded; "
                    "the track is refused and nothing was stored",
                )

    await run_in_threadpool(_check)
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > settings.max_track_bytes
    ):
        raise UploadTooLarge(
            f"upload of {int(declared) / 1024**2:.0f} MiB is larger than the limit of "
            f"{settings.max_track_bytes / 1024**2:.0f} MiB"
        )
    path, sha256, size = await receive_to_file(
        request.stream(), max_bytes=settings.max_track_bytes, settings=settings
    )
    if size == 0:
        path.unlink(missing_ok=True)
        raise HTTPException(422, f"track of {handle}: the upload is empty (0 bytes)")

    def _store() -> tuple[schemas.TrackOut, str | None]:
        with session_scope(settings.database_url) as session:
            space = space_for(session, principal, space_id, ingest=True)
            _require_recording(space)
            participant = get_participant(session, space, handle)
            track, old_key = store_track(session, store, settings, participant, path, sha256)
            try:
                session.commit()
            except Exception:
                store.delete(track.object_key)
                raise
            return participant_out(participant).track, old_key

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
    if space.status not in ("recording", "failed"):
        raise HTTPException(409, f"space {space.id} is already {space.status}")
    states = current_states(session, space.id)
    recorded = [p for p in space.participants if states.get(p.id, ConsentState()).allows("record")]
    missing = [p for p in recorded if p.track is None]
    if missing:
        chunked = {
            pid
            for pid in session.scalars(
                select(TrackChunk.participant_id).where(TrackChunk.space_id == space.id)
            )
        }
        raise HTTPException(
            409,
            "no track uploaded yet for: "
            + ", ".join(
                f"{p.handle} (chunks sent but not assembled: POST .../track/assemble)"
                if p.id in chunked
                else p.handle
                for p in missing
            )
            + " (upload, then finish)",
        )
    decision = decide_publication(
        [Participation(p.id, p.name, has_track=p.track is not None) for p in space.participants],
        states,
    )
    if not decision.audible and not (decision.missing and body.missing == "hold"):
        raise NothingToPublish(
            "no participant consented to publication, so there is no episode to make"
        )
    space.missing_policy, space.duck_excluded = body.missing, body.duck_excluded
    if space.status == "failed":
        reopen_failed(session, space)
    space.status, space.error = "processing", None
    space.finished_at = space.finished_at or datetime.now(UTC)
    session.commit()
    enqueue("advance_space", space.id)
    return space_out(session, space)


@router.get(
    "/spaces/{space_id}/episode",
    response_model=schemas.EpisodeOut,
    responses={404: {"model": schemas.ErrorOut}},
)
def read_space_episode(
    space_id: str, session: SessionDep, principal: Manager
) -> schemas.EpisodeOut:
    space = space_for(session, principal, space_id)
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    if episode is None or not episode_servable(session, episode):
        raise HTTPException(
            404, f"space {space.id} has no published episode (status: {space.status})"
        )
    return episode_out(episode)


@router.post("/spaces/{space_id}/decision", response_model=schemas.SpaceOut)
def decide(
    space_id: str, body: schemas.DecisionIn, session: SessionDep, principal: Manager
) -> schemas.SpaceOut:
    """The host's choices after the room: publish without those who have not answered (or keep
    holding), and whether to duck the tracks an excluded speaker bleeds into."""
    space = space_for(session, principal, space_id)
    if body.missing is not None:
        space.missing_policy = body.missing
    if body.duck_excluded is not None:
        space.duck_excluded = body.duck_excluded
    rendered = space.status in RENDERED
    if rendered:
        space.status, space.error = "processing", None
    session.commit()
    if rendered:
        enqueue("advance_space", space.id)
    return space_out(session, space)
