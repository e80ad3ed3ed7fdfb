"""Track health: how one speaker's recording sounds before any processing — speech level, noise
floor, mains hum, clipping and gaps — measured in one streamed pass over the decoded track.

The track is decoded by ffmpeg to mono 32-bit float at 48 kHz and read a second at a time, so
memory stays the same for any length. Frames of 100 ms give the levels: speech frames (inside
the activity stage's speech windows) the speech level, frames well away from speech the noise
floor (their 20th percentile: the room between words, not a cough). Whole seconds away from
speech are Hann-windowed into a 1 Hz power spectrum, where mains hum shows as narrow peaks at
50 or 60 Hz and their harmonics standing over the bins around them. Clipping is a run of three
or more samples at full scale; a gap is 300 ms or more of exact digital silence inside the track
(a dropout, a lost chunk), which no microphone records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.ffmpeg import decoded_pcm

RATE_HZ = 48_000
FRAME = RATE_HZ // 10  # 100 ms
SPEECH_MARGIN_S = 0.3  # frames this close to speech are neither speech nor noise
NOISE_PERCENTILE = 20.0
CLIP_LEVEL = 0.999
CLIP_RUN = 3  # consecutive samples at full scale
GAP_FRAMES = 3  # 300 ms of digital silence
HUM_BASES_HZ = (50.0, 60.0)
HUM_HARMONICS = 4
HUM_PROMINENCE_DB = 12.0  # a harmonic this far over its neighbourhood is hum
NOISY_FLOOR_DBFS = -55.0  # a room this loud between words is worth reducing
SILENT_DBFS = -120.0


@dataclass(frozen=True)
class TrackHealth:
    """What one track holds, as recorded (levels in dBFS of the decoded mono signal)."""

    duration_s: float
    speech_rms_dbfs: float | None  # None: no speech found
    noise_floor_dbfs: float
    peak_dbfs: float
    hum_hz: float | None  # 50 or 60 when hum stands out, else None
    hum_prominence_db: float  # the strongest hum harmonic over its neighbouring bins
    hum_level_dbfs: float  # the hum's own level (the peaks' power), whether detected or not
    clipped_samples: int
    clipped_s: float  # seconds of audio around clipped runs (one 100 ms frame per clipped frame)
    gaps: int
    gap_s: float
    # The room's noise without the hum (20 Hz up, hum harmonics left out of the spectrum): what
    # noise reduction has to deal with once the hum is notched.
    broadband_floor_dbfs: float = SILENT_DBFS
    cpu_s: float = 0.0  # what measuring took: the decoder and this process

    @property
    def snr_db(self) -> float | None:
        if self.speech_rms_dbfs is None:
            return None
        return self.speech_rms_dbfs - self.noise_floor_dbfs

    @property
    def noisy(self) -> bool:
        return self.broadband_floor_dbfs > NOISY_FLOOR_DBFS

    def problems(self) -> list[str]:
        """What a host should know, in words."""
        found = []
        if self.speech_rms_dbfs is None:
            found.append("no speech found")
        if self.noisy:
            room = f"{self.broadband_floor_dbfs:.0f} dBFS"
            found.append(f"noisy: the room between words is at {room}")
        if self.hum_hz:
            found.append(
                f"{self.hum_hz:.0f} Hz hum ({self.hum_prominence_db:.0f} dB over the room)"
            )
        if self.clipped_samples:
            found.append(f"clipping: {self.clipped_s:.1f} s of audio hit full scale")
        if self.gaps:
            found.append(f"{self.gaps} gap(s) of digital silence, {self.gap_s:.1f} s in all")
        return found

    def as_dict(self) -> dict:
        def db(value: float | None) -> float | None:
            return None if value is None else round(max(value, SILENT_DBFS), 1)

        return {
            "duration_s": round(self.duration_s, 3),
            "speech_rms_dbfs": db(self.speech_rms_dbfs),
            "noise_floor_dbfs": db(self.noise_floor_dbfs),
            "broadband_floor_dbfs": db(self.broadband_floor_dbfs),
            "snr_db": None if self.snr_db is None else round(self.snr_db, 1),
            "peak_dbfs": db(self.peak_dbfs),
            "hum_hz": self.hum_hz,
            "hum_prominence_db": round(self.hum_prominence_db, 1),
            "hum_level_dbfs": db(self.hum_level_dbfs),
            "clipped_samples": self.clipped_samples,
            "clipped_s": round(self.clipped_s, 2),
            "gaps": self.gaps,
            "gap_s": round(self.gap_s, 2),
            "problems": self.problems(),
        }


def _db(power: float) -> float:
    return 10.0 * math.log10(power) if power > 0 else SILENT_DBFS


def _near_speech(spans: np.ndarray, start_s: float, end_s: float, margin_s: float) -> bool:
    """Does [start_s, end_s) come within ``margin_s`` of a span (rows of start, end)?"""
    if not len(spans):
        return False
    return bool(np.any((spans[:, 0] - margin_s < end_s) & (spans[:, 1] + margin_s > start_s)))


def _inside_speech(spans: np.ndarray, start_s: float, end_s: float) -> bool:
    if not len(spans):
        return False
    return bool(np.any((spans[:, 0] <= start_s) & (spans[:, 1] >= end_s)))


def without_hum(bins: int) -> np.ndarray:
    """A mask of the 1 Hz bins from 20 Hz up, leaving out 3 Hz around every hum harmonic."""
    mask = np.ones(bins, dtype=bool)
    mask[:20] = False
    for base in HUM_BASES_HZ:
        for k in range(1, HUM_HARMONICS + 1):
            f = round(base * k)
            mask[max(0, f - 3) : f + 4] = False
    return mask


def hum_of(spectrum: np.ndarray) -> tuple[float | None, float, float]:
    """(50 or 60 Hz or None, prominence dB, hum level dBFS) from a 1 Hz power spectrum of
    full-scale-normalized power (bin ``i`` is ``i`` Hz)."""
    best: tuple[float | None, float, float] = (None, 0.0, SILENT_DBFS)
    for base in HUM_BASES_HZ:
        prominences = []
        peak_power = 0.0
        for k in range(1, HUM_HARMONICS + 1):
            f = round(base * k)
            if f + 20 >= len(spectrum):
                break
            peak = float(spectrum[f - 1 : f + 2].max())
            around = np.concatenate([spectrum[f - 20 : f - 4], spectrum[f + 5 : f + 21]])
            floor = float(np.median(around))
            prominences.append(_db(peak) - _db(floor) if floor > 0 else 0.0)
            peak_power += float(spectrum[f - 1 : f + 2].sum())
        prominence = max(prominences or [0.0])
        if prominence > best[1]:
            best = (base if prominence >= HUM_PROMINENCE_DB else None, prominence, _db(peak_power))
    return best


def measure_health(
    path,
    speech: Sequence[tuple[float, float]],
    *,
    timeout_s: float,
    label: str,
) -> TrackHealth:
    """The health of one track; ``speech``: when the speaker speaks, in track seconds."""
    spans = np.array(sorted(speech), dtype=np.float64).reshape(-1, 2)
    speech_power: list[float] = []
    noise_rms: list[float] = []
    all_rms: list[float] = []
    spectrum = np.zeros(RATE_HZ // 2 + 1)
    spectra = 0
    fallback = np.zeros(RATE_HZ // 2 + 1)
    fallback_n = 0
    window = np.hanning(RATE_HZ)
    window_power = float(np.sum(window**2))
    peak = 0.0
    clipped = 0
    clipped_frames = 0
    silent_run = 0
    gaps: list[int] = []
    heard = False  # a non-silent frame came before (a gap lies inside the track)
    consumed = 0
    cpu_started = time.process_time()
    decoder_cpu_s: list[float] = []
    with decoded_pcm(
        path, rate_hz=RATE_HZ, what=f"track health of {label}", timeout_s=timeout_s,
        sample_format="f32le", cpu_s=decoder_cpu_s,
    ) as pcm:  # fmt: skip
        for chunk in _seconds(pcm):
            start_s = consumed / RATE_HZ
            frames = chunk.reshape(-1, FRAME)
            magnitude = np.abs(frames)
            peak = max(peak, float(magnitude.max()))
            at_full = magnitude >= CLIP_LEVEL
            if at_full.any():
                runs = _runs_at_least(at_full, CLIP_RUN)
                clipped += int(runs.sum())
                clipped_frames += int((runs > 0).sum())
            power = np.mean(np.square(frames, dtype=np.float64), axis=1)
            for i, p in enumerate(power):
                a = start_s + i * FRAME / RATE_HZ
                b = a + FRAME / RATE_HZ
                if p == 0.0:
                    silent_run += 1
                    continue
                if silent_run >= GAP_FRAMES and heard:
                    gaps.append(silent_run)
                silent_run = 0
                heard = True
                all_rms.append(p)
                if _inside_speech(spans, a, b):
                    speech_power.append(p)
                elif not _near_speech(spans, a, b, SPEECH_MARGIN_S):
                    noise_rms.append(p)
            if len(chunk) == RATE_HZ and power.min() > 0:  # a whole second, no dropout
                power_spectrum = np.abs(np.fft.rfft(chunk * window)) ** 2 / (window_power * RATE_HZ)
                if not _near_speech(spans, start_s, start_s + 1.0, SPEECH_MARGIN_S):
                    spectrum += power_spectrum
                    spectra += 1
                else:
                    fallback += power_spectrum
                    fallback_n += 1
            consumed += len(chunk)
    # A track that ends in digital silence ends there; that is not a gap.
    floor_from = noise_rms or all_rms
    noise_floor = (
        _db(float(np.percentile(floor_from, NOISE_PERCENTILE))) if floor_from else SILENT_DBFS
    )
    if not spectra and fallback_n:
        spectrum, spectra = fallback, fallback_n
    power = spectrum / max(spectra, 1) * 2  # mean power per 1 Hz bin, full scale = 0 dB
    hum_hz, prominence, hum_level = hum_of(power)
    broadband = _db(float(power[without_hum(len(power))].sum())) if spectra else noise_floor
    return TrackHealth(
        duration_s=consumed / RATE_HZ,
        speech_rms_dbfs=_db(float(np.mean(speech_power))) if speech_power else None,
        noise_floor_dbfs=noise_floor,
        peak_dbfs=20 * math.log10(peak) if peak > 0 else SILENT_DBFS,
        hum_hz=hum_hz,
        hum_prominence_db=prominence,
        hum_level_dbfs=hum_level,
        clipped_samples=clipped,
        clipped_s=clipped_frames * FRAME / RATE_HZ,
        gaps=len(gaps),
        gap_s=sum(gaps) * FRAME / RATE_HZ,
        broadband_floor_dbfs=broadband,
        cpu_s=time.process_time() - cpu_started + sum(decoder_cpu_s),
    )


def _seconds(pcm) -> Iterator[np.ndarray]:
    """The decoded samples a second at a time (the last piece cut to whole 100 ms frames)."""
    second = RATE_HZ * 4
    buffer = b""
    while data := pcm.read(second - len(buffer)):
        buffer += data
        if len(buffer) == second:
            yield np.frombuffer(buffer, dtype=np.float32)
            buffer = b""
    usable = len(buffer) - len(buffer) % (FRAME * 4)
    if usable:
        yield np.frombuffer(buffer[:usable], dtype=np.float32)


def _runs_at_least(flags: np.ndarray, length: int) -> np.ndarray:
    """Per frame (row), how many samples lie in runs of at least ``length`` set flags."""
    counts = np.zeros(flags.shape[0], dtype=np.int64)
    for row in np.nonzero(flags.any(axis=1))[0]:
        padded = np.concatenate([[0], flags[row].astype(np.int8), [0]])
        edges = np.diff(padded)
        starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
        lengths = ends - starts
        counts[row] = int(lengths[lengths >= length].sum())
    return counts
