"""Loudness measurement (EBU R128 integrated loudness, true peak, loudness range) with ffmpeg."""

from __future__ import annotations

import math
import re
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
                    true_peak_dbtp=_number(peak.group(1)) if peak else float("nan"),
                    range_lu=_number(loudness_range.group(1)) if loudness_range else float("nan"),
                ),
            )
        )
    return [loudness for _, loudness in sorted(found, key=lambda item: item[0])]


def measure_loudness(path: Path, *, what: str, timeout_s: float = 3600.0) -> Loudness:
    """Integrated loudness and true peak of a decoded file, as a listener's player sees it."""
    run = run_ffmpeg(
        [*input_args(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"],
        timeout_s=timeout_s,
        what=what,
    )
    summaries = parse_ebur128_summaries(run.stderr)
    if not summaries:
        raise ValueError(f"{what}: ffmpeg printed no loudness summary")
    return summaries[-1]


def db_to_linear(db: float) -> float:
    return 10.0 ** (db / 20.0)


def dual_mono_offset_db(channels: int) -> float:
    """How much louder a mono programme measures once copied to ``channels`` identical channels."""
    return 10.0 * math.log10(channels)
