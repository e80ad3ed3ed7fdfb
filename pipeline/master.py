"""Master the mix into the delivered files (MP3, Opus) at the podcast loudness target.

Two passes, as the issue of record asks: the mix was measured when it was made; here a linear gain
and a true-peak limiter (a look-ahead limiter running at 4x oversampling) are applied and each
delivered, encoded file is measured again. A file outside the tolerance is re-rendered with the
error corrected; one still outside after the last pass is an error, never a silent fallback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg

from pipeline.errors import LoudnessTargetMissed
from pipeline.ffmpeg import ALLOWED_DEMUXERS, output_path, run_ffmpeg, run_ffprobe
from pipeline.loudness import Loudness, db_to_linear, dual_mono_offset_db, measure_loudness

OVERSAMPLED_RATE_HZ = 192_000
CHANNELS_OUT = 2  # dual mono: every player plays it at the level it was measured at


@dataclass(frozen=True)
class DeliveryFormat:
    name: str
    extension: str
    mime_type: str
    rate_hz: int
    codec_args: dict[str, str | int]


MP3 = DeliveryFormat("mp3", "mp3", "audio/mpeg", 44_100, {"acodec": "libmp3lame", "b:a": "96k"})
OPUS = DeliveryFormat(
    "opus", "opus", "audio/ogg; codecs=opus", 48_000, {"acodec": "libopus", "b:a": "64k"}
)
FORMATS = {fmt.name: fmt for fmt in (MP3, OPUS)}


def with_bitrate(fmt: DeliveryFormat, bitrate: str) -> DeliveryFormat:
    return DeliveryFormat(
        fmt.name, fmt.extension, fmt.mime_type, fmt.rate_hz, {**fmt.codec_args, "b:a": bitrate}
    )


@dataclass(frozen=True)
class LoudnessTarget:
    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    tolerance_lu: float = 0.5
    # Re-render while further off than this, so the delivered file is well inside the tolerance.
    aim_lu: float = 0.2
    first_ceiling_dbtp: float = -1.5
    max_passes: int = 4


@dataclass(frozen=True)
class Treatment:
    """Gain and limiter ceiling applied to the mix for one delivered file."""

    gain_db: float
    ceiling_dbtp: float


@dataclass
class DeliveredFile:
    fmt: DeliveryFormat
    path: Path
    size_bytes: int
    duration_s: float
    loudness: Loudness
    treatment: Treatment
    passes: int

    def as_dict(self) -> dict:
        return {
            "format": self.fmt.name,
            "mime_type": self.fmt.mime_type,
            "size_bytes": self.size_bytes,
            "duration_s": round(self.duration_s, 3),
            "loudness": self.loudness.as_dict(),
            "gain_db": round(self.treatment.gain_db, 2),
            "limiter_ceiling_dbtp": round(self.treatment.ceiling_dbtp, 2),
            "passes": self.passes,
        }


@dataclass
class MasterResult:
    files: dict[str, DeliveredFile] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    max_rss_mb: float = 0.0


def treatment_chain(stream: ffmpeg.nodes.FilterableStream, treatment: Treatment):
    """Gain, oversampled look-ahead limiter, back to 48 kHz, mono copied to both channels."""
    return (
        stream.filter("volume", f"{treatment.gain_db:.3f}dB")
        .filter("aresample", OVERSAMPLED_RATE_HZ)
        .filter(
            "alimiter",
            limit=f"{db_to_linear(treatment.ceiling_dbtp):.5f}",
            attack=1,
            release=50,
            level=0,
            latency=1,
        )
        .filter("aresample", 48_000)
        .filter("channelmap", map="0|0", channel_layout="stereo")
    )


@dataclass(frozen=True)
class Render:
    """One delivered file to render: its format, treatment and destination."""

    fmt: DeliveryFormat
    treatment: Treatment
    path: Path


def master_command(mix: Path, renders: Sequence[Render]) -> list[str]:
    """ffmpeg arguments rendering every file in one pass; equal treatments share one chain."""
    source = ffmpeg.input(
        f"file:{mix}", protocol_whitelist="file", format_whitelist=ALLOWED_DEMUXERS
    ).audio
    by_treatment: dict[Treatment, list[Render]] = {}
    for render in renders:
        by_treatment.setdefault(render.treatment, []).append(render)
    sources = (
        source.filter_multi_output("asplit", len(by_treatment)) if len(by_treatment) > 1 else None
    )
    outputs = []
    for index, (treatment, group) in enumerate(by_treatment.items()):
        branch = sources[index] if sources is not None else source
        chain = treatment_chain(branch, treatment)
        legs = chain.filter_multi_output("asplit", len(group)) if len(group) > 1 else None
        for leg_index, render in enumerate(group):
            leg = legs[leg_index] if legs is not None else chain
            fmt = render.fmt
            outputs.append(
                ffmpeg.output(leg, output_path(render.path), ar=fmt.rate_hz, **fmt.codec_args)
            )
    return ffmpeg.merge_outputs(*outputs).compile(cmd=[])


def first_treatment(mix_loudness: Loudness, target: LoudnessTarget) -> Treatment:
    """Gain that brings the measured mono mix to the target once copied to both channels."""
    stereo_lufs = mix_loudness.integrated_lufs + dual_mono_offset_db(CHANNELS_OUT)
    return Treatment(target.integrated_lufs - stereo_lufs, target.first_ceiling_dbtp)


def corrected_treatment(
    previous: Treatment, measured: Loudness, target: LoudnessTarget
) -> Treatment:
    """Next pass: correct the loudness error; lower the ceiling by any true-peak overshoot."""
    gain = previous.gain_db + (target.integrated_lufs - measured.integrated_lufs)
    ceiling = previous.ceiling_dbtp
    if measured.true_peak_dbtp > target.true_peak_dbtp - 0.1:
        ceiling -= measured.true_peak_dbtp - target.true_peak_dbtp + 0.3
    return Treatment(gain, ceiling)


def _within(measured: Loudness, target: LoudnessTarget, tolerance: float) -> bool:
    return (
        abs(measured.integrated_lufs - target.integrated_lufs) <= tolerance
        and math.isfinite(measured.true_peak_dbtp)
        and measured.true_peak_dbtp <= target.true_peak_dbtp
    )


def master_episode(
    mix: Path,
    mix_loudness: Loudness,
    out_dir: Path,
    *,
    formats: Sequence[DeliveryFormat],
    target: LoudnessTarget,
    timeout_s: float,
    stem: str = "episode",
    on_progress: Callable[[float], None] | None = None,
) -> MasterResult:
    """Render ``formats`` from ``mix`` into ``out_dir`` and prove each meets ``target``."""
    result = MasterResult()
    treatments = {fmt.name: first_treatment(mix_loudness, target) for fmt in formats}
    pending = list(formats)
    last: dict[str, Loudness] = {}
    for pass_number in range(1, target.max_passes + 1):
        renders = [
            Render(fmt, treatments[fmt.name], out_dir / f"{stem}.{fmt.extension}")
            for fmt in pending
        ]
        run = run_ffmpeg(
            master_command(mix, renders),
            timeout_s=timeout_s,
            what="mastering the episode",
            on_progress=on_progress,
        )
        result.cpu_s += run.cpu_s
        result.wall_s += run.wall_s
        result.max_rss_mb = max(result.max_rss_mb, run.max_rss_mb)
        still_pending = []
        for render in renders:
            fmt, path = render.fmt, render.path
            measured = measure_loudness(path, what=f"measuring {path.name}", timeout_s=timeout_s)
            last[fmt.name] = measured
            info = run_ffprobe(path, what=path.name)
            result.files[fmt.name] = DeliveredFile(
                fmt=fmt,
                path=path,
                size_bytes=path.stat().st_size,
                duration_s=float(info.get("format", {}).get("duration") or 0.0),
                loudness=measured,
                treatment=render.treatment,
                passes=pass_number,
            )
            if not _within(measured, target, target.aim_lu):
                treatments[fmt.name] = corrected_treatment(render.treatment, measured, target)
                still_pending.append(fmt)
        pending = still_pending
        if not pending:
            break
    for fmt in pending:
        measured = last[fmt.name]
        if not _within(measured, target, target.tolerance_lu):
            raise LoudnessTargetMissed(
                f"{fmt.name}: {measured.integrated_lufs:.1f} LUFS, "
                f"{measured.true_peak_dbtp:.1f} dBTP "
                f"after {target.max_passes} passes; target {target.integrated_lufs:.1f} LUFS "
                f"+/- {target.tolerance_lu} LU, true peak <= {target.true_peak_dbtp:.1f} dBTP"
            )
    return result
