"""Leveling between speakers: three voices recorded 15 dB apart come out of the episode within
2 LU of each other (each measured on their own speech), the master still at -16 LUFS and under
-1 dBTP; the gain is slow and holds through pauses."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.activity import detect_speech
from pipeline.leveling import (
    GATE_DEPTH_DB,
    MAX_GAIN_DB,
    SLEW_DB_PER_S,
    SPEECH_TARGET_LUFS,
    combined,
    gain_curve,
    gated_seconds,
    pause_gate,
    volume_commands,
)
from pipeline.mix import MixInput, mix_tracks
from pipeline.process import ProcessOptions, process_space
from pipeline.transcribe import WhisperSettings
from tests.audio import decode, ebur128, rms_db, window

RATE = 48_000
# (speaker, voice, input gain dB): over 15 dB apart, the loudest near full scale.
SPEAKERS = [("alice", "en-us", 0.0), ("bruno", "en-gb", -16.0), ("chioma", "en-us+f3", -7.0)]
TURNS = [
    ("alice", "Welcome back to the garden hour. Tonight we plant the winter beans."),
    ("bruno", "Thanks Alice. I brought seeds from the market on Saturday."),
    ("chioma", "The soil by the fence needs more compost before the frost."),
    ("alice", "Good point. Bruno, how deep do the beans go?"),
    ("bruno", "About two fingers deep, and a hand apart in each row."),
    ("chioma", "Then we water them once and leave them alone for a week."),
]
GAP_S = 1.0


# --- the gain curve, as a pure function of a momentary profile ---------------------------------


def profile(parts: list[tuple[float, float]]) -> list[float]:
    """A momentary profile (every 100 ms) of (seconds, LUFS) runs."""
    return [lufs for seconds, lufs in parts for _ in range(round(seconds * 10))]


def test_a_quiet_speaker_is_raised_to_the_target() -> None:
    level = gain_curve(profile([(30, -38.0)]), [(0.0, 30.0)])
    assert level.speech_lufs == pytest.approx(-38.0, abs=0.01)
    assert level.gain_db == pytest.approx(SPEECH_TARGET_LUFS + 38.0, abs=0.01)
    assert [g for _, g in level.points] == pytest.approx([15.0] * len(level.points), abs=0.01)


def test_the_gain_holds_through_a_pause_instead_of_rising_into_the_noise() -> None:
    # 20 s of speech, 40 s of room noise at -70 LUFS, 20 s of speech again.
    momentary = profile([(20, -30.0), (40, -65.0), (20, -30.0)])
    level = gain_curve(momentary, [(0.0, 20.0), (60.0, 80.0)])
    gains = dict(level.points)
    assert gains[40.0] == pytest.approx(7.0, abs=0.01)  # the speech's gain, held
    assert max(g for _, g in level.points) == pytest.approx(7.0, abs=0.01)


def test_the_gain_moves_slowly_when_the_voice_changes() -> None:
    # The speaker steps back from the microphone: 6 dB quieter from 30 s on.
    level = gain_curve(profile([(30, -23.0), (30, -29.0)]), [(0.0, 60.0)])
    gains = [g for _, g in level.points]
    steps = np.diff(gains)
    assert max(abs(steps)) <= SLEW_DB_PER_S + 1e-6
    assert gains[10] == pytest.approx(0.0, abs=0.01)  # the voice as it was: no gain
    assert gains[-1] == pytest.approx(6.0, abs=0.5)  # followed the quieter voice


def test_a_track_with_no_speech_is_left_as_it_is() -> None:
    level = gain_curve(profile([(10, -80.0)]), [(0.0, 10.0)])
    assert level.points == () and not level.leveled
    assert gain_curve(profile([(10, -30.0)]), []).points == ()


def test_a_near_silent_voice_is_not_raised_without_bound() -> None:
    level = gain_curve(profile([(10, -68.0)]), [(0.0, 10.0)])
    assert max(g for _, g in level.points) == MAX_GAIN_DB


def test_the_gain_ramps_between_points_in_one_command_per_change() -> None:
    script = volume_commands([(0.0, 0.0), (1.0, 2.0), (2.0, 2.0), (3.0, 2.0), (4.0, 2.0)])
    assert script.splitlines() == [
        "0.000 volume volume 'pow(10,(0.000+(2.000)*(t-0.000)/1.000)/20)';",
        "1.000 volume volume 'pow(10,2.000/20)';",
    ]


# --- the gate of long pauses -------------------------------------------------------------------


def test_the_gate_closes_only_in_pauses_of_two_seconds_or_more_and_opens_before_speech() -> None:
    gate = pause_gate([(1.0, 3.0), (6.0, 8.0), (8.5, 9.0)], 14.0)
    closed = -GATE_DEPTH_DB
    assert gate == (
        (3.3, 0.0), (3.5, closed), (5.5, closed), (5.7, 0.0),  # the 3 s pause, held 0.3 s each side
        (9.3, 0.0), (9.5, closed), (14.0, closed),  # the tail; the 1 s head and 0.5 s gap open
    )  # fmt: skip
    assert gated_seconds(gate) == pytest.approx(2.0 + 4.5)
    # A track that starts in a long pause is closed from its first sample; overlapping or
    # unsorted windows are one stretch of speech.
    assert pause_gate([(3.0, 5.0)], 7.0)[:2] == ((0.0, closed), (2.5, closed))
    assert pause_gate([(4.0, 6.0), (1.0, 5.0)], 6.0) == ()
    assert pause_gate([], 5.0) == ((0.0, closed), (5.0, closed))  # never speaks: all gated


def test_the_gate_adds_to_the_leveling_gain_exactly() -> None:
    points = ((0.0, 0.0), (5.0, 0.0), (10.0, 2.0), (14.0, 2.0))
    gate = pause_gate([(1.0, 3.0), (6.0, 8.0), (8.5, 9.0)], 14.0)
    both = combined(points, gate)
    assert {t for t, _ in both} == {t for t, _ in points} | {t for t, _ in gate}
    at = dict(both)
    assert at[3.5] == -GATE_DEPTH_DB  # leveling 0 dB there
    assert at[9.5] == pytest.approx(1.8 - GATE_DEPTH_DB)  # leveling 1.8 dB at 9.5 s, gated
    assert at[5.7] == pytest.approx(0.28)  # open again, on the leveling ramp
    assert combined(points, ()) == points


def _noise(path: Path, seed: int, seconds: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"anoisesrc=color=pink:amplitude=0.05:seed={seed}:duration={seconds}:sample_rate={RATE}",
         "-ac", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_gated_open_microphones_add_no_noise_under_the_one_who_speaks(tmp_path: Path) -> None:
    """Four open microphones in one room, each with the same room noise: Alice speaks for the
    whole 12 s, the others only in their first second. Without the gate their noise adds up
    under her (four times the power, +6 dB); gated, what is under her is within 0.6 dB of her
    own microphone's, while the first second, where everyone speaks, is as loud as before."""
    seconds = 12.0
    tracks = [_noise(tmp_path / f"mic-{n}.flac", n + 1, seconds) for n in range(4)]
    speech = [[(0.0, seconds)]] + [[(0.0, 1.0)]] * 3
    flat = ((0.0, 0.0), (seconds, 0.0))
    mixes = {}
    for name, gated in (("open", False), ("gated", True)):
        inputs = [
            MixInput(
                path, 0.0, f"mic {n}", gain=combined(flat, pause_gate(s, seconds) if gated else ())
            )
            for n, (path, s) in enumerate(zip(tracks, speech, strict=True))
        ]
        mix_tracks(inputs, tmp_path / f"{name}.flac", timeout_s=60)
        mixes[name] = decode(tmp_path / f"{name}.flac")
    alone = rms_db(window(decode(tracks[0]), 3.0, 11.0)) - 20 * np.log10(4)  # the mix's 1/4
    under_open = rms_db(window(mixes["open"], 3.0, 11.0))
    under_gated = rms_db(window(mixes["gated"], 3.0, 11.0))
    print(f"noise under the speaker: {under_open:.2f} dBFS open, {under_gated:.2f} gated, "
          f"{alone:.2f} her microphone alone")  # fmt: skip
    assert under_open - under_gated >= 5.0
    assert under_gated == pytest.approx(alone, abs=0.6)
    first = [rms_db(window(mixes[name], 0.0, 1.0)) for name in ("open", "gated")]
    assert first[0] == pytest.approx(first[1], abs=0.1)


# --- a real room: espeak-ng voices 15 dB apart, mixed and mastered -----------------------------


def _speak(text: str, voice: str, folder: Path, n: int) -> np.ndarray:
    wav = folder / f"turn-{n}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32)


def _write(samples: np.ndarray, path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
         "-c:a", "flac", str(path)],
        input=samples.astype(np.float32).tobytes(), check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def uneven_room(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One track per speaker on a shared timeline; turns one after another. Returns the folder
    and each speaker's turns (room seconds)."""
    folder = tmp_path_factory.mktemp("uneven-room")
    voices = {name: (voice, gain) for name, voice, gain in SPEAKERS}
    spoken = [(who, _speak(text, voices[who][0], folder, n)) for n, (who, text) in enumerate(TURNS)]
    total = sum(len(s) for _, s in spoken) + int(GAP_S * RATE) * (len(spoken) + 1)
    tracks = {name: np.zeros(total, dtype=np.float32) for name, _, _ in SPEAKERS}
    rng = np.random.default_rng(19)
    turns: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in SPEAKERS}
    at = int(GAP_S * RATE)
    for who, samples in spoken:
        peak = float(np.max(np.abs(samples)))
        tracks[who][at : at + len(samples)] += samples / peak * 0.9 * 10 ** (voices[who][1] / 20)
        turns[who].append((at / RATE, (at + len(samples)) / RATE))
        at += len(samples) + int(GAP_S * RATE)
    for name, _, _ in SPEAKERS:  # a faint room-noise floor on every microphone
        noisy = tracks[name] + rng.normal(0, 10 ** (-75 / 20), total).astype(np.float32)
        _write(noisy, folder / f"{name}.flac")
    return folder, turns


def _manifest(folder: Path, *, level: bool) -> Path:
    data = {
        "space": {"id": f"uneven-{level}", "title": "Garden hour"},
        "show": {"title": "Garden hour", "author": "Alice", "process_speakers": level},
        "participants": [
            {"id": name, "name": name.title(), "track": f"{name}.flac", "offset": 0.0,
             "consent": {"record": True, "publish": True}}
            for name, _, _ in SPEAKERS
        ],
    }  # fmt: skip
    path = folder / f"space-{level}.json"
    path.write_text(json.dumps(data))
    return path


def loudness_during(path: Path, windows: list[tuple[float, float]]) -> float:
    """Integrated loudness (ffmpeg's ebur128) of ``path`` during ``windows``, joined."""
    select = "+".join(f"between(t,{a:.3f},{b:.3f})" for a, b in windows)
    stderr = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af",
         f"aselect='{select}',asetpts=N/SR/TB,ebur128", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = stderr[stderr.rindex("Summary:") :]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))


def spread(path: Path, turns: dict, shift_s: float = 0.0) -> tuple[float, dict]:
    levels = {
        who: loudness_during(path, [(a - shift_s, b - shift_s) for a, b in spans])
        for who, spans in turns.items()
    }
    return max(levels.values()) - min(levels.values()), levels


@pytest.mark.slow
def test_voices_15_db_apart_are_within_2_lu_in_the_episode(uneven_room, tmp_path: Path) -> None:
    folder, turns = uneven_room
    before, before_levels = spread_of_tracks(folder, turns)
    assert before >= 15.0, before_levels

    options = ProcessOptions(whisper=WhisperSettings(model="tiny.en", cpu_threads=1))
    leveled = process_space(_manifest(folder, level=True), tmp_path / "leveled", options)
    shift = leveled["episode"]["timeline_start_s"]
    after, after_levels = spread(tmp_path / "leveled" / "episode.mp3", turns, shift)
    print(f"spread before {before:.2f} LU {before_levels}; after {after:.2f} LU {after_levels}")
    assert after <= 2.0, after_levels
    integrated, true_peak = ebur128(tmp_path / "leveled" / "episode.mp3")
    assert integrated == pytest.approx(-16.0, abs=0.5)
    assert true_peak <= -1.0

    report = leveled["leveling"]
    assert report["applied"] is True
    assert set(report["tracks"]) == {"alice", "bruno", "chioma"}
    gains = {who: t["gain_db"] for who, t in report["tracks"].items()}
    assert gains["bruno"] - gains["alice"] == pytest.approx(before, abs=1.0)
    # Each waits through two turns of the others: their microphone is gated meanwhile.
    for who, track in report["tracks"].items():
        assert track["gated_pauses"] >= 1 and track["gated_s"] > 0, (who, track)
    assert leveled["stages"]["level"]["cpu_s"] > 0
    # Each published track's health, as recorded: the same 16 dB between the voices, the same
    # faint room under each.
    health = {t["participant_id"]: t["health"] for t in leveled["tracks"]}
    assert health["alice"]["speech_rms_dbfs"] - health["bruno"]["speech_rms_dbfs"] == (
        pytest.approx(16.0, abs=1.5)
    )
    assert health["bruno"]["noise_floor_dbfs"] == pytest.approx(-75.0, abs=2.0)
    assert health["bruno"]["problems"] == []
    # Nothing to repair on these tracks: no hum, a quiet room; the report says so.
    cleanup = {t["participant_id"]: t["cleanup"] for t in leveled["tracks"]}
    assert cleanup["bruno"]["hum_notches_hz"] == [] and cleanup["bruno"]["denoise"] is False

    raw = process_space(_manifest(folder, level=False), tmp_path / "raw", options)
    as_recorded, raw_levels = spread(
        tmp_path / "raw" / "episode.mp3", turns, raw["episode"]["timeline_start_s"]
    )
    print(f"raw: spread {as_recorded:.2f} LU {raw_levels}")
    # The host who wants the raw sound gets it (the master's limiter takes a little off the
    # loudest voice's peaks: measured 13.4 LU of the tracks' 15.7).
    assert as_recorded >= 12.5, raw_levels
    assert raw["leveling"] == {"applied": False, "target_lufs": -23.0, "tracks": {}}


def spread_of_tracks(folder: Path, turns: dict) -> tuple[float, dict]:
    levels = {who: loudness_during(folder / f"{who}.flac", spans) for who, spans in turns.items()}
    return max(levels.values()) - min(levels.values()), levels


def test_speech_windows_come_from_the_activity_detector(uneven_room) -> None:
    """The detector finds each turn of the quietest voice, so its level is measured on speech."""
    folder, turns = uneven_room
    found = detect_speech(folder / "bruno.flac", offset_s=0.0, timeout_s=120, label="bruno")
    for a, b in turns["bruno"]:
        assert any(s <= a + 0.5 and e >= b - 0.5 for s, e in found.segments), found.segments
