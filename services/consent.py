"""Consent answers and what follows from them at once.

An answer is the participant's own (made with their own key, see ``services.participants``) or a
report of what they said made by someone else: the show's host or an operator
(``reported_by_host``), or the room service relaying its own prompt (``reported_by_room``). Who
answered is decided by the server from the caller's key, never taken from the request. A report
can never change a purpose the participant answered themselves (refused, naming the answer),
and the ledger's reading gives the participant's own answer precedence whatever the order
(``pipeline.consent.derive_states``).

After every answer, in the same transaction: a refused recording is erased (or, while a
complaint holds the space, kept for moderators at most ``withdrawn_hold_days``), everything the
new answers no longer allow is taken out of the bucket (``services.publishing``), and a space
already rendered is rendered again from the new answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import Participant, Space, Track, TrackChunk, utcnow
from infra.settings import get_settings
from infra.storage import ObjectStore
from pipeline.consent import (
    PARTICIPANT_ACTOR,
    PURPOSES,
    ConsentState,
    answered_by_participant,
    entries_from_shorthand,
)
from pipeline.retention import withdrawn_track_erased_at
from services.errors import Conflict
from services.ledger import current_states, ledger, record_answers
from services.publishing import render_again, withdraw_unconsented
from services.retention import is_held, retention_for

QUESTIONS = {
    "record": "May we keep a recording of your voice for 30 days, for moderators reviewing "
    "complaints?",
    "publish": "May your voice be published in the podcast episode and your name in its feed? "
    "(Your track is then kept for as long as the episode is published, so it can be edited and "
    "made again.)",
    "transcribe": "May your words appear in the episode's published transcript?",
    "clip": "May you be heard in short clips of the episode that hosts and listeners share?",
}


@dataclass(frozen=True)
class Answerer:
    """Who records an answer, as the server established it."""

    actor: str  # the ledger's actor: participant:HANDLE, user:ID, room:ID, recorder:KEY
    source: str
    key_id: str | None = None

    @property
    def own(self) -> bool:
        return self.actor.startswith(PARTICIPANT_ACTOR)

    @classmethod
    def participant(cls, participant: Participant, key_id: str, via: str) -> Answerer:
        """The participant, with their own key claimed from ``via`` ("join" or "invite")."""
        source = "invite_link" if via == "invite" else "in_room_prompt"
        return cls(f"{PARTICIPANT_ACTOR}{participant.handle}", source, key_id)

    @classmethod
    def host(cls, subject: str) -> Answerer:
        """The show's host or an operator, writing down what the participant said."""
        return cls(subject, "reported_by_host")

    @classmethod
    def room(cls, subject: str) -> Answerer:
        """The room service (or the show's recorder), relaying an answer given in its prompt."""
        return cls(subject, "reported_by_room")


def may_keep_track(states: Mapping[str, ConsentState], participant: Participant) -> bool:
    """Whether the participant's answers let Spacecast keep their track: as the moderators'
    copy while the space's vault is open, or as the stem of their published voice."""
    state = states.get(participant.id, ConsentState())
    return state.keeps_track(vault_open=participant.space.vault_deleted_at is None)


def prompt(state: ConsentState) -> list[dict]:
    return [{"purpose": p, "question": QUESTIONS[p], "answer": getattr(state, p)} for p in PURPOSES]


def _refuse_overriding(
    session: Session, participant: Participant, purposes: set[str], by: Answerer
) -> None:
    if by.own:
        return
    entries = ledger(session, participant.space_id)
    theirs = answered_by_participant(entries, participant.id) & purposes
    if theirs:
        when = max(
            e.recorded_at for e in entries if e.participant_id == participant.id and e.own
        ).strftime("%Y-%m-%d %H:%M UTC")
        raise Conflict(
            f"{participant.name} answered {', '.join(sorted(theirs))} themselves (last on "
            f"{when}); only they can change that answer, with their own key"
        )


def _given(answers: Mapping[str, bool | None], *, shorthand: bool) -> set[str]:
    if shorthand:
        return {
            e.purpose for e in entries_from_shorthand("", answers, at=utcnow(), source="", actor="")
        }
    return {purpose for purpose, value in answers.items() if value is not None}


def answer(
    session: Session,
    store: ObjectStore,
    participant: Participant,
    answers: Mapping[str, bool | None],
    *,
    by: Answerer,
    note: str | None = None,
    shorthand: bool = False,
) -> None:
    """Append the answers to the ledger and apply them: commits, deletes what they no longer
    allow from the bucket, and asks for the space to be rendered again."""
    _refuse_overriding(session, participant, _given(answers, shorthand=shorthand), by)
    record_answers(
        session,
        participant,
        answers,
        source=by.source,
        actor=by.actor,
        key_id=by.key_id,
        note=note,
        shorthand=shorthand,
    )
    space = participant.space
    render_again(session, space, store=store, delete_keys=_apply(session, space, participant))


def record_reported(
    session: Session,
    participant: Participant,
    answers: Mapping[str, bool | None],
    *,
    by: Answerer,
    shorthand: bool = False,
) -> None:
    """Answers reported when a participant is registered (nothing is rendered yet, nothing to
    withdraw); the caller's transaction commits them."""
    _refuse_overriding(session, participant, _given(answers, shorthand=shorthand), by)
    record_answers(
        session, participant, answers, source=by.source, actor=by.actor, shorthand=shorthand
    )


def _apply(session: Session, space: Space, participant: Participant) -> list[str]:
    """What the space's new consent state means now: the object keys to delete once the answer
    commits (a refused recording, and whatever no longer allowed voices or words are in)."""
    keys: list[str] = []
    if not may_keep_track(current_states(session, space.id), participant):
        keys += erase_recording(session, participant)
    return keys + withdraw_unconsented(session, space)


def withdrawn_hold_ends(session: Session, track: Track) -> datetime | None:
    """When a track whose owner withdrew record consent while a complaint held the space is
    erased (``pipeline.retention.withdrawn_track_erased_at``); None for any other track."""
    if track.erase_requested_at is None:
        return None
    policy = get_settings().retention_policy()
    space = track.participant.space
    retention = retention_for(session, space, policy)
    return withdrawn_track_erased_at(
        track.erase_requested_at, retention.held_until, retention.held, policy
    )


def erase_recording(session: Session, participant: Participant) -> list[str]:
    """Nothing lets Spacecast keep the participant's track any more (no record consent while
    the vault is open, no publish consent): forget their raw track and live chunks, returning
    the object keys to delete after commit. While a complaint holds the space's open vault the
    track is kept for its moderators only, at most ``withdrawn_hold_days``; the vault sweep
    erases it then."""
    keys: list[str] = []
    track = participant.track
    vault_open = participant.space.vault_deleted_at is None
    held = vault_open and is_held(session, participant.space_id, get_settings().retention_policy())
    if track is not None:
        if held:
            track.erase_requested_at = track.erase_requested_at or utcnow()
        else:
            keys.append(track.object_key)
            session.delete(track)
            session.flush()
            session.expire(participant, ["track"])
    if not held:
        rows = list(
            session.scalars(select(TrackChunk).where(TrackChunk.participant_id == participant.id))
        )
        keys += [row.object_key for row in rows]
        for row in rows:
            session.delete(row)
        session.flush()
    return keys
