"""Dead letters: every message the broker gives up on (retries exhausted, or refused unprocessed)
is recorded with its reason, so operators see it through the API and can send it again. The
broker keeps its own copy in ``{queue}.XQ``; the record is what the API reads."""

from __future__ import annotations

import logging
import time

import dramatiq
from sqlalchemy import select

from infra.db import session_scope
from infra.models import DeadLetter, Space, utcnow
from infra.settings import get_settings

log = logging.getLogger("spacecast.worker")
_RECORD_ATTEMPTS = 5


def _space_of(args: list) -> str | None:
    first = args[0] if args else None
    return first if isinstance(first, str) and len(first) == 32 else None


def record_dead_letter(message: dramatiq.Message, reason: str) -> None:
    """Write (or update) the record of a dead-lettered message; retried while the database is
    unavailable, and logged if it never comes back (the broker still holds the message)."""
    data = message.asdict()
    for attempt in range(_RECORD_ATTEMPTS):
        try:
            with session_scope(get_settings().database_url) as session:
                row = session.scalar(
                    select(DeadLetter).where(DeadLetter.message_id == message.message_id)
                )
                if row is None:
                    row = DeadLetter(message_id=message.message_id)
                    session.add(row)
                row.queue_name = message.queue_name
                row.actor = message.actor_name
                row.args = list(message.args)
                row.message = data
                row.space_id = _space_of(list(message.args))
                row.reason = reason
                row.failed_at = utcnow()
                row.retried_at = None
            log.error(
                "dead letter %s %s%s: %s",
                message.message_id,
                message.actor_name,
                tuple(message.args),
                reason,
            )
            return
        except Exception:
            if attempt == _RECORD_ATTEMPTS - 1:
                log.exception(
                    "dead letter %s could not be recorded; it stays in %s.XQ",
                    message.message_id,
                    message.queue_name,
                )
                return
            time.sleep(2**attempt)


class DeadLetters(dramatiq.Middleware):
    """Records messages the Retries middleware failed. Add it before Retries: the broker runs
    "after" hooks in reverse order, so this one then runs once Retries has decided."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed:
            return
        retries = message.options.get("retries", 0)
        reason = f"{type(exception).__name__}: {exception}".strip()
        record_dead_letter(message, f"gave up after {retries} attempts: {reason}"[:4000])

    def after_skip_message(self, broker, message):
        if message.failed:
            record_dead_letter(message, "skipped by the broker (too old, or refused) unprocessed")


def resend(row: DeadLetter) -> None:
    """Send a dead-lettered message again with its retries reset; a failed space it belongs to
    is reopened so its stages run again."""
    from workers.flow import reopen_failed

    options = {
        k: v
        for k, v in row.message.get("options", {}).items()
        if k not in ("retries", "traceback", "requeue_timestamp", "eta")
    }
    message = dramatiq.Message(**{**row.message, "options": options})
    if row.space_id:
        with session_scope(get_settings().database_url) as session:
            space = session.get(Space, row.space_id)
            if space is not None and space.status == "failed":
                reopen_failed(session, space)
    dramatiq.get_broker().enqueue(message)
    row.retried_at = utcnow()
    row.retries += 1
