"""CPU cost of the per-speaker steps per hour of audio: the track health report, the repair of a
noisy, humming track, leveling's measuring pass, the mix with and without gain curves, and
transcription with tiny.en (English) and base (other languages).

    .venv/bin/python -m bench.multitrack [--minutes 10]

Builds a track of espeak-ng speech with pauses (about two thirds speech), repeated to length.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.activity import detect_speech
from pipeline.cleanup import clean_track
from pipeline.health import measure_health
from pipeline.leveling import level_speaker
from pipeline.mix import MixInput, mix_tracks
from pipeline.transcribe import WhisperSettings, transcribe_track

RATE = 48_000
ENGLISH = "The library garden has tomatoes and sunflowers, and the market opens at eight."
FRENCH = "Le jardin de la bibliothèque a des tomates, et le marché ouvre à huit heures."


def _speech(
    text: str, voice: str, folder: Path, minutes: float, gain_db: float, noisy: bool = False
) -> Path:
    wav = folder / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    turn = np.frombuffer(raw, dtype=np.float32) * 10 ** (gain_db / 20)
    pause = np.zeros(int(2.5 * RATE), dtype=np.float32)
    one = np.concatenate([turn, pause])
    repeats = int(minutes * 60 * RATE / len(one)) + 1
    whole = np.tile(one, repeats)
    if noisy:  # a room at -45 dBFS and 50 Hz hum at -40 dBFS
        rng = np.random.default_rng(19)
        t = np.arange(len(whole)) / RATE
        whole = whole + rng.normal(0, 10 ** (-45 / 20), len(whole)).astype(np.float32)
        whole = whole + (np.sin(2 * np.pi * 50 * t) * 10 ** (-40 / 20) * 2**0.5).astype(np.float32)
    path = folder / f"{voice}.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
         "-c:a", "flac", str(path)],
        input=whole.astype(np.float32).tobytes(), check=True,
    )  # fmt: skip
    return path


def _per_hour(cpu_s: float, audio_s: float) -> float:
    return round(cpu_s * 3600.0 / audio_s, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        loud = _speech(ENGLISH, "en-us", folder, args.minutes, 0.0)
        quiet = _speech(FRENCH, "fr", folder, args.minutes, -15.0, noisy=True)
        audio_s = args.minutes * 60
        activity = detect_speech(quiet, offset_s=0.0, timeout_s=3600, label="quiet")
        health = measure_health(quiet, activity.segments, timeout_s=3600, label="quiet")
        figures["health_cpu_s_per_audio_hour"] = _per_hour(health.cpu_s, audio_s)
        cleaned = clean_track(
            quiet, health, activity.segments, folder / "clean.flac", timeout_s=3600, label="q"
        )
        assert cleaned.cleanup.denoise and cleaned.cleanup.notches_hz
        figures["repair_and_measure_again_cpu_s_per_audio_hour"] = _per_hour(cleaned.cpu_s, audio_s)
        level = level_speaker(quiet, activity.segments, timeout_s=3600, label="quiet")
        figures["leveling_measure_cpu_s_per_audio_hour"] = _per_hour(level.cpu_s, audio_s)
        plain = mix_tracks(
            [MixInput(loud, 0.0, "loud"), MixInput(quiet, 0.0, "quiet")],
            folder / "plain.flac",
            timeout_s=3600,
        )
        leveled = mix_tracks(
            [MixInput(loud, 0.0, "loud"), MixInput(quiet, 0.0, "quiet", gain=level.points)],
            folder / "leveled.flac",
            timeout_s=3600,
        )
        figures["mix_cpu_s_per_audio_hour_two_tracks"] = _per_hour(plain.run.cpu_s, audio_s)
        figures["mix_leveled_cpu_s_per_audio_hour_two_tracks"] = _per_hour(
            leveled.run.cpu_s, audio_s
        )
        for name, track, language in (("tiny.en", loud, "en"), ("base", quiet, "fr")):
            started = time.process_time()
            result = transcribe_track(
                track,
                speaker_id="s",
                speaker="S",
                offset_s=0.0,
                language=language,
                settings=WhisperSettings(cpu_threads=1),
                timeout_s=7200,
            )
            assert result.model == name
            cpu_s = time.process_time() - started
            figures[f"transcribe_{name}_cpu_s_per_audio_hour"] = _per_hour(cpu_s, audio_s)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
