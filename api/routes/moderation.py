"""The moderators' side: the review queue, each complaint's evidence (the reported window on the
accused speaker's own track and on the mix of every retained track, the transcript around it,
search across the space), decisions, the audit log, retention and the sweeper's records.

Moderators reach the vault only through a complaint, and every access and decision is written
to the append-only audit log with who, when and why.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from api import schemas
from api.auth import Principal, Role, allow
from api.deps import SessionDep, StoreDep
from api.routes.complaints import complaint_out
from api.urls import base_url
from api.views import retention_out
from infra.db import session_scope
from infra.models import (
    AuditEntry,
    Clip,
    Complaint,
    Deletion,
    Episode,
    Participant,
    RemovedRange,
    Space,
    Track,
    utcnow,
)
from infra.moderation import audit, retention_for, review_queue
from infra.queue import enqueue
from infra.settings import get_settings
from infra.storage import ObjectStore, sha256_file
from infra.vault import review_transcript_key
from pipeline.retention import OPEN_STATUSES
from pipeline.review import ReviewTrack, Window, lines_in, render_excerpt, search_lines
from pipeline.states import RENDERED
from pipeline.transcript import Segment, segments_from_data
from services.publishing import (
    delete_objects,
    take_down_clip,
    take_down_episode,
    withdraw_unconsented,
)

router = APIRouter(prefix="/moderation", tags=["moderation"])

Moderator = Annotated[
    Principal,
    Depends(
        allow(
            Role.MODERATOR,
            Role.ADMIN,
            objects="every complaint, and the vault of a reported space through its complaint",
        )
    ),
]
Admin = Annotated[Principal, Depends(allow(Role.ADMIN, objects="the sweeper"))]


def _complaint(session: Session, complaint_id: str) -> Complaint:
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise HTTPException(404, f"complaint {complaint_id} not found")
    return complaint


def _reports(session: Session, space_id: str) -> int:
    return len(
        session.scalars(
            select(Complaint.id).where(
                Complaint.space_id == space_id, Complaint.status.in_(OPEN_STATUSES)
            )
        ).all()
    )


def _retained(session: Session, space_id: str) -> list[tuple[Participant, Track]]:
    rows = session.execute(
        select(Participant, Track)
        .join(Track, Track.participant_id == Participant.id)
        .where(Participant.space_id == space_id)
        .order_by(Participant.created_at)
    )
    return [(participant, track) for participant, track in rows]


def _window(complaint: Complaint, tracks: list[tuple[Participant, Track]]) -> Window:
    length = max((p.offset_s + t.duration_s for p, t in tracks), default=0.0)
    pad = get_settings().review_padding_s
    if complaint.start_s is None or complaint.end_s is None:
        return Window(0.0, min(length, 2 * pad)) if length else Window(0.0, 0.0)
    return Window.around(complaint.start_s, complaint.end_s, pad, length)


def _review_segments(store: ObjectStore, space_id: str, tracks) -> tuple[list[Segment], bool]:
    """Every retained track's review transcript; ``False`` when some are still being made."""
    segments: list[Segment] = []
    complete = True
    for participant, track in tracks:
        key = review_transcript_key(space_id, participant.id, track.sha256)
        if not store.exists(key):
            complete = False
            continue
        segments.extend(segments_from_data(json.loads(store.get_bytes(key))))
    return segments, complete


def _line_maker(session: Session, space: Space) -> Callable[[Segment], schemas.ReviewLineOut]:
    """Turns review transcript lines into API lines: the speaker's handle, and whether the line
    is also in the published transcript."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    published = set((episode.consent_snapshot if episode else {}).get("transcribed", []))
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
    complaint = _complaint(session, complaint_id)
    space = session.get(Space, complaint.space_id)
    assert space is not None
    tracks = _retained(session, space.id)
    window = _window(complaint, tracks)
    segments, complete = _review_segments(store, space.id, tracks)
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
    trail = session.scalars(
        select(AuditEntry).where(AuditEntry.complaint_id == complaint.id).order_by(AuditEntry.seq)
    )
    return schemas.ReviewOut(
        complaint=complaint_out(session, complaint),
        space_title=space.title,
        reports=_reports(session, space.id),
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

    def _prepare() -> tuple[Path, Path]:
        with session_scope(settings.database_url) as session:
            complaint = _complaint(session, complaint_id)
            tracks = _retained(session, complaint.space_id)
            if not tracks:
                raise HTTPException(
                    410, f"the recordings of space {complaint.space_id} are no longer retained"
                )
            window = _window(complaint, tracks)
            if start_s is not None and end_s is not None:
                if end_s <= start_s or end_s - start_s > 600:
                    raise HTTPException(422, "end_s must follow start_s, at most 600 s later")
                window = Window(start_s, end_s)
            if source == "speaker":
                wanted = participant or next(
                    (p.handle for p, _ in tracks if p.id == complaint.participant_id), None
                )
                if wanted is None:
                    raise HTTPException(
                        422, "this complaint names no speaker: say which participant to hear"
                    )
                tracks = [(p, t) for p, t in tracks if p.handle == wanted]
                if not tracks:
                    raise HTTPException(404, f"no retained track of participant {wanted!r}")
            chosen = [(p.id, p.handle, p.offset_s, t.object_key, t.sha256) for p, t in tracks]
            audit(
                session,
                actor=principal.subject,
                action="play_mix" if source == "mix" else "play_track",
                reason=f"review of complaint {complaint.id}",
                space_id=complaint.space_id,
                complaint_id=complaint.id,
                participants=[handle for _, handle, *_ in chosen],
                start_s=round(window.start_s, 3),
                end_s=round(window.end_s, 3),
            )
        scratch = Path(tempfile.mkdtemp(prefix="spacecast-review-", dir=settings.work_dir))
        try:
            inputs = []
            for participant_id, handle, offset_s, key, sha256 in chosen:
                path = store.get_file(key, scratch / f"track-{participant_id}")
                if sha256_file(path) != sha256:
                    raise HTTPException(
                        409,
                        f"the retained track of {handle} fails its ingest checksum and is not "
                        "played; report it to an administrator",
                    )
                inputs.append(ReviewTrack(path, offset_s))
            out = scratch / "review.mp3"
            render_excerpt(inputs, window, out, timeout_s=120)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return out, scratch

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
    complaint = _complaint(session, complaint_id)
    space = session.get(Space, complaint.space_id)
    assert space is not None
    segments, _ = _review_segments(store, space.id, _retained(session, space.id))
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
    complaint = _complaint(session, complaint_id)
    if complaint.status not in OPEN_STATUSES:
        raise HTTPException(
            409, f"complaint {complaint.id} was already decided ({complaint.status})"
        )
    if complaint.status == "escalated" and not principal.is_admin:
        raise HTTPException(403, f"complaint {complaint.id} is escalated: an administrator decides")
    space = session.get(Space, complaint.space_id)
    assert space is not None
    to_delete: list[str] = []
    rerender = False
    detail: dict = {}
    if body.decision == "remove_episode":
        episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
        if episode is None or episode.removed_at is not None:
            raise HTTPException(409, f"space {space.id} has no episode up to remove")
        to_delete += take_down_episode(
            session, store, episode, by="moderation", reason=f"removed by moderation: {body.reason}"
        )
        detail = {"episode_id": episode.id}
    elif body.decision == "remove_clip":
        clip = session.get(Clip, complaint.clip_id) if complaint.clip_id else None
        if clip is None or clip.status == "deleted":
            raise HTTPException(409, "this complaint names no clip that is still up")
        to_delete += take_down_clip(clip)
        # The stretch itself is removed: no other clip may hold it, now or later.
        session.add(
            RemovedRange(
                space_id=space.id,
                start_s=clip.start_s,
                end_s=clip.end_s,
                complaint_id=complaint.id,
                reason=body.reason,
            )
        )
        session.flush()
        for other in session.scalars(
            select(Clip).where(Clip.space_id == space.id, Clip.status.in_(("ready", "queued")))
        ):
            if other.start_s < clip.end_s and clip.start_s < other.end_s:
                to_delete += take_down_clip(other)
        detail = {"clip_id": clip.id, "start_s": clip.start_s, "end_s": clip.end_s}
    elif body.decision == "remove_speaker":
        name = body.speaker
        speaker = (
            session.scalar(
                select(Participant).where(
                    Participant.space_id == space.id, Participant.handle == name
                )
            )
            if name
            else session.get(Participant, complaint.participant_id)
            if complaint.participant_id
            else None
        )
        if speaker is None:
            raise HTTPException(422, "say which speaker to remove (speaker: their handle)")
        speaker.removed_at = speaker.removed_at or utcnow()
        speaker.removed_by_complaint = complaint.id
        session.flush()
        to_delete += withdraw_unconsented(session, space)  # their voice goes at once
        rerender = space.status in RENDERED
        if rerender:
            space.status, space.error = "processing", None
        detail = {"participant": speaker.handle}
    complaint.decision = body.decision
    complaint.decision_reason = body.reason
    if body.decision == "escalate":
        complaint.status = "escalated"
    else:
        complaint.status = "dismissed" if body.decision == "dismiss" else "actioned"
        complaint.decided_by = principal.subject
        complaint.decided_at = utcnow()
    audit(
        session,
        actor=principal.subject,
        action=f"decide_{body.decision}",
        reason=body.reason,
        space_id=space.id,
        complaint_id=complaint.id,
        **detail,
    )
    session.commit()
    delete_objects(store, to_delete)
    if rerender:
        enqueue("advance_space", space.id)
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
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if complaint_id:
        query = query.where(AuditEntry.complaint_id == complaint_id)
    if space_id:
        query = query.where(AuditEntry.space_id == space_id)
    return [
        schemas.AuditOut.model_validate(e, from_attributes=True) for e in session.scalars(query)
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
    query = select(Deletion).order_by(Deletion.id.desc()).limit(limit)
    if space_id:
        query = query.where(Deletion.space_id == space_id)
    if pending:
        query = query.where(Deletion.deleted_at.is_(None))
    return [
        schemas.DeletionOut.model_validate(d, from_attributes=True) for d in session.scalars(query)
    ]


@router.post("/sweeps", status_code=202)
def request_sweep(principal: Admin) -> dict:
    """Sweep the vault now rather than at the next scheduled time."""
    enqueue("sweep_vault")
    return {"status": "queued"}
