"""Clip decisions, transcript excerpts, suggestions, and clip and audiogram rendering on real audio."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.clips import (
    audible_in,
    clip_blockers,
    excerpt_transcript,
    render_audiogram,
    render_clip,
)
from pipeline.consent import ConsentState
from pipeline.master import LoudnessTarget
from pipeline.mix import MixInput, mix_tracks
from pipeline.suggest import suggest_clips
from pipeline.transcript import Segment, Word
from tests.audio import decode, ebur128, rms_db

ACTIVITY = {"alice": [(0.0, 10.0)], "chioma": [(12.0, 20.0)], "dan": [(22.0, 30.0)]}
NAMES = {"alice": "Alice", "chioma": "Chioma", "dan": "Dan"}
YES = ConsentState(record=True, publish=True, transcribe=True, clip=True)


def test_only_speakers_talking_in_the_range_count() -> None:
    assert audible_in(2.0, 11.9, ACTIVITY) == ["alice"]
    assert audible_in(9.0, 13.0, ACTIVITY) == ["alice", "chioma"]
    assert (
        audible_in(9.9, 12.1, ACTIVITY) == []
    )  # a tenth of a second each is a breath, not a voice


def test_blockers_name_each_speaker_and_why() -> None:
    states = {
        "alice": YES,
        "chioma": ConsentState(record=True, publish=True, transcribe=True, clip=False),
        "dan": ConsentState(record=True),
    }
    blockers = clip_blockers(
        ["alice", "chioma", "dan"], NAMES, ["alice", "chioma"], states, ["dan"]
    )
    assert [b.reason for b in blockers] == [
        "Chioma speaks in this range and has not consented to appearing in clips",
        "Dan is heard in this range through another microphone and is not published",
    ]
    assert clip_blockers(["dan"], NAMES, ["alice"], states, bleeding_unducked=[]) == []


def test_excerpt_keeps_only_the_words_inside_the_range_on_clip_time() -> None:
    words = tuple(Word(10.0 + i, 10.9 + i, f" w{i}") for i in range(6))
    line = Segment("alice", "Alice", 10.0, 15.9, "w0 w1 w2 w3 w4 w5", words)
    (cut,) = excerpt_transcript([line], 12.0, 14.5)
    assert cut.text == "w2 w3 w4"
    assert (cut.start_s, cut.end_s) == (0.0, 2.5)
    assert cut.words[0].start_s == 0.0


def test_suggestions_prefer_lively_exchanges_on_whole_sentences_and_avoid_blocked_speech() -> None:
    monologue = [
        Segment(
            "alice", "Alice", float(i * 6), float(i * 6 + 5.5), "I keep talking about the weather"
        )
        for i in range(8)
    ]
    exchange = [
        Segment("alice" if i % 2 == 0 else "chioma", "Alice" if i % 2 == 0 else "Chioma",
                60.0 + i * 5, 64.5 + i * 5, "Is the market open?" if i % 2 == 0 else "Yes, every Saturday.")
        for i in range(6)
    ]  # fmt: skip
    best = suggest_clips(monologue + exchange, limit=2)
    assert best[0].start_s == 60.0
    assert "a question answered" in best[0].reasons and "2 speakers" in best[0].reasons
    for suggestion in suggest_clips(monologue + exchange, blocked=[(70.0, 72.0)]):
        assert suggestion.end_s <= 70.0 or suggestion.start_s >= 72.0


@pytest.fixture(scope="module")
def mix(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("clip-mix")
    inputs = [
        MixInput(sample_dir / "alice.opus", 0.0, "alice"),
        MixInput(sample_dir / "chioma.m4a", 15.5, "chioma"),
    ]
    return mix_tracks(inputs, folder / "mix.flac", timeout_s=60)


def test_a_clip_is_normalized_with_fades(mix, tmp_path: Path) -> None:
    result = render_clip(
        mix.path, mix.momentary, 20.0, 30.0, tmp_path, target=LoudnessTarget(), timeout_s=60
    )
    clip = result.files["mp3"].path
    integrated, true_peak = ebur128(clip)
    assert integrated == pytest.approx(-16.0, abs=0.5) and true_peak <= -1.0
    assert result.files["mp3"].duration_s == pytest.approx(30.0, abs=0.1)
    samples = decode(clip)
    edge = 16_000 // 50  # the first and last 20 ms
    assert (
        rms_db(samples[:edge]) < rms_db(samples) - 20
        and rms_db(samples[-edge:]) < rms_db(samples) - 20
    )


def test_a_silent_range_is_refused(mix, tmp_path: Path) -> None:
    from pipeline.errors import NothingToPublish

    with pytest.raises(NothingToPublish, match="the chosen range is silent"):
        render_clip(
            mix.path, mix.momentary, 0.0, 0.45, tmp_path, target=LoudnessTarget(), timeout_s=60
        )


def test_audiogram_is_a_square_video_with_the_clip_audio(mix, tmp_path: Path) -> None:
    clip = (
        render_clip(
            mix.path, mix.momentary, 20.0, 8.0, tmp_path, target=LoudnessTarget(), timeout_s=60
        )
        .files["mp3"]
        .path
    )
    captions = [Segment("chioma", "Chioma", 1.0, 6.0, "We planted tomatoes, beans and sunflowers.")]
    with_captions = render_audiogram(
        clip, captions, "Town Square Live", tmp_path / "a.mp4", timeout_s=120
    )
    without = render_audiogram(clip, [], "Town Square Live", tmp_path / "b.mp4", timeout_s=120)
    info = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(with_captions)],
        check=True, capture_output=True).stdout)  # fmt: skip
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and (
        streams["video"]["width"],
        streams["video"]["height"],
    ) == (720, 720)
    assert streams["audio"]["codec_name"] == "aac"
    assert float(info["format"]["duration"]) == pytest.approx(8.0, abs=0.3)

    def frame(path: Path, at: float) -> np.ndarray:
        raw = subprocess.run(
            ["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            check=True, capture_output=True).stdout  # fmt: skip
        return np.frombuffer(raw, dtype=np.uint8).reshape(720, 720)

    # The captions are burned into the bottom of the picture while they are spoken.
    bottom = slice(560, 720)
    assert (
        np.abs(
            frame(with_captions, 3.0)[bottom].astype(int) - frame(without, 3.0)[bottom].astype(int)
        ).mean()
        > 1.0
    )
