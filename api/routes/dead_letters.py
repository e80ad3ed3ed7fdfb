"""Dead letters: queue messages whose retries ran out, with the reason; an administrator sends
one again once its cause is fixed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from api import schemas
from api.auth import Principal, Role, allow
from api.deps import SessionDep
from infra.models import DeadLetter
from services import operations

router = APIRouter(tags=["operations"])

Operator = Annotated[Principal, Depends(allow(Role.ADMIN, objects="every dead-lettered message"))]


def _out(row: DeadLetter) -> schemas.DeadLetterOut:
    return schemas.DeadLetterOut(
        id=row.id,
        message_id=row.message_id,
        queue=row.queue_name,
        actor=row.actor,
        args=row.args,
        space_id=row.space_id,
        reason=row.reason,
        failed_at=row.failed_at,
        retried_at=row.retried_at,
        retries=row.retries,
    )


@router.get("/dead-letters", response_model=list[schemas.DeadLetterOut])
def list_dead_letters(
    session: SessionDep,
    principal: Operator,
    pending: Annotated[bool, Query(description="only those not sent again since")] = False,
    space_id: str | None = None,
) -> list[schemas.DeadLetterOut]:
    """Messages the workers gave up on, newest first."""
    query = select(DeadLetter).order_by(DeadLetter.failed_at.desc()).limit(500)
    if pending:
        query = query.where(DeadLetter.retried_at.is_(None))
    if space_id:
        query = query.where(DeadLetter.space_id == space_id)
    return [_out(row) for row in session.scalars(query)]


@router.post(
    "/dead-letters/{dead_letter_id}/retry",
    status_code=202,
    response_model=schemas.DeadLetterOut,
)
def retry_dead_letter(
    dead_letter_id: str, session: SessionDep, principal: Operator
) -> schemas.DeadLetterOut:
    """Send the message again with its retries reset (a failed space is reopened)."""
    row = operations.dead_letter(session, dead_letter_id)
    operations.retry_dead_letter(session, row)
    return _out(row)
