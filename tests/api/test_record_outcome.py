"""A stage attempt that finished its work while the database was out of reach (a restart, a cut
link) records its outcome once the database answers again, within
``SPACECAST_STAGE_RECORD_PATIENCE_S``, instead of throwing the work away; past that, it records
nothing and raises, leaving the run to the queue's retry. Real PostgreSQL behind a real TCP proxy
that resets every connection while the database is "away" (the fault: a proxy, because the test
cannot restart the database the other tests use)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy.engine import make_url

from tests.api.conftest import World


def _running_run(world: World, title: str) -> tuple[str, str]:
    """A space with a ``mix`` run held by an attempt: (space id, the attempt's token)."""
    from infra.db import session_scope
    from infra.settings import get_settings
    from workers.runs import upsert_run

    space = world.alice_space(title)
    with session_scope(get_settings().database_url) as session:
        run = upsert_run(session, space, "mix", "")
        run.status, run.fingerprint, run.attempt_token = "running", "fp-1", "token-1"
    return space, "token-1"


def _run(space: str) -> tuple[str, dict | None]:
    from infra.db import session_scope
    from infra.models import StageRun
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        run = session.query(StageRun).filter_by(space_id=space, stage="mix").one()
        return run.status, run.result


def _finishing_meanwhile(settings, space: str, token: str, proxy, *, resets: int):
    """The attempt recording its outcome in a thread of its own, once it has met the fault
    ``resets`` times: (the thread, the list its outcome is put in)."""
    from workers.runs import _finish

    outcome: list = []
    recording = threading.Thread(
        target=lambda: outcome.append(
            _finish(settings, space, "mix", "", "fp-1", token, status="done", result={"k": 1})
        )
    )
    recording.start()
    deadline = time.monotonic() + 60
    while proxy.resets < resets:
        assert time.monotonic() < deadline and recording.is_alive(), outcome
        time.sleep(0.05)
    return recording, outcome


@pytest.fixture
def away_database():
    """Settings whose database is reached through a proxy, and the proxy (its ``mode``
    ``reset`` makes the database unreachable, ``pass`` brings it back)."""
    from infra.settings import get_settings
    from tests.service.faults import TcpProxy

    settings = get_settings()
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.port or 5432)
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    yield settings.model_copy(update={"database_url": through}), proxy
    proxy.stop()


def test_an_outcome_finished_while_the_database_is_away_is_recorded_when_it_is_back(
    world: World, away_database
) -> None:

    settings, proxy = away_database
    space, token = _running_run(world, "Database away at the end")
    proxy.mode = "reset"
    recording, outcome = _finishing_meanwhile(settings, space, token, proxy, resets=2)
    assert _run(space) == ("running", None)  # nothing recorded while the database is away
    proxy.mode = "pass"
    recording.join(timeout=60)
    assert outcome == ["recorded"]
    assert _run(space) == ("done", {"k": 1})


def test_an_outcome_that_cannot_be_recorded_within_the_patience_is_raised(
    world: World, away_database
) -> None:
    from sqlalchemy.exc import OperationalError

    from workers.runs import _finish

    settings, proxy = away_database
    settings = settings.model_copy(update={"stage_record_patience_s": 2.0})
    space, token = _running_run(world, "Database away for good")
    proxy.mode = "reset"
    began = time.monotonic()
    with pytest.raises(OperationalError):
        _finish(settings, space, "mix", "", "fp-1", token, status="done", result={"k": 1})
    assert time.monotonic() - began < 30
    assert proxy.resets >= 2  # it tried more than once
    assert _run(space) == ("running", None)


def test_a_superseded_attempt_finds_so_once_the_database_is_back(
    world: World, away_database
) -> None:
    """The token decides once the database answers: a newer attempt took the run over while
    this one could not reach it, so nothing of this one is recorded."""
    from infra.db import session_scope
    from infra.settings import get_settings
    from workers.runs import upsert_run

    settings, proxy = away_database
    space, token = _running_run(world, "Taken over while away")
    proxy.mode = "reset"
    recording, outcome = _finishing_meanwhile(settings, space, token, proxy, resets=1)
    with session_scope(get_settings().database_url) as session:
        upsert_run(session, space, "mix", "").attempt_token = "token-2"
    proxy.mode = "pass"
    recording.join(timeout=60)
    assert outcome == ["superseded"]
    assert _run(space) == ("running", None)


def test_progress_while_the_database_is_away_does_not_end_the_work(
    world: World, away_database, tmp_path
) -> None:
    """Progress is for the host's page: an hour of transcription goes on through a database
    restart, and the next progress once it is back is recorded."""
    from infra.logs import stage_logger
    from infra.storage import ObjectStore
    from workers.runs import StageContext

    settings, proxy = away_database
    space, token = _running_run(world, "Progress while away")
    ctx = StageContext(
        space, "mix", "", settings, ObjectStore(settings), tmp_path,
        stage_logger(space, "mix", ""), token,
    )  # fmt: skip
    proxy.mode = "reset"
    ctx.progress(0.25)  # does not raise
    assert proxy.resets >= 1
    proxy.mode = "pass"
    ctx._last_progress = 0.0  # the next report is due (progress is recorded every 2 s at most)
    ctx.progress(0.5)
    from infra.db import session_scope
    from infra.models import StageRun
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        assert session.query(StageRun).filter_by(space_id=space, stage="mix").one().progress == 0.5


def test_a_stage_that_meets_bad_input_fails_its_run_and_its_space_naming_both(
    world: World,
) -> None:
    """Bad input (a SpacecastError) ends the attempt for good, through the one home of giving
    up (``services.flow.fail_stage``): the run failed with the message, the space failed
    naming the stage, and nothing is retried."""
    from infra.db import session_scope
    from infra.models import Space, StageRun
    from infra.settings import get_settings
    from pipeline.errors import InvalidTrack
    from workers.runs import run_stage

    space = world.alice_space("Bad input")

    def work(ctx) -> dict:
        raise InvalidTrack("alice.opus: not an audio file (ffprobe found no audio stream)")

    assert run_stage(space, "mix", "", "fp-bad", work) == "failed"
    with session_scope(get_settings().database_url) as session:
        run = session.query(StageRun).filter_by(space_id=space, stage="mix").one()
        assert run.status == "failed" and run.finished_at is not None
        assert run.error == "alice.opus: not an audio file (ffprobe found no audio stream)"
        failed = session.get(Space, space)
        assert failed.status == "failed"
        assert failed.error == f"mix: {run.error}"
