"""Align every published track on the room timeline and mix them in one streaming ffmpeg graph.

Each track is decoded by its own ffmpeg to mono float PCM at the mix rate and piped into the mix,
so the mix graph never sees a track change format midway (which would make ffmpeg rebuild the
graph: delays applied again, loudness measured anew). The mix is written as 24-bit FLAC with
fixed headroom (1/N for N tracks), so summing never clips and no track is ever held in Python
memory. Its loudness is measured in the same pass, on the samples as stored. A track with a
leveling gain curve (``pipeline.leveling``) is ramped through it on its own timeline, before it
is delayed into place.

A mix that differs from a stored one only in its mutes (a host's edit) is spliced
(:func:`splice_mix`): only the stretches around the changed mutes are mixed again, from the same
inputs by the same graph entered at the stretch's first sample, and joined into the stored mix
with short crossfades; its loudness profile is the stored one with those stretches measured
again.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import ffmpeg
import numpy as np

from pipeline.activity import merge_windows
from pipeline.errors import NothingToPublish
from pipeline.ffmpeg import FFmpegRun, decoded_pcm, output_path, run_ffmpeg, run_ffprobe
from pipeline.leveling import volume_commands
from pipeline.loudness import (
    PROFILE_HOP_S,
    Loudness,
    gated_loudness,
    momentary_collector,
    parse_ebur128_summaries,
)

MIX_RATE_HZ = 48_000
DUCK_DB = -40.0  # how far published tracks are lowered while an excluded speaker talks
DUCK_PAD_S = 0.15
# Splicing: mixed again on each side of a changed mute (so the joins lie where nothing changed),
# the crossfade at each join, and the share of the mix past which mixing it whole is as cheap.
SPLICE_PAD_S = 0.5
SPLICE_CROSSFADE_S = 0.02
SPLICE_MAX_SHARE = 0.25
# A stretch is spliced only if its padding matches the stored mix to this (about -54 dBFS):
# a track whose container times its packets coarsely (Matroska and WebM count milliseconds) is
# not entered at the exact sample by a seek, and its stretch is off by a few ms.
SPLICE_MATCH = 2e-3
_log = logging.getLogger(__name__)
_HOP_SAMPLES = round(PROFILE_HOP_S * MIX_RATE_HZ)  # stretches start and end on the profile's grid
_BLOCK_S = 0.4  # a momentary block's length (BS.1770)


@dataclass(frozen=True)
class MixInput:
    """One track to mix: where it is and when, on the room timeline, its first sample was heard."""

    path: Path
    offset_s: float
    label: str
    gain: tuple[tuple[float, float], ...] = ()  # leveling: (track second, dB), linear between
    mute: tuple[tuple[float, float], ...] = ()  # room-time ranges this track is silenced (edits)


@dataclass(frozen=True)
class Stretch:
    """Samples ``[first, end)`` of a mix's own timeline (its first sample is 0)."""

    first: int
    end: int

    @property
    def samples(self) -> int:
        return self.end - self.first


@dataclass(frozen=True)
class StoredMix:
    """A mix made earlier of the same inputs but for their mutes: the file, where it starts in
    room time, each input's mutes then (in the order of the new inputs), its loudness and its
    100 ms momentary profile."""

    path: Path
    timeline_start_s: float
    mutes: tuple[tuple[tuple[float, float], ...], ...]
    loudness: Loudness
    momentary: list[float]


@dataclass(frozen=True)
class MixResult:
    path: Path
    timeline_start_s: float  # room time of the mix's first sample
    duration_s: float
    loudness: Loudness
    momentary: list[float]  # momentary loudness every 100 ms, to measure any range (clips)
    run: FFmpegRun
    spliced: tuple[Stretch, ...] | None = None  # mixed again of a stored mix (None: mixed whole)


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


# The raw PCM demuxer reads a pipe 1024 samples a packet: the frames every filter of a track
# sees start at multiples of this from the track's first sample.
_PIPE_FRAME = 1024
# Decoded before a stretch's first sample and dropped: a decoder entered by a seek (Opus needs
# 80 ms to converge) and a resampler (a 16 or 44.1 kHz track) start with no history, and would
# differ from the whole mix's for their first milliseconds.
_PRE_ROLL = 6_000


@dataclass(frozen=True)
class Placement:
    """How a track enters a mix rendered from the mix's sample ``first``: read from its sample
    ``read_from`` (a whole number of pipe frames, so a gain evaluated once a frame is evaluated
    at the same samples as in the whole mix), ``trim`` samples dropped after its gain, then
    ``delay`` samples of silence before it. Read from a later sample, the track keeps its own
    timestamps until the trim, so its gain curve (``asendcmd`` at track seconds) is read as in
    the whole mix."""

    read_from: int
    trim: int
    delay: int


def placement(
    item: MixInput, start_s: float, first: int, rate_hz: int, source_hz: int | None = None
) -> Placement:
    """Where ``item`` enters a mix that starts at room time ``start_s``, rendered from its sample
    ``first`` (0: the whole mix). ``source_hz``, the track's own rate: it is read from a sample
    that is a whole sample of that rate too, so its resampler runs on the whole mix's grid."""
    delay = round((item.offset_s - start_s) * rate_hz) - first
    skip = max(0, -delay)
    unit = _PIPE_FRAME
    if source_hz:
        unit = math.lcm(unit, rate_hz // math.gcd(rate_hz, source_hz))
    read_from = max(0, skip - _PRE_ROLL)
    read_from -= read_from % unit
    return Placement(read_from, skip - read_from, max(0, delay))


def mix_command(
    inputs: Sequence[MixInput],
    out: Path,
    *,
    pipes: Sequence[int],
    rate_hz: int = MIX_RATE_HZ,
    duck: Sequence[tuple[float, float]] = (),
    stretch: Stretch | None = None,
    places: Sequence[Placement] | None = None,
) -> list[str]:
    """ffmpeg arguments (without the program name) that align, mix and measure ``inputs``, each
    read as mono 32-bit float PCM at ``rate_hz`` from its decoder's pipe in ``pipes``.

    The mix starts at the earliest offset among ``inputs``, so a late first speaker does not open
    the episode with silence. During ``duck`` windows (room time: an excluded speaker talking),
    every track is lowered by ``DUCK_DB`` so their voice is not heard through other microphones.
    An input with a ``gain`` curve reads it from ``gain_file(out, index)``.
    A track's ``mute`` ranges (a host's edit) are silenced on that track alone.

    With ``stretch``, only those samples of the mix are rendered, by the same graph: each pipe
    carries its track from the pipe frame holding the stretch's first sample on (``placement``),
    and every timed filter (mutes, ducking) runs on the stretch's own timeline. ``places``: where
    each pipe starts, as its decoder was told (``placement``; worked out here if not given).
    """
    if not inputs:
        raise NothingToPublish("there is no track to mix")
    first = stretch.first if stretch else 0
    start_s = min(item.offset_s for item in inputs)
    timeline_s = start_s + first / rate_hz  # room time of the first sample rendered
    aligned = []
    for index, (item, pipe) in enumerate(zip(inputs, pipes, strict=True)):
        place = places[index] if places else placement(item, start_s, first, rate_hz)
        stream = ffmpeg.input(
            f"pipe:{pipe}", format="f32le", ar=rate_hz, ac=1, protocol_whitelist="pipe"
        ).audio
        track = stream.filter(
            "aformat", sample_fmts="fltp", sample_rates=rate_hz, channel_layouts="mono"
        )
        if place.read_from:  # timed as the track itself, so its gain curve is read as it is
            track = track.filter("asetpts", f"PTS+{place.read_from}/(SR*TB)")
        if item.gain:
            track = track.filter("asendcmd", f=str(gain_file(out, index))).filter(
                f"volume@level{index}", volume=1.0, eval="frame"
            )
        if place.trim:  # atrim counts samples from the first it is given
            track = track.filter("atrim", start_sample=place.trim)
        if place.read_from or place.trim:
            track = track.filter("asetpts", "PTS-STARTPTS")
        track = track.filter("adelay", delays=f"{place.delay}S", all=1)
        if duck:
            track = track.filter(
                "volume", volume=f"{DUCK_DB}dB", enable=duck_expression(duck, timeline_s)
            )
        if item.mute:
            track = track.filter("volume", volume=0, enable=mute_expression(item.mute, timeline_s))
        aligned.append(track)
    mixed = ffmpeg.filter(
        aligned, "amix", inputs=len(aligned), duration="longest", normalize=0
    ).filter("volume", f"{1.0 / len(aligned):.6f}")
    if stretch:  # exactly its length, though every track may end before it does
        mixed = mixed.filter("apad").filter("atrim", end_sample=stretch.samples)
    # Measured as stored: a track already over full scale (float sources) clips here, and the
    # loudness must describe the clipped file that mastering reads.
    mixed = mixed.filter("aformat", sample_fmts="s32").filter(
        "ebur128", peak="true", framelog="info"
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
    stretch: Stretch | None = None,
) -> MixResult:
    """Mix ``inputs`` into ``out`` (FLAC) and measure the mix's loudness; with ``stretch``,
    only those samples of the mix (``mix_command``)."""
    label = ", ".join(item.label for item in inputs)
    start_s = min((item.offset_s for item in inputs), default=0.0)
    first = stretch.first if stretch else 0
    places = [
        placement(item, start_s, first, MIX_RATE_HZ, _source_rate(item.path) if stretch else None)
        for item in inputs
    ]
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
                    start_s=place.read_from / MIX_RATE_HZ,
                    duration_s=(stretch.samples + place.trim) / MIX_RATE_HZ + 0.1
                    if stretch
                    else None,
                )
            ).fileno()
            for item, place in zip(inputs, places, strict=True)
        ]
        run = run_ffmpeg(
            mix_command(inputs, out, pipes=pipes, duck=duck, stretch=stretch, places=places),
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
    if loudness.silent and stretch is None:
        raise NothingToPublish(f"the published tracks ({label}) are silent")
    return MixResult(
        path=out,
        timeline_start_s=start_s + first / MIX_RATE_HZ,
        duration_s=_flac_duration(out),
        loudness=loudness,
        momentary=momentary,
        run=run,
    )


def _source_rate(path: Path) -> int | None:
    """The sample rate of a track's first audio stream, as its container states it."""
    streams = run_ffprobe(path, what="mix").get("streams", [])
    rate = next((s.get("sample_rate") for s in streams if s.get("codec_type") == "audio"), None)
    return int(rate) if rate and str(rate).isdigit() else None


def _flac_duration(path: Path) -> float:
    info = run_ffprobe(path, what="mix")
    duration = float(info.get("format", {}).get("duration") or 0.0)
    return duration if math.isfinite(duration) else 0.0


def changed_stretches(
    inputs: Sequence[MixInput], stored: StoredMix, duration_s: float
) -> list[Stretch]:
    """The stretches of the mix where a mix of ``inputs`` can differ from ``stored``: around every
    mute range one of them has and the other has not, widened by ``SPLICE_PAD_S`` each side, on
    the 100 ms grid of the loudness profile, within the mix, merged where they touch."""
    start_s = min(item.offset_s for item in inputs)
    total = round(duration_s * MIX_RATE_HZ)
    spans = []
    for item, before in zip(inputs, stored.mutes, strict=True):
        for a, b in set(item.mute) ^ set(before):
            first = math.floor((a - start_s - SPLICE_PAD_S) * MIX_RATE_HZ / _HOP_SAMPLES)
            end = math.ceil((b - start_s + SPLICE_PAD_S) * MIX_RATE_HZ / _HOP_SAMPLES)
            first, end = max(0, first * _HOP_SAMPLES), min(total, end * _HOP_SAMPLES)
            if first < end:
                spans.append((first, end))
    merged: list[Stretch] = []
    for first, end in sorted(spans):
        if merged and first <= merged[-1].end:
            merged[-1] = Stretch(merged[-1].first, max(merged[-1].end, end))
        else:
            merged.append(Stretch(first, end))
    return merged


def splice_command(old: Path, stretches: Sequence[tuple[Stretch, Path]], out: Path) -> list[str]:
    """ffmpeg arguments that write ``old`` with each stretch's samples replaced by its file,
    crossfaded over ``SPLICE_CROSSFADE_S`` just inside each join (where the stretch and the old
    mix were made of the same audio), as FLAC."""
    fade = round(SPLICE_CROSSFADE_S * MIX_RATE_HZ)
    # The old mix's pieces, in order: before each stretch (from the previous stretch's end,
    # overlapping it by the fade, to the fade past this one's start), and the rest after the last.
    pieces: list[tuple[int, int | None]] = []
    position = 0
    for stretch, _ in stretches:
        if stretch.first > 0:
            pieces.append((position, stretch.first + (fade if stretch.first >= fade else 0)))
        position = max(0, stretch.end - fade)
    pieces.append((position, None))
    source = ffmpeg.input(f"file:{old}", protocol_whitelist="file", format_whitelist="flac").audio
    split = source.filter_multi_output("asplit", len(pieces))
    old_pieces = iter(
        split[index]
        .filter("atrim", start_sample=first, **({"end_sample": end} if end is not None else {}))
        .filter("asetpts", "PTS-STARTPTS")
        for index, (first, end) in enumerate(pieces)
    )
    joined = None
    for stretch, path in stretches:
        renewed = ffmpeg.input(
            f"file:{path}", protocol_whitelist="file", format_whitelist="flac"
        ).audio
        if stretch.first > 0:
            before = next(old_pieces)
            joined = before if joined is None else _crossfade(joined, before, fade)
            joined = _crossfade(joined, renewed, fade if stretch.first >= fade else 0)
        else:
            joined = renewed
    joined = _crossfade(joined, next(old_pieces), fade)
    output = ffmpeg.output(
        joined.filter("aformat", sample_fmts="s32"),
        output_path(out),
        acodec="flac",
        sample_fmt="s32",
        ar=MIX_RATE_HZ,
    )
    return output.compile(cmd=[])


def _padding_mismatch(
    part: Path, stretch: Stretch, stored: Path, duration_s: float, timeout_s: float
) -> float:
    """The largest difference between a stretch mixed again and the stored mix over the first
    and last 400 ms of the stretch's padding (where no mute changed), sample for sample; a
    stretch at the mix's own start or end is compared at its other side only."""
    span = round(_BLOCK_S * MIX_RATE_HZ)
    sides = []
    if stretch.first > 0:
        sides.append(0)
    if stretch.end < round(duration_s * MIX_RATE_HZ):
        sides.append(stretch.samples - span)
    worst = 0.0
    for at in sides:
        again = _samples(part, at, span, timeout_s)
        before = _samples(stored, stretch.first + at, span, timeout_s)
        if len(again) != span or len(before) != span:
            return math.inf
        worst = max(worst, float(np.max(np.abs(again - before))))
    return worst


def _samples(path: Path, first: int, count: int, timeout_s: float) -> np.ndarray:
    with decoded_pcm(
        path,
        rate_hz=MIX_RATE_HZ,
        what="splicing: reading the mix",
        timeout_s=timeout_s,
        sample_format="f32le",
        start_s=first / MIX_RATE_HZ,
        duration_s=count / MIX_RATE_HZ,
    ) as pipe:
        data = pipe.read()
    return np.frombuffer(data, dtype=np.float32)[:count]


def _crossfade(first, second, samples: int):
    if samples <= 0:
        return ffmpeg.filter([first, second], "concat", n=2, v=0, a=1)
    return ffmpeg.filter([first, second], "acrossfade", ns=samples, c1="tri", c2="tri")


def splice_mix(
    inputs: Sequence[MixInput],
    stored: StoredMix,
    out: Path,
    *,
    timeout_s: float,
    duck: Sequence[tuple[float, float]] = (),
) -> MixResult | None:
    """The mix of ``inputs`` made from ``stored`` (the same inputs but for their mutes): only the
    changed stretches mixed again (``mix_tracks`` with a stretch) and spliced in. None when
    mixing whole is the better way: another start on the room timeline, more than
    ``SPLICE_MAX_SHARE`` of the mix changed, or a stretch that differs from the stored mix at
    its padding by more than ``SPLICE_MATCH`` (a track a seek does not enter exactly).

    The loudness profile is the stored one with each stretch's blocks measured again (those
    whose 400 ms lies inside the stretch, clear of its joins); the integrated loudness moves by
    what BS.1770 gating of the two profiles says, and the true peak is the higher of the stored
    mix's and the stretches' (an upper bound: mastering measures the delivered file anyway)."""
    began = time.monotonic()
    start_s = min(item.offset_s for item in inputs)
    if abs(start_s - stored.timeline_start_s) > 0.5 / MIX_RATE_HZ:
        _log.info("mixing whole: the stored mix starts elsewhere on the room timeline")
        return None
    duration_s = _flac_duration(stored.path)
    stretches = changed_stretches(inputs, stored, duration_s)
    changed_s = sum(s.samples for s in stretches) / MIX_RATE_HZ
    if changed_s > SPLICE_MAX_SHARE * duration_s:
        _log.info("mixing whole: %.1f s of the %.1f s mix changed", changed_s, duration_s)
        return None
    momentary = list(stored.momentary)
    peak = stored.loudness.true_peak_dbtp
    cpu_s = max_rss = 0.0
    rendered = []
    for index, stretch in enumerate(stretches):
        part = mix_tracks(
            inputs,
            out.with_name(f"{out.stem}-stretch-{index}.flac"),
            timeout_s=timeout_s,
            duck=duck,
            stretch=stretch,
        )
        mismatch = _padding_mismatch(part.path, stretch, stored.path, duration_s, timeout_s)
        if mismatch > SPLICE_MATCH:
            _log.info(
                "mixing whole: the stretch at %.1f s differs from the stored mix by %.4f at its "
                "padding (a track not entered at its exact sample)",
                stretch.first / MIX_RATE_HZ,
                mismatch,
            )
            return None
        rendered.append((stretch, part.path))
        cpu_s, max_rss = cpu_s + part.run.cpu_s, max(max_rss, part.run.max_rss_mb)
        peak = max(peak, part.loudness.true_peak_dbtp)
        # Block j of the stretch ends at its sample first + (j + 1) x 100 ms. Measured again:
        # the blocks with their whole 400 ms inside the stretch and clear of its crossfades (at
        # the mix's own start or end, as the whole mix measures them). The blocks left as
        # stored lie within the padding, where nothing changed.
        offset = stretch.first // _HOP_SAMPLES
        first_j = (
            0
            if stretch.first == 0
            else math.ceil((_BLOCK_S + SPLICE_CROSSFADE_S) / PROFILE_HOP_S) - 1
        )
        last_j = len(part.momentary) - 1
        if stretch.end < round(duration_s * MIX_RATE_HZ):
            last_j -= math.ceil(SPLICE_CROSSFADE_S / PROFILE_HOP_S)
        for j in range(first_j, min(last_j + 1, len(momentary) - offset)):
            momentary[offset + j] = part.momentary[j]
    if rendered:
        run = run_ffmpeg(
            splice_command(stored.path, rendered, out),
            timeout_s=timeout_s,
            what=f"splicing {len(rendered)} stretches into the stored mix",
        )
        cpu_s, max_rss = cpu_s + run.cpu_s, max(max_rss, run.max_rss_mb)
    else:  # the same mutes, listed otherwise: the same mix
        shutil.copyfile(stored.path, out)
        run = None
    integrated = (
        stored.loudness.integrated_lufs
        + gated_loudness(momentary)
        - gated_loudness(stored.momentary)
    )
    loudness = Loudness(integrated, peak, stored.loudness.range_lu)
    if loudness.silent:
        raise NothingToPublish("the published tracks are silent once muted")
    return MixResult(
        path=out,
        timeline_start_s=start_s,
        duration_s=_flac_duration(out),
        loudness=loudness,
        momentary=momentary,
        run=FFmpegRun(
            stderr=run.stderr if run else "",
            wall_s=time.monotonic() - began,
            cpu_s=cpu_s,
            max_rss_mb=max_rss,
        ),
        spliced=tuple(stretches),
    )
