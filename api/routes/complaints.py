"""Complaints, as listeners, participants and hosts file them: what is reported is checked
against what the caller may see, the space's recordings are held, and review is prepared."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from api import schemas
from api.access import may_manage_show, published_episode
from api.auth import Principal, Role
from api.deps import SessionDep
from api.limits import rate_limited
from api.roles import Reporter
from infra.models import Appeal, Clip, Complaint, Episode, Participant, Space, Statement
from services import moderation, statements
from services.errors import Invalid, NotFound
from services.publishing import clip_servable

router = APIRouter(tags=["complaints"])


def complaint_out(session: Session, complaint: Complaint) -> schemas.ComplaintOut:
    speaker = (
        session.get(Participant, complaint.participant_id) if complaint.participant_id else None
    )
    return schemas.ComplaintOut(
        id=complaint.id,
        space_id=complaint.space_id,
        target=complaint.target,
        speaker=complaint.speaker_text or (speaker.handle if speaker else None),
        episode_id=complaint.episode_id,
        clip_id=complaint.clip_id,
        start_s=complaint.start_s,
        end_s=complaint.end_s,
        category=complaint.category,
        text=complaint.text,
        status=complaint.status,
        decision=complaint.decision,
        decided_at=complaint.decided_at,
        created_at=complaint.created_at,
        notice=complaint.is_notice,
        notifier_name=complaint.notifier_name,
        notifier_email=complaint.notifier_email,
        location_url=complaint.location_url,
        good_faith=complaint.good_faith,
        acknowledgment=(
            f"Notice {complaint.id} received on {complaint.created_at:%Y-%m-%d %H:%M} UTC. "
            "A moderator reviews it; you are told the decision here."
            if complaint.is_notice
            else None
        ),
        appeal_until=(
            statements.appeal_deadline(complaint.decided_at) if complaint.decided_at else None
        ),
        emergency=complaint.emergency_at is not None,
    )


def _resolve(session: Session, principal: Principal, body: schemas.ComplaintIn):
    """(space, episode, clip) the complaint is about, if the caller may report them."""
    episode = clip = None
    if body.clip_id:
        clip = session.get(Clip, body.clip_id)
        episode = session.get(Episode, clip.episode_id) if clip else None
        if clip is None or episode is None or not clip_servable(session, clip, episode):
            raise NotFound(f"clip {body.clip_id} not found")
    elif body.episode_id:
        episode = published_episode(session, body.episode_id)
    if episode is not None:
        space = session.get(Space, episode.space_id)
        if principal.has(Role.PARTICIPANT) and not _own_space(session, principal, space):
            raise NotFound(f"episode {episode.id} not found")
    elif principal.has(Role.PARTICIPANT):
        participant = session.get(Participant, principal.participant_id)
        space = participant.space if participant else None
        if body.space_id and space is not None and body.space_id != space.id:
            space = None
    elif body.space_id:
        space = session.get(Space, body.space_id)
        if space is not None and not may_manage_show(principal, space.show):
            space = None
    else:
        raise Invalid(
            "say what is reported: episode_id or clip_id (or space_id for your own space)"
        )
    if space is None:
        raise NotFound(f"space {body.space_id or ''} not found".replace("  ", " "))
    return space, episode, clip


def _own_space(session: Session, principal: Principal, space: Space | None) -> bool:
    participant = session.get(Participant, principal.participant_id)
    return bool(participant and space and participant.space_id == space.id)


@router.post(
    "/complaints",
    status_code=201,
    response_model=schemas.ComplaintOut,
    dependencies=[Depends(rate_limited("complaint", "complaint_rate", noun="complaints"))],
)
def file_complaint(
    body: schemas.ComplaintIn, session: SessionDep, principal: Reporter
) -> schemas.ComplaintOut:
    """Report a space, one speaker, a moment, an episode or a clip. The space's recordings are
    kept while the complaint is reviewed, and for the appeal window after it is decided."""
    space, episode, clip = _resolve(session, principal, body)
    complaint = moderation.file_complaint(
        session,
        reporter=reporter_of_complaints(principal),
        space=space,
        episode=episode,
        clip=clip,
        target=body.target,
        speaker=body.speaker,
        start_s=body.start_s,
        end_s=body.end_s,
        category=body.category,
        text=body.text,
        notice=(
            moderation.Notice(
                name=body.notifier_name,
                email=body.notifier_email,
                location_url=str(body.location_url) if body.location_url else None,
                good_faith=body.good_faith,
            )
            if body.notice
            else None
        ),
    )
    return complaint_out(session, complaint)


@router.get("/complaints", response_model=list[schemas.ComplaintOut])
def my_complaints(session: SessionDep, principal: Reporter) -> list[schemas.ComplaintOut]:
    """The complaints you filed, with their status."""
    rows = moderation.complaints_of(session, reporter_of_complaints(principal))
    return [complaint_out(session, c) for c in rows]


def reporter_of_complaints(principal: Principal) -> str:
    """Who filed a complaint, for the record and for listing their own."""
    if principal.participant_id:
        return f"participant:{principal.participant_id}"
    return principal.subject


def parties_of(principal: Principal) -> set[str]:
    """The names a decision record may give the caller (as notifier or as affected party)."""
    return {principal.subject, reporter_of_complaints(principal)}


# What a restricted party reads of the evidence: what was heard or searched and when, not
# which moderator did it or what they typed (moderators read it whole, in the audit log too).
_PARTY_EVIDENCE = ("action", "at", "participants", "start_s", "end_s")


def statement_out(found: Statement, *, moderator: bool = True) -> schemas.StatementOut:
    out = schemas.StatementOut.model_validate(found, from_attributes=True)
    if not moderator:
        out.evidence = [
            {k: v for k, v in entry.items() if k in _PARTY_EVIDENCE} for entry in out.evidence
        ]
    return out


def appeal_out(found: Appeal) -> schemas.AppealOut:
    return schemas.AppealOut.model_validate(found, from_attributes=True)


@router.post(
    "/complaints/{complaint_id}/appeals",
    status_code=201,
    response_model=schemas.AppealOut,
    dependencies=[Depends(rate_limited("appeal", "complaint_rate", noun="appeals"))],
)
def appeal(
    complaint_id: str, body: schemas.AppealIn, session: SessionDep, principal: Reporter
) -> schemas.AppealOut:
    """Appeal the decision on a complaint: its notifier, or a party the decision restricted
    (the host of a removed episode, a removed speaker), within the appeal window. Another
    moderator than the one who decided reviews it."""
    found = session.get(Complaint, complaint_id)
    if found is None:
        raise NotFound(f"complaint {complaint_id} not found")
    return appeal_out(
        statements.file_appeal(
            session,
            found,
            subjects=parties_of(principal),
            appellant=reporter_of_complaints(principal),
            text=body.text,
        )
    )


@router.get("/statements/{statement_id}", response_model=schemas.StatementOut)
def read_statement(
    statement_id: str, session: SessionDep, principal: Reporter
) -> schemas.StatementOut:
    """A statement of reasons, for the parties the decision restricted (and moderators)."""
    found = statements.statement(session, statement_id)
    if not statements.may_read(
        found,
        subjects=parties_of(principal),
        is_moderator=principal.has(Role.MODERATOR, Role.ADMIN),
    ):
        raise NotFound(f"statement {statement_id} not found")
    return statement_out(found, moderator=principal.has(Role.MODERATOR, Role.ADMIN))


@router.get("/statements", response_model=list[schemas.StatementOut])
def my_statements(
    session: SessionDep,
    principal: Reporter,
    space_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[schemas.StatementOut]:
    """The statements of reasons of decisions that restricted you (a host: your shows'
    episodes, speakers and clips; a participant: your voice), oldest first."""
    rows = statements.statements_for(session, parties_of(principal), space_id)
    return [statement_out(s, moderator=False) for s in rows]
