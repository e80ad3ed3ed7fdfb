"""The workers' side of the queue (``infra.queue``): the broker installed with the dead-letter
middleware, and the sends the stages make. Importing this module installs it."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import Retries

from infra.queue import SEND_WITHIN_S, enqueue, install_broker, queue_name
from workers.dead_letters import DeadLetters


def send_with_retry(actor: dramatiq.Actor, *args: object, within_s: float = SEND_WITHIN_S) -> None:
    """Send to ``actor`` through :func:`infra.queue.enqueue` (retrying while the broker is away)."""
    enqueue(actor.actor_name, *args, within_s=within_s)


def queue(name: str) -> str:
    """Queue name with the deployment's prefix."""
    return queue_name(name)


# "after" hooks run in reverse order: placed before Retries, DeadLetters sees Retries' verdict.
broker = install_broker([(DeadLetters(), Retries)])
