"""Probe and validate one participant's track with ffprobe, never trusting its name or extension."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import FFmpegFailed, InvalidTrack
from pipeline.ffmpeg import input_args, run_ffmpeg, run_ffprobe

# Below this many bytes per declared second a header's duration is not believed: the quietest
# Opus stream spends more. The track is then decoded to measure its real length.
_MIN_PLAUSIBLE_BYTES_PER_S = 150


@dataclass(frozen=True)
class TrackLimits:
    """What Spacecast accepts as one participant's track."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 6 * 3600.0
    max_channels: int = 8
    min_rate_hz: int = 8_000
    max_rate_hz: int = 192_000
    measure_timeout_s: float = 600.0


@dataclass(frozen=True)
class TrackProbe:
    """What ffprobe found in a track."""

    format_name: str
    codec: str
    sample_rate_hz: int
    channels: int
    duration_s: float
    size_bytes: int
    bit_rate: int | None
    duration_measured: bool  # True when the duration came from decoding, not the header

    def as_dict(self) -> dict:
        return asdict(self)


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _measure_duration(path: Path, *, label: str, timeout_s: float) -> float:
    seen = [0.0]

    def _note(seconds: float) -> None:
        seen[0] = max(seen[0], seconds)

    run_ffmpeg(
        [*input_args(path), "-map", "0:a:0", "-f", "null", "-"],
        timeout_s=timeout_s,
        what=label,
        on_progress=_note,
    )
    return seen[0]


def probe_track(
    path: Path, *, label: str | None = None, limits: TrackLimits | None = None
) -> TrackProbe:
    """Return the track's format, or raise :class:`InvalidTrack` saying what is wrong with it.

    ``label`` is how the track is named in messages (a file name or a participant).
    """
    limits = limits or TrackLimits()
    label = label or path.name
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InvalidTrack(f"{label}: cannot read the file ({exc.strerror})") from None
    if size == 0:
        raise InvalidTrack(f"{label}: the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise InvalidTrack(
            f"{label}: the file is {size / 1024**2:.0f} MiB, over the limit of "
            f"{limits.max_bytes / 1024**2:.0f} MiB"
        )
    try:
        info = run_ffprobe(path, what=label)
    except FFmpegFailed as exc:
        detail = str(exc).removeprefix(f"{label}: ")
        raise InvalidTrack(f"{label}: not an audio file ffmpeg can read ({detail})") from None

    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise InvalidTrack(f"{label}: not an audio file (ffprobe found no audio stream)")
    stream = streams[0]
    fmt = info.get("format", {})
    rate = int(_float(stream.get("sample_rate")) or 0)
    channels = int(stream.get("channels") or 0)
    if channels < 1:
        raise InvalidTrack(f"{label}: the audio stream has no channels")
    if channels > limits.max_channels:
        raise InvalidTrack(
            f"{label}: {channels} channels, more than the {limits.max_channels} accepted"
        )
    if not limits.min_rate_hz <= rate <= limits.max_rate_hz:
        raise InvalidTrack(
            f"{label}: sample rate {rate} Hz is outside "
            f"{limits.min_rate_hz}-{limits.max_rate_hz} Hz"
        )

    declared = _float(stream.get("duration")) or _float(fmt.get("duration"))
    plausible = (
        declared is not None and declared > 0 and size / declared >= _MIN_PLAUSIBLE_BYTES_PER_S
    )
    if plausible and declared is not None and declared > limits.max_duration_s:
        raise InvalidTrack(
            f"{label}: {declared / 3600:.1f} h long, over the limit of "
            f"{limits.max_duration_s / 3600:.1f} h"
        )
    measured = not plausible
    if plausible:
        duration = declared or 0.0
    else:
        try:
            duration = _measure_duration(path, label=label, timeout_s=limits.measure_timeout_s)
        except FFmpegFailed as exc:
            detail = str(exc).removeprefix(f"{label}: ")
            raise InvalidTrack(f"{label}: the audio cannot be decoded ({detail})") from None
        if duration > limits.max_duration_s:
            raise InvalidTrack(
                f"{label}: {duration / 3600:.1f} h long, over the limit of "
                f"{limits.max_duration_s / 3600:.1f} h"
            )
        if declared is not None and declared > 2 * duration + 60:
            raise InvalidTrack(
                f"{label}: the header declares {declared / 3600:.1f} h but the file holds "
                f"{duration:.1f} s of audio; the file is corrupt or forged"
            )
    if duration <= 0.0:
        raise InvalidTrack(f"{label}: the audio stream holds no samples")

    bit_rate = _float(fmt.get("bit_rate"))
    return TrackProbe(
        format_name=str(fmt.get("format_name", "unknown")),
        codec=str(stream.get("codec_name", "unknown")),
        sample_rate_hz=rate,
        channels=channels,
        duration_s=round(duration, 3),
        size_bytes=size,
        bit_rate=int(bit_rate) if bit_rate else None,
        duration_measured=measured,
    )
