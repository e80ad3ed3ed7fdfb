"""Dead letters: every message the broker gives up on (retries exhausted, or refused unprocessed)
is recorded with its reason (``services.operations``), so operators see it through the API and
can send it again. The broker keeps its own copy in ``{queue}.XQ``; the record is what the API
reads."""

from __future__ import annotations

import dramatiq

from services.operations import record_dead_letter


class DeadLetters(dramatiq.Middleware):
    """Records messages the Retries middleware failed. Add it before Retries: the broker runs
    "after" hooks in reverse order, so this one then runs once Retries has decided."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed:
            return
        retries = message.options.get("retries", 0)
        reason = f"{type(exception).__name__}: {exception}".strip()
        record_dead_letter(message.asdict(), f"gave up after {retries} attempts: {reason}"[:4000])

    def after_skip_message(self, broker, message):
        if message.failed:
            record_dead_letter(
                message.asdict(), "skipped by the broker (too old, or refused) unprocessed"
            )
