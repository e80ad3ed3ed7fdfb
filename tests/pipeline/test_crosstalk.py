"""Crosstalk between published speakers, on real speech: Bruno's voice reaches Alice's
microphone 18 dB down and Alice's reaches Chioma's 20 dB down (all three published); the
crosstalk is found on the microphone that hears it, from the speaker who said it, and nowhere
else; two people talking at once keep their words."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from infra.samples import build_sample_space, load_spec
from pipeline.activity import detect_speech
from pipeline.bleed import TrackRef
from pipeline.crosstalk import Crosstalk, detect_crosstalk, without_crosstalk
from pipeline.transcript import Segment, Word
from tests.audio import decode

OFFSETS = {"alice": 0.0, "bruno": 7.153, "chioma": 15.5}
FILES = {"alice": "alice.opus", "bruno": "bruno.webm", "chioma": "chioma.m4a"}


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec("town_square")
    spec["participants"][0]["hears"] = {"bruno": -18.0}
    spec["participants"][2]["hears"] = {"alice": -20.0}
    folder = tmp_path_factory.mktemp("crosstalk")
    build_sample_space(spec, folder)
    return folder


def _tracks(folder: Path) -> list[TrackRef]:
    return [TrackRef(h, h.title(), folder / FILES[h], OFFSETS[h]) for h in FILES]


def _speech(folder: Path) -> dict[str, list[tuple[float, float]]]:
    return {
        h: detect_speech(folder / FILES[h], offset_s=OFFSETS[h], timeout_s=60).segments
        for h in FILES
    }


def _covered(windows, spans) -> float:
    """Seconds of ``spans`` that ``windows`` cover."""
    return sum(max(0.0, min(b, d) - max(a, c)) for a, b in windows for c, d in spans)


@pytest.mark.slow
def test_crosstalk_is_found_on_the_microphone_that_hears_it_from_who_said_it(
    room: Path, truth
) -> None:
    found = {
        (c.speaker_id, c.heard_on_id): c
        for c in detect_crosstalk(_tracks(room), _speech(room), room, timeout_s=60)
    }
    assert set(found) == {("bruno", "alice"), ("alice", "chioma")}, found
    said = {
        h: [(u["start_s"], u["end_s"]) for u in truth["utterances"] if u["speaker_id"] == h]
        for h in FILES
    }
    for speaker, heard_on in found:
        windows = found[(speaker, heard_on)].windows
        # Most of what the speaker said while the other microphone was open is found, and the
        # windows lie in the speaker's own utterances, not in the listener's.
        assert _covered(windows, said[speaker]) >= 0.6 * sum(b - a for a, b in said[speaker])
        assert _covered(windows, said[heard_on]) <= 0.5


def _write(path: Path, samples: np.ndarray, rate_hz: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(np.clip(samples, -32767, 32767).astype(np.int16).tobytes())
    return path


@pytest.mark.slow
def test_two_people_talking_at_once_keep_their_words_and_only_the_echo_goes(
    room: Path, truth, tmp_path: Path
) -> None:
    """Alice and Bruno say different sentences at the same moment, Bruno 6 dB quieter, each
    microphone hearing the other 15 dB down (5 ms apart); then Bruno speaks alone and only
    Alice's microphone echoes him."""
    rate = 16_000
    clean = load_spec("town_square")
    folder = tmp_path / "clean"
    build_sample_space(clean, folder)
    a = decode(folder / "alice.opus", rate_hz=rate) * 30_000.0  # to 16-bit sample values
    b = decode(folder / "bruno.webm", rate_hz=rate) * 30_000.0
    first_a = next(u for u in truth["utterances"] if u["speaker_id"] == "alice")
    first_b = next(u for u in truth["utterances"] if u["speaker_id"] == "bruno")
    a_said = a[int(first_a["start_s"] * rate) : int(first_a["end_s"] * rate)].astype(float)
    b_start = first_b["start_s"] - OFFSETS["bruno"]
    b_said = b[int(b_start * rate) : int((b_start + 4.0) * rate)].astype(float)
    n = min(len(a_said), len(b_said))
    delay, down = int(0.005 * rate), 10 ** (-15 / 20)
    total = 2 * n + rate
    mic_a, mic_b = np.zeros(total), np.zeros(total)
    mic_a[:n] += a_said[:n]  # both at once
    mic_b[:n] += 0.5 * b_said[:n]  # softer than Alice, and still his own words
    mic_a[delay : n + delay] += down * 0.5 * b_said[:n]
    mic_b[delay : n + delay] += down * a_said[:n]
    alone = n + rate // 2  # then Bruno alone, echoed on Alice's microphone
    mic_b[alone : alone + n] += b_said[:n]
    mic_a[alone + delay : alone + n + delay] += down * b_said[:n]
    tracks = [
        TrackRef("alice", "Alice", _write(tmp_path / "a.wav", mic_a), 0.0),
        TrackRef("bruno", "Bruno", _write(tmp_path / "b.wav", mic_b), 0.0),
    ]
    speech = {t.participant_id: [(0.0, total / rate)] for t in tracks}
    found = detect_crosstalk(tracks, speech, tmp_path, timeout_s=60)
    assert [(c.speaker_id, c.heard_on_id) for c in found] == [("bruno", "alice")]
    windows = found[0].windows
    together = (0.0, n / rate)
    echoed = (alone / rate, (alone + n) / rate)
    assert _covered(windows, [together]) <= 1.0  # at most the frame at the edge
    assert _covered(windows, [echoed]) >= 0.7 * (n / rate)


def test_words_heard_from_someone_else_leave_the_listeners_transcript() -> None:
    crosstalk = [Crosstalk("bruno", "alice", ((10.0, 12.0),))]
    alice = [
        Segment("alice", "Alice", 9.0, 12.5, "Yes the saxophone quartet",
                (Word(9.0, 9.4, " Yes"), Word(10.2, 10.8, " the"),
                 Word(10.9, 11.5, " saxophone"), Word(11.6, 12.5, " quartet"))),
        Segment("alice", "Alice", 10.5, 11.5, "harbour", (Word(10.5, 11.5, " harbour"),)),
    ]  # fmt: skip
    bruno = [Segment("bruno", "Bruno", 10.0, 12.0, "the saxophone quartet")]
    kept = without_crosstalk(alice + bruno, crosstalk)
    assert [(s.speaker_id, s.text) for s in kept] == [
        ("alice", "Yes quartet"),  # "quartet" is mostly after the window: its middle is 12.05
        ("bruno", "the saxophone quartet"),
    ]
    assert kept[0].start_s == 9.0 and kept[0].end_s == 12.5
    # On a timeline 3 s earlier than the room's (the mix starts at 3 s), the windows move too.
    shifted = [s.shifted(-3.0) for s in alice]
    assert [s.text for s in without_crosstalk(shifted, crosstalk, shift_s=-3.0)] == ["Yes quartet"]
