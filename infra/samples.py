"""Sample spaces with known ground truth, spoken by espeak-ng voices, for the demo, tests and
benchmarks.

A sample spec names participants (voice, container, sample rate, channels, join time, consent) and
a script of turns. ``build_sample_space`` speaks every turn, lays each participant's turns on
their own track at the right room time (silence with a faint noise floor elsewhere, as a real
microphone has), encodes each track in its container, and writes ``manifest.json`` plus
``truth.json`` (who said what, when, on the room timeline). Tracks are written as a stream, so a
sample of any length takes the same memory.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPEC_DIR = Path(__file__).parent / "samples"
SPEECH_RATE_HZ = 22_050  # espeak-ng's output rate
NOISE_FLOOR = 6.0  # int16 amplitude of the microphone noise floor (about -75 dBFS)
BLEED_DELAY_S = 0.012  # sound from another speaker reaches this microphone about 4 m later

CONTAINERS = {
    "opus": ("opus", ["-c:a", "libopus", "-b:a", "48k"]),
    "webm": ("webm", ["-c:a", "libopus", "-b:a", "48k"]),
    "m4a": ("m4a", ["-c:a", "aac", "-b:a", "96k"]),
    "mp3": ("mp3", ["-c:a", "libmp3lame", "-b:a", "96k"]),
    "flac": ("flac", ["-c:a", "flac"]),
    "wav": ("wav", ["-c:a", "pcm_s16le"]),
}


@dataclass(frozen=True)
class Utterance:
    speaker_id: str
    text: str
    start_s: float
    end_s: float


def load_spec(name_or_path: str | Path) -> dict:
    path = Path(name_or_path)
    if not path.suffix:
        path = SPEC_DIR / f"{name_or_path}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def speak(text: str, voice: str, cache: Path) -> np.ndarray:
    """espeak-ng speech as int16 samples at 22.05 kHz, trimmed of leading and trailing silence."""
    key = hashlib.sha256(f"{voice}|{text}".encode()).hexdigest()[:20]
    wav_path = cache / f"{key}.wav"
    if not wav_path.exists():
        partial = wav_path.with_suffix(".partial.wav")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "165", "-w", str(partial), text],
            check=True,
            capture_output=True,
        )
        partial.replace(wav_path)
    with wave.open(str(wav_path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    voiced = np.flatnonzero(np.abs(samples) > 200)
    return samples[voiced[0] : voiced[-1] + 1] if len(voiced) else samples


def _scaled(samples: np.ndarray, gain_db: float) -> np.ndarray:
    if gain_db == 0.0:
        return samples
    return (samples.astype(np.float32) * 10 ** (gain_db / 20)).astype(np.int16)


def plan_timeline(spec: dict, speech: list[np.ndarray], *, gap_s: float = 0.7) -> list[Utterance]:
    """Room-time placement of every turn: one after another, never before its speaker joined."""
    joins = {p["id"]: float(p["join_s"]) for p in spec["participants"]}
    placed: list[Utterance] = []
    clock = 0.5
    for (speaker_id, text), samples in zip(spec["script"], speech, strict=True):
        start = max(clock, joins[speaker_id] + 0.5)
        end = start + len(samples) / SPEECH_RATE_HZ
        placed.append(Utterance(speaker_id, text, round(start, 3), round(end, 3)))
        clock = end + gap_s
    return placed


def write_track(
    path: Path,
    fmt: str,
    rate_hz: int,
    channels: int,
    join_s: float,
    end_s: float,
    turns: Iterable[tuple[float, np.ndarray]],
    seed: int,
) -> None:
    """Encode one microphone from ``join_s`` to ``end_s`` (room time): each turn's samples at its
    start, a faint noise floor elsewhere. ``turns`` may be a generator, so a track of any length
    is written with one turn in memory at a time."""
    _, codec = CONTAINERS[fmt]
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "s16le", "-ar", str(SPEECH_RATE_HZ), "-ac", "1", "-i", "pipe:0",
        "-ar", str(rate_hz), "-ac", str(channels), *codec, str(path),
    ]  # fmt: skip
    rng = np.random.default_rng(seed)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    position = 0  # samples written, from the track's first sample (the join time)
    total = round((end_s - join_s) * SPEECH_RATE_HZ)
    block = SPEECH_RATE_HZ * 10

    def _silence(count: int) -> None:
        nonlocal position
        while count > 0:
            n = min(count, block)
            noise = rng.normal(0.0, NOISE_FLOOR, n).astype(np.int16)
            proc.stdin.write(noise.tobytes())
            position += n
            count -= n

    for start_s, samples in turns:
        at = round((start_s - join_s) * SPEECH_RATE_HZ)
        _silence(at - position)
        proc.stdin.write(samples.tobytes())
        position += len(samples)
    _silence(total - position)
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"encoding sample track {path.name} failed")


def build_sample_space(spec: dict, out_dir: Path, *, tail_s: float = 2.0) -> Path:
    """Write the sample's tracks, ``manifest.json`` and ``truth.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".speech"
    cache.mkdir(exist_ok=True)
    voices = {p["id"]: p["voice"] for p in spec["participants"]}
    speech = [speak(text, voices[speaker], cache) for speaker, text in spec["script"]]
    timeline = plan_timeline(spec, speech)
    end_s = timeline[-1].end_s + tail_s
    manifest_participants = []
    for index, p in enumerate(spec["participants"]):
        extension, _ = CONTAINERS[p["format"]]
        track = f"{p['id']}.{extension}"
        # "hears": other speakers this microphone picks up, at a level in dB (acoustic bleed).
        heard = {p["id"]: 0.0, **p.get("hears", {})}
        turns = sorted(
            (
                (u.start_s + (0.0 if u.speaker_id == p["id"] else BLEED_DELAY_S),
                 _scaled(samples, heard[u.speaker_id]))
                for u, samples in zip(timeline, speech, strict=True)
                if u.speaker_id in heard
            ),
            key=lambda turn: turn[0],
        )  # fmt: skip
        write_track(
            out_dir / track,
            p["format"],
            p["rate_hz"],
            p["channels"],
            p["join_s"],
            end_s,
            turns,
            index,
        )
        manifest_participants.append(
            {
                "id": p["id"],
                "name": p["name"],
                "role": p["role"],
                "track": track,
                "offset": p["join_s"],
                "consent": p["consent"],
            }
        )
    manifest = {"space": spec["space"], "show": spec["show"], "participants": manifest_participants}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    truth = {
        "utterances": [u.__dict__ for u in timeline],
        "duration_s": end_s,
        "speakers": {p["id"]: p["name"] for p in spec["participants"]},
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    return out_dir / "manifest.json"
