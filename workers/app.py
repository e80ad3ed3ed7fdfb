"""The worker process's start: the broker (``infra.queue``) with the workers' middleware (dead
letters after retries), and every actor registered on it, with the options the settings give.
Called once, explicitly, by the Dramatiq entry module (``workers.actors``) or by a process that
runs workers in itself (the embedded demo); importing the actor modules does neither."""

from __future__ import annotations

import dramatiq
from dramatiq.middleware import Retries

from infra.logs import configure_logging
from infra.queue import install_broker
from infra.settings import get_settings
from workers import clips, flow, live, moderation, stage, stages  # noqa: F401  (stages declare)
from workers.dead_letters import DeadLetters

_installed: dramatiq.Broker | None = None


def install() -> dramatiq.Broker:
    """Install the broker and register every actor on it (once per process)."""
    global _installed
    settings = get_settings()
    middleware: list = [(DeadLetters(), Retries)]
    if settings.worker_metrics_port:
        # Each message's duration, errors, retries and dead letters per actor and queue.
        from dramatiq.middleware.prometheus import Prometheus

        middleware.append((Prometheus(), None))
    broker = install_broker(middleware)
    if _installed is broker:
        return broker
    configure_logging(settings.log_format)  # in each worker process, on Dramatiq's handler
    stage.register(broker, settings)
    flow.register(broker)
    clips.register(broker)
    live.register(broker)
    moderation.register(broker, settings)
    _installed = broker
    return broker
