"""The consent ledger in the database: appending answers, and reading each participant's current
state with moderators' removals applied (``pipeline.consent`` decides what the entries mean)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import ConsentEntry, Participant, utcnow
from pipeline import consent as policy


def ledger(
    session: Session, space_id: str, participant_id: str | None = None
) -> list[policy.ConsentEntry]:
    """Every entry of the space (or of one participant of it), in the order it was recorded."""
    query = select(ConsentEntry).where(ConsentEntry.space_id == space_id)
    if participant_id is not None:
        query = query.where(ConsentEntry.participant_id == participant_id)
    rows = session.scalars(query.order_by(ConsentEntry.seq))
    return [
        policy.ConsentEntry(
            row.participant_id, row.purpose, row.granted, row.recorded_at, row.source, row.actor
        )
        for row in rows
    ]


def current_states(
    session: Session, space_id: str, participant: Participant | None = None
) -> dict[str, policy.ConsentState]:
    """Each participant's consent from the ledger, with moderators' removals applied; with
    ``participant`` (read in this transaction), that participant's alone: a state depends on
    their own entries only, so a live chunk reads a handful of rows, not the whole room's
    ledger, and their removal is the row already read."""
    if participant is not None:
        states = policy.derive_states(ledger(session, space_id, participant.id))
        removed = [participant.id] if participant.removed_at is not None else []
    else:
        states = policy.derive_states(ledger(session, space_id))
        removed = session.scalars(
            select(Participant.id).where(
                Participant.space_id == space_id, Participant.removed_at.is_not(None)
            )
        )
    for participant_id in removed:
        states[participant_id] = replace(
            states.get(participant_id, policy.ConsentState()), removed=True
        )
    return states


def record_answers(
    session: Session,
    participant: Participant,
    answers: Mapping[str, bool | None],
    *,
    source: str,
    actor: str,
    key_id: str | None = None,
    note: str | None = None,
    shorthand: bool = False,
) -> list[ConsentEntry]:
    """Append the participant's answers to the ledger (only purposes given; ``shorthand`` fills
    transcribe and clip from publish, as registration and manifests do)."""
    now = utcnow()
    if shorthand:
        entries = policy.entries_from_shorthand(
            participant.id, answers, at=now, source=source, actor=actor
        )
        pairs = [(e.purpose, e.granted) for e in entries]
    else:
        pairs = [(purpose, bool(value)) for purpose, value in answers.items() if value is not None]
    rows = [
        ConsentEntry(
            space_id=participant.space_id,
            participant_id=participant.id,
            purpose=purpose,
            granted=granted,
            source=source,
            actor=actor,
            recorded_at=now,
            note=note,
            key_id=key_id,
        )
        for purpose, granted in pairs
    ]
    session.add_all(rows)
    session.flush()
    return rows
