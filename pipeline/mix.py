"""Align every published track on the room timeline and mix them in one streaming ffmpeg graph.

Each track is decoded by its own ffmpeg to mono float PCM at the mix rate and piped into the mix,
so the mix graph never sees a track change format midway (which would make ffmpeg rebuild the
graph: delays applied again, loudness measured anew). The mix is written as 24-bit FLAC with
fixed headroom (1/N for N tracks), so summing never clips and no track is ever held in Python
memory. Its loudness is measured in the same pass, on the samples as stored. A track with a
leveling gain curve (``pipeline.leveling``) is ramped through it on its own timeline, before it
is delayed into place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import ffmpeg

from pipeline.activity import merge_windows
from pipeline.errors import NothingToPublish
from pipeline.ffmpeg import FFmpegRun, decoded_pcm, output_path, run_ffmpeg, run_ffprobe
from pipeline.leveling import volume_commands
from pipeline.loudness import Loudness, momentary_collector, parse_ebur128_summaries

MIX_RATE_HZ = 48_000
DUCK_DB = -40.0  # how far published tracks are lowered while an excluded speaker talks
DUCK_PAD_S = 0.15


@dataclass(frozen=True)
class MixInput:
    """One track to mix: where it is and when, on the room timeline, its first sample was heard."""

    path: Path
    offset_s: float
    label: str
    gain: tuple[tuple[float, float], ...] = ()  # leveling: (track second, dB), linear between
    mute: tuple[tuple[float, float], ...] = ()  # room-time ranges this track is silenced (edits)


@dataclass(frozen=True)
class MixResult:
    path: Path
    timeline_start_s: float  # room time of the mix's first sample
    duration_s: float
    loudness: Loudness
    momentary: list[float]  # momentary loudness every 100 ms, to measure any range (clips)
    run: FFmpegRun


def duck_expression(windows: Sequence[tuple[float, float]], start_s: float) -> str:
    """An ffmpeg timeline expression true during ``windows`` (room time), on the mix's timeline."""
    spans = merge_windows(
        [(max(0.0, a - start_s - DUCK_PAD_S), b - start_s + DUCK_PAD_S) for a, b in windows]
    )
    return "+".join(f"between(t,{a:.3f},{b:.3f})" for a, b in spans)


def mute_expression(windows: Sequence[tuple[float, float]], start_s: float) -> str:
    """An ffmpeg timeline expression true during ``windows`` (room time, exactly: a host's mute
    is not padded), on the mix's timeline."""
    spans = merge_windows([(max(0.0, a - start_s), b - start_s) for a, b in windows])
    return "+".join(f"between(t,{a:.4f},{b:.4f})" for a, b in spans)


def gain_file(out: Path, index: int) -> Path:
    """Where the mix of ``out`` keeps the ``asendcmd`` script of input ``index``'s gain."""
    return out.with_name(f"{out.stem}-gain-{index}.cmd")


def mix_command(
    inputs: Sequence[MixInput],
    out: Path,
    *,
    pipes: Sequence[int],
    rate_hz: int = MIX_RATE_HZ,
    duck: Sequence[tuple[float, float]] = (),
) -> list[str]:
    """ffmpeg arguments (without the program name) that align, mix and measure ``inputs``, each
    read as mono 32-bit float PCM at ``rate_hz`` from its decoder's pipe in ``pipes``.

    The mix starts at the earliest offset among ``inputs``, so a late first speaker does not open
    the episode with silence. During ``duck`` windows (room time: an excluded speaker talking),
    every track is lowered by ``DUCK_DB`` so their voice is not heard through other microphones.
    An input with a ``gain`` curve reads it from ``gain_file(out, index)``.
    A track's ``mute`` ranges (a host's edit) are silenced on that track alone.
    """
    if not inputs:
        raise NothingToPublish("there is no track to mix")
    start_s = min(item.offset_s for item in inputs)
    aligned = []
    for index, (item, pipe) in enumerate(zip(inputs, pipes, strict=True)):
        delay_samples = round((item.offset_s - start_s) * rate_hz)
        stream = ffmpeg.input(
            f"pipe:{pipe}", format="f32le", ar=rate_hz, ac=1, protocol_whitelist="pipe"
        ).audio
        track = stream.filter(
            "aformat", sample_fmts="fltp", sample_rates=rate_hz, channel_layouts="mono"
        )
        if item.gain:
            track = track.filter("asendcmd", f=str(gain_file(out, index))).filter(
                f"volume@level{index}", volume=1.0, eval="frame"
            )
        track = track.filter("adelay", delays=f"{delay_samples}S", all=1)
        if duck:
            track = track.filter(
                "volume", volume=f"{DUCK_DB}dB", enable=duck_expression(duck, start_s)
            )
        if item.mute:
            track = track.filter("volume", volume=0, enable=mute_expression(item.mute, start_s))
        aligned.append(track)
    mixed = (
        ffmpeg.filter(aligned, "amix", inputs=len(aligned), duration="longest", normalize=0)
        .filter("volume", f"{1.0 / len(aligned):.6f}")
        # Measured as stored: a track already over full scale (float sources) clips here, and
        # the loudness must describe the clipped file that mastering reads.
        .filter("aformat", sample_fmts="s32")
        .filter("ebur128", peak="true", framelog="info")
    )
    output = ffmpeg.output(mixed, output_path(out), acodec="flac", sample_fmt="s32", ar=rate_hz)
    return output.compile(cmd=[])


def mix_tracks(
    inputs: Sequence[MixInput],
    out: Path,
    *,
    timeout_s: float,
    duck: Sequence[tuple[float, float]] = (),
    on_progress: Callable[[float], None] | None = None,
) -> MixResult:
    """Mix ``inputs`` into ``out`` (FLAC) and measure the mix's loudness."""
    label = ", ".join(item.label for item in inputs)
    for index, item in enumerate(inputs):
        if item.gain:
            gain_file(out, index).write_text(
                volume_commands(item.gain, f"volume@level{index}"), encoding="utf-8"
            )
    momentary, collect = momentary_collector()
    decoding_cpu_s: list[float] = []
    with ExitStack() as decoders:
        pipes = [
            decoders.enter_context(
                decoded_pcm(
                    item.path,
                    rate_hz=MIX_RATE_HZ,
                    what=f"mixing: decoding {item.label}",
                    timeout_s=timeout_s,
                    sample_format="f32le",
                    cpu_s=decoding_cpu_s,
                )
            ).fileno()
            for item in inputs
        ]
        run = run_ffmpeg(
            mix_command(inputs, out, pipes=pipes, duck=duck),
            timeout_s=timeout_s,
            what=f"mixing {label}",
            on_progress=on_progress,
            on_stderr=collect,
            pass_fds=pipes,
        )
    run = replace(run, cpu_s=run.cpu_s + sum(decoding_cpu_s))
    summaries = parse_ebur128_summaries(run.stderr)
    if not summaries:
        raise ValueError("mixing: ffmpeg printed no loudness summary")
    loudness = summaries[-1]
    if loudness.silent:
        raise NothingToPublish(f"the published tracks ({label}) are silent")
    start_s = min(item.offset_s for item in inputs)
    return MixResult(
        path=out,
        timeline_start_s=start_s,
        duration_s=_flac_duration(out),
        loudness=loudness,
        momentary=momentary,
        run=run,
    )


def _flac_duration(path: Path) -> float:
    info = run_ffprobe(path, what="mix")
    duration = float(info.get("format", {}).get("duration") or 0.0)
    return duration if math.isfinite(duration) else 0.0
