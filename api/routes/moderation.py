"""The moderators' side: the review queue, each complaint's evidence (the reported window on the
accused speaker's own track and on the mix of every retained track, the transcript around it,
search across the space), decisions and their statements of reasons, appeals, the emergency
takedown, statement templates, the transparency report, the audit log, retention and the
sweeper's records.

Moderators reach the vault only through a complaint, and every access and decision is written
to the append-only audit log with who, when and why (``services.moderation``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from api import schemas
from api.deps import SessionDep, StoreDep
from api.roles import Admin, Moderator
from api.routes.complaints import appeal_out, complaint_out, statement_out
from api.views import retention_out
from infra.db import session_scope
from infra.models import Participant, ReasonTemplate, Space
from infra.queue import enqueue
from infra.settings import get_settings
from infra.urls import base_url
from pipeline.review import lines_in, search_lines
from pipeline.statements import CATEGORIES, transparency_csv
from pipeline.transcript import Segment
from services import editing, moderation, retention, statements
from services.audit import audit, audit_trail
from services.errors import NotFound
from services.moderation import review_queue
from services.retention import retention_for

router = APIRouter(prefix="/moderation", tags=["moderation"])


def _line_maker(session: Session, space: Space) -> Callable[[Segment], schemas.ReviewLineOut]:
    """Turns review transcript lines into API lines: the speaker's handle, and whether the line
    is also in the published transcript."""
    published = moderation.published_words(session, space)
    handles = {p.id: p.handle for p in space.participants}

    def line(segment: Segment) -> schemas.ReviewLineOut:
        return schemas.ReviewLineOut(
            speaker=segment.speaker,
            participant=handles.get(segment.speaker_id, ""),
            start_s=round(segment.start_s, 2),
            end_s=round(segment.end_s, 2),
            text=segment.text,
            published=segment.speaker_id in published,
        )

    return line


def _audio_url(complaint_id: str, source: str, participant: str | None = None) -> str:
    url = f"{base_url()}/moderation/complaints/{complaint_id}/audio?source={source}"
    return url + (f"&participant={participant}" if participant else "")


@router.get("/queue", response_model=list[schemas.QueueItemOut])
def queue(
    session: SessionDep, principal: Moderator, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[schemas.QueueItemOut]:
    """Undecided complaints: the most-reported spaces first, then the oldest complaints."""
    policy = get_settings().retention_policy()
    items = []
    for complaint, reports in review_queue(session, limit=limit):
        space = session.get(Space, complaint.space_id)
        assert space is not None
        items.append(
            schemas.QueueItemOut(
                **complaint_out(session, complaint).model_dump(),
                reports=reports,
                space_title=space.title,
                retention=retention_out(retention_for(session, space, policy), space),
            )
        )
    audit(session, actor=principal.subject, action="view_queue", reason="review queue")
    session.commit()
    return items


@router.get("/complaints/{complaint_id}", response_model=schemas.ReviewOut)
def review(
    complaint_id: str, session: SessionDep, store: StoreDep, principal: Moderator
) -> schemas.ReviewOut:
    """A complaint with its evidence: the reported window (padded) on each retained track and on
    the mix, and the speaker-attributed transcript of every retained track in that window."""
    complaint = moderation.complaint(session, complaint_id)
    space = session.get(Space, complaint.space_id)
    assert space is not None
    tracks = moderation.retained_tracks(session, space.id)
    window = moderation.window_of(complaint, tracks)
    segments, complete = moderation.review_segments(store, space.id, tracks)
    line = _line_maker(session, space)
    accused = (
        session.get(Participant, complaint.participant_id) if complaint.participant_id else None
    )
    audit(
        session,
        actor=principal.subject,
        action="view_complaint",
        reason=f"review of complaint {complaint.id}",
        space_id=space.id,
        complaint_id=complaint.id,
    )
    session.commit()
    trail = audit_trail(session, complaint_id=complaint.id, oldest_first=True)
    return schemas.ReviewOut(
        complaint=complaint_out(session, complaint),
        space_title=space.title,
        reports=moderation.undecided_reports(session, space.id),
        window={"start_s": round(window.start_s, 3), "end_s": round(window.end_s, 3)},
        accused=accused.handle if accused else None,
        tracks=[
            schemas.ReviewTrackOut(
                participant=p.handle,
                name=p.name,
                offset_s=p.offset_s,
                duration_s=t.duration_s,
                sha256=t.sha256,
                audio_url=_audio_url(complaint.id, "speaker", p.handle),
            )
            for p, t in tracks
        ],
        mix_url=_audio_url(complaint.id, "mix"),
        transcript_status="ready" if complete else "pending",
        transcript=[line(s) for s in lines_in(segments, window)],
        retention=retention_out(
            retention_for(session, space, get_settings().retention_policy()), space
        ),
        audit=[
            {"at": e.at.isoformat(), "actor": e.actor, "action": e.action, "reason": e.reason}
            for e in trail
        ],
        episode_moment=editing.moment_in_versions(
            session, space.id, complaint.start_s, complaint.end_s
        ),
    )


@router.get(
    "/complaints/{complaint_id}/audio",
    response_class=FileResponse,
    responses={200: {"content": {"audio/mpeg": {}}}, 409: {"model": schemas.ErrorOut}},
)
async def review_audio(
    complaint_id: str,
    store: StoreDep,
    principal: Moderator,
    source: Literal["speaker", "mix"] = "speaker",
    participant: Annotated[str | None, Query(max_length=64)] = None,
    start_s: Annotated[float | None, Query(ge=0)] = None,
    end_s: Annotated[float | None, Query(ge=0)] = None,
):
    """The reported window as MP3: on one speaker's own track (``participant``, by default the
    reported speaker) or on the mix of every retained track. Each track's checksum from ingest
    is verified first; a track that fails it is refused, never played."""
    settings = get_settings()

    def _prepare():
        with session_scope(settings.database_url) as session:
            return moderation.evidence_audio(
                session,
                store,
                moderation.complaint(session, complaint_id),
                moderator=principal.subject,
                source=source,
                participant=participant,
                start_s=start_s,
                end_s=end_s,
            )

    out, scratch = await run_in_threadpool(_prepare)

    return FileResponse(
        out,
        media_type="audio/mpeg",
        headers={"Cache-Control": "no-store"},
        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
    )


@router.get("/complaints/{complaint_id}/search", response_model=list[schemas.ReviewLineOut])
def search(
    complaint_id: str,
    session: SessionDep,
    store: StoreDep,
    principal: Moderator,
    q: Annotated[str, Query(min_length=1, max_length=200)],
) -> list[schemas.ReviewLineOut]:
    """Lines of the reported space's transcript (every retained track) containing every word of
    ``q``."""
    complaint = moderation.complaint(session, complaint_id)
    space = session.get(Space, complaint.space_id)
    assert space is not None
    segments, _ = moderation.review_segments(
        store, space.id, moderation.retained_tracks(session, space.id)
    )
    line = _line_maker(session, space)
    audit(
        session,
        actor=principal.subject,
        action="search",
        reason=f"review of complaint {complaint.id}",
        space_id=space.id,
        complaint_id=complaint.id,
        query=q,
    )
    session.commit()
    return [line(s) for s in search_lines(segments, q)]


@router.post("/complaints/{complaint_id}/decision", response_model=schemas.ComplaintOut)
def decide(
    complaint_id: str,
    body: schemas.ModerationDecisionIn,
    session: SessionDep,
    store: StoreDep,
    principal: Moderator,
) -> schemas.ComplaintOut:
    """Dismiss; remove the episode, the clip or a speaker's part (re-rendered without them, as
    when consent is withdrawn); or escalate to an administrator. Escalated complaints are
    decided by administrators."""
    complaint = moderation.decide(
        session,
        store,
        moderation.complaint(session, complaint_id),
        decision=body.decision,
        reason=body.reason,
        speaker=body.speaker,
        moderator=principal.subject,
        is_admin=principal.is_admin,
    )
    return complaint_out(session, complaint)


@router.get("/audit", response_model=list[schemas.AuditOut])
def audit_log(
    session: SessionDep,
    principal: Moderator,
    complaint_id: Annotated[str | None, Query(max_length=32)] = None,
    space_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[schemas.AuditOut]:
    """The audit log, newest first."""
    return [
        schemas.AuditOut.model_validate(e, from_attributes=True)
        for e in audit_trail(session, complaint_id=complaint_id, space_id=space_id, limit=limit)
    ]


@router.get("/deletions", response_model=list[schemas.DeletionOut])
def deletions(
    session: SessionDep,
    principal: Moderator,
    space_id: Annotated[str | None, Query(max_length=32)] = None,
    pending: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[schemas.DeletionOut]:
    """What the sweeper deleted (or still has to), when and why."""
    return [
        schemas.DeletionOut.model_validate(d, from_attributes=True)
        for d in retention.deletions(session, space_id=space_id, pending=pending, limit=limit)
    ]


@router.post("/sweeps", status_code=202)
def request_sweep(principal: Admin) -> dict:
    """Sweep the vault now rather than at the next scheduled time."""
    enqueue("sweep_vault")
    return {"status": "queued"}


@router.get("/statements", response_model=list[schemas.StatementOut])
def statements_of_space(
    space_id: Annotated[str, Query(min_length=1, max_length=32)],
    session: SessionDep,
    principal: Moderator,
) -> list[schemas.StatementOut]:
    """Every statement of reasons written about a space, oldest first."""
    return [statement_out(s) for s in statements.statements_of_space(session, space_id)]


@router.get("/appeals", response_model=list[schemas.AppealOut])
def appeals_queue(session: SessionDep, principal: Moderator) -> list[schemas.AppealOut]:
    """Open appeals, oldest first."""
    return [appeal_out(a) for a in statements.open_appeals(session)]


@router.post("/appeals/{appeal_id}/decision", response_model=schemas.AppealOut)
def decide_appeal(
    appeal_id: str,
    body: schemas.AppealDecisionIn,
    session: SessionDep,
    store: StoreDep,
    principal: Moderator,
) -> schemas.AppealOut:
    """Uphold or reverse (by another moderator than the one who decided): reversing a removal
    renders the episode again or lets the speaker back in; reversing a dismissal reopens the
    complaint."""
    return appeal_out(
        statements.decide_appeal(
            session,
            store,
            statements.appeal(session, appeal_id),
            decision=body.decision,
            reason=body.reason,
            moderator=principal.subject,
        )
    )


@router.get("/templates", response_model=list[schemas.TemplateOut])
def templates(session: SessionDep, principal: Moderator) -> list[schemas.TemplateOut]:
    """The statement of reasons template of each complaint category."""
    return [_template_out(session, category) for category in CATEGORIES]


@router.put("/templates/{category}", response_model=schemas.TemplateOut)
def edit_template(
    category: str, body: schemas.TemplateIn, session: SessionDep, principal: Moderator
) -> schemas.TemplateOut:
    """Change a category's template; statements already written keep their text."""
    statements.save_template(
        session, category, ground=body.ground, text=body.text, by=principal.subject
    )
    return _template_out(session, category)


def _template_out(session: Session, category: str) -> schemas.TemplateOut:
    ground, text = statements.template_for(session, category)
    edited = session.get(ReasonTemplate, category) is not None
    return schemas.TemplateOut(category=category, ground=ground, text=text, edited=edited)


@router.post("/spaces/{space_id}/takedown", status_code=201, response_model=schemas.ComplaintOut)
def emergency_takedown(
    space_id: str,
    body: schemas.EmergencyIn,
    session: SessionDep,
    store: StoreDep,
    principal: Admin,
) -> schemas.ComplaintOut:
    """Take a space's media offline now (every episode, clip and media URL answers 410),
    pending a moderator's review of the complaint this files: ``remove_episode`` confirms,
    ``dismiss`` lifts it."""
    space = session.get(Space, space_id)
    if space is None:
        raise NotFound(f"space {space_id} not found")
    filed = statements.emergency_takedown(
        session, store, space, admin=principal.subject, category=body.category, reason=body.reason
    )
    return complaint_out(session, filed)


@router.get(
    "/transparency",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def transparency(
    session: SessionDep,
    principal: Moderator,
    since: datetime,
    until: datetime,
    format: Literal["json", "csv"] = "json",
):
    """Counts over [since, until): complaints and notices, decisions by type and category,
    median hours to decision, appeals and reversals; as JSON or CSV."""
    report = statements.transparency_report(session, _aware(since), _aware(until))
    if format == "csv":
        return Response(
            transparency_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="transparency.csv"'},
        )
    return report


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
