"""The queue: the Dramatiq broker chosen by ``SPACECAST_BROKER_URL`` (``redis://``, ``amqp://``,
or ``stub://`` in-process for the embedded demo), installed explicitly by each process when it
starts, and :func:`enqueue`, the one way anything asks a worker for work.

Messages are sent by actor name, so the API and the services send work without importing worker
code; :data:`ACTOR_QUEUES` is the table of which queue each actor listens on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from infra.settings import get_settings

log = logging.getLogger("spacecast.queue")

QUEUES = ("control", "audio", "transcribe", "clips")
ACTOR_QUEUES = {
    "advance_space": "control",
    "resume_stalled": "control",
    "stage_gave_up": "control",
    "sweep_vault": "control",
    "publish_space": "control",
    "detect_activity": "audio",
    "check_bleed": "audio",
    "mix_space": "audio",
    "master_space": "audio",
    "transcribe_participant": "transcribe",
    "prepare_review": "transcribe",
    "render_clip_audio": "clips",
    "render_clip_audiogram": "clips",
}
# The actor each pipeline stage runs as.
STAGE_ACTORS = {
    "activity": "detect_activity",
    "transcribe": "transcribe_participant",
    "bleed": "check_bleed",
    "mix": "mix_space",
    "master": "master_space",
    "publish": "publish_space",
}
# How long a send keeps trying while the broker is unreachable (a restart takes seconds).
SEND_WITHIN_S = 60.0


def queue_name(name: str) -> str:
    """A queue's name with the deployment's prefix (``SPACECAST_QUEUE_PREFIX``)."""
    return f"{get_settings().queue_prefix}{name}"


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
    return broker


def install_broker(middleware: Iterable[tuple[dramatiq.Middleware, type | None]] = ()):
    """The process's broker, made from the settings the first time and installed as Dramatiq's
    global broker; ``middleware`` (each with the middleware class it goes before, or None) is
    added once. Every queue is declared, so a sender needs no actor of its own."""
    broker = dramatiq.broker.global_broker
    if broker is None:
        broker = build_broker(get_settings().broker_url)
        dramatiq.set_broker(broker)
    present = {type(m) for m in broker.middleware}
    for extra, before in middleware:
        if type(extra) not in present:
            broker.add_middleware(extra, before=before)
    declared = broker.get_declared_queues()
    for name in QUEUES:
        if queue_name(name) not in declared:
            broker.declare_queue(queue_name(name))
    return broker


def enqueue(actor_name: str, *args: object, within_s: float = SEND_WITHIN_S) -> None:
    """Send a message to ``actor_name``, retrying with backoff while the broker is unreachable;
    raise if it still is after ``within_s``, so the caller's own work is retried rather than
    silently lost."""
    broker = dramatiq.get_broker() if dramatiq.broker.global_broker else install_broker()
    message = dramatiq.Message(
        queue_name=queue_name(ACTOR_QUEUES[actor_name]),
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={},
    )
    deadline = time.monotonic() + within_s
    delay = 0.25
    while True:
        try:
            broker.enqueue(message)
            return
        except Exception as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "broker unavailable sending %s%s (%r); retrying in %.1f s",
                actor_name,
                args,
                exc,
                delay,
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def enqueue_message(data: dict) -> None:
    """Send again a message as the broker held it (a dead letter, its retries reset)."""
    broker = dramatiq.get_broker() if dramatiq.broker.global_broker else install_broker()
    broker.enqueue(dramatiq.Message(**data))
