import re

import pytest

from pipeline.transcript import (
    Segment,
    Word,
    caption_label,
    ends_sentence,
    into_sentences,
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


def test_long_sentences_split_into_caption_cues_within_the_cue_rules() -> None:
    text = " ".join(f"word{i}" for i in range(40))
    assert len(text) == 269  # 4 cues by two lines of 42 (Alice's name on the first), 3 by time
    cues = split_for_captions([seg("Alice", 0.0, 20.0, text)])
    assert len(cues) == 4
    for cue in cues:
        assert len(cue.lines) <= 2 and cue.end_s - cue.start_s <= 7.0
        assert len(caption_label("Alice") + cue.lines[0]) <= 42
        assert all(len(line) <= 42 for line in cue.lines)
    assert " ".join(c.text for c in cues) == text
    lengths = [len(c.text.split()) for c in cues]
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


def words_of(segments: list[Segment]) -> list[Word]:
    return [w for s in segments for w in s.words]


def test_a_sentence_split_by_whisper_or_a_pause_is_one_segment_again() -> None:
    said = [
        seg(
            "Chioma",
            20.8,
            27.0,
            "Yes, we planted tomatoes, and the children water the garden every",
        ),
        seg("Chioma", 29.1, 30.3, "morning before school."),
    ]
    merged = merge_transcripts([said])
    assert [s.text for s in merged] == [
        "Yes, we planted tomatoes, and the children water the garden every morning before school."
    ]
    assert (merged[0].start_s, merged[0].end_s) == (20.8, 30.3)
    assert words_of(merged) == words_of(said)  # every word keeps its own times


def test_a_segment_holding_several_sentences_is_cut_after_each() -> None:
    said = [
        seg("Alice", 0.0, 6.0, "Welcome back. Today we plan the market! Who comes? Bring a hat.")
    ]
    merged = into_sentences(said)
    assert [s.text for s in merged] == [
        "Welcome back.",
        "Today we plan the market!",
        "Who comes?",
        "Bring a hat.",
    ]
    assert [(s.start_s, s.end_s) for s in merged] == [
        (s.words[0].start_s, s.words[-1].end_s) for s in merged
    ]
    assert merged[1].start_s == said[0].words[2].start_s
    assert words_of(merged) == words_of(said)


def test_sentences_never_join_across_another_speakers_turn() -> None:
    alice = [seg("Alice", 0.0, 3.0, "So I was thinking that"), seg("Alice", 5.0, 6.0, "we go.")]
    chioma = [seg("Chioma", 3.5, 4.5, "Right.")]
    merged = merge_transcripts([alice, chioma])
    assert [(s.speaker, s.text) for s in merged] == [
        ("Alice", "So I was thinking that"),  # ends where Chioma speaks
        ("Chioma", "Right."),
        ("Alice", "we go."),
    ]


def test_a_sentence_continues_over_a_pause_nobody_else_filled() -> None:
    alice = [seg("Alice", 0.0, 3.0, "So I was thinking that"), seg("Alice", 9.0, 10.0, "we go.")]
    chioma = [seg("Chioma", 11.0, 12.0, "Right.")]
    merged = merge_transcripts([alice, chioma])
    assert [(s.speaker, s.text) for s in merged] == [
        ("Alice", "So I was thinking that we go."),
        ("Chioma", "Right."),
    ]


@pytest.mark.parametrize(
    ("word", "following", "ends"),
    [
        (" school.", None, True),
        (" right?", " Yes", True),
        (' "Stop!"', " She", True),
        (" Dr.", " Okafor", False),
        (" well...", " maybe", False),
        (" well...", " Maybe", True),
        (" every", " morning", False),
        (" 3.5", " kilos", False),
        ("\u3002", "\u6211", True),
    ],
)
def test_what_ends_a_sentence(word: str, following: str | None, ends: bool) -> None:
    assert ends_sentence(word, following) is ends


def test_a_stretch_without_punctuation_is_cut_at_its_longest_pauses() -> None:
    first = seg("Alice", 0.0, 25.0, " ".join(["talking"] * 50))
    second = seg("Alice", 29.0, 55.0, " ".join(["more"] * 50))
    merged = merge_transcripts([[first, second]])
    assert [s.start_s for s in merged] == [0.0, 29.0]
    assert all(s.end_s - s.start_s <= 30.0 for s in merged)
    assert words_of(merged) == words_of([first, second])


def test_hours_without_punctuation_become_lines_of_at_most_thirty_seconds() -> None:
    words = tuple(Word(i * 1.0, i * 1.0 + 0.8, " word") for i in range(4 * 3600))
    monologue = Segment(
        "alice", "Alice", 0.0, words[-1].end_s, "".join(w.text for w in words), words
    )
    merged = into_sentences([monologue])
    assert all(s.end_s - s.start_s <= 30.0 for s in merged)
    assert len(merged) == 480  # 30 words a line: as few lines as the limit allows
    assert words_of(merged) == list(words)


def test_segments_without_word_timings_keep_their_text_and_times() -> None:
    bare = Segment("alice", "Alice", 1.0, 2.0, "Hello there")
    timed = seg("Alice", 2.5, 3.5, "my friend. Bye now.")
    merged = into_sentences([bare, timed])
    assert [(s.start_s, s.text) for s in merged] == [
        (1.0, "Hello there my friend."),
        (timed.words[2].start_s, "Bye now."),
    ]
    assert merged[0].words == timed.words[:2]


def test_caption_cues_are_cut_where_a_reader_pauses() -> None:
    sentence = seg(
        "Chioma",
        20.0,
        28.0,
        "Yes, we planted tomatoes, beans and sunflowers, and the children water the garden "
        "every morning before school.",
    )
    cues = split_for_captions([sentence])
    assert [c.lines for c in cues] == [
        ("Yes, we planted tomatoes,", "beans and sunflowers,"),
        ("and the children water the garden", "every morning before school."),
    ]
    assert cues[0].start_s == sentence.start_s and cues[-1].end_s == sentence.end_s
    assert cues[0].end_s == sentence.words[6].end_s  # "sunflowers," ends the first cue
    assert cues[1].start_s == sentence.words[7].start_s


def test_srt_and_vtt_show_a_cue_in_two_lines() -> None:
    sentence = seg("Alice", 0.0, 4.0, "Tonight we talk about the new library on Elm Street")
    srt = to_srt([sentence])
    assert srt.splitlines()[2:] == ["Alice: Tonight we talk", "about the new library on Elm Street"]
    vtt = to_webvtt([sentence])
    assert "<v Alice>Tonight we talk\nabout the new library on Elm Street</v>" in vtt


def test_a_word_longer_than_a_line_is_a_cue_of_its_own() -> None:
    url = "https://example.org/" + "x" * 60
    cues = split_for_captions([seg("Alice", 0.0, 3.0, f"Read {url} today")])
    assert [c.text for c in cues] == ["Read", url, "today"]
