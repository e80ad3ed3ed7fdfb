"""Clip suggestions for hosts, from the transcript and who speaks when.

Method: every window that starts where a transcript line starts and ends where a later line ends,
between 15 and 60 seconds long, is a candidate. Each is scored for liveliness and shareability:

    score = turns (speaker changes, at most 6)
          + 1.5 x (distinct speakers - 1)
          + 2 x speech density (spoken seconds / window length)
          + 1.5 if a question is answered by another speaker inside the window
          + 1 if the window ends on a whole sentence (. ! or ?)
          - 0.03 x distance in seconds from 35 s (a length people finish)

Windows touching speech of anyone who may not be clipped are dropped; the best windows that do
not overlap are returned, each with the reasons behind its score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from pipeline.transcript import Segment

MIN_S, MAX_S, IDEAL_S = 15.0, 60.0, 35.0


@dataclass(frozen=True)
class Suggestion:
    start_s: float
    end_s: float
    score: float
    speakers: tuple[str, ...]
    reasons: tuple[str, ...]
    preview: str


def _overlaps(a: float, b: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(x < b and y > a for x, y in windows)


def score_window(lines: Sequence[Segment]) -> tuple[float, list[str]]:
    start, end = lines[0].start_s, lines[-1].end_s
    duration = end - start
    turns = sum(1 for a, b in pairwise(lines) if a.speaker_id != b.speaker_id)
    speakers = {line.speaker_id for line in lines}
    spoken = sum(line.end_s - line.start_s for line in lines)
    density = min(1.0, spoken / duration) if duration > 0 else 0.0
    answered = any(
        a.text.rstrip().endswith("?") and b.speaker_id != a.speaker_id for a, b in pairwise(lines)
    )
    whole = lines[-1].text.rstrip().endswith((".", "!", "?"))
    score = (
        min(turns, 6)
        + 1.5 * (len(speakers) - 1)
        + 2.0 * density
        + (1.5 if answered else 0.0)
        + (1.0 if whole else 0.0)
        - 0.03 * abs(duration - IDEAL_S)
    )
    reasons = [
        f"{len(speakers)} speaker{'s' if len(speakers) > 1 else ''}",
        f"{turns} turn{'s' if turns != 1 else ''}",
    ]
    if answered:
        reasons.append("a question answered")
    if whole:
        reasons.append("ends on a whole sentence")
    reasons.append(f"speech fills {density:.0%}")
    return score, reasons


def suggest_clips(
    segments: Sequence[Segment],
    *,
    blocked: Sequence[tuple[float, float]] = (),
    limit: int = 5,
) -> list[Suggestion]:
    """The best non-overlapping clip windows (episode timeline), best first."""
    lines = sorted(segments, key=lambda s: s.start_s)
    candidates: list[Suggestion] = []
    for i, first in enumerate(lines):
        for j in range(i, len(lines)):
            window = lines[i : j + 1]
            start, end = first.start_s, lines[j].end_s
            if end - start > MAX_S:
                break
            if end - start < MIN_S or _overlaps(start, end, blocked):
                continue
            score, reasons = score_window(window)
            preview = " ".join(line.text for line in window)
            candidates.append(
                Suggestion(
                    start_s=round(start, 2),
                    end_s=round(end, 2),
                    score=round(score, 3),
                    speakers=tuple(sorted({line.speaker for line in window})),
                    reasons=tuple(reasons),
                    preview=preview[:200],
                )
            )
    chosen: list[Suggestion] = []
    for candidate in sorted(candidates, key=lambda c: c.score, reverse=True):
        if not _overlaps(
            candidate.start_s, candidate.end_s, [(c.start_s, c.end_s) for c in chosen]
        ):
            chosen.append(candidate)
        if len(chosen) == limit:
            break
    return chosen
