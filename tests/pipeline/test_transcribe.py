import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.activity import detect_speech
from pipeline.errors import ModelUnavailable
from pipeline.quality import word_error_rate
from pipeline.transcribe import (
    PART_PAUSE_S,
    WhisperSettings,
    check_language,
    part_count,
    part_range,
    resolve_model,
    transcribe_track,
)

TINY = WhisperSettings(model="tiny.en", cpu_threads=2)  # forced: the operator chose it


def speak(path: Path, text: str, *, voice: str = "en-us", lead_s: float = 0.0) -> Path:
    wav = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", f"adelay={int(lead_s * 1000)}:all=1",
         "-ar", "48000", "-c:a", "libopus", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.slow
def test_words_come_back_on_the_room_timeline(tmp_path: Path) -> None:
    track = speak(
        tmp_path / "alice.opus", "The library garden has tomatoes and sunflowers.", lead_s=3.0
    )
    result = transcribe_track(
        track,
        speaker_id="alice",
        speaker="Alice",
        offset_s=10.0,
        language="en",
        settings=TINY,
        timeout_s=120,
    )
    text = " ".join(s.text for s in result.segments)
    assert word_error_rate("The library garden has tomatoes and sunflowers.", text) <= 0.15
    first = result.segments[0]
    assert first.speaker == "Alice" and first.speaker_id == "alice"
    # Speech starts 3 s into a track recorded from room time 10 s.
    assert first.start_s == pytest.approx(13.0, abs=0.6)
    assert first.words and first.words[0].start_s >= 12.4
    assert result.audio_s == pytest.approx(3.0 + 3.0, abs=1.5)


@pytest.mark.slow
def test_windowed_streaming_loses_no_words(sample_dir: Path, script) -> None:
    track = sample_dir / "alice.opus"
    reference = " ".join(line.text for line in script if line.speaker_id == "alice")
    whole = transcribe_track(
        track,
        speaker_id="alice",
        speaker="Alice",
        offset_s=0.0,
        language="en",
        settings=TINY,
        timeout_s=300,
    )
    windowed = transcribe_track(
        track,
        speaker_id="alice",
        speaker="Alice",
        offset_s=0.0,
        language="en",
        settings=replace(TINY, window_s=30.0, cut_search_s=10.0),  # four windows, three cuts
        timeout_s=300,
    )
    whole_text = " ".join(s.text for s in whole.segments)
    windowed_text = " ".join(s.text for s in windowed.segments)
    assert word_error_rate(reference, whole_text) <= 0.15
    # Cuts fall in pauses: no word is lost or doubled, whatever Whisper's context does to spelling.
    assert word_error_rate(reference, windowed_text) <= 0.15
    assert len(windowed_text.split()) == pytest.approx(len(whole_text.split()), rel=0.05)
    assert windowed.audio_s == pytest.approx(whole.audio_s, abs=0.01)
    starts = [s.start_s for s in windowed.segments]
    assert starts == sorted(starts)


def test_english_only_model_refuses_other_languages_before_loading() -> None:
    with pytest.raises(ModelUnavailable, match=r"language 'es' needs a multilingual model"):
        check_language(TINY, "es")


def test_a_model_that_is_not_there_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"not 'tiny.en', 'base' or a folder"):
        resolve_model(str(tmp_path / "nowhere"), tmp_path)


@pytest.mark.slow
def test_multilingual_base_model_joined_from_its_two_packages(tmp_path: Path) -> None:
    settings = replace(TINY, model="base", cache_dir=tmp_path / "models")
    folder = resolve_model("base", settings.cache_dir)
    assert (folder / "model.bin").stat().st_size > 140_000_000
    track = speak(
        tmp_path / "ana.opus", "Buenos días. La biblioteca abre mañana por la tarde.", voice="es"
    )
    result = transcribe_track(
        track,
        speaker_id="ana",
        speaker="Ana",
        offset_s=0.0,
        language="es",
        settings=settings,
        timeout_s=300,
    )
    text = " ".join(s.text for s in result.segments).lower()
    assert "biblioteca" in text
    assert result.language == "es"


def test_parts_end_in_pauses_of_the_speech_and_cover_the_track_once() -> None:
    # Speech every 10 s for 4 s (pauses of 6 s), and a stretch of 3 s pauses only (too short).
    speech = [(t, t + 4.0) for t in range(0, 1200, 10)] + [(1200 + 3.5 * k, 1203.0 + 3.5 * k)
                                                           for k in range(100)]  # fmt: skip
    duration = 1600.0
    assert part_count(duration, 600.0) == 3
    ranges = [part_range(speech, duration, 600.0, k) for k in range(3)]
    assert ranges[0] == (0.0, 607.0)  # the middle of the first 6 s pause after 600 s
    assert ranges[1][0] == 607.0
    # No pause of PART_PAUSE_S between 1200 s and the end of the speech at 1549.5 s: the second
    # part runs on to the silence after it, and every span lies wholly in one part.
    assert ranges[1][1] == pytest.approx(1549.5 + PART_PAUSE_S / 2)
    assert ranges[2] == (ranges[1][1], None)
    for a, b in speech:
        holding = [k for k, (s, e) in enumerate(ranges) if s <= a and (e is None or b <= e)]
        assert len(holding) == 1, (a, b)
    # Continuous speech to the end: the later parts are empty, not cut inside a word.
    assert part_range([(0.0, 1600.0)], duration, 600.0, 1) == (duration, duration)
    assert part_count(duration, 0.0) == 1 and part_range(speech, duration, 0.0, 0) == (0.0, None)
    with pytest.raises(ValueError):
        part_range(speech, duration, 600.0, 3)


@pytest.mark.slow
def test_a_track_in_parts_loses_no_words(sample_dir: Path, script) -> None:
    track = sample_dir / "alice.opus"
    reference = " ".join(line.text for line in script if line.speaker_id == "alice")
    speech = detect_speech(track, offset_s=0.0, timeout_s=120).segments
    duration = speech[-1][1] + 1.0
    count = part_count(duration, 30.0)
    ranges = [part_range(speech, duration, 30.0, k) for k in range(count)]
    assert count >= 3 and all(e is None or s < e for s, e in ranges)  # real, non-empty parts
    parts = [
        transcribe_track(
            track,
            speaker_id="alice",
            speaker="Alice",
            offset_s=10.0,
            language="en",
            settings=TINY,
            timeout_s=300,
            speech=speech,
            part=part,
        )
        for part in ranges
    ]
    segments = [s for p in parts for s in p.segments]
    text = " ".join(s.text for s in segments)
    assert word_error_rate(reference, text) <= 0.15
    # Every part's words are in its own range of the track, on the room timeline (+10 s).
    for (start, end), part in zip(ranges, parts, strict=True):
        for segment in part.segments:
            assert start + 10.0 - 0.5 <= segment.start_s
            assert end is None or segment.end_s <= end + 10.0 + 0.5
    starts = [s.start_s for s in segments]
    assert starts == sorted(starts)
