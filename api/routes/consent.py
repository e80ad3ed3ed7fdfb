"""The consent prompt and ledger of a space: the room service reports a join (with the hash of a
secret the participant's device made) and shows the notice and the questions; the participant's
device claims its own key; the room service sends invite links after the room; hosts and the
room service write down what a participant said (labelled as a report, never overriding the
participant's own answer); anyone managing the space reads the ledger."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from api import schemas
from api.access import space_for
from api.auth import SESSION_COOKIE, reporter_of, secure_cookies
from api.deps import SessionDep, StoreDep
from api.limits import rate_limited
from api.roles import Anyone, Ingest, Vouching
from api.views import consent_out
from infra.models import ConsentEntry, Participant, Space
from infra.settings import get_settings
from infra.urls import base_url
from pipeline.consent import ConsentState
from services import participants, spaces
from services.consent import answer, prompt
from services.ledger import current_states

router = APIRouter(tags=["consent"])


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
                own=r.actor.startswith("participant:"),
                key_id=r.key_id,
                recorded_at=r.recorded_at,
                note=r.note,
            )
            for r in rows
        ],
    )


@router.post("/spaces/{space_id}/participants/{handle}/join", response_model=schemas.JoinOut)
def join(
    space_id: str,
    handle: str,
    body: schemas.JoinIn,
    session: SessionDep,
    principal: Vouching,
) -> schemas.JoinOut:
    """A participant joined the live room: the notice and consent prompt to show them on their
    own device. The device made a secret and keeps it; this call carries only its SHA-256
    (``device_challenge``), and the device claims its own key with the secret
    (``POST /participants/claim``). Nothing in this response can act as the participant."""
    space = space_for(session, principal, space_id, ingest=True)
    participant = spaces.participant(session, space, handle)
    grant = participants.report_join(
        session, participant, device_challenge=body.device_challenge, issued_by=principal.subject
    )
    state = current_states(session, space.id).get(participant.id, ConsentState())
    return schemas.JoinOut(
        notice=space.notice or get_settings().recording_notice,
        prompt=[schemas.PromptItem(**item) for item in prompt(state)],
        claim_url=f"{base_url()}/participants/claim",
        claim_expires_at=grant.expires_at,
    )


@router.post(
    "/spaces/{space_id}/participants/{handle}/invite",
    status_code=201,
    response_model=schemas.InviteOut,
)
def invite(
    space_id: str, handle: str, session: SessionDep, principal: Vouching
) -> schemas.InviteOut:
    """A link the room service delivers to a participant (through its own channel, never
    through the host) to answer the consent questions after the room. Shown once."""
    space = space_for(session, principal, space_id, ingest=True)
    participant = spaces.participant(session, space, handle)
    grant, secret = participants.issue_invite(session, participant, issued_by=principal.subject)
    return schemas.InviteOut(url=f"{base_url()}/consent#{secret}", expires_at=grant.expires_at)


@router.post(
    "/participants/claim",
    status_code=201,
    response_model=schemas.ClaimOut,
    dependencies=[Depends(rate_limited("claim", "claim_rate", noun="claims"))],
)
def claim(
    body: schemas.ClaimIn,
    request: Request,
    response: Response,
    session: SessionDep,
    _: Anyone,
) -> schemas.ClaimOut:
    """On the participant's own device: exchange the device's secret (after a join) or an
    invite link's secret for their own key, once. ``session``: keep the key in this browser's
    sign-in cookie instead of returning it (the consent page does this)."""
    claimed = participants.claim(session, body.secret)
    session.commit()
    participant = claimed.participant
    space = participant.space
    state = current_states(session, space.id).get(participant.id, ConsentState())
    if body.session:
        response.set_cookie(
            SESSION_COOKIE,
            claimed.token,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
            path="/",
        )
    return schemas.ClaimOut(
        participant_key=None if body.session else claimed.token,
        expires_at=claimed.key.expires_at,
        space_id=space.id,
        space_title=space.title,
        participant=participant.handle,
        notice=space.notice or get_settings().recording_notice,
        prompt=[schemas.PromptItem(**item) for item in prompt(state)],
    )


@router.get("/spaces/{space_id}/participants/{handle}/consent", response_model=schemas.LedgerOut)
def read_ledger(
    space_id: str, handle: str, session: SessionDep, principal: Ingest
) -> schemas.LedgerOut:
    space = space_for(session, principal, space_id, ingest=True)
    return ledger_out(session, space, spaces.participant(session, space, handle))


@router.post(
    "/spaces/{space_id}/participants/{handle}/consent",
    response_model=schemas.LedgerOut,
    dependencies=[Depends(rate_limited("consent", "consent_rate", noun="consent answers"))],
)
def report(
    space_id: str,
    handle: str,
    body: schemas.AnswersIn,
    session: SessionDep,
    store: StoreDep,
    principal: Ingest,
) -> schemas.LedgerOut:
    """Write down what the participant said (in the room, or on a signed release): recorded as
    ``reported_by_host`` or ``reported_by_room`` with who reported it. Refused (409) for a
    purpose the participant answered themselves: only they change their own answers."""
    space = space_for(session, principal, space_id, ingest=True)
    participant = spaces.participant(session, space, handle)
    answer(
        session,
        store,
        participant,
        body.answers.model_dump(),
        by=reporter_of(principal),
        note=body.note,
    )
    return ledger_out(session, space, participant)
