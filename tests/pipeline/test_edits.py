"""The edit list: checking it against the room, resolving it, the cut graph and re-timed words,
and the cut rendered by real ffmpeg (sample-exact, no click)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.edits import (
    Cut,
    EditPlan,
    Mute,
    RoomTimeline,
    ShortenSilences,
    Trim,
    cut_filter,
    operations_from_data,
    operations_to_data,
    resolve,
    retime_segments,
    validate,
)
from pipeline.errors import InvalidEdit
from pipeline.loudness import Loudness
from pipeline.master import MP3, Edits, LoudnessTarget, master_episode
from pipeline.transcript import Segment, Word
from tests.audio import decode

ROOM = RoomTimeline(start_s=2.0, end_s=62.0, speakers={"alice": "Alice", "chioma": "Chioma"})


def test_edit_list_round_trips_through_its_json_form() -> None:
    data = [
        {"op": "trim", "start_s": 3.0, "end_s": None},
        {"op": "cut", "start_s": 10.0, "end_s": 12.5},
        {"op": "mute", "speaker_id": "alice", "start_s": 20, "end_s": 21},
        {"op": "shorten_silences", "longer_than_s": 2.0, "to_s": 0.5},
    ]
    ops = operations_from_data(data)
    assert ops == [Trim(3.0, None), Cut(10.0, 12.5), Mute("alice", 20.0, 21.0),
                   ShortenSilences(2.0, 0.5)]  # fmt: skip
    assert operations_from_data(operations_to_data(ops)) == ops


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"op": "cut"}, "a JSON list"),
        ([{"op": "splice", "start_s": 1}], "operation 1: op must be one of"),
        ([{"op": "cut", "start_s": 1, "end_s": 2, "gain": 3}], "unknown field(s) gain"),
        ([{"op": "cut", "start_s": "1", "end_s": 2}], "start_s must be a number"),
        ([{"op": "cut", "start_s": True, "end_s": 2}], "start_s must be a number"),
        ([{"op": "cut", "start_s": -1, "end_s": 2}], "not a time in the room"),
        ([{"op": "cut", "start_s": float("nan"), "end_s": 2}], "not a time in the room"),
        ([{"op": "mute", "speaker_id": "", "start_s": 1, "end_s": 2}], "must name a speaker"),
        ([{"op": "mute", "speaker_id": "<b>x</b>", "start_s": 1, "end_s": 2}], "must name a"),
        ([{"op": "mute", "speaker_id": "a" * 65, "start_s": 1, "end_s": 2}], "must name a"),
    ],
)
def test_malformed_operations_are_refused_naming_them(data, message) -> None:
    with pytest.raises(InvalidEdit, match=message.replace("(", r"\(").replace(")", r"\)")):
        operations_from_data(data)


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([Cut(10, 14), Cut(20, 21), Cut(13, 16)], r"operation 3 \(cut 13.00-16.00 s\): overlaps "
         r"operation 1 \(cut 10.00-14.00 s\)"),
        ([Cut(60, 70)], r"operation 1 \(cut 60.00-70.00 s\): outside the episode.*2.00-62.00"),
        ([Cut(12, 10)], "outside the episode or backwards"),
        ([Cut(10, 10.05)], "shorter than 0.1 s"),
        ([Mute("bruno", 5, 6)], r"operation 1 \(mute bruno 5.00-6.00 s\): unknown speaker; the "
         r"episode's voices are alice \(Alice\), chioma \(Chioma\)"),
        ([Trim(5, None), Trim(6, None)], "operation 2 .*only one trim"),
        ([Trim(1, None)], "outside the episode"),
        ([ShortenSilences(1.0, 1.5)], "to_s must be at least 0.2 s and under longer_than_s"),
    ],
)  # fmt: skip
def test_edits_that_do_not_fit_the_room_are_refused_naming_the_operation(ops, message) -> None:
    with pytest.raises(InvalidEdit, match=message):
        validate(ops, ROOM)


def test_cuts_and_trim_keep_the_rest_and_map_room_time_to_episode_time() -> None:
    ops = [Trim(4.0, 60.0), Cut(10.0, 13.0), Cut(30.0, 31.5)]
    validate(ops, ROOM)
    plan = resolve(ops, ROOM)
    assert plan.kept == ((4.0, 10.0), (13.0, 30.0), (31.5, 60.0))
    assert plan.duration_s == pytest.approx(60.0 - 4.0 - 3.0 - 1.5)
    assert plan.episode_time(4.0) == 0.0
    assert plan.episode_time(11.0) is None  # cut
    assert plan.episode_time(3.0) is None  # trimmed
    assert plan.episode_time(14.0) == pytest.approx(14.0 - 4.0 - 3.0)
    assert plan.episode_time(40.0) == pytest.approx(40.0 - 4.0 - 4.5)
    assert plan.room_time(plan.episode_time(40.0)) == pytest.approx(40.0)
    assert plan.episode_range(14.0, 20.0) == pytest.approx((7.0, 13.0))
    assert plan.episode_range(9.0, 14.0) is None  # spans a cut


def test_shorten_silences_cuts_every_long_silence_down_to_what_is_kept() -> None:
    speech = [(2.0, 5.0), (9.0, 12.0), (12.8, 20.0), (26.0, 62.0)]
    plan = resolve([ShortenSilences(longer_than_s=2.0, to_s=0.6)], ROOM, speech=speech)
    # gaps: 5-9 (4 s) and 20-26 (6 s) are shortened; 12-12.8 is under the threshold
    assert plan.removed == [pytest.approx((5.3, 8.7)), pytest.approx((20.3, 25.7))]
    assert plan.silence_saved_s == pytest.approx((4 - 0.6) + (6 - 0.6))
    assert plan.duration_s == pytest.approx(60.0 - 8.8)


def test_a_mute_of_a_speaker_no_longer_published_is_dropped_not_refused() -> None:
    """A withdrawal after the edit: the voice is gone from the mix, the edit list still renders."""
    ops = [Mute("chioma", 5, 8), Cut(10, 12)]
    validate(ops, ROOM)
    after = RoomTimeline(ROOM.start_s, ROOM.end_s, {"alice": "Alice"})
    plan = resolve(ops, after)
    assert plan.mutes == () and plan.removed == [(10, 12)]


def test_words_in_a_cut_or_under_a_mute_are_gone_and_later_words_move_earlier() -> None:
    words = (Word(8.0, 8.4, " before"), Word(10.5, 11.0, " gone"), Word(14.0, 14.5, " after"))
    alice = [Segment("alice", "Alice", 8.0, 14.5, "before gone after", words)]
    chioma = [Segment("chioma", "Chioma", 20.0, 21.0, "muted"), Segment("chioma", "Chioma",
              21.2, 26.0, "hush kept", (Word(21.2, 21.4, " hush"), Word(25.0, 26.0, " kept")))]  # fmt: skip
    plan = resolve([Cut(10.0, 13.0), Mute("chioma", 19.5, 21.5)], ROOM)
    (segment,) = retime_segments(alice, plan)
    assert segment.text == "before after"
    assert [w.text for w in segment.words] == [" before", " after"]
    assert segment.words[0].start_s == pytest.approx(8.0 - 2.0)
    assert segment.words[1].start_s == pytest.approx(14.0 - 2.0 - 3.0)
    (kept,) = retime_segments(chioma, plan)
    assert kept.text == "kept" and kept.start_s == pytest.approx(25.0 - 2.0 - 3.0)


def test_cut_graph_trims_by_sample_and_crossfades_at_each_cut() -> None:
    import ffmpeg

    plan = EditPlan(kept=((2.0, 10.0), (13.0, 62.0)))
    stream = cut_filter(ffmpeg.input("mix.flac").audio, plan, mix_start_s=2.0)
    graph = " ".join(ffmpeg.output(stream, "out.flac").compile(cmd=[]))
    # 30 ms crossfade = 1440 samples, half of it on each side of the cut
    assert "atrim=end_sample=384720:start_sample=0" in graph
    assert "atrim=end_sample=2880000:start_sample=527280" in graph
    assert "acrossfade=curve1=tri:curve2=tri:nb_samples=1440:overlap=1" in graph


def _tone_bursts(path: Path, bursts: list[float], total_s: float, rate_hz: int = 48_000) -> Path:
    """A mix of 80 ms 1 kHz bursts at known times over a quiet noise floor (24-bit FLAC)."""
    rng = np.random.default_rng(7)
    samples = rng.normal(0, 0.001, int(total_s * rate_hz)).astype(np.float32)
    n = int(0.08 * rate_hz)
    tone = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(n) / rate_hz).astype(np.float32)
    for at in bursts:
        i = int(at * rate_hz)
        samples[i : i + n] += tone
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(rate_hz), "-ac", "1", "-i", "-",
         "-c:a", "flac", "-sample_fmt", "s32", str(path)],
        input=samples.tobytes(), check=True,
    )  # fmt: skip
    return path


def _onsets(samples: np.ndarray, rate_hz: int) -> list[float]:
    """Where each burst begins: a loud sample after at least 0.2 s without one."""
    loud = np.flatnonzero(np.abs(samples) > 0.05)
    if len(loud) == 0:
        return []
    starts = [loud[0], *loud[1:][np.diff(loud) > 0.2 * rate_hz]]
    return [float(i) / rate_hz for i in starts]


def test_a_rendered_cut_moves_later_sound_earlier_by_exactly_the_cut(tmp_path: Path) -> None:
    """Real ffmpeg: bursts after the cut arrive b - a earlier (within 20 ms), the burst inside it
    is gone, the file is shorter by b - a, and the crossfade makes no click at the seam."""
    bursts = [1.0, 3.0, 5.0, 6.5, 9.0, 12.0]
    mix = _tone_bursts(tmp_path / "mix.flac", bursts, total_s=14.0)
    room_start = 2.0  # the mix's first sample is room time 2.0
    plan = resolve([Cut(6.0, 8.0)], RoomTimeline(2.0, 16.0, {"a": "A"}))  # mix time 4.0-6.0
    result = master_episode(
        mix,
        Loudness(-30.0, -6.0, 0.0),
        tmp_path,
        formats=(MP3,),
        target=LoudnessTarget(),
        timeout_s=120,
        edits=Edits(plan, mix_start_s=room_start),
    )
    delivered = result.files["mp3"]
    assert delivered.duration_s == pytest.approx(14.0 - 2.0, abs=0.05)
    rate = 48_000
    heard = _onsets(decode(delivered.path, rate_hz=rate), rate)
    expected = [1.0, 3.0, 6.5 - 2.0, 9.0 - 2.0, 12.0 - 2.0]  # the burst at 5.0 was cut
    assert len(heard) == len(expected), heard
    # Relative to the first burst: the MP3 encoder's own delay (no gapless header on a piped
    # encode) moves every sound by the same few ms.
    for got, want in zip(heard, expected, strict=True):
        assert got - heard[0] == pytest.approx(want - expected[0], abs=0.02)


def test_host_marks_move_with_the_room_when_a_version_cuts_before_them() -> None:
    from pipeline.edits import remap_marks

    old = EditPlan(kept=((2.0, float("inf")),))  # the room as recorded, from room time 2.0
    new = resolve([Cut(10.0, 13.0), Cut(30.0, 40.0)], ROOM)
    marks = [{"start_s": 0.0, "title": "a"}, {"start_s": 20.0, "title": "b"},
             {"start_s": 30.0, "title": "in the second cut"}, {"start_s": 40.0, "title": "c"}]  # fmt: skip
    moved = remap_marks(marks, old, new)
    # room 22.0 -> 22 - 2 - 3; room 32.0 was cut: to where the cut is (room 40); room 42.0 next
    assert moved == [
        {"start_s": 0.0, "title": "a"},
        {"start_s": 17.0, "title": "b"},
        {"start_s": 25.0, "title": "in the second cut"},
        {"start_s": 27.0, "title": "c"},
    ]
