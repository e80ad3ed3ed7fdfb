"""Fan-out and fan-in of a space's stages, driven by the state in the database.

``advance`` looks at what is done for the space's current inputs and enqueues every stage
whose inputs are ready: speech activity of every recorded track, the transcription of every part
of each published participant's track once their activity is known, the bleed check once the
excluded speakers' activity is known, the mix (after the published speakers' activity, and after
the bleed check when the host asked to duck), the master after the mix, and publish after all of
them, unless the host chose to hold publication until everyone has answered.
Every stage calls it when it finishes, so the last one to finish starts the next step. Running it
twice only enqueues duplicates, which the stages skip. A consent change calls it too: the
fingerprints change, and everything that depended on the old answers is made again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.logs import stage_logger
from infra.models import Episode, Space, StageRun, utcnow
from infra.queue import STAGE_ACTORS, broker_lost_messages, enqueue, message_record
from infra.settings import get_settings
from infra.storage import ObjectStore
from pipeline.states import ACTIVE, IN_FLIGHT, PER_PARTICIPANT, RunStatus, SpaceStatus, Stage
from services.operations import RESEND_QUEUED_AFTER, write_dead_letter
from services.plan import plan_space
from services.publishing import episode_servable, take_down_episode
from services.runs import attempts_exhausted, set_inputs, subject_participant

# A run that has said nothing for the retry backoff plus this long lost its message.
STUCK_MARGIN = timedelta(minutes=10)


def advance(space_id: str) -> list[tuple[str, str]]:
    """Enqueue the stages that are ready; return what was sent as (stage, subject) pairs."""
    settings = get_settings()
    log = stage_logger(space_id, "advance")
    to_send: list[tuple[str, str]] = []
    with session_scope(settings.database_url) as session:
        space = session.get(Space, space_id, with_for_update=True)
        if space is None or space.status not in ACTIVE:
            return []
        if space.vault_deleted_at is not None and _stems_lost(session, space):
            store = ObjectStore(settings)
            media_to_delete = _settle_without_recordings(session, store, space)
            session.commit()
            for key in media_to_delete:
                store.delete(key)
            return []
        plan = plan_space(session, space, settings)
        runs = {
            (run.stage, run.subject): run
            for run in session.scalars(select(StageRun).where(StageRun.space_id == space_id))
        }
        now = utcnow()
        failed: list[str] = []
        gave_up: list[tuple[str, str, int]] = []
        # A run that has said nothing for this long lost its message (a retry the broker
        # dropped, a worker gone without a trace): it is sent again, and the stage's fingerprint
        # makes a duplicate harmless.
        stuck_after = timedelta(milliseconds=settings.retry_max_backoff_ms) + STUCK_MARGIN
        # A running attempt renews its lease (workers.runs): one that stopped lost its worker.
        lease_expiry = settings.stage_lease_expiry()

        def settle(stage: str, subject: str, fp: str, ready: bool) -> bool:
            """True when done for ``fp``; otherwise enqueue it if ready and not already going."""
            run = runs.get((stage, subject))
            if run is not None and run.fingerprint == fp:
                if run.status == RunStatus.DONE:
                    return True
                if run.status == RunStatus.FAILED:
                    failed.append(f"{stage}: {run.error}")
                    return False
                silent = now - run.updated_at
                if run.status == RunStatus.RUNNING and silent < lease_expiry:
                    return False  # its attempt renews its lease: alive
                if run.status == RunStatus.RETRYING and silent < stuck_after:
                    return False
                if run.status == RunStatus.QUEUED and now - run.queued_at < RESEND_QUEUED_AFTER:
                    return False
            if not ready:
                return False
            if run is None:
                run = StageRun(space_id=space_id, stage=stage, subject=subject, fingerprint=fp)
                session.add(run)
                runs[(stage, subject)] = run
            elif attempts_exhausted(run, fp, settings):  # sent again, it would die again
                gave_up.append((stage, subject, run.attempts_at_fingerprint))
                give_up_dying_stage(session, run, space)
                failed.append(f"{stage}: {run.error}")
                return False
            set_inputs(run, fp)
            run.status, run.error, run.progress = RunStatus.QUEUED, None, 0.0
            run.queued_at = now
            to_send.append((stage, subject))
            return False

        activity = {
            pid: settle(Stage.ACTIVITY, pid, fp, True) for pid, fp in plan.activity_fps.items()
        }
        if plan.audible:
            # Crosstalk reads everyone's speech activity; the bleed check the excluded's.
            checked = settle(Stage.BLEED, "", plan.bleed_fp, all(activity.values()))
            # Track health and leveling read when each published speaker speaks.
            heard = all(activity.get(p.id, False) for p in plan.audible)
            mix_ready = (checked or not space.duck_excluded) and heard
            mixed = settle(Stage.MIX, "", plan.mix_fp, mix_ready)
            mastered = settle(Stage.MASTER, "", plan.master_fp, mixed)
            # Transcription reads when the speaker speaks from their activity, not a second VAD.
            transcribed = [  # every part of every track
                settle(Stage.TRANSCRIBE, s, fp, activity.get(subject_participant(s), False))
                for s, fp in plan.transcribe_fps.items()
            ]
            ready = mastered and checked and all(transcribed) and all(activity.values())
        else:
            ready = True  # nobody may be heard: publishing withdraws any earlier episode
        published = False if plan.held else settle(Stage.PUBLISH, "", plan.publish_fp, ready)
        # Runs the plan no longer has (their participant's answers changed): nothing will run
        # them, so they must not look as if something would.
        transcribed_ids = {p.id for p in plan.transcribed}
        for (stage, subject), run in runs.items():
            if run.status in IN_FLIGHT and plan.fingerprint(Stage(stage), subject) is None:
                run.status, run.error = RunStatus.STALE, "not needed any more: the answers changed"
            elif (
                stage == Stage.TRANSCRIBE
                and run.status == RunStatus.DONE
                and subject not in plan.transcribe_fps
                and subject_participant(subject) in transcribed_ids
            ):  # a part of an earlier cut of the track (another part length, a new track)
                run.status, run.error = RunStatus.STALE, "not needed any more: parts changed"
        if failed:
            space.status, space.error = SpaceStatus.FAILED, failed[0]
        elif published:
            space.status = SpaceStatus.PUBLISHED if plan.audible else SpaceStatus.UNPUBLISHED
            space.error = None if plan.audible else "nobody consents to publication"
        elif plan.held and ready:
            space.status, space.error = SpaceStatus.HELD, None
        else:
            space.status, space.error = SpaceStatus.PROCESSING, None
    for stage, subject, attempts in gave_up:
        stage_logger(space_id, stage, subject).error(
            "gave up: died %d times without finishing; a dead letter was recorded", attempts
        )
    for n, (stage, subject) in enumerate(to_send):
        try:
            enqueue(STAGE_ACTORS[stage], *_stage_args(space_id, stage, subject))
        except Exception:
            _mark_unsent(space_id, to_send[n:])
            raise  # this advance is retried, and sends them then
        log.info("enqueued %s%s", stage, f" for {subject}" if subject else "")
    return to_send


def _stage_args(space_id: str, stage: str, subject: str) -> tuple[str, ...]:
    return (space_id, subject) if stage in PER_PARTICIPANT else (space_id,)


def _stage_message(space_id: str, stage: str, subject: str) -> dict:
    """The message that would have sent the stage again, for its dead letter: retrying the
    letter sends it."""
    return message_record(STAGE_ACTORS[stage], *_stage_args(space_id, stage, subject))


def _died_reason(attempts: int, last_error: str | None) -> str:
    return (
        f"gave up after {attempts} attempts: the stage died {attempts} times without finishing "
        "(its worker was killed or lost, or it could not record its result, each time before "
        f"the queue counted a retry); last error: {last_error or 'none recorded'}"
    )


def _mark_unsent(space_id: str, unsent: list[tuple[str, str]]) -> None:
    """Runs recorded as queued whose message never reached the broker: the next advance sends
    them instead of waiting for them."""
    with session_scope(get_settings().database_url) as session:
        for stage, subject in unsent:
            run = session.scalar(
                select(StageRun).where(
                    StageRun.space_id == space_id,
                    StageRun.stage == stage,
                    StageRun.subject == subject,
                )
            )
            if run is not None and run.status == RunStatus.QUEUED:
                run.queued_at = utcnow() - RESEND_QUEUED_AFTER


def _stems_lost(session, space: Space) -> bool:
    """After the vault sweep, the episode renders again from the stems kept of its published
    voices; spaces swept before stems were kept have none, and cannot be made again faithfully."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    voices = set((episode.consent_snapshot if episode else {}).get("audible", []))
    kept = {p.id for p in space.participants if p.track is not None}
    return bool(voices - kept)


def _settle_without_recordings(session, store: ObjectStore, space: Space) -> list[str]:
    """The raw tracks are gone (a sweep from before stems were kept): nothing can be rendered
    again. An episode that holds someone who no longer consents (or whom a moderator removed) is
    taken down; its media keys are returned for deletion once the transaction commits."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    if episode is None or episode.removed_at is not None:
        return []
    if episode_servable(session, episode):
        space.status = SpaceStatus.PUBLISHED
        return []
    return take_down_episode(
        session,
        store,
        episode,
        by="host",
        reason="a speaker in the episode no longer consents, and the raw recordings were deleted "
        "after the retention period, so it cannot be made again without them: it was taken down",
    )


def resume_stalled() -> None:
    """Advance every space still processing. A message the broker lost (Redis restarted without
    its append-only file, or the broker went away after the API committed a finish) leaves a
    space waiting for a stage nobody will run; advancing sends what is missing, and stages
    queued for longer than ``RESEND_QUEUED_AFTER`` again. When the broker says it lost
    everything it held (:func:`infra.queue.broker_lost_messages`), the stages queued or waiting
    out a retry are sent again at once; a running stage's worker still holds its message.
    Sent by ``spacecast scheduler``."""
    settings = get_settings()
    lost = broker_lost_messages(settings.broker_url)
    with session_scope(settings.database_url) as session:
        processing = session.scalars(
            select(Space.id).where(Space.status == SpaceStatus.PROCESSING)
        ).all()
        resent = 0
        if lost and processing:
            runs = session.scalars(
                select(StageRun).where(
                    StageRun.space_id.in_(processing),
                    StageRun.status.in_((RunStatus.QUEUED, RunStatus.RETRYING)),
                )
            ).all()
            for run in runs:
                run.status, run.queued_at = RunStatus.QUEUED, utcnow() - RESEND_QUEUED_AFTER
            resent = len(runs)
    if lost:
        logging.getLogger("spacecast.flow").warning(
            "the broker lost the messages it held: %d queued or retrying stages of %d "
            "processing spaces sent again",
            resent,
            len(processing),
        )
    for space_id in processing:
        enqueue("advance_space", space_id)
        stage_logger(space_id, "resume").info("advance sent by the scheduler")


def stage_gave_up(message: dict, retry_info: dict) -> None:
    """Retries of a stage ran out: record the stage (and so the space) as failed. The one owner
    of exhausted retries (the dead-letter middleware records the message itself)."""
    stage = {name: stage for stage, name in STAGE_ACTORS.items()}.get(message.get("actor_name", ""))
    args = message.get("args", [])
    if stage is None or not args:
        return
    space_id = args[0]
    subject = args[1] if stage in PER_PARTICIPANT and len(args) > 1 else ""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        run = session.scalar(
            select(StageRun).where(
                StageRun.space_id == space_id, StageRun.stage == stage, StageRun.subject == subject
            )
        )
        if run is None or run.status == RunStatus.DONE:
            return
        retries = retry_info.get("retries")
        error = f"gave up after {retries} retries: {run.error or 'unknown error'}"
        fail_stage(run, session.get(Space, space_id), error)
    stage_logger(space_id, stage, subject).error("gave up after %s retries", retries)


def give_up_dying_stage(session: Session, run: StageRun, space: Space | None) -> None:
    """A stage that died as often as the queue would retry it without recording an outcome
    (:func:`services.runs.attempts_exhausted`) is given up, in ``session``'s transaction: its
    run and space failed, and a dead letter of the message that would have sent it again, so
    an operator can retry it (reopening the space counts its attempts from 0). Called by
    :func:`advance` instead of sending it, and by a delivered attempt instead of starting."""
    attempts = run.attempts_at_fingerprint
    fail_stage(run, space, _died_reason(attempts, run.error))
    run.attempt_token = None  # an attempt that was only paused, not dead, records nothing
    write_dead_letter(session, _stage_message(run.space_id, run.stage, run.subject), run.error)


def fail_stage(run: StageRun, space: Space | None, error: str) -> None:
    """Record a stage given up on: its run failed for good with ``error``, and so its space.
    The one home of giving up, whether the stage's input is bad (``workers.runs``), the queue's
    retries ran out (:func:`stage_gave_up`) or the flow stops sending again a stage that keeps
    dying (:func:`advance`); an operator's retry reopens the space (``services.operations``)."""
    run.status, run.error, run.finished_at = RunStatus.FAILED, error, utcnow()
    if space is not None:
        space.status, space.error = SpaceStatus.FAILED, f"{run.stage}: {error}"
