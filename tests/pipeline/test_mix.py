import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.mix import MixInput, mix_command, mix_tracks
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
