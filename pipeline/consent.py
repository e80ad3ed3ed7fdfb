"""Who may be heard and read in what Spacecast publishes, decided from each participant's consent.

A participant is audible in the episode and named in the feed only with ``publish`` consent (and,
since a track exists only when recording was agreed, ``record`` consent). Their words appear in
published transcripts only when they are audible and did not withhold ``transcribe``. Anything not
granted is refused: absence of an answer is a no.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ParticipantConsent:
    participant_id: str
    name: str
    record: bool
    publish: bool
    transcribe: bool | None = None  # None: follows publish


@dataclass(frozen=True)
class Exclusion:
    participant_id: str
    name: str
    excluded_from: str  # "episode" (audio, transcript and feed) or "transcript"
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Publication:
    """The consent decision for one rendering of a space."""

    audible: tuple[str, ...]  # participant ids mixed into the episode and named in the feed
    transcribed: tuple[str, ...]  # participant ids whose words are published
    exclusions: tuple[Exclusion, ...]


def decide_publication(participants: Sequence[ParticipantConsent]) -> Publication:
    audible: list[str] = []
    transcribed: list[str] = []
    exclusions: list[Exclusion] = []
    for p in participants:
        if not p.record:
            exclusions.append(
                Exclusion(p.participant_id, p.name, "episode", "did not consent to being recorded")
            )
        elif not p.publish:
            exclusions.append(
                Exclusion(p.participant_id, p.name, "episode", "did not consent to publication")
            )
        else:
            audible.append(p.participant_id)
            if p.transcribe is False:
                exclusions.append(
                    Exclusion(
                        p.participant_id,
                        p.name,
                        "transcript",
                        "did not consent to their words being published in transcripts",
                    )
                )
            else:
                transcribed.append(p.participant_id)
    return Publication(tuple(audible), tuple(transcribed), tuple(exclusions))
