"""The consent prompt and ledger of a space: the room reports a join and gets the recording notice,
the questions and the participant's own key; answers are appended to the ledger; hosts send
invite links; anyone with access reads the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends

from api import schemas
from api.access import space_for
from api.auth import Principal, Role, allow
from api.deps import SessionDep, StoreDep
from api.ledger import actor_of, answer, prompt
from api.routes.spaces import get_participant
from api.urls import base_url
from api.views import consent_out
from infra.accounts import issue_key
from infra.consent import current_states
from infra.models import ConsentEntry, Participant, Space, utcnow
from infra.settings import get_settings
from pipeline.consent import ConsentState

router = APIRouter(tags=["consent"])

Ingest = Annotated[
    Principal,
    Depends(
        allow(
            Role.HOST,
            Role.ADMIN,
            Role.RECORDER,
            objects="own shows' spaces; a recorder key: its show's spaces",
        )
    ),
]
Manager = Annotated[Principal, Depends(allow(Role.HOST, Role.ADMIN, objects="own shows' spaces"))]


def ledger_out(session, space: Space, participant: Participant) -> schemas.LedgerOut:
    rows = (
        session.query(ConsentEntry)
        .filter_by(participant_id=participant.id)
        .order_by(ConsentEntry.seq)
        .all()
    )
    state = current_states(session, space.id).get(participant.id, ConsentState())
    return schemas.LedgerOut(
        participant=participant.handle,
        name=participant.name,
        consent=consent_out(state),
        entries=[
            schemas.LedgerEntryOut(
                purpose=r.purpose,
                granted=r.granted,
                source=r.source,
                actor=r.actor,
                recorded_at=r.recorded_at,
                note=r.note,
            )
            for r in rows
        ],
    )


@router.post("/spaces/{space_id}/participants/{handle}/join", response_model=schemas.JoinOut)
def join(space_id: str, handle: str, session: SessionDep, principal: Ingest) -> schemas.JoinOut:
    """A participant joined the room: the notice and consent prompt to show them, and a key of
    their own (to answer, and later to fetch their consent record, track and transcript lines)."""
    space = space_for(session, principal, space_id, ingest=True)
    participant = get_participant(session, space, handle)
    participant.joined_at = participant.joined_at or utcnow()
    settings = get_settings()
    _, token = issue_key(
        session,
        user=None,
        label="join",
        participant_id=participant.id,
        expires_at=utcnow() + timedelta(days=settings.invite_days + 90),
    )
    state = current_states(session, space.id).get(participant.id, ConsentState())
    return schemas.JoinOut(
        notice=space.notice or settings.recording_notice,
        prompt=[schemas.PromptItem(**item) for item in prompt(state)],
        participant_key=token,
    )


@router.post(
    "/spaces/{space_id}/participants/{handle}/invite",
    status_code=201,
    response_model=schemas.InviteOut,
)
def invite(
    space_id: str, handle: str, session: SessionDep, principal: Manager
) -> schemas.InviteOut:
    """A link the host sends a participant to answer the consent questions after the room."""
    space = space_for(session, principal, space_id)
    participant = get_participant(session, space, handle)
    expires = utcnow() + timedelta(days=get_settings().invite_days)
    _, token = issue_key(
        session, user=None, label="invite", participant_id=participant.id, expires_at=expires
    )
    return schemas.InviteOut(
        url=f"{base_url()}/consent#{token}", participant_key=token, expires_at=expires
    )


@router.get("/spaces/{space_id}/participants/{handle}/consent", response_model=schemas.LedgerOut)
def read_ledger(
    space_id: str, handle: str, session: SessionDep, principal: Ingest
) -> schemas.LedgerOut:
    space = space_for(session, principal, space_id, ingest=True)
    return ledger_out(session, space, get_participant(session, space, handle))


@router.post("/spaces/{space_id}/participants/{handle}/consent", response_model=schemas.LedgerOut)
def record(
    space_id: str,
    handle: str,
    body: schemas.AnswersIn,
    session: SessionDep,
    store: StoreDep,
    principal: Ingest,
) -> schemas.LedgerOut:
    """Append answers to the ledger: the room relays the in-room prompt (source in_room_prompt);
    a host records what a participant told them (source api). A withdrawal after publication
    takes the speaker out of everything published."""
    from workers.actors import advance_space, sweep_clips

    space = space_for(session, principal, space_id, ingest=True)
    participant = get_participant(session, space, handle)
    source, actor = actor_of(principal, participant)
    to_delete = answer(
        session,
        store,
        space,
        participant,
        body.answers.model_dump(),
        source=source,
        actor=actor,
        note=body.note,
    )
    session.commit()
    for key in to_delete:
        store.delete(key)
    sweep_clips.send(space.id)  # clips made from the old answers stop being served
    if space.status == "processing":
        advance_space.send(space.id)
    return ledger_out(session, space, participant)
