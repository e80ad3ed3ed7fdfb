"""Master the mix into the delivered files (MP3, Opus) at the podcast loudness target.

Two passes, as the issue of record asks: the mix was measured when it was made; here a linear gain
and a look-ahead limiter are applied and each delivered, encoded file is measured again (integrated
loudness and true peak). The first pass limits sample peaks at 48 kHz, 1 dB under the true-peak
ceiling, which is usually enough for speech; a file outside the tolerance is rendered again with
the loudness error corrected and, if its true peak was over, a lower ceiling and a limiter running
at 4x oversampling (a true-peak limiter). One still outside after the last pass is an error, never
a silent fallback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import ffmpeg

from pipeline.edits import EditPlan, HostAudioInputs, cut_filter, host_audio_filter
from pipeline.errors import LoudnessTargetMissed
from pipeline.ffmpeg import ALLOWED_DEMUXERS, FFmpegRun, output_path, run_ffmpeg_teed
from pipeline.loudness import (
    MEASURE_FILTER,
    Loudness,
    db_to_linear,
    dual_mono_offset_db,
    summary_of,
)

OVERSAMPLED_RATE_HZ = 192_000
CHANNELS_OUT = 2  # dual mono: every player plays it at the level it was measured at


@dataclass(frozen=True)
class DeliveryFormat:
    name: str
    extension: str
    mime_type: str
    rate_hz: int
    codec_args: dict[str, str | int]
    container: str  # ffmpeg's name for the file format
    # Loudness the encoder typically takes off speech, added to the first pass's gain so that
    # pass usually lands inside the tolerance (the delivered file is measured either way).
    encoder_loss_db: float = 0.0


MP3 = DeliveryFormat(
    "mp3",
    "mp3",
    "audio/mpeg",
    44_100,
    # LAME quality 5 (its command line's default): a quarter faster than ffmpeg's default of 3,
    # with no audible difference for speech at 96 kb/s.
    {"acodec": "libmp3lame", "b:a": "96k", "compression_level": 5},
    container="mp3",
    encoder_loss_db=0.4,
)
OPUS = DeliveryFormat(
    "opus",
    "opus",
    "audio/ogg; codecs=opus",
    48_000,
    {"acodec": "libopus", "b:a": "64k"},
    container="ogg",
)
FORMATS = {fmt.name: fmt for fmt in (MP3, OPUS)}


def with_bitrate(fmt: DeliveryFormat, bitrate: str) -> DeliveryFormat:
    return replace(fmt, codec_args={**fmt.codec_args, "b:a": bitrate})


@dataclass(frozen=True)
class LoudnessTarget:
    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    tolerance_lu: float = 0.5
    # Re-render while further off than this, so the delivered file is well inside the tolerance.
    aim_lu: float = 0.2
    first_ceiling_dbtp: float = -2.0
    max_passes: int = 4

    def as_dict(self) -> dict:
        """What a report says of the target."""
        return {
            "integrated_lufs": self.integrated_lufs,
            "true_peak_dbtp": self.true_peak_dbtp,
            "tolerance_lu": self.tolerance_lu,
        }


@dataclass(frozen=True)
class Treatment:
    """Gain and limiter ceiling applied to the mix for one delivered file."""

    gain_db: float
    ceiling_dbtp: float
    oversample: bool = False  # limit at 192 kHz (true peaks) instead of 48 kHz (sample peaks)


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
            "limiter_oversampled": self.treatment.oversample,
            "passes": self.passes,
        }


@dataclass
class MasterResult:
    files: dict[str, DeliveredFile] = field(default_factory=dict)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    max_rss_mb: float = 0.0


def treatment_chain(stream: ffmpeg.nodes.FilterableStream, treatment: Treatment):
    """Gain, look-ahead limiter (oversampled or not), mono copied to both channels."""
    stream = stream.filter("volume", f"{treatment.gain_db:.3f}dB")
    if treatment.oversample:
        stream = stream.filter("aresample", OVERSAMPLED_RATE_HZ)
    stream = stream.filter(
        "alimiter",
        limit=f"{db_to_linear(treatment.ceiling_dbtp):.5f}",
        attack=1,
        release=50,
        level=0,
        latency=1,
    )
    if treatment.oversample:
        stream = stream.filter("aresample", 48_000)
    return stream.filter("channelmap", map="0|0", channel_layout="stereo")


@dataclass(frozen=True)
class Render:
    """One delivered file to render: its format, treatment and destination."""

    fmt: DeliveryFormat
    treatment: Treatment
    path: Path


@dataclass(frozen=True)
class Excerpt:
    """A range of the mix to render instead of all of it (a clip), faded in and out."""

    start_s: float
    duration_s: float
    fade_s: float = 0.25


@dataclass(frozen=True)
class Edits:
    """A host's edits to render: the plan's kept spans of the room, cut out of a mix whose
    first sample is room time ``mix_start_s``, with the host's audio (``host``) if it has any."""

    plan: EditPlan
    mix_start_s: float
    host: HostAudioInputs | None = None


def master_command(
    mix: Path,
    renders: Sequence[Render],
    excerpt: Excerpt | None = None,
    *,
    to_pipe: bool = False,
    edits: Edits | None = None,
) -> list[str]:
    """ffmpeg arguments rendering every file in one pass; equal treatments share one chain.
    ``to_pipe``: the (single) output goes to standard output instead of its path. ``edits``:
    the mix is cut to the edit plan's kept spans first (not with an excerpt)."""
    if edits is not None and excerpt is not None:
        raise ValueError("an excerpt of an edited episode is rendered from its own plan")
    options = {"protocol_whitelist": "file", "format_whitelist": ALLOWED_DEMUXERS}
    if excerpt is not None:
        options.update(ss=f"{excerpt.start_s:.3f}", t=f"{excerpt.duration_s:.3f}")
    source = ffmpeg.input(f"file:{mix}", **options).audio
    if excerpt is not None:
        fade_out_at = max(0.0, excerpt.duration_s - excerpt.fade_s)
        source = source.filter("afade", t="in", d=excerpt.fade_s).filter(
            "afade", t="out", st=f"{fade_out_at:.3f}", d=excerpt.fade_s
        )
    if edits is not None:
        source = cut_filter(source, edits.plan, mix_start_s=edits.mix_start_s)
        if edits.host is not None:
            source = host_audio_filter(source, edits.plan, edits.host)
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
            target = "pipe:1" if to_pipe else output_path(render.path)
            extra = {"format": fmt.container} if to_pipe else {}
            outputs.append(ffmpeg.output(leg, target, ar=fmt.rate_hz, **fmt.codec_args, **extra))
    return ffmpeg.merge_outputs(*outputs).compile(cmd=[])


def first_treatment(
    mix_loudness: Loudness, target: LoudnessTarget, fmt: DeliveryFormat | None = None
) -> Treatment:
    """Gain that brings the measured mono mix to the target once copied to both channels and
    encoded in ``fmt``."""
    stereo_lufs = mix_loudness.integrated_lufs + dual_mono_offset_db(CHANNELS_OUT)
    loss = fmt.encoder_loss_db if fmt is not None else 0.0
    return Treatment(target.integrated_lufs - stereo_lufs + loss, target.first_ceiling_dbtp)


def corrected_treatment(
    previous: Treatment, measured: Loudness, target: LoudnessTarget
) -> Treatment:
    """Next pass: correct the loudness error; lower the ceiling by any true-peak overshoot."""
    gain = previous.gain_db + (target.integrated_lufs - measured.integrated_lufs)
    ceiling, oversample = previous.ceiling_dbtp, previous.oversample
    if measured.true_peak_dbtp > target.true_peak_dbtp - 0.1:
        ceiling -= measured.true_peak_dbtp - target.true_peak_dbtp + 0.3
        oversample = True
    return Treatment(gain, ceiling, oversample)


def _within(measured: Loudness, target: LoudnessTarget, tolerance: float) -> bool:
    return (
        abs(measured.integrated_lufs - target.integrated_lufs) <= tolerance
        and math.isfinite(measured.true_peak_dbtp)
        and measured.true_peak_dbtp <= target.true_peak_dbtp
    )


def _render_teed(
    mix: Path,
    render: Render,
    excerpt: Excerpt | None,
    *,
    timeout_s: float,
    edits: Edits | None,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[FFmpegRun, Loudness, float]:
    """Render one file while a second ffmpeg measures the very bytes written to it."""
    run, log, decoded_s = run_ffmpeg_teed(
        master_command(mix, [render], excerpt, to_pipe=True, edits=edits),
        render.path,
        container=render.fmt.container,
        measure_filter=MEASURE_FILTER,
        timeout_s=timeout_s,
        what=f"mastering {render.path.name}",
        on_progress=on_progress,
    )
    return run, summary_of(log, render.path.name), decoded_s


def _render_and_measure(
    mix: Path,
    renders: Sequence[Render],
    excerpt: Excerpt | None,
    *,
    timeout_s: float,
    on_progress: Callable[[float], None] | None,
    result: MasterResult,
    edits: Edits | None = None,
) -> dict[str, tuple[Loudness, float]]:
    """Render one pass and measure every file it wrote. Each file is its own encoder, its
    bytes teed to a decoder that measures them as they are written, and the files are rendered
    side by side: MP3 and Opus encode at once, each verified as it is made, instead of one
    encoder writing both and both decoded again after it (measured in bench/RESULTS.md)."""
    done_s = {r.fmt.name: 0.0 for r in renders}

    def _progress(name: str) -> Callable[[float], None] | None:
        if on_progress is None:
            return None

        def _note(seconds: float) -> None:
            done_s[name] = seconds
            on_progress(min(done_s.values()))

        return _note

    with ThreadPoolExecutor(max_workers=len(renders)) as pool:
        futures = {
            r.fmt.name: pool.submit(
                _render_teed,
                mix,
                r,
                excerpt,
                timeout_s=timeout_s,
                edits=edits,
                on_progress=_progress(r.fmt.name),
            )
            for r in renders
        }
        outcomes = {name: future.result() for name, future in futures.items()}
    measured = {}
    for name, (run, loudness, decoded_s) in outcomes.items():
        result.cpu_s += run.cpu_s
        result.wall_s = max(result.wall_s, run.wall_s)
        result.max_rss_mb = max(result.max_rss_mb, run.max_rss_mb)
        measured[name] = (loudness, decoded_s)
    return measured


def master_episode(
    mix: Path,
    mix_loudness: Loudness,
    out_dir: Path,
    *,
    formats: Sequence[DeliveryFormat],
    target: LoudnessTarget,
    timeout_s: float,
    stem: str = "episode",
    excerpt: Excerpt | None = None,
    edits: Edits | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> MasterResult:
    """Render ``formats`` from ``mix`` (or an ``excerpt`` of it, or the mix cut by a host's
    ``edits``) into ``out_dir`` and prove each meets ``target``; ``mix_loudness`` is the
    loudness of the mix (a cut one is measured as delivered and corrected in the next pass)."""
    result = MasterResult()
    treatments = {fmt.name: first_treatment(mix_loudness, target, fmt) for fmt in formats}
    pending = list(formats)
    last: dict[str, Loudness] = {}
    for pass_number in range(1, target.max_passes + 1):
        renders = [
            Render(fmt, treatments[fmt.name], out_dir / f"{stem}.{fmt.extension}")
            for fmt in pending
        ]
        measured_files = _render_and_measure(
            mix,
            renders,
            excerpt,
            timeout_s=timeout_s,
            on_progress=on_progress,
            result=result,
            edits=edits,
        )
        still_pending = []
        for render in renders:
            fmt, path = render.fmt, render.path
            measured, duration_s = measured_files[fmt.name]
            last[fmt.name] = measured
            result.files[fmt.name] = DeliveredFile(
                fmt=fmt,
                path=path,
                size_bytes=path.stat().st_size,
                duration_s=duration_s,
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
