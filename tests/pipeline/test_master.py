import subprocess
from pathlib import Path

import pytest

from pipeline.loudness import Loudness, measure_loudness, parse_ebur128_summaries
from pipeline.master import MP3, OPUS, LoudnessTarget, master_episode
from pipeline.mix import MixInput, mix_tracks
from pipeline.probe import probe_track
from tests.audio import ebur128
from tests.pipeline.hostile_media import loud_noise, mp3_changing_rate

SUMMARY = """
[Parsed_ebur128_4 @ 0x55] Summary:

  Integrated loudness:
    I:         -30.0 LUFS
    Threshold: -40.2 LUFS

  Loudness range:
    LRA:         2.6 LU
    Threshold: -50.5 LUFS
    LRA low:   -32.0 LUFS
    LRA high:  -29.4 LUFS

  True peak:
    Peak:      -12.0 dBFS
"""


def test_ebur128_summary_is_parsed() -> None:
    assert parse_ebur128_summaries(SUMMARY) == [Loudness(-30.0, -12.0, 2.6)]


def speechlike(path: Path, gain_db: float) -> Path:
    """Pink noise bursts with pauses (speech-like level changes) at a chosen level."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anoisesrc=color=pink:r=48000:d=20:seed=7",
         "-af", f"volume='if(lt(mod(t,2),1.3),1,0.02)':eval=frame,volume={gain_db}dB", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("gain_db", [-35.0, 0.0], ids=["very-quiet", "hot"])
def test_delivered_files_meet_the_target_measured_on_the_encoded_file(
    tmp_path: Path, gain_db
) -> None:
    source = speechlike(tmp_path / "source.flac", gain_db)
    mixed = mix_tracks([MixInput(source, 0.0, "source")], tmp_path / "mix.flac", timeout_s=60)
    result = master_episode(
        mixed.path,
        mixed.loudness,
        tmp_path,
        formats=[MP3, OPUS],
        target=LoudnessTarget(),
        timeout_s=120,
    )
    for name in ("mp3", "opus"):
        delivered = result.files[name].path
        integrated, true_peak = ebur128(delivered)  # an independent measurement of the file itself
        assert integrated == pytest.approx(-16.0, abs=0.5), name
        assert true_peak <= -1.0, name
        assert result.files[name].loudness.integrated_lufs == pytest.approx(integrated, abs=0.05)
    assert measure_loudness(result.files["mp3"].path, what="mp3").true_peak_dbtp <= -1.0


def _master_and_measure(tmp_path: Path, inputs: list[MixInput]) -> tuple[float, float]:
    mixed = mix_tracks(inputs, tmp_path / "mix.flac", timeout_s=120)
    # The mix's own measurement must describe the whole mix file, as a listener would hear it.
    integrated, _ = ebur128(mixed.path)
    assert mixed.loudness.integrated_lufs == pytest.approx(integrated, abs=0.2)
    result = master_episode(
        mixed.path,
        mixed.loudness,
        tmp_path,
        formats=[MP3, OPUS],
        target=LoudnessTarget(),
        timeout_s=300,
    )
    for name in ("mp3", "opus"):
        integrated, true_peak = ebur128(result.files[name].path)
        assert integrated == pytest.approx(-16.0, abs=0.5), name
        assert true_peak <= -1.0, name
    return mixed.duration_s, mixed.loudness.integrated_lufs


def test_a_track_whose_sample_rate_changes_mid_stream_is_mixed_whole_and_mastered(
    tmp_path: Path,
) -> None:
    track = mp3_changing_rate(tmp_path / "changes-rate.mp3")
    assert probe_track(track).duration_s == pytest.approx(20.0, abs=0.2)
    other = speechlike(tmp_path / "other.flac", -10.0)
    duration_s, _ = _master_and_measure(
        tmp_path, [MixInput(other, 0.0, "other"), MixInput(track, 2.5, "changes rate")]
    )
    # Its second half stays where it was: no second delay where the rate changes.
    assert duration_s == pytest.approx(22.5, abs=0.1)


def test_loud_eight_channel_192khz_noise_is_mastered_to_the_target(tmp_path: Path) -> None:
    noise = loud_noise(tmp_path / "noise.wav")
    probe = probe_track(noise)
    assert (probe.channels, probe.sample_rate_hz) == (8, 192_000)
    _master_and_measure(tmp_path, [MixInput(noise, 0.0, "noise")])
