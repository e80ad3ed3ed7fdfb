"""Crosstalk between published speakers: where one speaker's voice reaches another published
speaker's microphone, the words are the first speaker's, and the other's transcript must not
repeat them. Decided acoustically, never by comparing text: over the same room moment, the
track that carries the voice loudest is its speaker's; a microphone whose sound is mostly that
voice, and quieter, is hearing it through the room. Which copy comes first is not used: the
acoustic delay (a few ms) is smaller than the difference between two recorders' latencies.

Each moment two published speakers' speech activity overlaps is cut into frames; in each frame
the two tracks are correlated within ±100 ms (the distance between microphones). A frame is
crosstalk on microphone B from speaker A when the normalized correlation is at least
:data:`CROSSTALK_CORRELATION` (A's voice is at least half of what B's microphone holds then, so B
is not talking over A), and B's copy is quieter by at least :data:`QUIETER_DB`. Two
people genuinely talking at once correlate weakly (each microphone is mostly its own speaker), so
both keep their words. Tracks are decoded once to 8 kHz files and read through memory maps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.activity import merge_windows
from pipeline.bleed import RATE_HZ, TrackRef, decode_track, max_normalized_correlation, slice_track
from pipeline.transcript import Segment

MAX_LAG_S = 0.1
FRAME_S = 1.0
CROSSTALK_CORRELATION = 0.7
QUIETER_DB = 3.0

Window = tuple[float, float]


@dataclass(frozen=True)
class Crosstalk:
    """Where ``heard_on``'s microphone carries ``speaker``'s voice (room time, seconds)."""

    speaker_id: str
    heard_on_id: str
    windows: tuple[Window, ...]

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.windows)

    def as_dict(self) -> dict:
        return {
            "speaker_id": self.speaker_id,
            "heard_on_id": self.heard_on_id,
            "windows": [[round(a, 3), round(b, 3)] for a, b in self.windows],
            "seconds": round(self.seconds, 3),
        }


def _overlaps(a: Sequence[Window], b: Sequence[Window]) -> list[Window]:
    out, i, j = [], 0, 0
    a, b = sorted(a), sorted(b)
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if end > start:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _frames(window: Window) -> list[Window]:
    start, end = window
    if end - start < 0.25:
        return []
    count = max(1, round((end - start) / FRAME_S))
    step = (end - start) / count
    return [(start + k * step, start + (k + 1) * step) for k in range(count)]


def _heard_from(x: np.ndarray, y: np.ndarray, max_lag: int) -> str | None:
    """Which of the two carries the other's voice in this frame: "x" when ``x``'s microphone
    hears ``y``'s speaker, "y" the other way round, None for neither."""
    correlation, _ = max_normalized_correlation(x, y, max_lag)
    if correlation < CROSSTALK_CORRELATION:
        return None
    level = 10 * math.log10(max(float(np.sum(x * x)), 1e-9) / max(float(np.sum(y * y)), 1e-9))
    if level >= QUIETER_DB:  # the same voice, quieter on y: y hears x's speaker
        return "y"
    if level <= -QUIETER_DB:
        return "x"
    return None


def detect_crosstalk(
    tracks: Sequence[TrackRef],
    speech: Mapping[str, Sequence[Window]],
    scratch: Path,
    *,
    timeout_s: float,
) -> list[Crosstalk]:
    """Every pair of published tracks, over the moments both detect speech: where one
    microphone carries the other's speaker. Tracks nobody overlaps are never decoded."""
    max_lag = int(MAX_LAG_S * RATE_HZ)
    decoded: dict[str, np.ndarray] = {}

    def samples(track: TrackRef) -> np.ndarray:
        if track.participant_id not in decoded:
            decoded[track.participant_id] = decode_track(track, scratch, timeout_s)
        return decoded[track.participant_id]

    found: dict[tuple[str, str], list[Window]] = {}
    for n, a in enumerate(tracks):
        for b in tracks[n + 1 :]:
            shared = _overlaps(speech.get(a.participant_id, ()), speech.get(b.participant_id, ()))
            for frame in (f for w in shared for f in _frames(w)):
                x = slice_track(samples(a), a, *frame)
                y = slice_track(samples(b), b, *frame)
                if not np.any(x) or not np.any(y):
                    continue
                which = _heard_from(x, y, max_lag)
                if which == "y":
                    found.setdefault((a.participant_id, b.participant_id), []).append(frame)
                elif which == "x":
                    found.setdefault((b.participant_id, a.participant_id), []).append(frame)
    return [
        Crosstalk(speaker_id=speaker, heard_on_id=heard_on, windows=tuple(merge_windows(windows)))
        for (speaker, heard_on), windows in sorted(found.items())
    ]


def without_crosstalk(
    segments: Sequence[Segment], crosstalk: Sequence[Crosstalk], *, shift_s: float = 0.0
) -> list[Segment]:
    """``segments`` (one speaker's, on a timeline ``shift_s`` from room time) without the words
    their microphone heard from someone else: a word goes when its middle lies in a crosstalk
    window on that speaker's track; a segment left with no words goes too."""
    heard: dict[str, list[Window]] = {}
    for item in crosstalk:
        heard.setdefault(item.heard_on_id, []).extend(
            (a + shift_s, b + shift_s) for a, b in item.windows
        )
    kept = []
    for segment in segments:
        windows = heard.get(segment.speaker_id)
        if not windows:
            kept.append(segment)
            continue

        def inside(t: float, windows=windows) -> bool:
            return any(a <= t < b for a, b in windows)

        if not segment.words:
            if not inside((segment.start_s + segment.end_s) / 2):
                kept.append(segment)
            continue
        words = tuple(w for w in segment.words if not inside((w.start_s + w.end_s) / 2))
        if not words:
            continue
        if len(words) == len(segment.words):
            kept.append(segment)
            continue
        kept.append(
            replace(
                segment,
                start_s=words[0].start_s,
                end_s=words[-1].end_s,
                text="".join(w.text for w in words).strip(),
                words=words,
            )
        )
    return kept


def crosstalk_from_data(data: Sequence[dict]) -> list[Crosstalk]:
    return [
        Crosstalk(
            speaker_id=item["speaker_id"],
            heard_on_id=item["heard_on_id"],
            windows=tuple((float(a), float(b)) for a, b in item["windows"]),
        )
        for item in data
    ]
