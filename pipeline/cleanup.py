"""Repairing one speaker's track before the mix, from what its health report found: a notch on
each mains hum harmonic, and broadband noise reduction when the room between words is loud.

Noise reduction is ffmpeg's afftdn, taught the room's own noise: it samples the first pause of
1.5 s or more on the track (the activity stage knows where the speaker is silent), then takes
that noise profile down by ``DENOISE_DB``. Its threshold sits a little over the measured floor,
so speech is left as it is. Filters are built as data here; ``clean_track`` streams the track
through them into a 48 kHz FLAC that the mix reads instead of the raw track, and measures its
health again, so the report says what the repair did on what was mixed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.ffmpeg import input_args, lavfi_input, output_path, run_ffmpeg
from pipeline.health import HUM_HARMONICS, TrackHealth, measure_health

NOTCH_WIDTH_HZ = 3.0  # every harmonic as narrow: mains drifts by a fraction of a hertz
NOTCH_PASSES = 2  # two biquads per harmonic: deeper and a little wider
DENOISE_DB = 20.0  # how far afftdn takes the noise down
FLOOR_MARGIN_DB = 5.0  # afftdn's threshold over the measured floor
AFFTDN_FLOOR_RANGE = (-80.0, -20.0)  # what afftdn accepts as its threshold
SAMPLE_PAUSE_S = 1.5  # the shortest pause the noise is learned from
SAMPLE_EDGE_S = 0.3  # kept clear of the speech around it
SAMPLE_MAX_S = 5.0
CLEAN_RATE_HZ = 48_000  # the repaired track's rate (the mix's)


@dataclass(frozen=True)
class Cleanup:
    """What is done to one track: hum notches (Hz), and noise reduction learned from the room
    in ``noise_sample`` (track seconds) with its threshold (dBFS)."""

    notches_hz: tuple[float, ...] = ()
    noise_sample: tuple[float, float] | None = None
    threshold_dbfs: float | None = None
    skipped: str | None = None  # why noise reduction was wanted but not done

    @property
    def denoise(self) -> bool:
        return self.noise_sample is not None

    @property
    def applied(self) -> bool:
        return bool(self.notches_hz) or self.denoise

    def filters(self, name: str = "afftdn") -> list[tuple[str, dict]]:
        """(ffmpeg filter, options) in the order they run: hum first, so the noise is learned
        without it. ``name``: the afftdn instance that ``sample_commands`` addresses."""
        chain: list[tuple[str, dict]] = []
        for hz in self.notches_hz:
            for _ in range(NOTCH_PASSES):
                chain.append(("bandreject", {"f": hz, "width_type": "h", "width": NOTCH_WIDTH_HZ}))
        if self.denoise:
            chain.append((name, {"nr": DENOISE_DB, "nf": self.threshold_dbfs}))
        return chain

    def sample_commands(self, name: str = "afftdn") -> str:
        """The ``asendcmd`` script that has afftdn ``name`` learn the noise in the pause."""
        if self.noise_sample is None:
            return ""
        a, b = self.noise_sample
        return f"{a:.3f} {name} sample_noise start;\n{b:.3f} {name} sample_noise stop;\n"

    def as_dict(self) -> dict:
        return {
            "hum_notches_hz": list(self.notches_hz),
            "denoise": self.denoise,
            "denoise_db": DENOISE_DB if self.denoise else 0.0,
            "noise_learned_from_s": list(self.noise_sample) if self.noise_sample else None,
            "skipped": self.skipped,
        }


def first_pause(
    speech: Sequence[tuple[float, float]], duration_s: float, min_s: float = SAMPLE_PAUSE_S
) -> tuple[float, float] | None:
    """The first stretch of at least ``min_s`` with no speech (track seconds)."""
    at = 0.0
    for a, b in [*sorted(speech), (duration_s, duration_s)]:
        if a - at >= min_s:
            return (at, a)
        at = max(at, b)
    return None


def plan_cleanup(health: TrackHealth, speech: Sequence[tuple[float, float]]) -> Cleanup:
    """Notch a hum that was found (its harmonics up to the fourth); reduce the noise of a noisy
    room, learned in the first long pause. A clean track is left alone."""
    notches = tuple(health.hum_hz * k for k in range(1, HUM_HARMONICS + 1)) if health.hum_hz else ()
    if not health.noisy:
        return Cleanup(notches_hz=notches)
    pause = first_pause(speech, health.duration_s)
    if pause is None:
        return Cleanup(notches_hz=notches, skipped="no pause long enough to learn the noise from")
    a = pause[0] + SAMPLE_EDGE_S
    b = min(pause[1] - SAMPLE_EDGE_S, a + SAMPLE_MAX_S)
    low, high = AFFTDN_FLOOR_RANGE
    threshold = min(high, max(low, health.broadband_floor_dbfs + FLOOR_MARGIN_DB))
    sample = (round(a, 3), round(b, 3))
    return Cleanup(notches_hz=notches, noise_sample=sample, threshold_dbfs=round(threshold, 1))


def filter_spec(chain: Sequence[tuple[str, dict]]) -> str:
    """The chain as an ffmpeg ``-af`` string."""
    return ",".join(
        name + ("=" + ":".join(f"{k}={v}" for k, v in options.items()) if options else "")
        for name, options in chain
    )


def render_cleaned(source: Path, cleanup: Cleanup, out: Path, *, timeout_s: float) -> Path:
    """The track with ``cleanup`` applied, as 48 kHz mono FLAC."""
    _render(source, cleanup, out, timeout_s=timeout_s, label=source.name)
    return out


def _render(source: Path, cleanup: Cleanup, out: Path, *, timeout_s: float, label: str):
    # Resampled first, so afftdn always runs at 48 kHz; its latency (its FFT window) is then
    # one number, taken off the head and given back at the tail: the repaired track keeps the
    # raw track's samples, and its length.
    chain = [("aresample", {"osr": CLEAN_RATE_HZ}), *cleanup.filters()]
    if cleanup.denoise:
        commands = out.with_suffix(".cmd")
        commands.write_text(cleanup.sample_commands(), encoding="utf-8")
        chain = [("asendcmd", {"f": str(commands)}), *chain]
        delay = denoise_delay_samples()
        if delay:
            chain += [("atrim", {"start_sample": delay}), ("apad", {"pad_len": delay})]
    return run_ffmpeg(
        [*input_args(source), "-map", "0:a:0", "-ac", "1", "-ar", str(CLEAN_RATE_HZ),
         "-af", filter_spec(chain), "-c:a", "flac", "-sample_fmt", "s32", "-y", output_path(out)],
        timeout_s=timeout_s,
        what=f"cleaning {label}",
    )  # fmt: skip


@lru_cache(maxsize=1)
def denoise_delay_samples() -> int:
    """How many samples afftdn delays what it reads at 48 kHz (1,200 in ffmpeg 5.1: half its
    50 ms window), measured once per process on this ffmpeg: a click in a faint noise bed,
    through afftdn and through nothing, and the difference of where it comes out."""
    graph = (
        f"aevalsrc='0.001*sin(n*12.9898)+if(eq(n,{CLEAN_RATE_HZ // 4}),0.8,0)'"
        f":s={CLEAN_RATE_HZ}:d=0.5"
    )
    where = []
    with tempfile.TemporaryDirectory(prefix="spacecast-afftdn-") as folder:
        for name, chain in (("plain", "anull"), ("denoised", f"afftdn=nr={DENOISE_DB}:nf=-50")):
            out = Path(folder) / f"{name}.f32"
            run_ffmpeg(
                [*lavfi_input(graph), "-af", chain, "-f", "f32le", output_path(out)],
                timeout_s=60,
                what="measuring afftdn's delay",
            )
            samples = np.fromfile(out, dtype=np.float32)
            where.append(int(np.argmax(np.abs(samples))))
    return max(0, where[1] - where[0])


@dataclass(frozen=True)
class CleanedTrack:
    cleanup: Cleanup
    path: Path | None  # the repaired track, None when nothing was done
    after: TrackHealth | None  # its health, measured again
    cpu_s: float = 0.0

    def as_dict(self, before: TrackHealth) -> dict:
        """What was applied, with the noise floor and hum before and after it."""
        after = self.after or before
        return {
            **self.cleanup.as_dict(),
            "noise_floor_before_dbfs": round(before.noise_floor_dbfs, 1),
            "noise_floor_after_dbfs": round(after.noise_floor_dbfs, 1),
            "hum_before_dbfs": round(before.hum_level_dbfs, 1),
            "hum_after_dbfs": round(after.hum_level_dbfs, 1),
        }


def clean_track(
    source: Path,
    health: TrackHealth,
    speech: Sequence[tuple[float, float]],
    out: Path,
    *,
    timeout_s: float,
    label: str,
) -> CleanedTrack:
    """Plan the repair of one track from its health, render it into ``out`` and measure it."""
    cleanup = plan_cleanup(health, speech)
    if not cleanup.applied:
        return CleanedTrack(cleanup, None, None)
    run = _render(source, cleanup, out, timeout_s=timeout_s, label=label)
    after = measure_health(out, speech, timeout_s=timeout_s, label=f"{label} (cleaned)")
    return CleanedTrack(cleanup, out, after, cpu_s=run.cpu_s + after.cpu_s)
