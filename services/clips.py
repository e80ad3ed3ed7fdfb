"""The clip gate: what a clip decision needs to know of a space (when each recorded speaker
talks, who is published, who bleeds into published microphones, the current consent, the
stretches a moderator removed) and the one check of a range against it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.consent import current_states
from infra.models import Episode, Space, StageRun
from pipeline.clips import Blocker, audible_in, clip_blockers
from pipeline.consent import ConsentState
from services.publishing import overlaps, removed_ranges


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
    runs = {
        (run.stage, run.subject): run
        for run in session.scalars(
            select(StageRun).where(StageRun.space_id == space.id, StageRun.status == "done")
        )
    }
    activity = {
        subject: [tuple(window) for window in run.result.get("segments", [])]
        for (stage, subject), run in runs.items()
        if stage == "activity" and run.result
    }
    bleed = runs.get(("bleed", ""))
    mix = runs.get(("mix", ""))
    findings = (bleed.result or {}).get("findings", []) if bleed else []
    ducked = bool(mix and (mix.result or {}).get("ducked_windows"))
    return ClipContext(
        activity=activity,
        names={p.id: p.name for p in space.participants},
        handles={p.id: p.handle for p in space.participants},
        published=list(episode.consent_snapshot.get("audible", [])),
        bleeding_unducked=[]
        if ducked
        else sorted({f["speaker_id"] for f in findings if f["detected"]}),
        states=current_states(session, space.id),
        timeline_start_s=float(
            (episode.report or {}).get("episode", {}).get("timeline_start_s", 0.0)
        ),
        mix_key=(mix.result or {}).get("key") if mix else None,
        profile_key=(mix.result or {}).get("profile_key") if mix else None,
        removed=removed_ranges(session, space.id),
    )
