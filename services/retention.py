"""Retention of the moderation vault: when each space's raw recordings expire, which complaints
hold them, and the sweep that deletes them.

Everything retained for moderators lives under ``raw/{space_id}/``: each participant's raw track
(``raw/{space}/{participant}/{track}``) and the review transcripts made when a complaint arrives
(``raw/{space}/review/``). Published media and the consented stage results they are made from
live elsewhere and go with their episode.

A sweep deletes the vault of every space whose retention has run out and that no complaint holds
(keeping only the stems of published voices: the tracks of participants who consent to
publication, for as long as the episode may be published), and the tracks whose owner withdrew
record consent while a hold kept them. Every object is
written down as a ``Deletion`` before it is deleted and marked done only once a listing of the
bucket no longer shows it; anything still pending is tried again by the next sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from infra.db import database_now, session_scope
from infra.models import Appeal, Complaint, Deletion, Participant, Space, Track, utcnow
from infra.storage import ObjectStore, vault_prefix
from pipeline.consent import ConsentState
from pipeline.retention import (
    Hold,
    Retention,
    RetentionPolicy,
    retention_of,
    withdrawn_track_erased_at,
)
from pipeline.states import SpaceStatus
from services.ledger import current_states

log = logging.getLogger("spacecast.vault")


def ended_at(session: Session, space: Space) -> datetime:
    """When the space ended: finished, or for one never finished, its last upload (or creation)."""
    if space.finished_at is not None:
        return space.finished_at
    last_upload = session.scalar(
        select(func.max(Track.uploaded_at))
        .join(Participant, Track.participant_id == Participant.id)
        .where(Participant.space_id == space.id)
    )
    return max(filter(None, (last_upload, space.created_at)))


def holds_of(session: Session, space_id: str) -> list[Hold]:
    """Every complaint about the space, and every appeal (an open appeal holds like an open
    complaint; a decided one for the appeal window after its decision)."""
    rows = session.execute(
        select(Complaint.id, Complaint.status, Complaint.decided_at).where(
            Complaint.space_id == space_id
        )
    )
    appeals = session.execute(
        select(Appeal.id, Appeal.status, Appeal.decided_at).where(Appeal.space_id == space_id)
    )
    return [Hold(complaint_id, status, decided_at) for complaint_id, status, decided_at in rows] + [
        Hold(f"appeal {appeal_id}", status, decided_at) for appeal_id, status, decided_at in appeals
    ]


def retention_for(
    session: Session, space: Space, policy: RetentionPolicy, now: datetime | None = None
) -> Retention:
    return retention_of(
        ended_at(session, space), holds_of(session, space.id), now or utcnow(), policy
    )


def is_held(
    session: Session, space_id: str, policy: RetentionPolicy, now: datetime | None = None
) -> bool:
    now = now or utcnow()
    return any(hold.in_force(now, policy) for hold in holds_of(session, space_id))


@dataclass
class SweepReport:
    spaces_checked: int = 0
    spaces_swept: int = 0
    spaces_held: int = 0
    tracks_erased: int = 0
    objects_deleted: int = 0
    objects_failed: int = 0
    wall_s: float = 0.0

    @property
    def objects_per_s(self) -> float:
        return self.objects_deleted / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"objects_per_s": round(self.objects_per_s, 1)}


def _record(session, space_id: str, keys: Iterable[str], reason: str) -> None:
    """Write down the deletions about to happen (once per object while pending)."""
    pending = set(
        session.scalars(
            select(Deletion.object_key).where(
                Deletion.space_id == space_id, Deletion.deleted_at.is_(None)
            )
        )
    )
    session.add_all(
        Deletion(space_id=space_id, object_key=key, reason=reason, requested_at=utcnow())
        for key in sorted(set(keys) - pending)
    )


def _settle(session, space_id: str, keys: set[str], still_there: set[str], error: str | None):
    """Mark the space's pending deletions among ``keys``: done when gone, else failed once more."""
    rows = session.scalars(
        select(Deletion).where(
            Deletion.space_id == space_id,
            Deletion.deleted_at.is_(None),
            Deletion.object_key.in_(keys),
        )
    )
    done = failed = 0
    now = utcnow()
    for row in rows:
        row.attempts += 1
        if row.object_key in still_there:
            row.last_error = error or "still in the bucket after the delete"
            failed += 1
        else:
            row.deleted_at, row.last_error = now, None
            done += 1
    return done, failed


def _delete_and_verify(
    store: ObjectStore,
    database_url: str,
    space_id: str,
    keys: list[str],
    prefix: str | None,
    keep: set[str] = frozenset(),
) -> tuple[int, int]:
    """Delete ``keys`` (every version and delete marker of them on a versioned bucket) and,
    under ``prefix``, everything but ``keep``: noncurrent versions and delete markers no
    listing of objects shows, and unfinished multipart uploads. Then prove from the bucket that
    nothing of them is left; record the outcome. Returns (deleted, failed)."""
    error: str | None = None
    try:
        errors = store.delete_many(keys)
        if prefix:
            store.abort_uploads(prefix)
            store.delete_versions(prefix, keep)
        left = store.remains(keys, prefix, keep)
        still_there = set(left) & set(keys)
        if set(left) - set(keys):  # an upload under the vault nobody wrote down: sweep again
            still_there = set(keys)
            errors = {**errors, **{k: f"left: {what}" for k, what in left.items()}}
        if errors or left:
            error = "; ".join(sorted({*errors.values(), *(f"left: {w}" for w in left.values())}))
            error = error[:500]
    except Exception as exc:  # the endpoint failed: nothing is known to be gone
        still_there, error = set(keys), f"{type(exc).__name__}: {exc}"[:500]
        log.warning("space %s: deleting %d objects failed: %s", space_id, len(keys), error)
    with session_scope(database_url) as session:
        return _settle(session, space_id, set(keys), still_there, error)


def published_stems(session: Session, space: Space) -> set[str]:
    """The tracks kept past the vault as the stems of published voices: of participants who
    consent to publication, while the space may still be (or is) published; an edit or a
    withdrawal then renders the episode again instead of taking it down."""
    if space.status == SpaceStatus.TAKEN_DOWN:
        return set()
    states = current_states(session, space.id)
    return {
        p.track.object_key
        for p in space.participants
        if p.track is not None and states.get(p.id, ConsentState()).allows("publish")
    }


def sweep_space(
    store: ObjectStore, database_url: str, space_id: str, policy: RetentionPolicy, now: datetime
) -> tuple[str, int, int]:
    """Delete one space's vault if it is due. Returns (outcome, deleted, failed), where outcome
    is "swept", "held", "not due", "failed" or "gone"."""
    prefix = vault_prefix(space_id)
    with session_scope(database_url) as session:
        space = session.get(Space, space_id, with_for_update=True)
        if space is None or space.vault_deleted_at is not None:
            return "gone", 0, 0
        retention = retention_for(session, space, policy, now)
        if not retention.due:
            return ("held" if retention.held else "not due"), 0, 0
        reason = f"retention: {retention.reason}"
        stems = published_stems(session, space)
        known = [
            key
            for key in session.scalars(
                select(Track.object_key)
                .join(Participant, Track.participant_id == Participant.id)
                .where(Participant.space_id == space_id)
            )
            if key not in stems
        ]
        _record(session, space_id, known, reason)  # known from the database: survives S3 faults
    try:
        listed = store.list_keys(prefix)
    except Exception as exc:
        with session_scope(database_url) as session:
            pending = set(
                session.scalars(
                    select(Deletion.object_key).where(
                        Deletion.space_id == space_id, Deletion.deleted_at.is_(None)
                    )
                )
            )
            _, failed = _settle(session, space_id, pending, pending, f"{type(exc).__name__}: {exc}")
        return "failed", 0, failed
    with session_scope(database_url) as session:
        _record(session, space_id, [key for key in listed if key not in stems], reason)
        keys = list(
            session.scalars(
                select(Deletion.object_key).where(
                    Deletion.space_id == space_id, Deletion.deleted_at.is_(None)
                )
            )
        )
    deleted, failed = _delete_and_verify(store, database_url, space_id, keys, prefix, stems)
    if failed:
        return "failed", deleted, failed
    with session_scope(database_url) as session:
        participant_ids = select(Participant.id).where(Participant.space_id == space_id)
        session.execute(
            delete(Track).where(
                Track.participant_id.in_(participant_ids), Track.object_key.not_in(stems)
            )
        )
        space = session.get(Space, space_id)
        assert space is not None
        space.vault_deleted_at = utcnow()
    log.info("space %s: vault deleted (%d objects): %s", space_id, deleted, reason)
    return "swept", deleted, failed


def erase_released_tracks(
    store: ObjectStore, database_url: str, policy: RetentionPolicy, now: datetime
) -> tuple[int, int]:
    """Delete tracks whose owner withdrew record consent while a hold kept them, once no hold
    does. Returns (deleted, failed)."""
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Track.id, Track.object_key, Track.erase_requested_at, Participant.space_id)
            .join(Participant, Track.participant_id == Participant.id)
            .where(Track.erase_requested_at.is_not(None))
        ).all()
        due = []
        for row in rows:
            space = session.get(Space, row.space_id)
            retention = retention_for(session, space, policy, now)
            erased_at = withdrawn_track_erased_at(
                row.erase_requested_at, retention.held_until, retention.held, policy
            )
            if erased_at <= now:
                due.append(row)
        for row in due:
            _record(session, row.space_id, [row.object_key], "record consent withdrawn")
    deleted = failed = 0
    for row in due:
        done, bad = _delete_and_verify(store, database_url, row.space_id, [row.object_key], None)
        deleted, failed = deleted + done, failed + bad
        if not bad:
            with session_scope(database_url) as session:
                session.execute(delete(Track).where(Track.id == row.id))
    return deleted, failed


def sweep(
    store: ObjectStore, database_url: str, policy: RetentionPolicy, now: datetime | None = None
) -> SweepReport:
    """One sweep over every space whose retention may have run out at ``now`` (by default the
    database's clock, not this host's: a worker whose clock jumped a month ahead must not
    delete early, nor one a month behind miss what is due)."""
    started = time.perf_counter()
    if now is None:
        with session_scope(database_url) as session:
            now = database_now(session)
    report = SweepReport()
    cutoff = now - policy.retention
    with session_scope(database_url) as session:
        candidates = list(
            session.scalars(
                select(Space.id)
                .where(
                    Space.vault_deleted_at.is_(None),
                    func.coalesce(Space.finished_at, Space.created_at) <= cutoff,
                )
                .order_by(Space.created_at)
            )
        )
    for space_id in candidates:
        report.spaces_checked += 1
        outcome, deleted, failed = sweep_space(store, database_url, space_id, policy, now)
        report.objects_deleted += deleted
        report.objects_failed += failed
        report.spaces_swept += outcome == "swept"
        report.spaces_held += outcome == "held"
    deleted, failed = erase_released_tracks(store, database_url, policy, now)
    report.tracks_erased += deleted
    report.objects_deleted += deleted
    report.objects_failed += failed
    report.wall_s = time.perf_counter() - started
    log.info("sweep at %s: %s", now.isoformat(), report.as_dict())
    return report


def deletions(
    session: Session, *, space_id: str | None, pending: bool, limit: int
) -> list[Deletion]:
    """What the sweeper deleted (or still has to), newest first."""
    query = select(Deletion).order_by(Deletion.id.desc()).limit(limit)
    if space_id:
        query = query.where(Deletion.space_id == space_id)
    if pending:
        query = query.where(Deletion.deleted_at.is_(None))
    return list(session.scalars(query))
