import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.mix import (
    SPLICE_MATCH,
    MixInput,
    StoredMix,
    mix_command,
    mix_tracks,
    splice_mix,
)
from tests.audio import decode


def test_mix_graph_delays_each_track_by_its_offset_in_samples_from_the_first() -> None:
    args = mix_command(
        [MixInput(Path("/t/a.opus"), 2.0, "a"), MixInput(Path("/t/b.wav"), 9.153, "b")],
        Path("/t/mix.flac"),
        pipes=[5, 7],
    )
    graph = args[args.index("-filter_complex") + 1]
    assert "adelay=all=1:delays=0S" in graph
    assert f"adelay=all=1:delays={round(7.153 * 48000)}S" in graph
    assert "amix=duration=longest:inputs=2:normalize=0" in graph
    # Measured as the FLAC stores it; the summary, and a 100 ms profile.
    assert "aformat=sample_fmts=s32[s6];[s6]ebur128=framelog=info:peak=true" in graph
    # The mix reads only its decoders' pipes (float PCM at the mix rate), never a user's file:
    # each decoder opens its file through the whitelists (pipeline.ffmpeg.decoded_pcm).
    assert "/t/a.opus" not in " ".join(args) and "/t/b.wav" not in " ".join(args)
    assert args[: args.index("-filter_complex")] == [
        *("-f", "f32le", "-ac", "1", "-ar", "48000", "-protocol_whitelist", "pipe", "-i", "pipe:5"),
        *("-f", "f32le", "-ac", "1", "-ar", "48000", "-protocol_whitelist", "pipe", "-i", "pipe:7"),
    ]


def click_track(path: Path, click_at_s: float, total_s: float, rate_hz: int) -> Path:
    """Silence with one 5 ms click, to locate a track's samples on the mixed timeline."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"anullsrc=r={rate_hz}:cl=mono:d={total_s}",
         "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate={rate_hz}:duration=0.005",
         "-filter_complex", f"[1:a]adelay=delays={int(click_at_s * 1000)}:all=1[c];[0:a][c]amix=inputs=2:normalize=0",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_tracks_land_at_their_offsets_on_the_mixed_timeline(tmp_path: Path) -> None:
    # Two tracks at different rates and containers; each clicks 1 s after its first sample.
    a = click_track(tmp_path / "a.flac", 1.0, 3.0, 44_100)
    b = click_track(tmp_path / "b.wav", 1.0, 3.0, 16_000)
    mixed = mix_tracks(
        [MixInput(a, 5.0, "a"), MixInput(b, 6.5, "b")], tmp_path / "mix.flac", timeout_s=60
    )
    assert mixed.timeline_start_s == 5.0
    assert mixed.duration_s == pytest.approx(4.5, abs=0.05)
    samples = decode(mixed.path, rate_hz=48_000)
    loud = np.flatnonzero(np.abs(samples) > 0.05) / 48_000
    first_click, second_click = loud[loud < 2.0], loud[loud >= 2.0]
    assert first_click.min() == pytest.approx(1.0, abs=0.002)  # room time 6.0
    assert second_click.min() == pytest.approx(2.5, abs=0.002)  # room time 7.5


def _room(sample_dir: Path, mutes: dict[str, tuple], bruno: str = "bruno.flac") -> list[MixInput]:
    """The sample's three voices (Ogg Opus, Bruno's WebM as FLAC, as a live or drift-corrected
    track is stored, AAC at 44.1 kHz), Chioma with a gain curve."""
    flac = sample_dir / "bruno.flac"
    if bruno == "bruno.flac" and not flac.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(sample_dir / "bruno.webm"),
                        "-ac", "1", str(flac)], check=True)  # fmt: skip
    return [
        MixInput(sample_dir / "alice.opus", 0.0, "alice", mute=mutes.get("alice", ())),
        MixInput(sample_dir / bruno, 7.153, "bruno", mute=mutes.get("bruno", ())),
        MixInput(
            sample_dir / "chioma.m4a",
            15.5,
            "chioma",
            # a slow leveling curve, and the pause gate's 15 dB in 0.2 s while she speaks, in a
            # stretch's padding (the gain is evaluated once a frame: a stretch must see the same
            # frames as the whole mix)
            gain=(
                (0.0, -3.0),
                (20.0, 4.0),
                (27.1, 2.6),
                (27.3, -12.4),
                (28.6, -12.4),
                (28.8, 2.0),
                (40.0, 1.0),
            ),
            mute=mutes.get("chioma", ()),
        ),
    ]


def test_a_mix_spliced_around_changed_mutes_is_the_mix_made_whole(
    sample_dir: Path, tmp_path: Path
) -> None:
    before = {"alice": ((20.0, 24.0), (50.0, 52.0)), "chioma": ((30.0, 31.0),)}
    # One mute kept, one lifted, one added at the very start (a stretch from sample 0), one on
    # a speaker who joins later (their track enters inside the stretch), one moved.
    after = {
        "alice": ((0.1, 0.9), (20.0, 24.0)),
        "bruno": ((6.9, 9.0),),
        "chioma": ((43.0, 44.0),),
    }
    stored = mix_tracks(_room(sample_dir, before), tmp_path / "before.flac", timeout_s=120)
    whole = mix_tracks(_room(sample_dir, after), tmp_path / "whole.flac", timeout_s=120)
    spliced = splice_mix(
        _room(sample_dir, after),
        StoredMix(
            stored.path,
            stored.timeline_start_s,
            tuple(before.get(name, ()) for name in ("alice", "bruno", "chioma")),
            stored.loudness,
            stored.momentary,
        ),
        tmp_path / "spliced.flac",
        timeout_s=120,
    )
    assert spliced is not None and spliced.spliced is not None
    # The stretches: around 0.1-0.9 (from the start), 6.9-9.0, 30-31, 43-44 and 50-52.
    assert [(s.first / 48_000, s.end / 48_000) for s in spliced.spliced] == [
        (0.0, 1.4),
        (6.4, 9.5),
        (29.5, 31.5),
        (42.5, 44.5),
        (49.5, 52.5),
    ]
    a, b = decode(whole.path, rate_hz=48_000), decode(spliced.path, rate_hz=48_000)
    assert len(a) == len(b)
    assert np.sqrt(np.mean(a**2)) > 0.01  # there is speech to compare
    difference = np.abs(a - b)
    # Outside the stretches, the stored samples; inside, what the whole mix holds, within what
    # the splice accepts at a stretch's padding (-54 dBFS): Chioma's AAC, decoded after a seek,
    # differs from a decode from the start by that much; Opus and FLAC within -80 dBFS.
    inside = np.zeros(len(a), dtype=bool)
    for s in spliced.spliced:
        inside[s.first : s.end] = True
    assert difference[~inside].max() < 1e-6
    assert difference[inside].max() < SPLICE_MATCH
    assert difference[: spliced.spliced[1].end].max() < 1e-4  # before Chioma joins
    assert spliced.loudness.integrated_lufs == pytest.approx(
        whole.loudness.integrated_lufs, abs=0.05
    )
    assert spliced.loudness.true_peak_dbtp >= whole.loudness.true_peak_dbtp - 0.05
    assert len(spliced.momentary) == len(whole.momentary)
    assert max(abs(x - y) for x, y in zip(spliced.momentary, whole.momentary, strict=True)) <= 0.11
    # What the splice saved: the stretches are 11.5 s of the mix.
    assert sum(s.samples for s in spliced.spliced) / 48_000 < 0.2 * whole.duration_s


def test_a_splice_that_would_mix_most_of_the_room_again_is_left_to_a_whole_mix(
    sample_dir: Path, tmp_path: Path
) -> None:
    stored = mix_tracks(_room(sample_dir, {}), tmp_path / "before.flac", timeout_s=120)
    memo = StoredMix(stored.path, stored.timeline_start_s, ((), (), ()), stored.loudness, [])
    most = {"alice": ((1.0, stored.duration_s * 0.4),)}
    assert splice_mix(_room(sample_dir, most), memo, tmp_path / "x.flac", timeout_s=60) is None
    moved = StoredMix(stored.path, 1.0, ((), (), ()), stored.loudness, stored.momentary)
    assert splice_mix(_room(sample_dir, {}), moved, tmp_path / "y.flac", timeout_s=60) is None
    # Bruno's WebM counts milliseconds: a seek into it lands 8 ms early, so a stretch where he
    # speaks would not match the stored mix, and is not spliced.
    webm = mix_tracks(_room(sample_dir, {}, "bruno.webm"), tmp_path / "w.flac", timeout_s=120)
    memo = StoredMix(webm.path, webm.timeline_start_s, ((), (), ()), webm.loudness, webm.momentary)
    muted = _room(sample_dir, {"alice": ((30.0, 32.0),)}, "bruno.webm")
    assert splice_mix(muted, memo, tmp_path / "z.flac", timeout_s=60) is None
    assert (
        splice_mix(
            _room(sample_dir, {"alice": ((30.0, 32.0),)}),
            replace(memo, path=stored.path),
            tmp_path / "v.flac",
            timeout_s=60,
        )
        is not None
    )
