"""Leveling between speakers before the mix: each published voice is measured on its own speech
and brought to one loudness by a slow gain that only moves while that speaker speaks.

The loudness of a track comes from ffmpeg's ebur128 momentary log (400 ms blocks every 100 ms),
read in one streamed pass; only the blocks inside the speaker's speech windows (the activity
stage's) count, gated as ITU-R BS.1770 gates a programme. The gain is a curve of points a second
apart: the target minus the loudness of the speech heard within ``WINDOW_S`` around each point,
held where there is too little speech (so a pause never pulls the gain up: no pumping), kept
within ``MAX_SWING_DB`` of the speaker's overall gain and moving at most ``SLEW_DB_PER_S``. The
mix applies it with ffmpeg's ``volume`` filter, ramping linearly between points
(``volume_commands``).

The same curve gates the long pauses of an open microphone: wherever the speaker is silent for
``GATE_PAUSE_S`` or more, their track is lowered by ``GATE_DEPTH_DB`` (ramped over
``GATE_RAMP_S``, opened ``GATE_HOLD_S`` before they speak again and closed as long after they
stop), so the room noise of many listening microphones does not add up under whoever speaks.
Lowered, not silenced: the room keeps its tone between speakers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.activity import merge_windows
from pipeline.ffmpeg import FFmpegRun, input_args, run_ffmpeg
from pipeline.loudness import PROFILE_HOP_S, SILENCE_LUFS, gated_loudness, momentary_collector

SPEECH_TARGET_LUFS = -23.0  # each voice on its own speech, before the mix's headroom
WINDOW_S = 20.0  # the speech around a point that sets its gain
MIN_SPEECH_S = 2.0  # less speech than this in the window: the gain is held
MAX_SWING_DB = 6.0  # how far the slow gain may move from the speaker's overall gain
SLEW_DB_PER_S = 1.0
MAX_GAIN_DB = 30.0  # a near-silent track is not raised into its noise without bound
MIN_GAIN_DB = -30.0
POINT_HOP_S = 1.0
_BLOCK_S = 0.4
GATE_PAUSE_S = 2.0  # a pause of the speaker at least this long is gated
GATE_DEPTH_DB = 15.0
GATE_HOLD_S = 0.3  # open this long around speech: breaths, word onsets and tails
GATE_RAMP_S = 0.2


@dataclass(frozen=True)
class SpeakerLevel:
    """What leveling measured and applied on one track."""

    speech_lufs: float  # the speaker's loudness on their own speech, as recorded
    gain_db: float  # the overall gain that brings it to the target
    points: tuple[tuple[float, float], ...]  # (track second, gain dB); linear in between
    cpu_s: float = 0.0
    gate: tuple[tuple[float, float], ...] = ()  # (track second, dB of the pause gate)

    @property
    def leveled(self) -> bool:
        return bool(self.points)

    @property
    def mix_points(self) -> tuple[tuple[float, float], ...]:
        """The gain the mix applies: the leveling curve with the pause gate under it."""
        return combined(self.points, self.gate)

    def as_dict(self) -> dict:
        gains = [g for _, g in self.points] or [0.0]
        return {
            "speech_lufs": round(self.speech_lufs, 2),
            "gain_db": round(self.gain_db, 2),
            "gain_min_db": round(min(gains), 2),
            "gain_max_db": round(max(gains), 2),
            "gated_pauses": sum(1 for (_, a), (_, b) in itertools.pairwise(self.gate) if b < a),
            "gated_s": round(gated_seconds(self.gate), 1),
            "gate_depth_db": GATE_DEPTH_DB,
        }


def pause_gate(
    speech: Sequence[tuple[float, float]], duration_s: float
) -> tuple[tuple[float, float], ...]:
    """The gate of a track's long pauses as (track second, dB) knots, linear in between: 0 dB
    (open) around ``speech`` (track seconds), ``-GATE_DEPTH_DB`` through every pause of
    ``GATE_PAUSE_S`` or more, the track's head and tail included. No knots: never gated."""
    edges = [0.0]
    for a, b in merge_windows([(max(a, 0.0), min(b, duration_s)) for a, b in speech]):
        edges += [a, b]
    edges.append(duration_s)
    knots: list[tuple[float, float]] = []
    closed = -GATE_DEPTH_DB
    for p0, p1 in zip(edges[::2], edges[1::2], strict=True):  # the pauses, in order
        if p1 - p0 < GATE_PAUSE_S:
            continue
        head, tail = p0 <= 0.0, p1 >= duration_s
        shut = p0 if head else p0 + GATE_HOLD_S
        reopen = p1 if tail else p1 - GATE_HOLD_S
        if not head:
            knots.append((shut, 0.0))
        knots.append((shut if head else shut + GATE_RAMP_S, closed))
        knots.append((reopen if tail else reopen - GATE_RAMP_S, closed))
        if not tail:
            knots.append((reopen, 0.0))
    return tuple((round(t, 3), g) for t, g in knots)


def gated_seconds(gate: Sequence[tuple[float, float]]) -> float:
    """How long ``gate`` holds the track fully down."""
    return sum(b - a for (a, ga), (b, gb) in itertools.pairwise(gate) if ga == gb == -GATE_DEPTH_DB)


def combined(
    points: Sequence[tuple[float, float]], gate: Sequence[tuple[float, float]]
) -> tuple[tuple[float, float], ...]:
    """The sum in dB of two piecewise-linear curves (each held at its ends), as knots at every
    knot of either: exact, since the sum is linear between them."""
    if not gate or not points:
        return tuple(points or gate)
    times = np.union1d([t for t, _ in points], [t for t, _ in gate])
    level = np.interp(times, [t for t, _ in points], [g for _, g in points])
    gated = np.interp(times, [t for t, _ in gate], [g for _, g in gate])
    return tuple((float(t), round(float(g), 3)) for t, g in zip(times, level + gated, strict=True))


def speech_blocks(
    momentary: Sequence[float], speech: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """(block centre s, momentary LUFS) of the blocks that lie wholly inside a speech window
    (track seconds). Block ``i`` is the 400 ms ending at ``(i + 1) x 100 ms``."""
    found: list[tuple[float, float]] = []
    spans = sorted(speech)
    j = 0
    for i, value in enumerate(momentary):
        end = (i + 1) * PROFILE_HOP_S
        start = end - _BLOCK_S
        while j < len(spans) and spans[j][1] < end - 1e-6:
            j += 1
        if j < len(spans) and spans[j][0] <= start + 1e-6:
            found.append((end - _BLOCK_S / 2, value))
    return found


def gain_curve(
    momentary: Sequence[float],
    speech: Sequence[tuple[float, float]],
    *,
    target_lufs: float = SPEECH_TARGET_LUFS,
) -> SpeakerLevel:
    """The slow gain that brings the speech in ``momentary`` (a track's profile) to
    ``target_lufs``; no points when the track has no measurable speech (left as it is)."""
    blocks = speech_blocks(momentary, speech)
    overall = gated_loudness([m for _, m in blocks])
    if overall <= SILENCE_LUFS:
        return SpeakerLevel(speech_lufs=SILENCE_LUFS, gain_db=0.0, points=())
    base = min(MAX_GAIN_DB, max(MIN_GAIN_DB, target_lufs - overall))
    duration_s = len(momentary) * PROFILE_HOP_S
    points: list[tuple[float, float]] = []
    gain = base
    lo = 0  # first block in the window
    hi = 0  # one past the last block in the window
    steps = int(duration_s // POINT_HOP_S) + 1
    for k in range(steps):
        t = k * POINT_HOP_S
        while lo < len(blocks) and blocks[lo][0] < t - WINDOW_S / 2:
            lo += 1
        while hi < len(blocks) and blocks[hi][0] <= t + WINDOW_S / 2:
            hi += 1
        window = [m for _, m in blocks[lo:hi]]
        wanted = gain  # too little speech around: hold
        if len(window) * PROFILE_HOP_S >= MIN_SPEECH_S:
            local = gated_loudness(window)
            if local > SILENCE_LUFS:
                wanted = min(base + MAX_SWING_DB, max(base - MAX_SWING_DB, target_lufs - local))
        if points:
            step = SLEW_DB_PER_S * POINT_HOP_S
            wanted = min(gain + step, max(gain - step, wanted))
        gain = min(MAX_GAIN_DB, max(MIN_GAIN_DB, wanted))
        points.append((round(t, 3), round(gain, 3)))
    return SpeakerLevel(speech_lufs=overall, gain_db=base, points=tuple(points))


def leveling_report(applied: bool, levels: Mapping[str, SpeakerLevel]) -> dict:
    """What leveling between speakers did, for the report: participant id -> what was measured
    on their speech and the gain applied."""
    return {
        "applied": applied,
        "target_lufs": SPEECH_TARGET_LUFS,
        "tracks": {pid: level.as_dict() for pid, level in levels.items()},
    }


def measure_profile(path: Path, *, timeout_s: float, label: str) -> tuple[list[float], FFmpegRun]:
    """The momentary loudness of a track every 100 ms, decoded and measured in one stream."""
    momentary, collect = momentary_collector()
    run = run_ffmpeg(
        [*input_args(path), "-map", "0:a:0", "-ac", "1", "-af", "ebur128=framelog=info",
         "-f", "null", "-"],
        timeout_s=timeout_s,
        what=f"leveling: measuring {label}",
        on_stderr=collect,
    )  # fmt: skip
    return momentary, run


def level_speaker(
    path: Path,
    speech: Sequence[tuple[float, float]],
    *,
    timeout_s: float,
    label: str,
    target_lufs: float = SPEECH_TARGET_LUFS,
) -> SpeakerLevel:
    """Measure one track's speech (``speech``: track seconds) and derive its gain curve and the
    gate of its long pauses."""
    momentary, run = measure_profile(path, timeout_s=timeout_s, label=label)
    level = gain_curve(momentary, speech, target_lufs=target_lufs)
    gate = pause_gate(speech, len(momentary) * PROFILE_HOP_S)
    return SpeakerLevel(level.speech_lufs, level.gain_db, level.points, run.cpu_s, gate)


def volume_commands(points: Sequence[tuple[float, float]], target: str = "volume") -> str:
    """An ``asendcmd`` script for the ``volume`` filter ``target`` (an instance name such as
    ``volume@level0``, so no other volume filter in the graph hears it) with ``eval=frame``: from
    each point it ramps linearly to the next point's gain; a run of equal gains is one
    command."""
    lines = []
    held: float | None = None
    for (t0, g0), (t1, g1) in itertools.pairwise(points):
        if g1 == g0:
            if held == g0:
                continue
            held, expression = g0, f"pow(10,{g0:.3f}/20)"
        else:
            held = None
            expression = f"pow(10,({g0:.3f}+({g1 - g0:.3f})*(t-{t0:.3f})/{t1 - t0:.3f})/20)"
        lines.append(f"{t0:.3f} {target} volume '{expression}';")
    if points and held != points[-1][1]:
        t_last, g_last = points[-1]
        lines.append(f"{t_last:.3f} {target} volume 'pow(10,{g_last:.3f}/20)';")
    return "\n".join(lines) + "\n"
