"""Generated show notes: speakers with their speaking time, chapters with timestamps, and quotes
in the speakers' own words, one per chapter, from the sentences given (the consented ones)."""

from __future__ import annotations

from pipeline.chapters import Chapter
from pipeline.notes import Quote, pick_quotes, show_notes
from pipeline.transcript import Segment


def _line(speaker: str, start_s: float, text: str) -> Segment:
    return Segment(speaker, speaker.capitalize(), start_s, start_s + 5.0, text)


CHAPTERS = [Chapter(0.0, 300.0, "Telescopes"), Chapter(300.0, 620.0, "Sourdough")]
LINES = [
    _line("alice", 10.0, "Yes."),
    _line("alice", 20.0, "We pointed the old telescope at Jupiter and saw four moons tonight."),
    _line("bruno", 40.0, "I think that is really very true, honestly, you know what I mean."),
    _line("bruno", 320.0, "My sourdough starter needs flour and warm water every single morning."),
    _line("alice", 340.0, "Lovely weather we are having this week in the town, isn't it."),
]


def test_quotes_carry_each_chapters_topic_in_the_speakers_own_words() -> None:
    quotes = pick_quotes(LINES, CHAPTERS)
    assert quotes == [
        Quote("Alice", 20.0, LINES[1].text),
        Quote("Bruno", 320.0, LINES[3].text),
    ]


def test_quotes_come_only_from_the_sentences_given() -> None:
    consented = [line for line in LINES if line.speaker_id != "bruno"]
    quotes = pick_quotes(consented, CHAPTERS)
    assert {q.speaker for q in quotes} == {"Alice"}
    assert all(any(q.text == line.text for line in consented) for q in quotes)


def test_notes_list_speakers_chapters_and_quotes() -> None:
    notes = show_notes(
        [("Alice", 312.4), ("Bruno", 40.0)], CHAPTERS, [Quote("Alice", 20.0, "Four moons.")]
    )
    assert notes == (
        "Speakers: Alice (5 min), Bruno (40 s).\n\n"
        "Chapters:\n0:00 Telescopes\n5:00 Sourdough\n\n"
        "Quotes:\n\u201cFour moons.\u201d \u2014 Alice (0:20)"
    )
    assert show_notes([], CHAPTERS[:1], []) == ""
