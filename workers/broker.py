"""The Dramatiq broker, chosen by ``SPACECAST_BROKER_URL``: ``redis://``, ``amqp://`` or
``stub://`` (in-process, for the embedded demo). Importing this module installs it."""

from __future__ import annotations

import logging
import time

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries

from infra.settings import get_settings

log = logging.getLogger("spacecast.worker")
# How long a send keeps trying while the broker is unreachable (a restart takes seconds).
SEND_WITHIN_S = 60.0


def build_broker(url: str) -> dramatiq.Broker:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=url)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    elif url.startswith("stub://"):
        broker = StubBroker()
    else:
        raise ValueError(f"SPACECAST_BROKER_URL: unsupported scheme in {url!r}")
    broker.add_middleware(CurrentMessage())
    from workers.dead_letters import DeadLetters

    # "after" hooks run in reverse order: placed before Retries, it sees Retries' verdict.
    broker.add_middleware(DeadLetters(), before=Retries)
    return broker


def send_with_retry(actor: dramatiq.Actor, *args: object, within_s: float = SEND_WITHIN_S) -> None:
    """Send a message, retrying with backoff while the broker is unreachable; raise if it still
    is after ``within_s``, so the caller's own work is retried rather than silently lost."""
    deadline = time.monotonic() + within_s
    delay = 0.25
    while True:
        try:
            actor.send(*args)
            return
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "broker unavailable sending %s%s (%r); retrying in %.1f s",
                actor.actor_name,
                args,
                exc,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def queue(name: str) -> str:
    """Queue name with the deployment's prefix."""
    return f"{get_settings().queue_prefix}{name}"


broker = build_broker(get_settings().broker_url)
dramatiq.set_broker(broker)
