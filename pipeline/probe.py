"""Probe and validate one participant's track with ffprobe, never trusting its name or extension,
and measure its length from the audio stream itself rather than from what its header says."""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import FFmpegFailed, InvalidTrack, TimeLimitExceeded
from pipeline.ffmpeg import input_args, run_ffmpeg, run_ffprobe

# A header's duration is kept (it is exact, where timestamps tell the end only to within a packet)
# when the stream's own timestamps agree with it this closely.
_HEADER_AGREES_S = 0.2
# Codecs whose every packet holds a fixed number of samples (at least this many, at the stream's
# rate), so the packet count alone bounds the length from below whatever the timestamps claim.
_MIN_SAMPLES_PER_PACKET = {"aac": 1024, "mp3": 576, "mp2": 576}
# Timestamps that add up to less than the packets hold, beyond this, were forged.
_PACKETS_AGREE_RATIO = 1.5
_PACKETS_AGREE_S = 2.0
_PCM_BITS = re.compile(r"^pcm_[suf](\d+)")
_MUXED = re.compile(r"Output stream #0:0 \(audio\): (\d+) packets muxed \((\d+) bytes\)")


@dataclass(frozen=True)
class TrackLimits:
    """What Spacecast accepts as one participant's track."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 6 * 3600.0
    max_channels: int = 8
    min_rate_hz: int = 8_000
    max_rate_hz: int = 192_000
    # Wall time allowed for reading the stream to measure its length (no decoding: demuxing a
    # 6-hour track takes about a second).
    measure_timeout_s: float = 120.0


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
    duration_measured: bool  # True when the length came from the stream, not the header

    def stored(self) -> dict:
        """What is kept of an accepted file with its row (a track, the host's own audio)."""
        return {
            "size_bytes": self.size_bytes,
            "format_name": self.format_name,
            "codec": self.codec,
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "duration_s": self.duration_s,
        }

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StreamLength:
    """The length of an audio stream as its packets tell it, read without decoding."""

    end_s: float  # where the last packet read ends, by its timestamps
    packets: int
    packet_bytes: int
    stopped: bool  # reading stopped at the limit: the stream goes on past ``end_s``


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def length_text(seconds: float) -> str:
    """A length as a person reads it: 45.2 s, 12.5 min, 6.1 h."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def measure_stream(
    path: Path, *, label: str, stop_after_s: float, timeout_s: float
) -> StreamLength:
    """Read the first audio stream's packets (stream copy to the null muxer: demuxing only, no
    decoding) up to ``stop_after_s``; return where they end and how many there were."""
    last_s = [0.0]

    def _note(seconds: float) -> None:
        last_s[0] = max(last_s[0], seconds)

    run = run_ffmpeg(
        [
            *("-loglevel", "verbose"),
            *input_args(path),
            *("-map", "0:a:0", "-c", "copy", "-t", f"{stop_after_s:.3f}", "-f", "null", "-"),
        ],
        timeout_s=timeout_s,
        what=label,
        on_progress=_note,
    )
    muxed = _MUXED.findall(run.stderr)
    packets, packet_bytes = (int(muxed[-1][0]), int(muxed[-1][1])) if muxed else (0, 0)
    end_s = last_s[0]
    if packets > 1:
        # The progress report gives the last packet's start for codecs whose packets vary in
        # length (Opus, FLAC, Vorbis); add one average packet.
        end_s += end_s / (packets - 1)
    return StreamLength(end_s, packets, packet_bytes, stopped=end_s >= stop_after_s)


def packets_hold_at_least_s(
    codec: str, profile: str, rate_hz: int, channels: int, length: StreamLength
) -> float:
    """The least audio the packets read can hold, from their count or size alone (0 when the
    codec's packets vary too much to tell)."""
    pcm = _PCM_BITS.match(codec)
    if pcm:
        return length.packet_bytes / (int(pcm.group(1)) // 8 * channels) / rate_hz
    if codec in ("pcm_alaw", "pcm_mulaw"):
        return length.packet_bytes / channels / rate_hz
    per_packet = _MIN_SAMPLES_PER_PACKET.get(codec)
    if per_packet is None or "LD" in profile:  # AAC-LD frames hold 480 or 512 samples
        return 0.0
    if codec in ("mp3", "mp2") and rate_hz >= 32_000:
        per_packet = 1152  # MPEG-1 layer II/III; MPEG-2 and 2.5 (below 32 kHz) hold 576
    return length.packets * per_packet / rate_hz


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
    except (FFmpegFailed, TimeLimitExceeded) as exc:
        detail = str(exc).removeprefix(f"{label}: ")
        raise InvalidTrack(f"{label}: not an audio file ffmpeg can read ({detail})") from None

    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not streams:
        raise InvalidTrack(f"{label}: not an audio file (ffprobe found no audio stream)")
    stream = streams[0]
    fmt = info.get("format", {})
    rate = int(_float(stream.get("sample_rate")) or 0)
    channels = int(stream.get("channels") or 0)
    codec = str(stream.get("codec_name", "unknown"))
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
    limit = limits.max_duration_s
    try:
        length = measure_stream(
            path, label=label, stop_after_s=limit + 1.0, timeout_s=limits.measure_timeout_s
        )
    except FFmpegFailed as exc:
        detail = str(exc).removeprefix(f"{label}: ")
        raise InvalidTrack(f"{label}: the audio cannot be read ({detail})") from None
    except TimeLimitExceeded:
        raise InvalidTrack(
            f"{label}: reading the audio to measure its length took longer than "
            f"{limits.measure_timeout_s:.0f} s; the file is corrupt or forged"
        ) from None
    if length.packets == 0:
        raise InvalidTrack(f"{label}: the audio stream holds no samples")
    header = f"; its header claims {length_text(declared)}" if declared else ""
    if length.stopped:
        raise InvalidTrack(
            f"{label}: the audio lasts more than {length_text(limit)}, over the limit of "
            f"{length_text(limit)}{header}"
        )
    held = packets_hold_at_least_s(codec, str(stream.get("profile", "")), rate, channels, length)
    if held > _PACKETS_AGREE_RATIO * length.end_s + _PACKETS_AGREE_S:
        raise InvalidTrack(
            f"{label}: its timestamps add up to {length_text(length.end_s)} but its "
            f"{length.packets} {codec} packets hold at least {length_text(held)} of audio; "
            "the file is corrupt or forged"
        )
    if declared is not None and declared > 2 * length.end_s + 60:
        raise InvalidTrack(
            f"{label}: the header declares {length_text(declared)} but the file holds "
            f"{length_text(length.end_s)} of audio; the file is corrupt or forged"
        )
    agrees = declared is not None and abs(declared - length.end_s) <= _HEADER_AGREES_S
    duration = declared if agrees and declared is not None else length.end_s
    if max(duration, held) > limit:
        raise InvalidTrack(
            f"{label}: {length_text(max(duration, held))} long, over the limit of "
            f"{length_text(limit)}"
        )
    if duration <= 0.0:
        raise InvalidTrack(f"{label}: the audio stream holds no samples")

    bit_rate = _float(fmt.get("bit_rate"))
    return TrackProbe(
        format_name=str(fmt.get("format_name", "unknown")),
        codec=codec,
        sample_rate_hz=rate,
        channels=channels,
        duration_s=round(duration, 3),
        size_bytes=size,
        bit_rate=int(bit_rate) if bit_rate else None,
        duration_measured=not agrees,
    )
