import re

from pipeline.transcript import (
    Segment,
    Word,
    merge_transcripts,
    segments_from_data,
    segments_to_data,
    split_for_captions,
    to_podcast_json,
    to_srt,
    to_webvtt,
)


def seg(speaker: str, start: float, end: float, text: str) -> Segment:
    words = text.split()
    step = (end - start) / len(words)
    return Segment(
        speaker.lower(),
        speaker,
        start,
        end,
        text,
        tuple(Word(start + i * step, start + (i + 1) * step, " " + w) for i, w in enumerate(words)),
    )


def test_merge_orders_speakers_on_one_timeline_and_shifts_it() -> None:
    alice = [seg("Alice", 10.0, 12.0, "hello there"), seg("Alice", 20.0, 21.0, "bye")]
    chioma = [seg("Chioma", 14.0, 16.0, "hi Alice")]
    merged = merge_transcripts([alice, chioma], shift_s=-10.0)
    assert [(s.speaker, s.start_s) for s in merged] == [
        ("Alice", 0.0),
        ("Chioma", 4.0),
        ("Alice", 10.0),
    ]
    assert merged[1].words[0].start_s == 4.0


def test_podcast_json_has_speaker_times_and_body() -> None:
    doc = to_podcast_json([seg("Alice", 1.25, 3.5, "hello there")])
    assert doc == {
        "version": "1.0.0",
        "segments": [
            {"speaker": "Alice", "startTime": 1.25, "endTime": 3.5, "body": "hello there"}
        ],
    }


def test_webvtt_cues_carry_voice_spans_and_escape_markup() -> None:
    vtt = to_webvtt([seg("Alice & Bob", 61.5, 63.0, "a <b> --> c")])
    lines = vtt.splitlines()
    assert lines[0] == "WEBVTT"
    assert "00:01:01.500 --> 00:01:03.000" in lines
    assert "<v Alice &amp; Bob>a &lt;b&gt; -&gt; c</v>" in lines


def test_srt_names_the_speaker_and_uses_comma_milliseconds() -> None:
    srt = to_srt([seg("Alice", 3661.0, 3662.25, "hello")])
    assert srt == "1\n01:01:01,000 --> 01:01:02,250\nAlice: hello\n"


def test_long_segments_split_into_balanced_caption_cues() -> None:
    text = " ".join(f"word{i}" for i in range(40))
    assert len(text) == 269  # 4 cues by length (84 chars), 3 by time (7 s)
    cues = split_for_captions([seg("Alice", 0.0, 20.0, text)], max_chars=84, max_s=7.0)
    assert len(cues) == 4
    assert all(len(c.text) <= 84 and c.end_s - c.start_s <= 7.0 for c in cues)
    assert " ".join(c.text for c in cues) == text
    lengths = [len(c.words) for c in cues]
    assert max(lengths) - min(lengths) <= 1


def test_cue_timings_are_monotonic_in_vtt() -> None:
    vtt = to_webvtt(
        [seg("Alice", 0.0, 9.0, " ".join(["word"] * 30)), seg("Chioma", 9.5, 11.0, "yes indeed")]
    )
    stamps = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})", vtt)
    assert stamps == sorted(stamps)
    assert all(start < end for start, end in stamps)


def test_segments_round_trip_through_storage_data() -> None:
    original = [seg("Alice", 1.0, 2.0, "hello world")]
    assert segments_from_data(segments_to_data(original)) == original
