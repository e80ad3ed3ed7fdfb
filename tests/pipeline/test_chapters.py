"""Chapters from the transcript: found where the topic changes in speech transcribed by Whisper
(better than chapters of equal length), never shorter than the minimum, titled with the
chapter's own key phrases, and published as valid JSON chapters (format 1.2.0)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import jsonschema_rs
import pytest
from mutagen.id3 import ID3

from bench.chapters import equal_boundaries, match_boundaries, transcribe_space
from bench.topics import build_topic_space
from pipeline.chapters import (
    Chapter,
    ChapterSettings,
    chapters_at,
    chapters_description,
    content_terms,
    generate_chapters,
    to_chapters_json,
    write_id3_chapters,
)
from pipeline.transcribe import WhisperSettings
from pipeline.transcript import Segment

# The JSON chapters format 1.2.0 of the Podcasting 2.0 namespace (docs/jsonChapters.md): the
# document's fields and each chapter's; nothing else is allowed, so a misspelt field fails.
CHAPTERS_SCHEMA = {
    "type": "object",
    "required": ["version", "chapters"],
    "additionalProperties": False,
    "properties": {
        "version": {"type": "string", "const": "1.2.0"},
        "author": {"type": "string"},
        "title": {"type": "string"},
        "podcastName": {"type": "string"},
        "description": {"type": "string"},
        "fileName": {"type": "string"},
        "waypoints": {"type": "boolean"},
        "chapters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["startTime"],
                "additionalProperties": False,
                "properties": {
                    "startTime": {"type": "number", "minimum": 0},
                    "endTime": {"type": "number", "minimum": 0},
                    "title": {"type": "string"},
                    "img": {"type": "string"},
                    "url": {"type": "string"},
                    "toc": {"type": "boolean"},
                    "location": {"type": "object"},
                },
            },
        },
    },
}
VALIDATOR = jsonschema_rs.validator_for(CHAPTERS_SCHEMA)

# Three topics of unequal length: chapters of equal length cut at 187 s and 373 s, 47 s from
# either change of topic.
TOPICS = [("astronomy", 140.0), ("baking", 280.0), ("sailing", 140.0)]


@pytest.fixture(scope="module")
def topic_space(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[Segment]]:
    truth = build_topic_space(TOPICS, tmp_path_factory.mktemp("topics"), seed=3)
    threads = int(os.environ.get("SPACECAST_WHISPER_THREADS", "1"))
    return truth, transcribe_space(truth, WhisperSettings(cpu_threads=threads))


def test_chapters_find_topic_changes_in_transcribed_speech_better_than_equal_chapters(
    topic_space,
) -> None:
    truth, heard = topic_space
    changes = truth["changes_s"]
    chapters = generate_chapters(heard, truth["duration_s"])
    found = [c.start_s for c in chapters[1:]]
    baseline = equal_boundaries(truth["duration_s"], len(changes) + 1)
    assert match_boundaries(found, changes) == len(changes), (found, changes)  # recall 1
    assert len(found) == len(changes), found  # precision 1
    assert match_boundaries(baseline, changes) < len(changes)
    # Each title holds words of its own topic, as Whisper heard them.
    topic_words = {
        "astronomy": {"telescop", "jupiter", "moon", "comet", "galaxy", "saturn", "sky", "meteor",
                      "shower", "planet", "star", "orbit", "night", "ring", "distant", "bright"},
        "baking": {"sourdough", "oven", "flour", "dough", "butter", "pastry", "yeast", "cake",
                   "bread", "cinnamon", "roll", "icing", "chocolate", "tin", "knead", "glaz"},
        "sailing": {"mainsail", "harbour", "harbor", "rudder", "anchor", "tide", "yacht", "crew",
                    "gale", "mast", "lighthouse", "wave", "moor", "steer", "choppy", "salty"},
    }  # fmt: skip
    for chapter, (topic, _) in zip(chapters, TOPICS, strict=True):
        terms = set(content_terms(chapter.title))
        assert any(t.startswith(w) for t in terms for w in topic_words[topic]), chapter.title


def test_chapters_are_never_shorter_than_the_minimum(topic_space) -> None:
    truth, heard = topic_space
    for minimum in (120.0, 200.0):
        chapters = generate_chapters(heard, truth["duration_s"], ChapterSettings(minimum))
        assert chapters[0].start_s == 0.0 and chapters[-1].end_s == truth["duration_s"]
        assert all(c.end_s - c.start_s >= minimum for c in chapters), chapters
        assert all(a.end_s == b.start_s for a, b in itertools.pairwise(chapters))
    # 560 s cannot hold two chapters of 300 s: one chapter.
    assert len(generate_chapters(heard, truth["duration_s"], ChapterSettings(300.0))) == 1


def test_boundaries_snap_to_the_start_of_a_turn(topic_space) -> None:
    truth, heard = topic_space
    starts = {round(t["start_s"], 1) for t in truth["turns"]}
    for chapter in generate_chapters(heard, truth["duration_s"])[1:]:
        # Whisper places a turn's first word within a few tenths of a second of the script.
        assert min(abs(chapter.start_s - s) for s in starts) < 0.8, chapter


def _line(speaker: str, start_s: float, text: str) -> Segment:
    return Segment(speaker, speaker.capitalize(), start_s, start_s + 4.0, text)


def test_titles_come_from_the_chapters_own_key_phrases_and_keep_names() -> None:
    lines = [
        _line("alice", t, "We watched Jupiter through the telescope again.")
        for t in range(0, 300, 10)
    ] + [_line("bruno", t, "The sourdough needs a hot oven, I think.") for t in range(300, 600, 10)]
    chapters = generate_chapters(lines, 600.0)
    assert [c.start_s for c in chapters] == [0.0, 300.0]
    assert "Jupiter" in chapters[0].title and "telescope" in chapters[0].title
    assert "sourdough" in chapters[1].title.lower() and "oven" in chapters[1].title.lower()
    assert "watched" not in chapters[1].title and "Jupiter" not in chapters[1].title


def test_a_short_or_silent_episode_is_one_chapter() -> None:
    assert generate_chapters([], 90.0) == [Chapter(0.0, 90.0, "Part 1")]
    one = generate_chapters([_line("alice", 1.0, "Hello there, bees and honey.")], 200.0)
    assert len(one) == 1 and one[0].end_s == 200.0 and one[0].title == "Bees and honey"


def test_chapters_json_is_valid_format_1_2_0() -> None:
    chapters = [Chapter(0.0, 130.5, "Jupiter and telescope"), Chapter(130.5, 400.0, "Sourdough")]
    doc = to_chapters_json(chapters, title="Night sky")
    VALIDATOR.validate(doc)
    assert json.loads(json.dumps(doc))["chapters"][1] == {
        "startTime": 130.5,
        "endTime": 400.0,
        "title": "Sourdough",
    }
    assert not VALIDATOR.is_valid({"version": "1.2.0", "chapters": [{"start": 0}]})


def test_description_lists_chapters_as_timestamps() -> None:
    chapters = [Chapter(0.0, 75.0, "Intro"), Chapter(75.0, 3725.0, "Bees"),
                Chapter(3725.0, 3800.0, "Goodbye")]  # fmt: skip
    assert chapters_description(chapters) == "0:00 Intro\n1:15 Bees\n1:02:05 Goodbye"
    assert chapters_description(chapters[:1]) == ""


def _decoded_md5(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-f", "md5", "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_id3_chapters_read_back_by_mutagen_and_ffprobe_with_the_audio_untouched(
    tmp_path: Path,
) -> None:
    mp3 = tmp_path / "episode.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=12",
         "-c:a", "libmp3lame", "-b:a", "64k", str(mp3)],
        check=True,
    )  # fmt: skip
    before = _decoded_md5(mp3)
    chapters = [Chapter(0.0, 4.5, "Jupiter and telescope"), Chapter(4.5, 12.0, "Sourdough — é")]
    write_id3_chapters(mp3, chapters, title="Night sky")
    write_id3_chapters(mp3, chapters, title="Night sky")  # again (a re-render): not doubled
    assert _decoded_md5(mp3) == before

    tags = ID3(mp3)
    assert tags.version[:2] == (2, 3)
    toc = tags.getall("CTOC")
    assert len(toc) == 1 and toc[0].child_element_ids == ["chp0", "chp1"]
    chaps = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [(c.start_time, c.end_time, c.sub_frames["TIT2"].text[0]) for c in chaps] == [
        (0, 4500, "Jupiter and telescope"),
        (4500, 12000, "Sourdough — é"),
    ]
    probed = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_chapters", "-of", "json", str(mp3)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )["chapters"]
    # mutagen writes frames shortest first; the CTOC gives players their order.
    assert sorted(
        (float(c["start_time"]), float(c["end_time"]), c["tags"]["title"]) for c in probed
    ) == [(0.0, 4.5, "Jupiter and telescope"), (4.5, 12.0, "Sourdough — é")]


def test_host_marks_keep_their_titles_and_untitled_ones_are_generated() -> None:
    lines = [_line("alice", t, "Jupiter through the telescope.") for t in range(0, 300, 10)] + [
        _line("bruno", t, "The sourdough and the oven.") for t in range(300, 600, 10)
    ]
    chapters = chapters_at([(300.0, None), (0.0, "Welcome")], lines, 600.0)
    assert chapters[0] == Chapter(0.0, 300.0, "Welcome", generated=False)
    assert (chapters[1].start_s, chapters[1].end_s, chapters[1].generated) == (300.0, 600.0, True)
    assert set(chapters[1].title.lower().split()) == {"sourdough", "and", "oven"}
