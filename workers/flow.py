"""The flow's actors: advancing a space (``services.flow``: what is ready is sent), resuming the
spaces a lost message stalled, and recording a stage whose retries ran out."""

from __future__ import annotations

import dramatiq

from infra.queue import queue_name
from services import flow


def advance_space(space_id: str) -> None:
    flow.advance(space_id)


def resume_stalled() -> None:
    flow.resume_stalled()


def stage_gave_up(message: dict, retry_info: dict) -> None:
    flow.stage_gave_up(message, retry_info)


def register(broker: dramatiq.Broker) -> None:
    control = queue_name("control")
    dramatiq.actor(
        advance_space, queue_name=control, max_retries=20, min_backoff=1000, broker=broker
    )
    dramatiq.actor(
        resume_stalled, queue_name=control, max_retries=3, min_backoff=1000, broker=broker
    )
    dramatiq.actor(
        stage_gave_up, queue_name=control, max_retries=20, min_backoff=1000, broker=broker
    )
