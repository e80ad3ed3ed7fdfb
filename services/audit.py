"""The append-only audit log: who reached the vault or decided what, when and why. The
``audit_log`` table refuses updates and deletes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import AuditEntry, utcnow


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


def audit_trail(
    session: Session,
    *,
    complaint_id: str | None = None,
    space_id: str | None = None,
    limit: int = 200,
    oldest_first: bool = False,
) -> list[AuditEntry]:
    """The audit log (newest first unless ``oldest_first``), of one complaint or space."""
    order = AuditEntry.seq if oldest_first else AuditEntry.seq.desc()
    query = select(AuditEntry).order_by(order).limit(limit)
    if complaint_id:
        query = query.where(AuditEntry.complaint_id == complaint_id)
    if space_id:
        query = query.where(AuditEntry.space_id == space_id)
    return list(session.scalars(query))
