"""Track health: espeak-ng speech with pink noise, mains hum, clipping and a dropout added at
known levels comes back measured, each problem named; a clean track has none."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.activity import detect_speech
from pipeline.health import TrackHealth, measure_health

RATE = 48_000
SECONDS = 20


def _write(samples: np.ndarray, path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
         "-c:a", "flac", str(path)],
        input=samples.astype(np.float32).tobytes(), check=True,
    )  # fmt: skip
    return path


def pink_noise(n: int, rms_dbfs: float, seed: int = 19) -> np.ndarray:
    """Pink noise over the audible band (20 Hz - 20 kHz), as a room or a cheap preamp makes."""
    spectrum = np.fft.rfft(np.random.default_rng(seed).normal(0, 1, n))
    hz = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(hz < 20) | (hz > 20_000)] = 0
    spectrum[hz >= 20] /= np.sqrt(hz[hz >= 20])
    pink = np.fft.irfft(spectrum, n)
    return pink / np.sqrt(np.mean(pink**2)) * 10 ** (rms_dbfs / 20)


def hum(n: int, base_hz: float, rms_dbfs: float) -> np.ndarray:
    """Mains hum: the fundamental and a weaker second and third harmonic."""
    t = np.arange(n) / RATE
    wave = sum(a * np.sin(2 * np.pi * base_hz * k * t) for k, a in ((1, 1.0), (2, 0.5), (3, 0.25)))
    return wave / np.sqrt(np.mean(wave**2)) * 10 ** (rms_dbfs / 20)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("health")
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "The library garden has tomatoes and "
                    "sunflowers. The market opens at eight on Saturday morning."], check=True)  # fmt: skip
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    voice = np.frombuffer(raw, dtype=np.float32)
    track = np.zeros(RATE * SECONDS)
    track[RATE * 3 : RATE * 3 + len(voice)] = voice / np.abs(voice).max() * 0.5
    return folder, track


def health_of(folder: Path, name: str, samples: np.ndarray) -> TrackHealth:
    path = _write(samples, folder / name)
    activity = detect_speech(path, offset_s=0.0, timeout_s=120, label=name)
    return measure_health(path, activity.segments, timeout_s=120, label=name)


def test_a_clean_track_has_no_problems(speech) -> None:
    folder, track = speech
    quiet_room = np.random.default_rng(1).normal(0, 10 ** (-95 / 20), len(track))
    health = health_of(folder, "clean.flac", track + quiet_room)
    assert health.problems() == []
    assert health.noise_floor_dbfs == pytest.approx(-95.0, abs=2.0)
    assert health.speech_rms_dbfs == pytest.approx(-24.0, abs=4.0)
    assert health.hum_hz is None and health.clipped_samples == 0 and health.gaps == 0
    assert health.duration_s == pytest.approx(SECONDS, abs=0.01)


def test_the_noise_floor_is_the_room_between_words(speech) -> None:
    folder, track = speech
    health = health_of(folder, "noisy.flac", track + pink_noise(len(track), -45.0))
    assert health.noise_floor_dbfs == pytest.approx(-45.0, abs=1.5)
    assert health.snr_db == pytest.approx(health.speech_rms_dbfs + 45.0, abs=1.5)
    assert health.hum_hz is None
    assert health.problems() == [
        f"noisy: the room between words is at {health.noise_floor_dbfs:.0f} dBFS"
    ]


@pytest.mark.parametrize("base_hz", [50.0, 60.0])
def test_mains_hum_is_found_at_its_frequency_and_level(speech, base_hz: float) -> None:
    folder, track = speech
    room = pink_noise(len(track), -70.0)
    health = health_of(
        folder, f"hum{base_hz:.0f}.flac", track + room + hum(len(track), base_hz, -40.0)
    )
    assert health.hum_hz == base_hz
    # The fundamental carries 1 / (1 + 0.25 + 0.0625) of the hum's power: -1.2 dB.
    assert health.hum_level_dbfs == pytest.approx(-40.0, abs=1.5)
    assert health.hum_prominence_db >= 20.0
    assert f"{base_hz:.0f} Hz hum" in " ".join(health.problems())


def test_clipping_and_a_dropout_are_counted(speech) -> None:
    folder, track = speech
    broken = track + pink_noise(len(track), -70.0)
    broken[RATE * 4 : RATE * 4 + 480] = 1.0  # 10 ms held at full scale
    broken[RATE * 15 : RATE * 16 + RATE // 2] = 0.0  # 1.5 s of digital silence
    health = health_of(folder, "broken.flac", broken)
    assert health.clipped_samples == pytest.approx(480, abs=2)
    assert health.gaps == 1
    assert health.gap_s == pytest.approx(1.5, abs=0.11)
    problems = " ".join(health.problems())
    assert "clipping" in problems and "1 gap(s) of digital silence, 1.5 s" in problems
