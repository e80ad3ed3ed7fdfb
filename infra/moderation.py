"""Moderation records in the database: complaints and the holds they place, each space's
retention, the review queue and the append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import AuditEntry, Complaint, Participant, Space, Track, utcnow
from pipeline.retention import OPEN_STATUSES, Hold, Retention, RetentionPolicy, retention_of


def ended_at(session: Session, space: Space) -> datetime:
    """When the space ended: finished, or for one never finished, its last upload (or creation)."""
    if space.finished_at is not None:
        return space.finished_at
    last_upload = session.scalar(
        select(func.max(Track.uploaded_at))
        .join(Participant, Track.participant_id == Participant.id)
        .where(Participant.space_id == space.id)
    )
    return max(filter(None, (last_upload, space.created_at)))


def holds_of(session: Session, space_id: str) -> list[Hold]:
    rows = session.execute(
        select(Complaint.id, Complaint.status, Complaint.decided_at).where(
            Complaint.space_id == space_id
        )
    )
    return [Hold(complaint_id, status, decided_at) for complaint_id, status, decided_at in rows]


def retention_for(
    session: Session, space: Space, policy: RetentionPolicy, now: datetime | None = None
) -> Retention:
    return retention_of(
        ended_at(session, space), holds_of(session, space.id), now or utcnow(), policy
    )


def is_held(
    session: Session, space_id: str, policy: RetentionPolicy, now: datetime | None = None
) -> bool:
    now = now or utcnow()
    return any(hold.in_force(now, policy) for hold in holds_of(session, space_id))


def review_queue(session: Session, *, limit: int = 100) -> list[tuple[Complaint, int]]:
    """Undecided complaints, most-reported space first, then oldest first; with each the number
    of undecided complaints about the same space."""
    reports = (
        select(Complaint.space_id, func.count().label("reports"))
        .where(Complaint.status.in_(OPEN_STATUSES))
        .group_by(Complaint.space_id)
        .subquery()
    )
    rows = session.execute(
        select(Complaint, reports.c.reports)
        .join(reports, reports.c.space_id == Complaint.space_id)
        .where(Complaint.status.in_(OPEN_STATUSES))
        .order_by(reports.c.reports.desc(), Complaint.created_at, Complaint.id)
        .limit(limit)
    )
    return [(complaint, count) for complaint, count in rows]


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    reason: str,
    space_id: str | None = None,
    complaint_id: str | None = None,
    **detail: object,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        reason=reason,
        space_id=space_id,
        complaint_id=complaint_id,
        detail=detail,
        at=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry
