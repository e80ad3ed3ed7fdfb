"""The host's own audio in an edited episode, rendered by real ffmpeg: an intro in front (the
room moves later by exactly its length), an outro after, a bed looped under the room and ducked
by the published voices' speech activity; the whole through the one master."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.edits import (
    Bed,
    Cut,
    HostAudioInputs,
    Intro,
    Outro,
    RoomTimeline,
    bed_gain_points,
    host_gain_db,
    measure_host_audio,
    operations_from_data,
    resolve,
    validate,
    write_bed_commands,
)
from pipeline.errors import InvalidEdit
from pipeline.loudness import measure_loudness
from pipeline.master import MP3, Edits, LoudnessTarget, master_episode
from pipeline.probe import probe_track
from tests.audio import decode

RATE = 48_000

INTRO, OUTRO, BED = "a" * 32, "b" * 32, "c" * 32


def _write(path: Path, samples: np.ndarray, rate_hz: int, channels: int = 1, codec=()) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(rate_hz), "-ac", str(channels),
         "-i", "-", *codec, str(path)],
        input=samples.astype(np.float32).tobytes(), check=True,
    )  # fmt: skip
    return path


def _tone(freq: float, seconds: float, rate_hz: int, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    return amplitude * np.sin(2 * np.pi * freq * t)


def _band_db(samples: np.ndarray, freq: float, start_s: float, end_s: float) -> float:
    """Level (dB) of the ``freq`` component in ``start_s``-``end_s``."""
    part = samples[int(start_s * RATE) : int(end_s * RATE)]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    freqs = np.fft.rfftfreq(len(part), 1 / RATE)
    band = spectrum[(freqs > freq - 15) & (freqs < freq + 15)]
    return 20 * np.log10(float(np.sqrt(np.mean(band**2))) + 1e-12)


def _onsets(samples: np.ndarray, freq: float) -> list[float]:
    """Where the ``freq`` tone begins (20 ms frames within 20 dB of the loudest)."""
    frame = int(0.02 * RATE)
    levels = [_band_db(samples, freq, i / RATE, (i + frame) / RATE)
              for i in range(0, len(samples) - frame, frame)]  # fmt: skip
    loud = np.array(levels) > max(levels) - 20
    return [i * 0.02 for i in range(1, len(loud)) if loud[i] and not loud[i - 1]]


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> dict:
    """A mix of 1 kHz "speech" at mix 1-2.5, 5-6.5, 9-10.5 s (room time 2 s later) over quiet
    noise; the host's 440 Hz intro (stereo, 44.1 kHz WAV), 660 Hz outro (MP3), 220 Hz bed of
    3 s that loops (FLAC)."""
    folder = tmp_path_factory.mktemp("host-audio")
    rng = np.random.default_rng(3)
    mix = rng.normal(0, 0.0005, 12 * RATE)
    for at in (1.0, 5.0, 9.0):
        i = int(at * RATE)
        mix[i : i + int(1.5 * RATE)] += _tone(1000, 1.5, RATE, 0.25)
    stereo = np.repeat(_tone(440, 2.5, 44_100, 0.3), 2)
    return {
        "mix": _write(folder / "mix.flac", mix, RATE, codec=("-c:a", "flac", "-sample_fmt", "s32")),
        INTRO: _write(folder / "intro.wav", stereo, 44_100, channels=2),
        OUTRO: _write(folder / "outro.mp3", _tone(660, 1.5, RATE, 0.3), RATE),
        BED: _write(folder / "bed.flac", _tone(220, 3.0, RATE, 0.3), RATE),
        "folder": folder,
    }


def test_host_audio_is_refused_unless_it_is_the_shows_own_and_fits() -> None:
    room = RoomTimeline(2.0, 14.0, {"a": "A"}, host_audio={INTRO: 2.5})
    for data, message in [
        ([{"op": "intro", "audio_id": "../../raw/x"}], "audio_id must name the show's own audio"),
        ([{"op": "bed", "audio_id": INTRO, "level_db": 3}], "level_db must be -40 to 0 dB"),
        ([{"op": "bed", "audio_id": INTRO, "level_db": "-3"}], "level_db must be a number"),
    ]:
        with pytest.raises(InvalidEdit, match=message):
            operations_from_data(data)
    for ops, message in [
        ([Intro(OUTRO)], r"operation 1 \(intro b+\): unknown audio; the show's own audio are a+"),
        ([Intro(INTRO), Intro(INTRO)], "only one intro per edit list"),
        ([Bed(INTRO, level_db=-5, duck_db=-5)], "must be at most -15 dB"),
    ]:
        with pytest.raises(InvalidEdit, match=message):
            validate(ops, room)


def test_the_bed_is_down_while_anyone_speaks_and_up_between() -> None:
    points = bed_gain_points([(2.0, 3.0), (3.5, 4.0), (8.0, 9.0)], 12.0, Bed(BED, -10, -14))
    level = dict(points)
    assert points[0] == (0.0, -10.0)
    assert level[2.0] == level[4.0] == -24.0  # a 0.5 s pause keeps it down
    assert (1.7, -10.0) in points and (4.8, -10.0) in points
    assert points[-1] == (12.0, -10.0)


def test_intro_outro_and_ducked_bed_render_around_and_under_the_cut_room(parts) -> None:
    folder = parts["folder"]
    lengths = {key: probe_track(parts[key]).duration_s for key in (INTRO, OUTRO, BED)}
    room = RoomTimeline(2.0, 14.0, {"a": "A"}, host_audio=lengths)
    ops = [Cut(9.0, 10.0), Intro(INTRO), Outro(OUTRO), Bed(BED, level_db=-10, duck_db=-14)]
    validate(ops, room)
    speech = [(3.0, 4.5), (7.0, 8.5), (11.0, 12.5)]  # room time
    plan = resolve(ops, room, speech=speech)
    assert plan.lead_s == pytest.approx(2.5, abs=1e-3)
    assert plan.duration_s == pytest.approx(2.5 + 11.0 + plan.tail_s)
    speech_lufs = measure_loudness(parts["mix"], what="mix").integrated_lufs
    gains = {
        key: host_gain_db(
            speech_lufs, measure_host_audio(parts[key], label=key, timeout_s=60).integrated_lufs
        )
        for key in (INTRO, OUTRO, BED)
    }
    inputs = HostAudioInputs(
        files={key: parts[key] for key in (INTRO, OUTRO, BED)},
        gains_db=gains,
        bed_commands=write_bed_commands(folder / "bed.cmd", plan, speech),
    )
    mastered = master_episode(
        parts["mix"],
        measure_loudness(parts["mix"], what="mix"),
        folder,
        formats=(MP3,),
        target=LoudnessTarget(),
        timeout_s=120,
        edits=Edits(plan, 2.0, host=inputs),
    )
    delivered = mastered.files["mp3"]
    # The one master: the whole at the target, true peak under the ceiling.
    assert delivered.loudness.integrated_lufs == pytest.approx(-16.0, abs=0.5)
    assert delivered.loudness.true_peak_dbtp <= -1.0
    assert delivered.duration_s == pytest.approx(plan.duration_s, abs=0.06)
    heard = decode(delivered.path, rate_hz=RATE)
    # The room starts exactly after the intro; after the cut it is a second earlier.
    onsets = _onsets(heard, 1000)
    expected = [plan.episode_time(s) for s, _ in speech]
    assert expected == pytest.approx([2.5 + 1.0, 2.5 + 5.0, 2.5 + 8.0], abs=1e-3)
    assert len(onsets) == 3, onsets
    for got, want in zip(onsets, expected, strict=True):
        assert got - onsets[0] == pytest.approx(want - expected[0], abs=0.02)
        assert got == pytest.approx(want, abs=0.06)

    # Intro before the room, outro after it, each as loud as the speech (within 1 LU).
    def lufs(start_s: float, end_s: float) -> float:
        part = _write(folder / "part.wav", heard[int(start_s * RATE) : int(end_s * RATE)], RATE)
        return measure_loudness(part, what="part").integrated_lufs

    speech_lufs = lufs(3.6, 4.9)
    end = plan.duration_s
    assert lufs(0.2, 2.3) == pytest.approx(speech_lufs, abs=1.0)
    assert lufs(end - 1.3, end - 0.2) == pytest.approx(speech_lufs, abs=1.0)
    assert _band_db(heard, 440, 3.7, 4.8) < _band_db(heard, 1000, 3.7, 4.8) - 40
    # The bed: at least 15 dB under the speech while it is heard, back up between.
    under_speech = []
    for start, stop in speech:
        a = plan.episode_time(start) + 0.2
        b = plan.episode_time(stop) - 0.2
        under_speech.append(_band_db(heard, 1000, a, b) - _band_db(heard, 220, a, b))
    assert min(under_speech) >= 15, under_speech
    idle = _band_db(heard, 220, 2.5 + 3.5, 2.5 + 4.8)  # room 5.5-6.8 s: nobody speaks
    under = _band_db(heard, 220, 2.5 + 1.2, 2.5 + 2.3)
    assert idle - under == pytest.approx(14.0, abs=2.0)
    assert _band_db(heard, 220, 0.3, 2.2) < idle - 30  # not under the intro
    print(
        f"\nhost audio: {delivered.loudness.integrated_lufs} LUFS, "
        f"{delivered.loudness.true_peak_dbtp} dBTP, bed under speech "
        f"{min(under_speech):.1f}-{max(under_speech):.1f} dB, ducked by {idle - under:.1f} dB, "
        f"room onsets off by at most {max(abs(g - w) for g, w in zip(onsets, expected, strict=True)):.3f} s"
    )


def test_an_intro_moves_every_room_moment_later_by_its_length_and_back() -> None:
    """Every mapping adds the intro's length: words, windows, ranges, seams, marks; the intro
    and outro map to no room moment of their own (clamped to the room part's ends)."""
    from pipeline.edits import EditPlan, remap_marks, retime_segments
    from pipeline.transcript import Segment, Word

    plain = EditPlan(kept=((2.0, 6.0), (8.0, 14.0)))
    hosted = EditPlan(kept=plain.kept, lead_s=2.5, tail_s=1.5, host=(Intro(INTRO), Outro(OUTRO)))
    assert hosted.duration_s == pytest.approx(plain.duration_s + 4.0)
    assert hosted.episode_time(9.0) == pytest.approx(plain.episode_time(9.0) + 2.5)
    assert hosted.room_time(hosted.episode_time(9.0)) == pytest.approx(9.0)
    assert hosted.room_time(1.0) == pytest.approx(2.0)  # inside the intro: the room's start
    assert hosted.episode_range(8.5, 9.5) == pytest.approx((4.5 + 2.5, 5.5 + 2.5))
    assert hosted.episode_windows([(5.0, 9.0)]) == pytest.approx([(5.5, 6.5), (6.5, 7.5)])
    assert hosted.seams == pytest.approx([6.5])
    words = (Word(8.2, 8.6, " lighthouse"), Word(8.7, 9.0, " ferry"))
    (segment,) = retime_segments([Segment("d", "Dan", 8.2, 9.0, "lighthouse ferry", words)], hosted)
    assert segment.start_s == pytest.approx(4.2 + 2.5) and segment.end_s == pytest.approx(5.0 + 2.5)
    marks = [{"start_s": 0.0, "title": "a"}, {"start_s": 5.0, "title": "b"}]  # room 9.0
    assert [m["start_s"] for m in remap_marks(marks, plain, hosted)] == [0.0, 7.5]
