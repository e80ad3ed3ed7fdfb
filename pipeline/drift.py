"""Clock drift: how far a recorder's clock ran from the room's, in parts per million, and the
resampled working copy that puts a drifted track back in room time.

A recorder whose clock runs 0.1 % fast writes 48 048 samples for every second of the room and
labels them 48 000 Hz: played back, its speaker slides 3.6 s late over an hour. ``drift_ppm`` is
positive for such a recorder (its track is longer than the room time it covers) and negative for
a slow one. Three estimates, each from what a space may have:

* **live chunks** (:func:`drift_from_chunks`): the samples a recorder sent against the wall-clock
  span over which the service received them; network delay only adds to a chunk's arrival, so
  the fit keeps the chunks that arrived soonest for their position;
* **length** (:func:`drift_from_length`): the decoded track against the room time it should
  span (the room time its recording ended, as the room service reports it, less the speaker's
  offset), trusted only for a mismatch a clock can make (:data:`PLAUSIBLE_PPM`; more is a
  declared end that is wrong) and to the millisecond at each end (:data:`LENGTH_RESOLUTION_S`);
* **shared voice** (:func:`drift_from_shared_voice`): where one voice is on two tracks (bleed),
  the lag between them near the start and near the end; its change over the time between says
  how much faster one clock ran than the other.

Above :data:`CORRECT_ABOVE_PPM` the track is resampled by ffmpeg, streaming
(:func:`correct_drift`); below it the track is left as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from pipeline.ffmpeg import FFmpegRun, decoded_pcm, input_args, output_path, run_ffmpeg

# 50 ppm is 180 ms over an hour: about where a reply starts to land on the end of the question
# it answers. Quartz in a laptop or phone is usually within 20-50 ppm, so a clean recorder is
# not touched; the 0.1 % of a bad USB interface or a resampling app is.
CORRECT_ABOVE_PPM = 50.0
# A clock is off by at most a fraction of a percent; a length mismatch beyond this is not drift.
PLAUSIBLE_PPM = 5_000.0
# The decoded length and the room time it should span are each known to about a millisecond
# (the room's clock, the last sample): one standard error of a length estimate is both over
# the span.
LENGTH_RESOLUTION_S = 0.001
ENVELOPE_PIECES = 20
LATE_S = 0.25  # a stretch whose soonest chunk came this far over the line was held up
MIN_SPAN_S = 20.0  # shorter than this, a few milliseconds of noise are tens of ppm
CORRELATION_RATE_HZ = 8_000
CORRELATION_WINDOW_S = 8.0
CORRELATION_PIECE_S = 0.25
OUTLIER_S = 0.002  # a piece matched one pitch period off (voices repeat every 3-10 ms)
CORRELATION_MAX_LAG_S = 1.0


class DriftMethod(StrEnum):
    CHUNKS = "live_chunks"
    LENGTH = "length"
    SHARED_VOICE = "shared_voice"


@dataclass(frozen=True)
class DriftEstimate:
    """One estimate of a track's drift against room time."""

    drift_ppm: float
    method: DriftMethod
    span_s: float  # the room time the estimate was measured over
    uncertainty_ppm: float = 0.0  # one standard error of the fit, where it is one

    @property
    def offset_per_hour_s(self) -> float:
        """How far the speaker slides over an hour of room time, uncorrected."""
        return self.drift_ppm * 1e-6 * 3600.0

    @property
    def needs_correction(self) -> bool:
        """Over the threshold, and by more than three standard errors: a noisy estimate of a
        clean recorder must not resample it by its noise."""
        return bool(abs(self.drift_ppm) > max(CORRECT_ABOVE_PPM, 3 * self.uncertainty_ppm))

    @staticmethod
    def report(estimate: DriftEstimate | None) -> dict | None:
        """What a track's health report says of its drift (None: not measured): the estimate,
        and whether it was corrected, which is whether it needs correction."""
        return estimate.as_dict(corrected=estimate.needs_correction) if estimate else None

    def as_dict(self, *, corrected: bool) -> dict:
        return {
            "drift_ppm": round(self.drift_ppm, 1),
            "method": str(self.method),
            "span_s": round(self.span_s, 3),
            "uncertainty_ppm": round(self.uncertainty_ppm, 1),
            "offset_per_hour_s": round(self.offset_per_hour_s, 3),
            "corrected": corrected,
        }


@dataclass(frozen=True)
class ChunkArrival:
    """A live chunk: where its samples lie on the track and when the service received it
    (seconds on the service's clock, any origin)."""

    start_sample: int
    samples: int
    received_s: float


def drift_from_chunks(
    chunks: Sequence[ChunkArrival], *, rate_hz: int, min_span_s: float = MIN_SPAN_S
) -> DriftEstimate | None:
    """The recorder's drift from when its chunks arrived; None with too few or too short a span.

    A chunk is sent once its last sample is recorded, so its end sample against its arrival is
    the recorder's clock against the service's, plus a network delay that is never negative.
    A straight line through all of them is pulled about by late chunks; the track is cut into
    :data:`ENVELOPE_PIECES` stretches and the line goes through the soonest chunk of each (the
    least delayed), which tracks the clocks themselves; a stretch whose every chunk came late
    (the connection dropped and the recorder resent its backlog) is left out and the line
    drawn again.
    """
    if len(chunks) < 3:
        return None
    ends = np.array([c.start_sample + c.samples for c in chunks], dtype=np.float64) / rate_hz
    received = np.array([c.received_s for c in chunks], dtype=np.float64)
    span_s = float(received.max() - received.min())
    if span_s < min_span_s or float(ends.max() - ends.min()) < min_span_s:
        return None
    order = np.argsort(ends)
    pieces = np.array_split(order, min(ENVELOPE_PIECES, len(order) // 3))
    soonest = [piece[np.argmin(received[piece] - ends[piece])] for piece in pieces]
    x, y = ends[soonest], received[soonest]
    keep = np.ones(len(x), dtype=bool)
    for _ in range(3):  # a stretch sent late as a whole (an outage, resent) is no clock
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        kept = y - (slope * x + intercept) <= LATE_S
        if kept.sum() < 3 or (kept == keep).all():
            break
        keep = kept
    (slope, _), cov = (
        np.polyfit(x[keep], y[keep], 1, cov=True)
        if keep.sum() > 3
        else (np.polyfit(x[keep], y[keep], 1), np.full((2, 2), np.inf))
    )
    # slope: wall seconds per track second; a fast recorder has more track seconds per wall one
    error_ppm = float(np.sqrt(cov[0, 0]) / slope**2 * 1e6)
    ppm = float(1.0 / slope - 1.0) * 1e6
    if not abs(ppm) <= PLAUSIBLE_PPM:
        # No clock runs that far off: the chunks were not sent as they were recorded (a
        # recording replayed faster than real time, a backlog sent after a long outage).
        return None
    return DriftEstimate(ppm, DriftMethod.CHUNKS, span_s, error_ppm)


def drift_from_length(
    track_s: float, room_s: float, *, min_span_s: float = MIN_SPAN_S
) -> DriftEstimate | None:
    """Drift from the track's decoded length against the room time it should span (the room's
    length less the speaker's offset); None when too short or when the mismatch is more than a
    clock can make (the speaker left early, the recorder started late)."""
    if room_s < min_span_s or track_s <= 0:
        return None
    ppm = (track_s / room_s - 1.0) * 1e6
    if abs(ppm) > PLAUSIBLE_PPM:
        return None
    return DriftEstimate(ppm, DriftMethod.LENGTH, room_s, 2 * LENGTH_RESOLUTION_S / room_s * 1e6)


def drift_from_declared_span(
    track_s: float, offset_s: float, end_s: float | None
) -> DriftEstimate | None:
    """Drift from the track's length against the room time the room service says it spans,
    from the speaker's offset to ``end_s`` (the room time of its last sample); None when the
    room did not say."""
    if end_s is None:
        return None
    return drift_from_length(track_s, end_s - offset_s)


def _lag_s(reference: np.ndarray, other: np.ndarray, rate_hz: int) -> tuple[float, float]:
    """How late ``other`` carries what ``reference`` carries (seconds), and the normalized
    correlation at that lag; ``other`` is the shorter window, ``reference`` spans it with
    :data:`CORRELATION_MAX_LAG_S` either side."""
    n = len(reference) + len(other)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(other, size)), size)
    corr = corr[: len(reference) - len(other) + 1]  # other wholly inside reference
    k = int(np.argmax(corr))
    shift = 0.0
    if 0 < k < len(corr) - 1:  # parabolic peak: a fraction of a sample
        a, b, c = corr[k - 1], corr[k], corr[k + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom else 0.0
    aligned = reference[k : k + len(other)]
    energy = math.sqrt(float(np.dot(other, other)) * float(np.dot(aligned, aligned)))
    margin = int(CORRELATION_MAX_LAG_S * rate_hz)
    return (margin - (k + shift)) / rate_hz, float(corr[k]) / energy if energy else 0.0


def _decoded(path: Path, start_s: float, duration_s: float, *, timeout_s: float, label: str):
    with decoded_pcm(
        path, rate_hz=CORRELATION_RATE_HZ, what=f"drift of {label}", timeout_s=timeout_s,
        sample_format="f32le", start_s=max(start_s, 0.0), duration_s=duration_s,
    ) as pcm:  # fmt: skip
        data = np.frombuffer(pcm.read(), dtype=np.float32).astype(np.float64)
    if start_s < 0:  # the window starts before the track: silence there
        data = np.concatenate([np.zeros(round(-start_s * CORRELATION_RATE_HZ)), data])
    return data


def drift_from_shared_voice(
    reference: Path,
    reference_offset_s: float,
    other: Path,
    other_offset_s: float,
    at_s: tuple[float, float],
    *,
    reference_ppm: float = 0.0,
    timeout_s: float,
    label: str,
    min_correlation: float = 0.5,
) -> DriftEstimate | None:
    """The drift of ``other`` from the lag of a voice both tracks carry, measured second by
    second over :data:`CORRELATION_WINDOW_S` from each of the two room times ``at_s`` (chosen
    where that voice speaks, near the start and near the end), plus the reference's own drift.

    Short pieces (a quarter of a second), because drift smears a long one: at 0.1 % an 8 s
    window slides 8 ms from its start to its end, and the voice's formants no longer line up.
    A piece can still match one pitch period off; the fit leaves out pieces more than
    :data:`OUTLIER_S` from the line and is made again. The line through the pieces'
    lags (those that hold the same sound on both, correlation of ``min_correlation`` or more)
    gives the drift; None when either end has fewer than three such pieces."""
    times: list[float] = []
    lags: list[float] = []
    for room_s in at_s:
        ref = _decoded(
            reference, room_s - reference_offset_s - CORRELATION_MAX_LAG_S,
            CORRELATION_WINDOW_S + 2 * CORRELATION_MAX_LAG_S, timeout_s=timeout_s, label=label,
        )  # fmt: skip
        theirs = _decoded(
            other, room_s - other_offset_s, CORRELATION_WINDOW_S, timeout_s=timeout_s, label=label
        )
        found = 0
        piece = round(CORRELATION_PIECE_S * CORRELATION_RATE_HZ)
        margin = round(CORRELATION_MAX_LAG_S * CORRELATION_RATE_HZ)
        for start in range(0, len(theirs) - piece + 1, piece):
            window = ref[start : start + piece + 2 * margin]
            if len(window) < piece + 2 * margin:
                break
            lag_s, strength = _lag_s(window, theirs[start : start + piece], CORRELATION_RATE_HZ)
            if strength >= min_correlation:
                times.append(room_s + start / CORRELATION_RATE_HZ)
                lags.append(lag_s)
                found += 1
        if found < 3:
            return None
    span_s = max(times) - min(times)
    if span_s < MIN_SPAN_S / 2:
        return None
    t, lag = np.array(times), np.array(lags)
    keep = np.ones(len(t), dtype=bool)
    for _ in range(3):  # drop the pieces matched a pitch period off, and fit again
        slope, intercept = np.polyfit(t[keep], lag[keep], 1)
        kept = np.abs(lag - (slope * t + intercept)) <= OUTLIER_S
        if kept.sum() < 6 or (kept == keep).all():
            break
        keep = kept
    relative = float(np.polyfit(t[keep], lag[keep], 1)[0])  # other's extra s per room second
    return DriftEstimate(relative * 1e6 + reference_ppm, DriftMethod.SHARED_VOICE, span_s)


def best_estimate(*estimates: DriftEstimate | None) -> DriftEstimate | None:
    """The estimate to act on: live chunks (the recorder's own clock against the service's),
    then a shared voice, then length (which a recorder that stopped early also shortens)."""
    order = (DriftMethod.CHUNKS, DriftMethod.SHARED_VOICE, DriftMethod.LENGTH)
    found = [e for e in estimates if e is not None]
    return min(found, key=lambda e: order.index(e.method)) if found else None


def correction_filter(drift_ppm: float) -> str:
    """The ffmpeg filter that plays a track drifted by ``drift_ppm`` in room time: resample to
    a rate ``m``, call it ``m + d`` Hz, resample to 48 kHz, where (m + d) / m is the recorder's
    rate over the room's. Both are integers, so ``m`` is picked so that d / m matches the drift
    to a thousandth of a ppm at 50 ppm (and better above), with ``m`` under 70 kHz."""
    scale = drift_ppm * 1e-6
    if scale == 0:
        return "aresample=48000"
    d = max(1, math.ceil(48_000 * abs(scale)))
    m = round(d / abs(scale))
    return f"aresample={m},asetrate={m + d if scale > 0 else m - d},aresample=48000"


def correct_drift(
    path: Path, drift_ppm: float, out: Path, *, timeout_s: float, label: str
) -> FFmpegRun:
    """Write ``out``: the track resampled into room time (FLAC, 48 kHz), streamed by ffmpeg."""
    return run_ffmpeg(
        [
            *input_args(path),
            "-map", "0:a:0", "-af", correction_filter(drift_ppm),
            "-c:a", "flac", output_path(out),
        ],
        timeout_s=timeout_s,
        what=f"drift correction of {label}",
    )  # fmt: skip
