"""Dead letters: queue messages whose retries ran out, with the reason; an administrator sends
one again once its cause is fixed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import SessionDep
from api.roles import Admin
from infra.models import DeadLetter
from services import operations

router = APIRouter(tags=["operations"])


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
    principal: Admin,
    pending: Annotated[bool, Query(description="only those not sent again since")] = False,
    space_id: str | None = None,
) -> list[schemas.DeadLetterOut]:
    """Messages the workers gave up on, newest first."""
    rows = operations.dead_letters(session, pending=pending, space_id=space_id)
    return [_out(row) for row in rows]


@router.post(
    "/dead-letters/{dead_letter_id}/retry",
    status_code=202,
    response_model=schemas.DeadLetterOut,
)
def retry_dead_letter(
    dead_letter_id: str, session: SessionDep, principal: Admin
) -> schemas.DeadLetterOut:
    """Send the message again with its retries reset (a failed space is reopened)."""
    row = operations.dead_letter(session, dead_letter_id)
    operations.retry_dead_letter(session, row)
    return _out(row)
