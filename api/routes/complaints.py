"""Complaints, as listeners, participants and hosts file them: what is reported is checked
against what the caller may see, the space's recordings are held, and review is prepared."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from api import schemas
from api.access import may_manage_show, published_episode
from api.auth import Principal, Role
from api.deps import SessionDep
from api.limits import rate_limited
from api.roles import Reporter
from infra.models import Clip, Complaint, Episode, Participant, Space
from services import moderation
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
