"""Complaints, as listeners, participants and hosts file them: what is reported is checked
against what the caller may see, the space's recordings are held, and review is prepared."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api import schemas
from api.access import may_manage_show, published_episode
from api.auth import Principal, Role, allow
from api.deps import SessionDep
from api.limits import rate_limited
from infra.models import Clip, Complaint, Episode, Participant, Space
from infra.queue import enqueue
from services.publishing import clip_servable

router = APIRouter(tags=["complaints"])

Reporter = Annotated[
    Principal,
    Depends(
        allow(
            Role.LISTENER,
            Role.HOST,
            Role.MODERATOR,
            Role.ADMIN,
            Role.PARTICIPANT,
            objects="published episodes and live clips; a participant's own space; a host's own "
            "spaces; the caller's own complaints",
        )
    ),
]


def _speaker(session: Session, space: Space, name: str) -> Participant | None:
    """The participant a reporter named (handle or display name), for the moderators. The
    reporter is answered the same whether or not the name matches anyone: a complaint must not
    reveal who took part in a room without being published."""
    found = session.scalars(
        select(Participant).where(
            Participant.space_id == space.id,
            or_(Participant.handle == name, Participant.name == name),
        )
    ).all()
    return found[0] if len(found) == 1 else None


def _timeline_shift(episode: Episode | None) -> float:
    """Room time of the episode's first sample (episode times + this = room times)."""
    if episode is None:
        return 0.0
    return episode.timeline_start_s


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
            raise HTTPException(404, f"clip {body.clip_id} not found")
    elif body.episode_id:
        episode = published_episode(session, body.episode_id)
    if episode is not None:
        space = session.get(Space, episode.space_id)
        if principal.has(Role.PARTICIPANT) and not _own_space(session, principal, space):
            raise HTTPException(404, f"episode {episode.id} not found")
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
        raise HTTPException(
            422, "say what is reported: episode_id or clip_id (or space_id for your own space)"
        )
    if space is None:
        raise HTTPException(404, f"space {body.space_id or ''} not found".replace("  ", " "))
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
    if body.target == "clip" and clip is None:
        raise HTTPException(422, "a complaint about a clip needs clip_id")
    if body.target == "episode" and episode is None:
        raise HTTPException(422, "a complaint about an episode needs episode_id")
    if body.target == "speaker" and not body.speaker:
        raise HTTPException(422, "a complaint about a speaker needs speaker (handle or name)")
    speaker = _speaker(session, space, body.speaker) if body.speaker else None
    start, end = body.start_s, body.end_s
    if clip is not None and start is None:
        start, end = clip.start_s, clip.end_s
    elif start is not None or end is not None:
        if start is None or end is None or end <= start:
            raise HTTPException(422, "start_s and end_s go together, with start_s before end_s")
        shift = _timeline_shift(episode)
        start, end = start + shift, end + shift
    if body.target == "range" and start is None:
        raise HTTPException(422, "a complaint about a moment needs start_s and end_s")
    complaint = Complaint(
        space_id=space.id,
        target=body.target,
        participant_id=speaker.id if speaker else None,
        speaker_text=body.speaker,
        episode_id=episode.id if episode else None,
        clip_id=clip.id if clip else None,
        start_s=start,
        end_s=end,
        category=body.category,
        text=body.text,
        reporter=principal.subject
        if not principal.participant_id
        else f"participant:{principal.participant_id}",
    )
    session.add(complaint)
    session.commit()
    enqueue("prepare_review", space.id)
    return complaint_out(session, complaint)


@router.get("/complaints", response_model=list[schemas.ComplaintOut])
def my_complaints(session: SessionDep, principal: Reporter) -> list[schemas.ComplaintOut]:
    """The complaints you filed, with their status."""
    reporter = (
        f"participant:{principal.participant_id}" if principal.participant_id else principal.subject
    )
    rows = session.scalars(
        select(Complaint).where(Complaint.reporter == reporter).order_by(Complaint.created_at)
    )
    return [complaint_out(session, c) for c in rows]
