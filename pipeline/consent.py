"""Consent: the ledger's entries, the state derived from them, and what that state allows.

Four purposes, each granted or refused on its own: ``record`` (the raw track is kept 30 days in
the moderation vault), ``publish`` (audible in the episode and named in the feed; the track is
then kept as the voice's stem for as long as the episode is published), ``transcribe`` (words in
published transcripts) and ``clip`` (audible in clips). The ledger is append-only. An entry is
either the participant's own answer (made with their own key) or an answer someone reported for
them (a host, the room service, a manifest). A participant's state for a purpose is their latest
own answer for it; only while they have given none does the latest reported answer stand, so a
report can never override what the participant said. A purpose nobody answered is refused.
Every rendered artifact keeps the snapshot it was made from, and stops being served as soon as
the current state no longer allows it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Literal

PURPOSES = ("record", "publish", "transcribe", "clip")
Purpose = Literal["record", "publish", "transcribe", "clip"]
# The participant answered with their own key, claimed on their own device from the room's join
# (in_room_prompt) or from an invite link the room service delivered (invite_link).
OWN_SOURCES = ("in_room_prompt", "invite_link")
# Someone else recorded what the participant said: the show's host or an operator
# (reported_by_host), the room service relaying its own prompt (reported_by_room), or the
# offline manifest. "api" and "host_invite_link" are the names earlier versions wrote.
REPORTED_SOURCES = ("reported_by_host", "reported_by_room", "manifest", "api")
SOURCES = OWN_SOURCES + REPORTED_SOURCES + ("host_invite_link",)
# Ledger actors of entries made with a participant's own key start with this.
PARTICIPANT_ACTOR = "participant:"


@dataclass(frozen=True)
class ConsentEntry:
    """One line of the ledger: a grant or a withdrawal of one purpose."""

    participant_id: str
    purpose: Purpose
    granted: bool
    recorded_at: datetime
    source: str
    actor: str

    @property
    def own(self) -> bool:
        """Made by the participant with their own key, not reported by someone else."""
        return self.actor.startswith(PARTICIPANT_ACTOR)


@dataclass(frozen=True)
class ConsentState:
    """A participant's current answers; ``None`` for a purpose never answered (a refusal)."""

    record: bool | None = None
    publish: bool | None = None
    transcribe: bool | None = None
    clip: bool | None = None
    withdrawn: frozenset[str] = field(
        default_factory=frozenset
    )  # purposes granted, then taken back
    # A moderator removed their part: nothing of them is published, whatever they answer.
    removed: bool = False

    def allows(self, purpose: Purpose) -> bool:
        """``record`` is the 30-day copy for moderators, on its own; ``publish`` is the voice in
        the episode (a moderator's removal overrides it); words and clips are publications too,
        so they need ``publish`` as well as their own answer."""
        if purpose != "record" and self.removed:
            return False
        if purpose in ("transcribe", "clip") and self.publish is not True:
            return False
        return getattr(self, purpose) is True

    def keeps_track(self, *, vault_open: bool) -> bool:
        """Whether Spacecast may keep the participant's track: as the moderators' copy while the
        space's vault is open (``record``), or as the stem of a published voice (``publish``)."""
        return self.allows("publish") or (vault_open and self.allows("record"))

    @property
    def answered(self) -> bool:
        return self.publish is not None

    def as_dict(self) -> dict:
        return {p: getattr(self, p) for p in PURPOSES} | {
            "withdrawn": sorted(self.withdrawn),
            "removed_by_moderation": self.removed,
        }


def derive_states(entries: Iterable[ConsentEntry]) -> dict[str, ConsentState]:
    """Current state per participant from ledger entries given in the order they were recorded.

    Per purpose, the latest own answer wins; the latest reported answer counts only while the
    participant has given none. A purpose whose effective answer went from granted to refused
    is remembered as withdrawn.
    """
    own: dict[str, dict[str, bool]] = {}
    reported: dict[str, dict[str, bool]] = {}
    effective: dict[str, dict[str, bool]] = {}
    withdrawn: dict[str, set[str]] = {}
    for entry in entries:
        pid, purpose = entry.participant_id, entry.purpose
        (own if entry.own else reported).setdefault(pid, {})[purpose] = entry.granted
        before = effective.setdefault(pid, {}).get(purpose)
        now = own.get(pid, {}).get(purpose, reported.get(pid, {}).get(purpose))
        if before is True and now is False:
            withdrawn.setdefault(pid, set()).add(purpose)
        effective[pid][purpose] = now
    return {
        pid: ConsentState(**answers, withdrawn=frozenset(withdrawn.get(pid, ())))
        for pid, answers in effective.items()
    }


def answered_by_participant(entries: Iterable[ConsentEntry], participant_id: str) -> set[str]:
    """The purposes the participant has answered with their own key (a report cannot change
    them)."""
    return {e.purpose for e in entries if e.participant_id == participant_id and e.own}


def entries_from_shorthand(
    participant_id: str,
    answers: Mapping[str, bool | None],
    *,
    at: datetime,
    source: str,
    actor: str,
) -> list[ConsentEntry]:
    """Ledger entries for a ``{"record": .., "publish": .., ...}`` object.

    The manifest and participant registration accept this shorthand. ``transcribe`` and ``clip``,
    when absent, take ``publish``'s answer (the first manifest format had only record and publish);
    a purpose given as null or absent with no publish answer is left unanswered.
    """
    entries = []
    for purpose in PURPOSES:
        value = answers.get(purpose)
        if value is None and purpose in ("transcribe", "clip"):
            value = answers.get("publish")
        if value is not None:
            entries.append(ConsentEntry(participant_id, purpose, bool(value), at, source, actor))
    return entries


@dataclass(frozen=True)
class Participation:
    """What the consent decision needs to know of a participant."""

    participant_id: str
    name: str
    has_track: bool = True


@dataclass(frozen=True)
class Exclusion:
    participant_id: str
    name: str
    excluded_from: str  # "episode" (audio, words, feed) or "transcript" (words only)
    status: str  # "refused", "withdrawn", "not answered", "not recorded", "removed"
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Publication:
    """The consent decision for one rendering of a space."""

    audible: tuple[str, ...]  # mixed into the episode and named in the feed
    transcribed: tuple[str, ...]  # words published in transcripts
    exclusions: tuple[Exclusion, ...]

    @property
    def missing(self) -> tuple[Exclusion, ...]:
        """Participants who have not answered whether they may be published."""
        return tuple(e for e in self.exclusions if e.status == "not answered")


def decide_publication(
    participants: Sequence[Participation], states: Mapping[str, ConsentState]
) -> Publication:
    audible: list[str] = []
    transcribed: list[str] = []
    exclusions: list[Exclusion] = []
    for p in participants:
        state = states.get(p.participant_id, ConsentState())

        def exclude(scope: str, purpose: str, *, p: Participation = p, state=state) -> None:
            answer = getattr(state, purpose)
            if purpose in state.withdrawn and answer is False:
                status, why = "withdrawn", f"withdrew consent to {_PHRASES[purpose]}"
            elif answer is False:
                status, why = "refused", f"did not consent to {_PHRASES[purpose]}"
            else:
                status, why = (
                    "not answered",
                    f"has not answered whether they consent to {_PHRASES[purpose]}",
                )
            exclusions.append(Exclusion(p.participant_id, p.name, scope, status, why))

        if not p.has_track:
            exclusions.append(
                Exclusion(
                    p.participant_id, p.name, "episode", "not recorded", "no track was recorded"
                )
            )
        elif state.removed:
            exclusions.append(
                Exclusion(
                    p.participant_id,
                    p.name,
                    "episode",
                    "removed",
                    "removed by a moderator's decision on a complaint",
                )
            )
        elif not state.allows("publish"):
            exclude("episode", "publish")
        else:
            audible.append(p.participant_id)
            if state.allows("transcribe"):
                transcribed.append(p.participant_id)
            else:
                exclude("transcript", "transcribe")
    return Publication(tuple(audible), tuple(transcribed), tuple(exclusions))


_PHRASES = {
    "record": "being recorded",
    "publish": "publication",
    "transcribe": "their words being published in transcripts",
    "clip": "appearing in clips",
}


def snapshot(publication: Publication) -> dict:
    """What a rendering was made from: whose voice and whose words it contains."""
    return {"audible": sorted(publication.audible), "transcribed": sorted(publication.transcribed)}


_SNAPSHOT_PURPOSES = {"audible": "publish", "transcribed": "transcribe", "clipped": "clip"}


def snapshot_allowed(
    taken: Mapping, states: Mapping[str, ConsentState], *, parts: Iterable[str] | None = None
) -> bool:
    """Whether an artifact made from ``taken`` may still be served under the current ``states``
    (``parts``: only those of its snapshot, e.g. an episode's audio is "audible" alone)."""
    keys = _SNAPSHOT_PURPOSES if parts is None else parts
    return all(
        states.get(pid, ConsentState()).allows(_SNAPSHOT_PURPOSES[key])
        for key in keys
        for pid in taken.get(key, ())
    )


def snapshot_digest(taken: Mapping) -> str:
    return hashlib.sha256(json.dumps(taken, sort_keys=True).encode()).hexdigest()[:16]
