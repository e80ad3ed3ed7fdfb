"""Loudness measurement (EBU R128 integrated loudness, true peak, loudness range) with ffmpeg."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.ffmpeg import input_args, run_ffmpeg

_SUMMARY = re.compile(r"\[Parsed_ebur128_(\d+) @ [^\]]+\] Summary:")
_INTEGRATED = re.compile(r"^\s*I:\s+(-?[\d.]+|-inf) LUFS", re.MULTILINE)
_RANGE = re.compile(r"^\s*LRA:\s+(-?[\d.]+|-inf) LU", re.MULTILINE)
_PEAK = re.compile(r"^\s*Peak:\s+(-?[\d.]+|-inf) dBFS", re.MULTILINE)

SILENCE_LUFS = -70.0  # what ebur128 reports when every block is gated out


@dataclass(frozen=True)
class Loudness:
    """EBU R128 measurement of a whole programme."""

    integrated_lufs: float
    true_peak_dbtp: float
    range_lu: float

    @property
    def silent(self) -> bool:
        return self.integrated_lufs <= SILENCE_LUFS + 0.05

    def as_dict(self) -> dict:
        return {k: (None if math.isinf(v) else round(v, 2)) for k, v in asdict(self).items()}


def _number(text: str) -> float:
    return float("-inf") if text == "-inf" else float(text)


def parse_ebur128_summaries(stderr: str) -> list[Loudness]:
    """Every ebur128 summary in an ffmpeg log, in the order the filters appear in the graph."""
    found: list[tuple[int, Loudness]] = []
    marks = list(_SUMMARY.finditer(stderr))
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(stderr)
        block = stderr[mark.end() : end]
        integrated = _INTEGRATED.search(block)
        loudness_range = _RANGE.search(block)
        peak = _PEAK.search(block)
        if integrated is None:
            continue
        found.append(
            (
                int(mark.group(1)),
                Loudness(
                    integrated_lufs=_number(integrated.group(1)),
                    true_peak_dbtp=_number(peak.group(1)) if peak else float("-inf"),
                    range_lu=_number(loudness_range.group(1)) if loudness_range else float("nan"),
                ),
            )
        )
    return [loudness for _, loudness in sorted(found, key=lambda item: item[0])]


MEASURE_FILTER = "ebur128=peak=true"


def summary_of(stderr: str, what: str) -> Loudness:
    summaries = parse_ebur128_summaries(stderr)
    if not summaries:
        raise ValueError(f"{what}: ffmpeg printed no loudness summary")
    return summaries[-1]


def measure_delivered(
    path: Path, *, what: str, timeout_s: float = 3600.0
) -> tuple[Loudness, float]:
    """Integrated loudness, true peak and decoded duration of a file, as a listener's player
    sees it."""
    decoded = [0.0]

    def _note(seconds: float) -> None:
        decoded[0] = max(decoded[0], seconds)

    run = run_ffmpeg(
        [*input_args(path), "-map", "0:a:0", "-af", MEASURE_FILTER, "-f", "null", "-"],
        timeout_s=timeout_s,
        what=what,
        on_progress=_note,
    )
    return summary_of(run.stderr, what), decoded[0]


def measure_loudness(path: Path, *, what: str, timeout_s: float = 3600.0) -> Loudness:
    """Integrated loudness and true peak of a decoded file, as a listener's player sees it."""
    return measure_delivered(path, what=what, timeout_s=timeout_s)[0]


def db_to_linear(db: float) -> float:
    return 10.0 ** (db / 20.0)


def dual_mono_offset_db(channels: int) -> float:
    """How much louder a mono programme measures once copied to ``channels`` identical channels."""
    return 10.0 * math.log10(channels)


# ebur128's frame log: one line per 100 ms with the momentary loudness (the last 400 ms).
_MOMENTARY = re.compile(r"\bt:\s*([\d.]+)\s+TARGET:.*?\bM:\s*(-?[\d.]+|-inf)")
PROFILE_HOP_S = 0.1
_BLOCK_S = 0.4


def momentary_collector() -> tuple[list[float], callable]:
    """A list that fills with the momentary loudness (LUFS, every 100 ms) of an ebur128 filter
    run with ``framelog=info``, and the stderr-line callback that fills it."""
    values: list[float] = []

    def _collect(line: str) -> None:
        match = _MOMENTARY.search(line)
        if match:
            values.append(_number(match.group(2)))

    return values, _collect


def integrated_over(momentary: list[float], start_s: float, end_s: float) -> float:
    """Integrated loudness (ITU-R BS.1770 gating) of [start, end] from a momentary profile.

    Momentary value ``i`` is the loudness of the 400 ms block ending at ``(i + 1) x 100 ms``, so
    the blocks wholly inside the range are exactly the gating blocks of that range.
    """
    first = math.ceil((start_s + _BLOCK_S) / PROFILE_HOP_S - 1e-6) - 1
    last = math.floor(end_s / PROFILE_HOP_S + 1e-6) - 1
    return gated_loudness(momentary[max(first, 0) : last + 1])


def gated_loudness(blocks: Sequence[float]) -> float:
    """Integrated loudness (BS.1770 absolute and relative gates) of momentary block values."""
    audible = [m for m in blocks if m > SILENCE_LUFS]
    if not audible:
        return SILENCE_LUFS
    powers = [10 ** ((m + 0.691) / 10) for m in audible]
    relative_gate = -0.691 + 10 * math.log10(sum(powers) / len(powers)) - 10.0
    gated = [p for m, p in zip(audible, powers, strict=True) if m > relative_gate]
    return -0.691 + 10 * math.log10(sum(gated) / len(gated))
