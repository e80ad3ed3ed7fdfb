"""Stage-run bookkeeping: skip work already done for the same inputs, record attempts, progress,
results and errors, and keep every line of work logged with its space, stage and participant."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.faults import describe_transient
from infra.logs import stage_logger
from infra.models import Space, StageRun, utcnow
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore
from pipeline.errors import SpacecastError
from services.runs import output_keys

_PROGRESS_EVERY_S = 2.0


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
        with session_scope(self.settings.database_url) as session:
            run = _find(session, self.space_id, self.stage, self.subject)
            if run is not None and run.status == "running":
                run.progress = max(0.0, min(1.0, fraction))


def _find(session: Session, space_id: str, stage: str, subject: str) -> StageRun | None:
    return session.scalar(
        select(StageRun).where(
            StageRun.space_id == space_id, StageRun.stage == stage, StageRun.subject == subject
        )
    )


def upsert_run(session: Session, space_id: str, stage: str, subject: str) -> StageRun:
    run = _find(session, space_id, stage, subject)
    if run is None:
        run = StageRun(space_id=space_id, stage=stage, subject=subject, fingerprint="")
        session.add(run)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            run = _find(session, space_id, stage, subject)
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

    Returns ``"skipped"``, ``"done"`` or ``"failed"``. A :class:`SpacecastError` (bad input, a
    stage time limit) fails the stage for good; any other exception is recorded and re-raised so
    Dramatiq retries the message with backoff.
    """
    settings = get_settings()
    log = stage_logger(space_id, stage, subject)
    with session_scope(settings.database_url) as session:
        run = upsert_run(session, space_id, stage, subject)
        if run.status == "done" and run.fingerprint == fingerprint:
            log.info("already done for these inputs; skipping")
            return "skipped"
        run.fingerprint = fingerprint
        run.status = "running"
        run.attempts += 1
        run.progress = 0.0
        run.error = None
        run.started_at = utcnow()
    log.info("started")
    scratch = Path(tempfile.mkdtemp(prefix=f"spacecast-{stage}-", dir=settings.work_dir))
    context = StageContext(space_id, stage, subject, settings, object_store(settings), scratch, log)
    cpu_before = _cpu_s()
    try:
        result = work(context)
    except SpacecastError as exc:
        log.warning("failed: %s", exc)
        _finish(settings, space_id, stage, subject, fingerprint, status="failed", error=str(exc))
        return "failed"
    except Exception as exc:
        log.exception("error; the message will be retried")
        _finish(
            settings,
            space_id,
            stage,
            subject,
            fingerprint,
            status="retrying",
            error=describe_transient(exc),
        )
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    # What the stage cost, for the report and the benchmarks. One stage runs at a time in a
    # worker thread; the CPU is this process's and its finished children's (ffmpeg) meanwhile.
    result = {
        **result,
        "cpu_s": round(_cpu_s() - cpu_before, 3),
        "worker_pid": os.getpid(),
        "worker_peak_rss_mb": round(_peak_rss_mb(), 1),
    }
    if not _finish(settings, space_id, stage, subject, fingerprint, status="done", result=result):
        # Consent changed while this ran (the run was retired): what it made may hold a voice
        # that is no longer allowed, so it is deleted rather than recorded.
        context.store_delete(output_keys(StageRun(stage=stage, result=result)))
        log.info("retired while running; its output was deleted")
        return "retired"
    log.info("done")
    return "done"


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
    *,
    status: str,
    result: dict | None = None,
    error: str | None = None,
) -> bool:
    """Record the run's outcome; False when the run was retired meanwhile (nothing recorded)."""
    with session_scope(settings.database_url) as session:
        run = upsert_run(session, space_id, stage, subject)
        if run.fingerprint != fingerprint:
            return True  # a newer version of this stage has started since; it owns the row
        if run.status == "stale" and status == "done":
            return False
        run.status = status
        run.error = error
        if status == "done":
            run.result = result
            run.progress = 1.0
            run.finished_at = utcnow()
        if status == "failed":
            run.finished_at = utcnow()
            space = session.get(Space, space_id)
            if space is not None:
                space.status = "failed"
                space.error = f"{stage}: {error}"
    return True
