"""What operators act on when work goes wrong: dead letters (messages the workers gave up on,
recorded with their reason and sent again on request), reopening a failed space, and settling
the run of a stage that arrived after its space had failed."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.models import Clip, DeadLetter, Space, StageRun, utcnow
from infra.queue import enqueue_message
from infra.settings import get_settings
from pipeline.states import IN_FLIGHT, RunStatus, SpaceStatus
from services.errors import NotFound
from services.runs import set_inputs

log = logging.getLogger("spacecast.operations")
_RECORD_ATTEMPTS = 5
# A run queued this long ago that never started lost its message; the next advance sends it
# again. Reopening a space backdates its runs by as much, so they are sent at once.
RESEND_QUEUED_AFTER = timedelta(minutes=10)


def reopen_failed(session: Session, space: Space) -> None:
    """A failed space goes back to processing; every stage not done runs again (failed ones,
    and any still marked queued, running or retrying when the space failed)."""
    for run in session.scalars(
        select(StageRun).where(StageRun.space_id == space.id, StageRun.status != RunStatus.DONE)
    ):
        run.status, run.error = RunStatus.QUEUED, None
        set_inputs(run, "")  # forces the stage to run again, its attempts counted from 0
        run.queued_at = utcnow() - RESEND_QUEUED_AFTER
    space.status, space.error = SpaceStatus.PROCESSING, None


def settle_unrun(session: Session, space: Space, stage: str, subject: str) -> None:
    """A stage's message arrived after its space failed: record its run as failed too (it did
    not run), so the space's state says what reopening it will run."""
    run = session.scalar(
        select(StageRun).where(
            StageRun.space_id == space.id, StageRun.stage == stage, StageRun.subject == subject
        )
    )
    if run is not None and run.status in IN_FLIGHT:
        run.status = RunStatus.FAILED
        run.error = f"not run: the space had failed ({space.error or 'another stage failed'})"
        run.finished_at = utcnow()


def _space_of(session: Session, actor: str, args: list) -> str | None:
    """The space a message was about: its first argument for the pipeline's actors, the clip's
    space for the clip actors."""
    first = args[0] if args else None
    if not isinstance(first, str):
        return None
    if actor.startswith("render_clip"):
        clip = session.get(Clip, first)
        return clip.space_id if clip else None
    return first if session.get(Space, first) is not None else None


def record_dead_letter(message: dict, reason: str) -> None:
    """Write (or update) the record of a dead-lettered message (as the broker holds it);
    retried while the database is unavailable, and logged if it never comes back (the broker
    keeps its own copy)."""
    message_id, actor, args = message["message_id"], message["actor_name"], message["args"]
    for attempt in range(_RECORD_ATTEMPTS):
        try:
            with session_scope(get_settings().database_url) as session:
                write_dead_letter(session, message, reason)
            log.error("dead letter %s %s%s: %s", message_id, actor, tuple(args), reason)
            return
        except Exception:
            if attempt == _RECORD_ATTEMPTS - 1:
                log.exception(
                    "dead letter %s could not be recorded; it stays in %s.XQ",
                    message_id,
                    message["queue_name"],
                )
                return
            time.sleep(2**attempt)


def write_dead_letter(session: Session, message: dict, reason: str) -> None:
    """The dead letter's row, in ``session``'s transaction (:func:`record_dead_letter` for the
    broker's messages; the flow's for a stage it stops sending again)."""
    message_id, actor, args = message["message_id"], message["actor_name"], message["args"]
    # Looked up before the row is added: a query would flush a half-filled row.
    space_id = _space_of(session, actor, list(args))
    row = session.scalar(select(DeadLetter).where(DeadLetter.message_id == message_id))
    if row is None:
        row = DeadLetter(message_id=message_id)
    row.queue_name = message["queue_name"]
    row.actor = actor
    row.args = list(args)
    row.message = message
    row.space_id = space_id
    row.reason = reason
    row.failed_at = utcnow()
    row.retried_at = None
    session.add(row)


def dead_letter(session: Session, dead_letter_id: str) -> DeadLetter:
    row = session.get(DeadLetter, dead_letter_id)
    if row is None:
        raise NotFound(f"no dead letter {dead_letter_id!r}")
    return row


def retry_dead_letter(session: Session, row: DeadLetter) -> None:
    """Send the message again with its retries reset; a failed space it belongs to is
    reopened so its stages run again. Commits."""
    options = {
        k: v
        for k, v in row.message.get("options", {}).items()
        if k not in ("retries", "traceback", "requeue_timestamp", "eta")
    }
    if row.space_id:
        space = session.get(Space, row.space_id)
        if space is not None and space.status == SpaceStatus.FAILED:
            reopen_failed(session, space)
    row.retried_at = utcnow()
    row.retries += 1
    session.commit()
    enqueue_message({**row.message, "options": options})


def dead_letters(session: Session, *, pending: bool, space_id: str | None) -> list[DeadLetter]:
    """Messages the workers gave up on, newest first (``pending``: not sent again since)."""
    query = select(DeadLetter).order_by(DeadLetter.failed_at.desc()).limit(500)
    if pending:
        query = query.where(DeadLetter.retried_at.is_(None))
    if space_id:
        query = query.where(DeadLetter.space_id == space_id)
    return list(session.scalars(query))
