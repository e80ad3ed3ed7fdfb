"""Stage-run bookkeeping: skip work already done for the same inputs, record attempts, progress,
results and errors, and keep every line of work logged with its space, stage and participant.

Each attempt holds a token written when it starts; whatever it records (progress, its outcome,
a publication) is recorded only while the run still holds that token. A worker paused past the
broker's redelivery (``kill -STOP``, a long GC pause, a frozen VM) finds, when it wakes, that a
newer attempt took the stage over: its late result is discarded, never written over the newer
one.

A running attempt renews its hold (the run's ``updated_at``) every ``stage_lease_s``. A message
delivered again while the holder is alive (RabbitMQ closes a channel that held a message past
its consumer timeout and hands the message to another consumer; Redis's maintenance thinks a
busy worker dead) starts nothing: it is sent again for when the lease would have run out, and
finds the run done then, or takes it over if the holder went silent. A stage longer than the
broker's timeout so runs once, instead of being started again and again."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.faults import describe_transient
from infra.logs import stage_logger
from infra.models import Space, StageRun, utcnow
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore
from pipeline.errors import SpacecastError
from services.flow import fail_stage, give_up_dying_stage
from services.runs import attempts_exhausted, output_keys, set_inputs

_PROGRESS_EVERY_S = 2.0


class Superseded(Exception):
    """A newer attempt of the same run started while this one ran: this one records nothing."""


@dataclass
class StageContext:
    """What a stage's work function gets: settings, storage, scratch folder, progress, logging."""

    space_id: str
    stage: str
    subject: str
    settings: Settings
    store: ObjectStore
    scratch: Path
    log: logging.LoggerAdapter
    attempt_token: str = ""
    _last_progress: float = 0.0

    def store_delete(self, keys) -> None:
        for key in keys:
            self.store.delete(key)

    def progress(self, fraction: float) -> None:
        """Record progress (0..1), at most every two seconds."""
        now = time.monotonic()
        if now - self._last_progress < _PROGRESS_EVERY_S:
            return
        self._last_progress = now
        try:
            with session_scope(self.settings.database_url) as session:
                run = _find(session, self.space_id, self.stage, self.subject)
                if run is not None and run.status == "running" and self._holds(run):
                    run.progress = max(0.0, min(1.0, fraction))
        except OperationalError as exc:
            # Progress is for the host's page: a database out of reach (a cut link, a restart)
            # does not end an hour of work. Its outcome is recorded, or fenced, at the end.
            self.log.warning("progress not recorded: %s", str(exc.orig or exc).strip()[:200])

    def _holds(self, run: StageRun) -> bool:
        return run.attempt_token == self.attempt_token

    def hold_attempt(self, session: Session) -> None:
        """Lock the run in ``session``'s transaction and raise :class:`Superseded` unless this
        attempt still owns it: a stage that commits more than its result (publishing) calls
        this in the same transaction first, so a late attempt changes nothing."""
        run = _find(session, self.space_id, self.stage, self.subject, lock=True)
        if run is None or not self._holds(run):
            raise Superseded(f"{self.stage} of space {self.space_id}: a newer attempt owns it")


def _find(
    session: Session, space_id: str, stage: str, subject: str, *, lock: bool = False
) -> StageRun | None:
    query = select(StageRun).where(
        StageRun.space_id == space_id, StageRun.stage == stage, StageRun.subject == subject
    )
    return session.scalar(query.with_for_update() if lock else query)


def upsert_run(session: Session, space_id: str, stage: str, subject: str) -> StageRun:
    """The run's row, locked for this transaction (made when missing)."""
    run = _find(session, space_id, stage, subject, lock=True)
    if run is None:
        run = StageRun(space_id=space_id, stage=stage, subject=subject, fingerprint="")
        session.add(run)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            run = _find(session, space_id, stage, subject, lock=True)
            assert run is not None
    return run


_store: ObjectStore | None = None


def object_store(settings: Settings) -> ObjectStore:
    global _store
    if _store is None:
        _store = ObjectStore(settings)
    return _store


def run_stage(
    space_id: str,
    stage: str,
    subject: str,
    fingerprint: str,
    work: Callable[[StageContext], dict],
) -> str:
    """Run ``work`` unless a result for ``fingerprint`` is already recorded.

    Returns ``"skipped"``, ``"done"``, ``"failed"``, ``"retired"`` (consent changed while it
    ran), ``"superseded"`` (a newer attempt took it over) or ``"held"`` (a live attempt is
    running it: nothing started; the caller sends the message again for later). A
    :class:`SpacecastError` (bad input, a stage time limit) fails the stage for good; any other
    exception is recorded and re-raised so Dramatiq retries the message with backoff. A run
    whose attempts at these inputs died as often as the queue would retry it is given up
    instead of started (``"failed"``, with a dead letter: ``services.flow``).
    """
    settings = get_settings()
    log = stage_logger(space_id, stage, subject)
    with session_scope(settings.database_url) as session:
        run = upsert_run(session, space_id, stage, subject)
        if run.status == "done" and run.fingerprint == fingerprint:
            log.info("already done for these inputs; skipping")
            return "skipped"
        renewed = utcnow() - run.updated_at if run.updated_at else None
        if (
            run.status == "running"
            and renewed is not None
            and (renewed < settings.stage_lease_expiry())
        ):
            log.info(
                "held by a live attempt (renewed %.1f s ago); not started", renewed.total_seconds()
            )
            return "held"
        if attempts_exhausted(run, fingerprint, settings):  # delivered again after each death
            give_up_dying_stage(session, run, session.get(Space, space_id))
            log.error("gave up: died %d times without finishing", run.attempts_at_fingerprint)
            return "failed"
        token = uuid.uuid4().hex
        set_inputs(run, fingerprint)
        run.attempt_token = token
        run.status = "running"
        run.attempts += 1
        run.attempts_at_fingerprint += 1  # bounds resending one that dies (services.flow)
        run.progress = 0.0
        run.error = None
        run.started_at = utcnow()
    log.info("started")
    scratch = Path(tempfile.mkdtemp(prefix=f"spacecast-{stage}-", dir=settings.work_dir))
    context = StageContext(
        space_id, stage, subject, settings, object_store(settings), scratch, log, token
    )
    attempt = (settings, space_id, stage, subject, fingerprint, token)
    cpu_before = _cpu_s()
    lease = _Lease(settings, space_id, stage, subject, token, log)
    try:
        result = work(context)
    except Superseded:
        log.warning("superseded: a newer attempt took this stage over; nothing recorded")
        return "superseded"
    except SpacecastError as exc:
        log.warning("failed: %s", exc)
        if _finish(*attempt, status="failed", error=str(exc)) == "superseded":
            return _superseded(log)
        return "failed"
    except Exception as exc:
        log.exception("error; the message will be retried")
        if _finish(*attempt, status="retrying", error=describe_transient(exc)) == "superseded":
            return _superseded(log)  # the newer attempt owns the run; this message is done
        raise
    finally:
        lease.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    # What the stage cost, for the report and the benchmarks. One stage runs at a time in a
    # worker thread; the CPU is this process's and its finished children's (ffmpeg) meanwhile.
    result = {
        **result,
        "cpu_s": round(_cpu_s() - cpu_before, 3),
        "worker_pid": os.getpid(),
        "worker_peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    recorded = _finish(*attempt, status="done", result=result)
    if recorded == "superseded":
        # Its outputs are named by the inputs' fingerprint: the newer attempt's are the same
        # objects, so nothing is deleted.
        return _superseded(log)
    if recorded == "retired":
        # Consent changed while this ran (the run was retired): what it made may hold a voice
        # that is no longer allowed, so it is deleted rather than recorded.
        context.store_delete(output_keys(StageRun(stage=stage, result=result)))
        log.info("retired while running; its output was deleted")
        return "retired"
    log.info("done")
    return "done"


class _Lease:
    """Renews an attempt's hold on its run every ``stage_lease_s`` in a thread of its own, while
    the attempt still owns the run and runs it."""

    def __init__(self, settings: Settings, space_id, stage, subject, token, log) -> None:
        self._stop = threading.Event()
        query = update(StageRun).where(
            StageRun.space_id == space_id,
            StageRun.stage == stage,
            StageRun.subject == subject,
            StageRun.attempt_token == token,
            StageRun.status == "running",
        )

        def renew() -> None:
            while not self._stop.wait(settings.stage_lease_s):
                try:
                    with session_scope(settings.database_url) as session:
                        session.execute(query.values(updated_at=utcnow()))
                except Exception as exc:  # the next renewal tries again; fencing covers a gap
                    log.warning("lease not renewed (%r)", exc)

        threading.Thread(target=renew, daemon=True, name=f"lease-{stage}").start()

    def stop(self) -> None:
        self._stop.set()


def _superseded(log: logging.LoggerAdapter) -> str:
    log.warning("superseded: a newer attempt owns this stage; this attempt's outcome is discarded")
    return "superseded"


def stage_costs(ffmpeg_cpu_s: float, ffmpeg_max_rss_mb: float) -> dict:
    """What the stage's ffmpeg runs cost, for the report and the benchmarks."""
    return {
        "ffmpeg_cpu_s": round(ffmpeg_cpu_s, 3),
        "ffmpeg_max_rss_mb": round(ffmpeg_max_rss_mb, 1),
    }


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM)."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _finish(
    settings: Settings,
    space_id: str,
    stage: str,
    subject: str,
    fingerprint: str,
    token: str,
    *,
    status: str,
    result: dict | None = None,
    error: str | None = None,
) -> str:
    """Record the run's outcome, if this attempt still owns the run. Returns "recorded",
    "superseded" (a newer attempt owns it: nothing recorded) or "retired" (consent changed
    while it ran: nothing recorded). A database out of reach is tried again, with backoff, for
    ``stage_record_patience_s``: an hour of finished work is not thrown away over a restart or a
    cut link, and once the database answers, the attempt's token says whether it still counts."""

    def record() -> str:
        with session_scope(settings.database_url) as session:
            run = upsert_run(session, space_id, stage, subject)  # locked until the commit
            if run.attempt_token != token or run.fingerprint != fingerprint:
                return "superseded"
            if run.status == "stale" and status == "done":
                return "retired"
            if status == "failed":
                fail_stage(run, session.get(Space, space_id), error or "failed")
                return "recorded"
            run.status = status
            run.error = error
            if status == "done":
                run.result = result
                run.progress = 1.0
                run.finished_at = utcnow()
        return "recorded"

    return _patiently(settings, space_id, stage, subject, record)


def _patiently(
    settings: Settings, space_id: str, stage: str, subject: str, write: Callable[[], str]
) -> str:
    """``write``, tried again with backoff while the database is out of reach, for at most
    ``stage_record_patience_s``."""
    log = stage_logger(space_id, stage, subject)
    deadline = time.monotonic() + settings.stage_record_patience_s
    wait_s = 0.5
    while True:
        try:
            return write()
        except OperationalError as exc:
            if time.monotonic() + wait_s > deadline:
                log.error(
                    "outcome not recorded: the database stayed out of reach for %.0f s",
                    settings.stage_record_patience_s,
                )
                raise
            log.warning(
                "outcome not recorded yet (%s); trying again in %.1f s",
                str(exc.orig or exc).strip()[:200],
                wait_s,
            )
            time.sleep(wait_s)
            wait_s = min(2 * wait_s, 10.0)
