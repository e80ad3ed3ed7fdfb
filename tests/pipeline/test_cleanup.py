"""Repairing a track before the mix: hum notched at every harmonic, a noisy room's noise learned
in a pause and taken down, measured on the repaired track (noise floor, hum level) and on what
Whisper understands of it (word error)."""

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.activity import detect_speech
from pipeline.cleanup import Cleanup, clean_track, first_pause, plan_cleanup
from pipeline.health import TrackHealth, measure_health
from pipeline.quality import word_error_rate
from pipeline.transcribe import WhisperSettings, transcribe_track
from tests.pipeline.test_health import RATE, _write, hum, pink_noise

TINY = WhisperSettings(model="tiny.en", cpu_threads=1)


def health(**changes) -> TrackHealth:
    base = dict(
        duration_s=60.0, speech_rms_dbfs=-24.0, noise_floor_dbfs=-80.0, peak_dbfs=-3.0,
        hum_hz=None, hum_prominence_db=2.0, hum_level_dbfs=-100.0, clipped_samples=0,
        clipped_s=0.0, gaps=0, gap_s=0.0, broadband_floor_dbfs=-80.0,
    )  # fmt: skip
    return TrackHealth(**(base | changes))


def test_a_clean_track_is_left_alone() -> None:
    cleanup = plan_cleanup(health(), [(2.0, 50.0)])
    assert cleanup == Cleanup() and not cleanup.applied and cleanup.filters() == []


def test_hum_is_notched_at_every_harmonic() -> None:
    cleanup = plan_cleanup(health(hum_hz=60.0, hum_prominence_db=30.0), [(2.0, 50.0)])
    assert cleanup.notches_hz == (60.0, 120.0, 180.0, 240.0)
    assert not cleanup.denoise
    assert [name for name, _ in cleanup.filters()] == ["bandreject"] * 8


def test_noise_is_learned_in_the_first_long_pause_and_taken_down() -> None:
    speech = [(0.5, 1.0), (1.5, 4.0), (7.0, 30.0)]  # the first pause of 1.5 s: 4 to 7 s
    cleanup = plan_cleanup(health(noise_floor_dbfs=-44.0, broadband_floor_dbfs=-45.0), speech)
    assert cleanup.noise_sample == (4.3, 6.7)
    assert cleanup.threshold_dbfs == -40.0
    assert cleanup.filters("afftdn@clean0") == [("afftdn@clean0", {"nr": 20.0, "nf": -40.0})]
    assert cleanup.sample_commands("afftdn@clean0").splitlines() == [
        "4.300 afftdn@clean0 sample_noise start;",
        "6.700 afftdn@clean0 sample_noise stop;",
    ]


def test_noise_with_no_pause_to_learn_it_from_is_left_and_said_so() -> None:
    speech = [(0.0, 10.0), (11.0, 59.5)]
    cleanup = plan_cleanup(health(broadband_floor_dbfs=-40.0), speech)
    assert not cleanup.applied
    assert cleanup.skipped == "no pause long enough to learn the noise from"


def test_the_first_pause_may_come_before_the_speech_or_after_it() -> None:
    assert first_pause([(2.0, 5.0)], 10.0) == (0.0, 2.0)
    assert first_pause([(0.5, 9.0)], 12.0) == (9.0, 12.0)
    assert first_pause([(0.5, 9.0)], 10.0) is None


# --- real recorded speech with a fault added -------------------------------------------------

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, str]:
    """A LibriVox reader's five lines (pocketsphinx test data) after a 3 s pause, a second apart;
    the folder, the samples and what was said."""
    folder = tmp_path_factory.mktemp("cleanup")
    said = []
    parts = [np.zeros(RATE * 3)]
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.match(r"<s> (.*) </s> \((.*)\)", line)
        if not match:
            continue
        said.append(match.group(1))
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(LIBRIVOX / f"{match.group(2)}.wav"), "-ac", "1",
             "-ar", str(RATE), "-f", "f32le", "-"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        parts += [np.frombuffer(raw, dtype=np.float32).astype(np.float64), np.zeros(RATE)]
    track = np.concatenate(parts)
    return folder, track / np.abs(track).max() * 0.5, " ".join(said)


def _repair(folder: Path, name: str, samples: np.ndarray):
    path = _write(samples, folder / f"{name}.flac")
    speech = detect_speech(path, offset_s=0.0, timeout_s=120, label=name).segments
    before = measure_health(path, speech, timeout_s=120, label=name)
    cleaned = clean_track(
        path, before, speech, folder / f"{name}-clean.flac", timeout_s=120, label=name
    )
    return path, before, cleaned


def _word_error(path: Path, said: str) -> float:
    result = transcribe_track(
        path, speaker_id="a", speaker="A", offset_s=0.0, language="en", settings=TINY,
        timeout_s=300,
    )  # fmt: skip
    return word_error_rate(said, " ".join(s.text for s in result.segments))


@pytest.mark.slow
def test_a_noisy_room_is_lowered_10_db_and_the_words_stay(voice) -> None:
    folder, track, said = voice
    raw, before, cleaned = _repair(folder, "noisy", track + pink_noise(len(track), -45.0))
    assert before.noisy and cleaned.cleanup.denoise
    assert cleaned.after is not None
    lowered = before.noise_floor_dbfs - cleaned.after.noise_floor_dbfs
    errors = (_word_error(raw, said), _word_error(cleaned.path, said))
    print(f"noise floor {before.noise_floor_dbfs:.1f} -> {cleaned.after.noise_floor_dbfs:.1f} "
          f"dBFS; word error {errors[0]:.3f} -> {errors[1]:.3f}")  # fmt: skip
    assert lowered >= 10.0
    assert errors[1] <= errors[0] + 0.01
    # The speech itself keeps its level (within 1 dB).
    assert cleaned.after.speech_rms_dbfs == pytest.approx(before.speech_rms_dbfs, abs=1.0)
    report = cleaned.as_dict(before)
    assert report["noise_floor_after_dbfs"] == round(cleaned.after.noise_floor_dbfs, 1)


@pytest.mark.slow
def test_hum_is_lowered_20_db_and_the_words_stay(voice) -> None:
    folder, track, said = voice
    room = pink_noise(len(track), -70.0)
    raw, before, cleaned = _repair(folder, "hum", track + room + hum(len(track), 50.0, -35.0))
    assert before.hum_hz == 50.0 and cleaned.cleanup.notches_hz == (50.0, 100.0, 150.0, 200.0)
    assert not cleaned.cleanup.denoise  # the room under the hum is quiet
    lowered = before.hum_level_dbfs - cleaned.after.hum_level_dbfs
    errors = (_word_error(raw, said), _word_error(cleaned.path, said))
    print(f"hum {before.hum_level_dbfs:.1f} -> {cleaned.after.hum_level_dbfs:.1f} dBFS; "
          f"word error {errors[0]:.3f} -> {errors[1]:.3f}")  # fmt: skip
    assert lowered >= 20.0
    assert errors[1] <= errors[0] + 0.01


@pytest.mark.parametrize("source_hz", [48_000, 16_000])
def test_a_denoised_track_stays_on_the_raw_tracks_samples(voice, source_hz: int) -> None:
    """afftdn delays what it outputs by its window's latency (25 ms): the repaired track is put
    back where the raw one is, sample for sample, and keeps its length, so the mix, the bleed
    check and the transcript's times line up with the other speakers. Measured by where the
    speech correlates best, at 48 kHz and from a 16 kHz track."""
    folder, track, _ = voice
    raw = _write(track + pink_noise(len(track), -45.0), folder / f"aligned-{source_hz}-48k.flac")
    if source_hz != RATE:
        raw = _resampled(raw, source_hz)
    speech = detect_speech(raw, offset_s=0.0, timeout_s=120, label="aligned").segments
    before = measure_health(raw, speech, timeout_s=120, label="aligned")
    out = folder / f"aligned-{source_hz}-clean.flac"
    cleaned = clean_track(raw, before, speech, out, timeout_s=120, label="aligned")
    assert cleaned.cleanup.denoise
    a, b = _decoded(raw), _decoded(out)
    assert len(b) == len(a)
    window = slice(4 * RATE, 6 * RATE)  # speech, after the 3 s pause the noise is learned in
    lags = range(-2400, 2401)
    scores = [float(np.dot(a[window], b[window.start + lag : window.stop + lag])) for lag in lags]
    lag = lags[int(np.argmax(scores))]
    assert abs(lag) <= 2, f"the repaired speech is {lag} samples off the raw track"


def _resampled(path: Path, rate: int) -> Path:
    out = path.with_name(f"{path.stem}-{rate}.flac")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ar", str(rate), str(out)], check=True
    )
    return out


def _decoded(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le",
         "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32)
