"""The clip gate: what a clip decision needs to know of a space (when each recorded speaker
talks, who is published, who bleeds into published microphones, the current consent, the
stretches a moderator removed) and the one check of a range against it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from infra.models import Episode, Space
from pipeline.clips import Blocker, audible_in, clip_blockers
from pipeline.consent import ConsentState
from services.ledger import current_states
from services.publishing import overlaps, removed_ranges
from services.runs import done_results


@dataclass(frozen=True)
class ClipContext:
    activity: dict[str, list[tuple[float, float]]]  # participant id -> speech, room timeline
    names: dict[str, str]
    handles: dict[str, str]
    published: list[str]  # participant ids audible in the current episode
    bleeding_unducked: list[str]  # excluded speakers heard through published microphones
    states: dict[str, ConsentState]
    timeline_start_s: float  # room time of the episode's first sample
    mix_key: str | None
    profile_key: str | None  # the mix's momentary loudness, every 100 ms
    removed: list[tuple[float, float]]  # stretches a moderator took down, room timeline
    # The word-timed transcript of each speaker whose words the episode publishes.
    transcript_keys: dict[str, str]

    def blockers(self, room_start_s: float, room_end_s: float) -> tuple[list[str], list[Blocker]]:
        audible = audible_in(room_start_s, room_end_s, self.activity)
        found = clip_blockers(
            audible, self.names, self.published, self.states, self.bleeding_unducked
        )
        if overlaps(room_start_s, room_end_s, self.removed):
            found.append(
                Blocker(
                    "", "moderation", "a moderator removed part of this range after a complaint"
                )
            )
        return audible, found


def clip_context(session: Session, space: Space, episode: Episode) -> ClipContext:
    results = done_results(session, space.id)
    mix = results.mix
    ducked = bool(mix and mix.ducked_windows)
    return ClipContext(
        activity={pid: a.windows() for pid, a in results.activity.items()},
        names={p.id: p.name for p in space.participants},
        handles={p.id: p.handle for p in space.participants},
        published=list(episode.consent_snapshot.get("audible", [])),
        bleeding_unducked=[]
        if ducked or results.bleed is None
        else sorted(results.bleed.bleeding()),
        states=current_states(session, space.id),
        timeline_start_s=episode.timeline_start_s,
        mix_key=mix.key if mix else None,
        profile_key=mix.profile_key if mix else None,
        removed=removed_ranges(session, space.id),
        transcript_keys={
            pid: t.key
            for pid, t in results.transcription.items()
            if pid in episode.consent_snapshot.get("transcribed", [])
        },
    )
