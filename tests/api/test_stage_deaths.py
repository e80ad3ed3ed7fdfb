"""A stage whose attempt dies without recording an outcome (its worker killed mid-stage, every
time) is sent again by the flow only as often as the queue would retry it, then ends as a failed
space with one dead letter that an operator's retry heals; a stage that dies and then finishes
within the bound is not touched. Played deterministically: the stage's attempts are run by
calling the actors' code, and time passes through the run's lease (``updated_at``), not by
sleeping. Through the real API on PostgreSQL and the real S3 server."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from tests.api.conftest import World, work_until_settled


class WorkerKilled(BaseException):
    """The fault, faked because a test cannot kill its own process and go on: the worker dies
    mid-stage (the OOM killer, ``kill -9``). A BaseException, so none of the stage's handlers
    sees it, as none sees a process die: the attempt records nothing and its run stays
    ``running``, its lease no longer renewed."""


def _dying(ctx, plan, subject):
    raise WorkerKilled(f"{ctx.stage} of {ctx.space_id}: the worker was killed")


def _finished_space(world: World, short_opus, title: str) -> tuple[str, str]:
    """A finished space of one consenting speaker whose speech activity is queued; (space id,
    Alice's participant id)."""
    from services import flow

    space = world.alice_space(title)
    world.client.put(
        f"/spaces/{space}/participants/alice/track",
        content=short_opus.read_bytes(),
        headers=world.headers("host"),
    ).raise_for_status()
    world.client.post(f"/spaces/{space}/finish", headers=world.headers("host")).raise_for_status()
    alice = _alice(space)
    assert flow.advance(space) == [("activity", alice)]  # what the finish's message does
    return space, alice


def _alice(space: str) -> str:
    from infra.db import session_scope
    from infra.models import Participant
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        return session.query(Participant).filter_by(space_id=space, handle="alice").one().id


def _die(space: str, alice: str) -> None:
    """One attempt of Alice's speech activity that dies mid-stage, then its lease's expiry."""
    from infra.db import session_scope
    from infra.models import StageRun, utcnow
    from infra.settings import get_settings
    from pipeline.states import Stage
    from workers import stage

    with pytest.raises(WorkerKilled):
        stage.run(Stage.ACTIVITY, space, alice)
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        run = session.query(StageRun).filter_by(space_id=space, subject=alice).one()
        assert run.status == "running"  # nothing recorded: to the flow it is a lost worker
        run.updated_at = utcnow() - settings.stage_lease_expiry() - timedelta(seconds=1)


def _run_of(space: str, alice: str):
    from infra.db import session_scope
    from infra.models import StageRun
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        run = session.query(StageRun).filter_by(space_id=space, subject=alice).one()
        session.expunge(run)
        return run


@pytest.fixture
def killing_activity(monkeypatch):
    """Every attempt of speech activity dies mid-stage until the returned function is called."""
    from pipeline.states import Stage
    from workers import app, stage

    app.install()  # the stages are declared and registered
    spec = stage.STAGES[Stage.ACTIVITY]
    monkeypatch.setitem(stage.STAGES, Stage.ACTIVITY, dataclasses.replace(spec, work=_dying))
    return lambda: monkeypatch.setitem(stage.STAGES, Stage.ACTIVITY, spec)


def test_a_stage_that_dies_every_time_becomes_one_dead_letter_that_a_retry_heals(
    world: World, short_opus, killing_activity
) -> None:

    from infra.settings import get_settings
    from services import flow
    from workers import app

    space, alice = _finished_space(world, short_opus, "Always killed")
    bound = get_settings().stage_retries + 1  # the attempts the queue gives one message
    resent = 0
    while True:
        _die(space, alice)
        sent = flow.advance(space)
        if not sent:
            break
        assert sent == [("activity", alice)]
        resent += 1
        assert resent < bound, "sent again past the bound"
    assert resent == bound - 1  # the first send and bound - 1 resends: bound attempts
    assert flow.advance(space) == []  # and never again
    run = _run_of(space, alice)
    assert run.status == "failed" and f"the stage died {bound} times without finishing" in run.error
    state = world.client.get(f"/spaces/{space}", headers=world.headers("host")).json()
    assert state["status"] == "failed"
    assert state["error"].startswith(f"activity: gave up after {bound} attempts"), state["error"]
    letters = world.client.get(
        "/dead-letters", params={"space_id": space}, headers=world.headers("admin")
    ).json()
    assert [(d["actor"], d["args"]) for d in letters] == [("detect_activity", [space, alice])]
    assert f"the stage died {bound} times without finishing" in letters[0]["reason"]

    broker = app.install()
    broker.flush_all()  # the resends nobody ran: this test's worker runs this space alone
    retried = world.client.post(
        f"/dead-letters/{letters[0]['id']}/retry", headers=world.headers("admin")
    )
    assert retried.status_code == 202
    # The retry gives the stage the whole bound again: one more death is sent again.
    _die(space, alice)
    assert flow.advance(space) == [("activity", alice)]
    killing_activity()  # the fault is gone
    state = work_until_settled(world, broker, space)
    assert state["status"] == "published", state["error"]
    assert [p["name"] for p in state["episode"]["persons"]] == ["Alice"]
    pending = world.client.get(
        "/dead-letters", params={"space_id": space, "pending": True}, headers=world.headers("admin")
    ).json()
    assert pending == []


@pytest.mark.parametrize("deaths", ["once", "up to the bound"])
def test_a_stage_that_dies_and_then_finishes_within_the_bound_is_not_given_up(
    world: World, short_opus, killing_activity, deaths: str
) -> None:
    from infra.settings import get_settings
    from pipeline.states import Stage
    from services import flow
    from workers import stage

    space, alice = _finished_space(world, short_opus, f"Killed {deaths}")
    bound = get_settings().stage_retries + 1
    times = 1 if deaths == "once" else bound - 1  # the last attempt the bound allows finishes
    for _ in range(times):
        _die(space, alice)
        assert flow.advance(space) == [("activity", alice)]
    killing_activity()
    assert stage.run(Stage.ACTIVITY, space, alice) == "done"
    run = _run_of(space, alice)
    assert run.status == "done" and run.attempts == times + 1
    state = world.client.get(f"/spaces/{space}", headers=world.headers("host")).json()
    assert state["status"] == "processing", state["error"]
    letters = world.client.get(
        "/dead-letters", params={"space_id": space}, headers=world.headers("admin")
    ).json()
    assert letters == []


def test_a_stage_the_broker_delivers_again_after_each_death_is_given_up_when_it_starts(
    world: World, short_opus, killing_activity
) -> None:
    """No advance in between: the broker hands the killed worker's message to another worker
    (Redis's maintenance, RabbitMQ's closed channel) once the lease ran out, and again. The
    attempt past the bound does not start: it gives up the same way, with one dead letter."""
    from infra.settings import get_settings
    from pipeline.states import Stage
    from workers import stage
    from workers.runs import _finish  # what the woken attempt calls to record its outcome

    space, alice = _finished_space(world, short_opus, "Killed and delivered again")
    settings = get_settings()
    bound = settings.stage_retries + 1
    for _ in range(bound):
        _die(space, alice)
    last = _run_of(space, alice)
    killing_activity()  # were it started once more, it would finish: it must not start
    assert stage.run(Stage.ACTIVITY, space, alice) == "failed"
    # Had the last attempt only been paused (``kill -STOP``), it records nothing when it wakes.
    woke = _finish(settings, space, "activity", alice, last.fingerprint, last.attempt_token,
                   status="done", result={})  # fmt: skip
    assert woke == "superseded"
    run = _run_of(space, alice)
    assert run.status == "failed" and run.attempts == bound
    assert f"the stage died {bound} times without finishing" in run.error
    state = world.client.get(f"/spaces/{space}", headers=world.headers("host")).json()
    assert state["status"] == "failed"
    letters = world.client.get(
        "/dead-letters", params={"space_id": space}, headers=world.headers("admin")
    ).json()
    assert [(d["actor"], d["args"]) for d in letters] == [("detect_activity", [space, alice])]
