"""When each speaker speaks, on the room timeline: Silero voice activity detection (shipped inside
faster-whisper) over their own track, streamed in bounded windows.

Used for airtime (how much of the conversation someone spoke), the bleed check, and deciding who
is audible in a clip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import TimeLimitExceeded
from pipeline.ffmpeg import decoded_pcm

RATE_HZ = 16_000
_READ_BYTES = RATE_HZ * 2 * 10


@dataclass(frozen=True)
class SpeechActivity:
    segments: tuple[tuple[float, float], ...]  # (start_s, end_s) on the room timeline
    audio_s: float

    @property
    def speech_s(self) -> float:
        return sum(end - start for start, end in self.segments)

    def as_dict(self) -> dict:
        return {
            "segments": [[round(a, 3), round(b, 3)] for a, b in self.segments],
            "audio_s": round(self.audio_s, 3),
            "speech_s": round(self.speech_s, 3),
        }

    def on_track(self, offset_s: float) -> list[tuple[float, float]]:
        """The segments in seconds of the speaker's own track, which started at ``offset_s``."""
        return [(start - offset_s, end - offset_s) for start, end in self.segments]

    @classmethod
    def from_dict(cls, data: dict) -> SpeechActivity:
        return cls(tuple((float(a), float(b)) for a, b in data["segments"]), float(data["audio_s"]))


def speech_within(segments: Sequence[tuple[float, float]], start_s: float, end_s: float) -> float:
    """Seconds of ``segments`` that fall between ``start_s`` and ``end_s``."""
    return sum(max(0.0, min(b, end_s) - max(a, start_s)) for a, b in segments)


def merge_segments(segments: list[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(segments):
        if merged and start - merged[-1][1] <= gap_s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def detect_speech(
    path: Path,
    *,
    offset_s: float,
    timeout_s: float,
    window_s: float = 600.0,
    label: str = "track",
) -> SpeechActivity:
    """Speech segments of one track, shifted by its ``offset_s`` onto the room timeline."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)
    window = int(window_s * RATE_HZ)
    started = time.monotonic()
    found: list[tuple[float, float]] = []
    consumed = 0
    buffered = np.zeros(0, dtype=np.int16)

    def _scan(chunk: np.ndarray, chunk_start: int) -> None:
        audio = chunk.astype(np.float32) / 32768.0
        base = offset_s + chunk_start / RATE_HZ
        for stamp in get_speech_timestamps(audio, options):
            found.append((base + stamp["start"] / RATE_HZ, base + stamp["end"] / RATE_HZ))

    with decoded_pcm(
        path, rate_hz=RATE_HZ, what=f"speech activity of {label}", timeout_s=timeout_s
    ) as pcm:
        leftover = b""
        while data := pcm.read(_READ_BYTES):
            data = leftover + data
            usable = len(data) - len(data) % 2
            leftover = data[usable:]
            buffered = np.concatenate([buffered, np.frombuffer(data[:usable], dtype=np.int16)])
            while len(buffered) >= window:
                _scan(buffered[:window], consumed)
                consumed += window
                buffered = buffered[window:].copy()
            if time.monotonic() - started > timeout_s:
                raise TimeLimitExceeded(
                    f"speech activity of {label}: over the {timeout_s:.0f} s limit"
                )
    if len(buffered):
        _scan(buffered, consumed)
        consumed += len(buffered)
    # Windows are cut blindly; a segment split at a window edge is joined again here.
    return SpeechActivity(tuple(merge_segments(found, gap_s=0.05)), consumed / RATE_HZ)


def merge_windows(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``spans`` sorted, touching and overlapping ones joined."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
