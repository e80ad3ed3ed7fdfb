"""The bleed check: is a speaker who may not be heard audible on someone else's microphone?

During the excluded speaker's own speech, their track is correlated against each published track
(the same room moment, within ±100 ms for the distance between microphones). A strong
correlation means the published track carries their voice. Tracks are decoded once to 8 kHz
files on disk and read through memory maps, so an hour costs the same memory as a minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.ffmpeg import input_args, output_path, run_ffmpeg

RATE_HZ = 8_000
MAX_LAG_S = 0.1
DETECTION_CORRELATION = 0.3


@dataclass(frozen=True)
class TrackRef:
    participant_id: str
    name: str
    path: Path
    offset_s: float


@dataclass(frozen=True)
class BleedFinding:
    speaker_id: str  # the speaker who may not be heard
    speaker: str
    heard_on_id: str  # the published track that carries them
    heard_on: str
    median_correlation: float
    peak_correlation: float
    leakage_db: float | None  # their level on that microphone relative to their own
    windows: int
    seconds: float
    detected: bool

    def as_dict(self) -> dict:
        return asdict(self)


def max_normalized_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Largest |normalized cross-correlation| of ``a`` and ``b`` within ±``max_lag`` samples, and
    the lag where it occurs (positive: ``b`` lags ``a``)."""
    n = min(len(a), len(b))
    a = a[:n].astype(np.float64) - a[:n].mean()
    b = b[:n].astype(np.float64) - b[:n].mean()
    denominator = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
    if n == 0 or denominator == 0:
        return 0.0, 0
    size = 1 << (2 * n - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    lags = np.concatenate([full[: max_lag + 1], full[-max_lag:]]) if max_lag else full[:1]
    best = int(np.argmax(np.abs(lags)))
    lag = best if best <= max_lag else best - len(lags)
    return float(abs(lags[best]) / denominator), lag


def decode_track(track: TrackRef, folder: Path, timeout_s: float) -> np.memmap:
    """The track as 8 kHz mono samples in a file on disk, read through a memory map."""
    raw = folder / f"bleed-{track.participant_id}.s16"
    if not raw.exists():
        run_ffmpeg(
            [
                *input_args(track.path),
                "-vn",
                "-ac",
                "1",
                "-ar",
                str(RATE_HZ),
                "-f",
                "s16le",
                output_path(raw),
            ],
            timeout_s=timeout_s,
            what=f"bleed check: decoding {track.name}",
        )
    if raw.stat().st_size < 2:
        return np.zeros(0, dtype=np.int16)  # type: ignore[return-value]
    return np.memmap(raw, dtype=np.int16, mode="r")


def slice_track(samples: np.ndarray, track: TrackRef, start_s: float, end_s: float) -> np.ndarray:
    """Room time ``start_s``..``end_s`` of the track's samples, silence where it has none."""
    first = round((start_s - track.offset_s) * RATE_HZ)
    last = round((end_s - track.offset_s) * RATE_HZ)
    out = np.zeros(max(0, last - first), dtype=np.float64)
    lo, hi = max(first, 0), min(last, len(samples))
    if hi > lo:
        out[lo - first : hi - first] = samples[lo:hi]
    return out


def detect_bleed(
    speaker: TrackRef,
    speech: Sequence[tuple[float, float]],
    published: Sequence[TrackRef],
    scratch: Path,
    *,
    timeout_s: float,
    max_windows: int = 60,
    max_window_s: float = 10.0,
) -> list[BleedFinding]:
    """One finding per published track: how much of ``speaker`` it carries while they speak."""
    windows = sorted(
        ((a, min(b, a + max_window_s)) for a, b in speech if b - a >= 0.5),
        key=lambda w: w[1] - w[0],
        reverse=True,
    )[:max_windows]
    if not windows or not published:
        return []
    own = decode_track(speaker, scratch, timeout_s)
    max_lag = int(MAX_LAG_S * RATE_HZ)
    findings = []
    for other in published:
        heard = decode_track(other, scratch, timeout_s)
        correlations, gains, seconds = [], [], 0.0
        for start, end in windows:
            x = slice_track(own, speaker, start, end)
            y = slice_track(heard, other, start, end)
            if not np.any(x) or not np.any(y):
                continue
            correlation, lag = max_normalized_correlation(x, y, max_lag)
            correlations.append(correlation)
            seconds += end - start
            shifted = np.roll(y, -lag)
            energy = float(np.sum(x * x))
            if energy > 0:
                gains.append(abs(float(np.sum(x * shifted)) / energy))
        median = float(np.median(correlations)) if correlations else 0.0
        gain = float(np.median(gains)) if gains else 0.0
        findings.append(
            BleedFinding(
                speaker_id=speaker.participant_id,
                speaker=speaker.name,
                heard_on_id=other.participant_id,
                heard_on=other.name,
                median_correlation=round(median, 3),
                peak_correlation=round(max(correlations, default=0.0), 3),
                leakage_db=round(20 * math.log10(gain), 1) if gain > 0 else None,
                windows=len(correlations),
                seconds=round(seconds, 2),
                detected=median >= DETECTION_CORRELATION,
            )
        )
    return findings
