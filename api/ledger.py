"""Consent answers arriving through the API, and what follows from them: a withdrawn recording's
raw track is erased at once (or, while a complaint holds the space, when the hold ends), and a
space already being processed or published is rendered again from the new answers (artifacts
made from the old ones stop being served immediately)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, Role
from infra.consent import current_states, record_answers
from infra.models import Participant, Space, Track, TrackChunk, utcnow
from infra.moderation import is_held
from infra.settings import get_settings
from infra.storage import ObjectStore
from pipeline.consent import PURPOSES, ConsentState

RENDERED = ("processing", "held", "published", "unpublished", "failed")

QUESTIONS = {
    "record": "May we keep a recording of your voice for 30 days, for moderators reviewing "
    "complaints?",
    "publish": "May your voice be published in the podcast episode and your name in its feed?",
    "transcribe": "May your words appear in the episode's published transcript?",
    "clip": "May you be heard in short clips of the episode that hosts and listeners share?",
}


def actor_of(principal: Principal, participant: Participant) -> tuple[str, str]:
    """(source, actor) for a ledger entry made by ``principal``."""
    if principal.has(Role.PARTICIPANT):
        return "in_room_prompt", f"participant:{participant.handle}"
    if principal.has(Role.RECORDER):
        return "in_room_prompt", f"recorder:{principal.key_id}"
    return "api", f"user:{principal.user_id}"


def prompt(state: ConsentState) -> list[dict]:
    return [{"purpose": p, "question": QUESTIONS[p], "answer": getattr(state, p)} for p in PURPOSES]


def answer(
    session: Session,
    store: ObjectStore,
    space: Space,
    participant: Participant,
    answers: Mapping[str, bool | None],
    *,
    source: str,
    actor: str,
    note: str | None = None,
    shorthand: bool = False,
) -> list[str]:
    """Record answers; return object keys to delete once the transaction commits."""
    record_answers(
        session, participant, answers, source=source, actor=actor, note=note, shorthand=shorthand
    )
    to_delete: list[str] = []
    state = current_states(session, space.id).get(participant.id, ConsentState())
    track = participant.track
    if not state.allows("record") and track is not None:
        if is_held(session, space.id, get_settings().retention_policy()):
            # A complaint holds the space's recordings: the track goes when the hold ends.
            track.erase_requested_at = track.erase_requested_at or utcnow()
        else:
            to_delete.append(erase_track(session, track))
    if not state.allows("record") and not is_held(
        session, space.id, get_settings().retention_policy()
    ):
        to_delete += erase_chunks(session, participant)  # live chunks not assembled yet
    if space.status in RENDERED:
        space.status, space.error = "processing", None
    return to_delete


def erase_chunks(session: Session, participant: Participant) -> list[str]:
    """Forget a participant's live chunks; return their object keys for deletion after commit."""
    rows = list(
        session.scalars(select(TrackChunk).where(TrackChunk.participant_id == participant.id))
    )
    keys = [row.object_key for row in rows]
    for row in rows:
        session.delete(row)
    session.flush()
    return keys


def erase_track(session: Session, track: Track) -> str:
    """Forget a raw track; return its object key for deletion after commit."""
    key = track.object_key
    participant = track.participant
    session.delete(track)
    session.flush()
    session.expire(participant, ["track"])
    return key
