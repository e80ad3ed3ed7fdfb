"""Measuring audio in tests: decode with ffmpeg into numpy, levels in windows, correlation."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

ANALYSIS_RATE_HZ = 16_000


def decode(path: Path, *, rate_hz: int = ANALYSIS_RATE_HZ) -> np.ndarray:
    """Mono float32 samples of a whole (short) file."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(rate_hz),
            "-f",
            "f32le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def window(
    samples: np.ndarray, start_s: float, end_s: float, rate_hz: int = ANALYSIS_RATE_HZ
) -> np.ndarray:
    a, b = max(0, int(start_s * rate_hz)), max(0, int(end_s * rate_hz))
    return samples[a:b]


def rms_db(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return float("-inf")
    value = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * np.log10(value) if value > 0 else float("-inf")


def max_normalized_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 800) -> float:
    """Largest |normalized cross-correlation| within ±max_lag samples (the bleed check's measure)."""
    from pipeline.bleed import max_normalized_correlation as correlate

    return correlate(a, b, max_lag)[0]


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) measured by ffmpeg's ebur128 filter, as the issue asks."""
    stderr = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    summary = stderr[stderr.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return integrated, peak
