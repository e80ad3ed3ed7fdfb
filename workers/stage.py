"""The one wrapper every pipeline stage shares, the stage actors' equivalent of a middleware:
load the space's plan, find the fingerprint of the stage's inputs (nothing to do when the plan
has none), run the stage's work through the run bookkeeping (``workers.runs``: skipped when done
for these inputs; progress, result and errors recorded), and ask the flow to advance.

A stage module only declares its work with :func:`stage`; :func:`register` turns every declared
stage into a Dramatiq actor when the worker starts (``workers.app.install``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dramatiq

from infra.db import session_scope
from infra.queue import STAGE_ACTORS, enqueue, queue_name
from infra.settings import Settings, get_settings
from pipeline.states import ACTIVE, SpaceStatus, Stage
from services.operations import settle_unrun
from services.plan import SpacePlan, plan_space
from services.runs import StageResult
from workers.runs import StageContext, run_stage

ACTOR_NAMES = {Stage(stage): name for stage, name in STAGE_ACTORS.items()}
STAGE_OF_ACTOR = {name: stage for stage, name in ACTOR_NAMES.items()}

Work = Callable[[StageContext, SpacePlan, str], StageResult]


@dataclass(frozen=True)
class StageSpec:
    stage: Stage
    work: Work
    queue: str
    # Lower runs sooner when a worker holds several messages: transcriptions are the long,
    # parallel part, so the one-after-the-other audio path (mix, master) goes first.
    priority: int = 0


STAGES: dict[Stage, StageSpec] = {}


def stage(name: Stage, *, queue: str, priority: int = 0) -> Callable[[Work], Work]:
    """Declare ``work(ctx, plan, participant_id)`` as the work of stage ``name``."""

    def declare(work: Work) -> Work:
        STAGES[name] = StageSpec(name, work, queue, priority)
        return work

    return declare


def load_plan(space_id: str, name: Stage, subject: str) -> SpacePlan | None:
    """The space's plan, or None when there is nothing to do. A stage delivered after its space
    failed records that it did not run, so reopening the space runs it again."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        from infra.models import Space

        space = session.get(Space, space_id)
        if space is not None and space.status == SpaceStatus.FAILED:
            settle_unrun(session, space, name, subject)
        if space is None or space.status not in ACTIVE:
            return None
        for participant in space.participants:  # load what the plan reads before the session ends
            _ = participant.track
        return plan_space(session, space, settings)


def run(name: Stage, space_id: str, subject: str = "") -> str:
    """Run one stage of one space (``subject``: the participant of a per-participant stage);
    returns the run's outcome."""
    plan = load_plan(space_id, name, subject)
    fingerprint = plan.fingerprint(name, subject) if plan is not None else None
    if plan is None or fingerprint is None:
        if plan is not None:  # the answers changed since it was queued: advance settles it
            enqueue("advance_space", space_id)
        return "nothing to do"
    work = STAGES[name].work
    outcome = run_stage(
        space_id, name, subject, fingerprint, lambda ctx: work(ctx, plan, subject).as_dict()
    )
    if outcome == "held":  # looked at again after one lease: done by then, or taken over
        lease_ms = int(get_settings().stage_lease_s * 1000)
        enqueue(ACTOR_NAMES[name], space_id, subject, delay_ms=lease_ms)
        return outcome
    enqueue("advance_space", space_id)
    return outcome


def register(broker: dramatiq.Broker, settings: Settings) -> None:
    """Every declared stage as an actor on ``broker``, with the retry and time-limit options of
    ``settings``; exhausted retries go to ``stage_gave_up``, their one owner."""
    options = {
        "max_retries": settings.stage_retries,
        "min_backoff": settings.retry_min_backoff_ms,
        "max_backoff": settings.retry_max_backoff_ms,
        "on_retry_exhausted": "stage_gave_up",
        "time_limit": int((settings.stage_timeout_s + 600) * 1000),
    }
    for spec in STAGES.values():

        def actor(space_id: str, participant_id: str = "", *, _stage: Stage = spec.stage) -> None:
            run(_stage, space_id, participant_id)

        actor.__name__ = ACTOR_NAMES[spec.stage]
        dramatiq.actor(
            actor,
            actor_name=ACTOR_NAMES[spec.stage],
            queue_name=queue_name(spec.queue),
            priority=spec.priority,
            broker=broker,
            **options,
        )
