"""An edit list applied offline (`spacecast process --edits`) to a 3-speaker espeak-ng room: a cut,
a cut inside speech, one speaker muted, silences shortened; measured against the same room
rendered without edits (real ffmpeg, real faster-whisper tiny.en)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import podcastparser
import pytest

from infra.samples import build_sample_space, load_spec
from pipeline.edits import EditPlan
from pipeline.process import ProcessOptions, process_space
from tests.audio import decode, max_normalized_correlation, rms_db, window

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
CHIOMA_FIRST = {"fountain", "chocolate", "pretzels"}  # as tiny.en hears them
DAN_FIRST = {"harmonica", "clock", "evening"}


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """quick_chat with all three speakers published."""
    spec = load_spec("quick_chat")
    for p in spec["participants"]:
        p["consent"] = {"record": True, "publish": True}
    folder = tmp_path_factory.mktemp("edit-room")
    build_sample_space(spec, folder)
    return folder, json.loads((folder / "truth.json").read_text())


@pytest.fixture(scope="module")
def unedited(room, tmp_path_factory) -> tuple[Path, dict]:
    folder, _ = room
    out = tmp_path_factory.mktemp("unedited")
    return out, process_space(folder / "manifest.json", out, ProcessOptions())


def _run_cli(manifest: Path, out: Path, edits: list[dict]) -> dict:
    edits_path = out.parent / f"{out.name}-edits.json"
    edits_path.write_text(json.dumps({"operations": edits}), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "spacecast", "process", str(manifest), "--out", str(out),
         "--edits", str(edits_path), "--quiet"],
        check=True, cwd=REPO, env={**os.environ, "SPACECAST_WHISPER_THREADS": "1"},
        capture_output=True, timeout=600,
    )  # fmt: skip
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def edited(room, tmp_path_factory) -> tuple[Path, dict, dict]:
    """Cut Chioma's first line whole, cut 0.6 s out of the middle of her second line, mute Dan
    over his first line and the first second and a half of Alice's line after it."""
    folder, truth = room
    lines = truth["utterances"]
    chioma, dan, alice_after, chioma_again = lines[1], lines[2], lines[3], lines[4]
    cut = (chioma["start_s"] - 0.3, chioma["end_s"] + 0.3)
    inner = (chioma_again["start_s"] + 1.0, chioma_again["start_s"] + 1.6)
    mute = (dan["start_s"] - 0.2, alice_after["start_s"] + 1.5)
    operations = [
        {"op": "cut", "start_s": cut[0], "end_s": cut[1]},
        {"op": "mute", "speaker_id": "dan", "start_s": mute[0], "end_s": mute[1]},
        {"op": "cut", "start_s": inner[0], "end_s": inner[1]},
    ]
    out = tmp_path_factory.mktemp("edited")
    report = _run_cli(folder / "manifest.json", out, operations)
    return out, report, {"cut": cut, "inner": inner, "mute": mute}


def _lines(out: Path) -> list[tuple[str, str, float, float]]:
    """(speaker, text, start, end) of every line of the published JSON transcript; a line
    starts at its first word."""
    data = json.loads((out / "transcript.json").read_text())
    return [(s["speaker"], s["body"], s["startTime"], s["endTime"]) for s in data["segments"]]


def _plan(report: dict) -> EditPlan:
    return EditPlan(kept=tuple(tuple(span) for span in report["edits"]["kept"]))


def test_cut_words_are_gone_from_every_transcript_and_later_lines_move_earlier_exactly(
    unedited, edited
) -> None:
    before_dir, before_report = unedited
    after_dir, _, ranges = edited
    a, b = ranges["cut"]
    shift = before_report["episode"]["timeline_start_s"]
    for name in ("transcript.json", "transcript.vtt", "transcript.srt"):
        before = (before_dir / name).read_text().lower()
        after = (after_dir / name).read_text().lower()
        assert all(word in before for word in CHIOMA_FIRST | DAN_FIRST), name
        assert not any(word in after for word in CHIOMA_FIRST), name
        assert not any(word in after for word in DAN_FIRST), name  # muted
    m0, m1 = (t - shift for t in ranges["mute"])
    inner0 = ranges["inner"][0] - shift
    later_before = [
        w
        for w in _lines(before_dir)
        if w[2] > b - shift and not (w[0] == "Dan" and m0 < w[2] < m1) and w[2] < inner0
    ]
    later_after = [w for w in _lines(after_dir) if w[2] > a - shift and w[2] < inner0 - (b - a)]
    # the same lines, the last one (which holds the second cut) aside
    assert [w[:2] for w in later_after[:-1]] == [w[:2] for w in later_before[:-1]]
    assert len(later_after) == len(later_before) >= 3
    for old, new in zip(later_before, later_after, strict=True):
        assert new[2] == pytest.approx(old[2] - (b - a), abs=0.02), old


def test_the_episode_is_shorter_by_the_cuts_in_the_file_and_in_the_feed(unedited, edited) -> None:
    before_dir, before_report = unedited
    after_dir, after_report, ranges = edited
    removed = sum(end - start for start, end in (ranges["cut"], ranges["inner"]))
    old = before_report["episode"]["files"]["mp3"]["duration_s"]
    new = after_report["episode"]["files"]["mp3"]["duration_s"]
    assert old - new == pytest.approx(removed, abs=0.05)
    (old_item,) = podcastparser.parse("", (before_dir / "feed.xml").open("rb"))["episodes"]
    (new_item,) = podcastparser.parse("", (after_dir / "feed.xml").open("rb"))["episodes"]
    # itunes:duration is whole seconds: the feed says the rounded measured duration
    assert new_item["total_time"] == round(new)
    assert old_item["total_time"] - new_item["total_time"] == pytest.approx(removed, abs=1.0)


def test_a_muted_speaker_is_inaudible_over_the_range_while_the_others_stay(
    room, unedited, edited
) -> None:
    folder, truth = room
    before_dir, before_report = unedited
    after_dir, after_report, ranges = edited
    plan = _plan(after_report)
    shift = before_report["episode"]["timeline_start_s"]
    before, after = decode(before_dir / "episode.mp3"), decode(after_dir / "episode.mp3")
    dan_line, alice_after = truth["utterances"][2], truth["utterances"][3]
    dan_own = decode(folder / "dan.flac")
    dan_join = next(
        p["join_s"] for p in load_spec("quick_chat")["participants"] if p["id"] == "dan"
    )
    own = window(dan_own, dan_line["start_s"] - dan_join, dan_line["end_s"] - dan_join)
    at = plan.episode_time(dan_line["start_s"])
    heard_after = window(after, at, at + dan_line["end_s"] - dan_line["start_s"])
    heard_before = window(before, dan_line["start_s"] - shift, dan_line["end_s"] - shift)
    assert max_normalized_correlation(own, heard_before) > 0.5  # the measure sees him unmuted
    assert 20 * np.log10(max(max_normalized_correlation(own, heard_after), 1e-9)) < -30.0
    # Alice speaks inside the mute range: her level there is unchanged
    a0, a1 = alice_after["start_s"], ranges["mute"][1]
    level_before = rms_db(window(before, a0 - shift, a1 - shift))
    e0 = plan.episode_time(a0)
    level_after = rms_db(window(after, e0, e0 + a1 - a0))
    assert level_after == pytest.approx(level_before, abs=1.0)


def _high_band_db(samples: np.ndarray, rate: int, at_s: float) -> float:
    """Energy above 11.5 kHz in the 10 ms at ``at_s``: espeak-ng speaks at 22.05 kHz, so its
    speech has none there and a click (broadband) stands out."""
    frame = samples[int(at_s * rate) : int(at_s * rate) + rate // 100]
    spectrum = np.abs(np.fft.rfft(frame * np.hanning(len(frame)))) ** 2
    freqs = np.fft.rfftfreq(len(frame), 1 / rate)
    return 10 * np.log10(spectrum[(freqs > 11_500) & (freqs < 15_000)].sum() + 1e-20)


def test_no_click_at_a_cut_inside_speech(edited) -> None:
    """The largest sample-to-sample jump at the seam is no larger than the largest in the
    second of speech around it, and the seam adds no broadband energy (a click's mark)."""
    after_dir, after_report, ranges = edited
    plan = _plan(after_report)
    rate = 48_000
    samples = decode(after_dir / "episode.mp3", rate_hz=rate)
    seam = plan.episode_time(ranges["inner"][1])
    assert seam is not None
    jumps = np.abs(np.diff(samples))
    at_seam = jumps[int((seam - 0.01) * rate) : int((seam + 0.04) * rate)].max()
    around = np.concatenate(
        [jumps[int((seam - 0.5) * rate) : int((seam - 0.01) * rate)],
         jumps[int((seam + 0.04) * rate) : int((seam + 0.5) * rate)]]
    )  # fmt: skip
    assert rms_db(around) > -40.0  # it is speech around the seam
    assert at_seam <= around.max()
    # The MP3 encoder's delay puts the seam a little later in the file: look 0-40 ms after.
    seam_band = max(_high_band_db(samples, rate, seam + d / 1000) for d in range(-10, 40, 5))
    speech_band = max(
        _high_band_db(samples, rate, seam + d / 100) for d in [*range(-50, -2), *range(5, 50)]
    )
    assert seam_band <= speech_band + 3.0, (seam_band, speech_band)


def test_shortening_silences_saves_what_the_plan_says(room, unedited, tmp_path) -> None:
    folder, truth = room
    _, before_report = unedited
    report = _run_cli(
        folder / "manifest.json",
        tmp_path / "short",
        [{"op": "shorten_silences", "longer_than_s": 0.4, "to_s": 0.2}],
    )
    saved = report["edits"]["silence_saved_s"]
    old = before_report["episode"]["files"]["mp3"]["duration_s"]
    new = report["episode"]["files"]["mp3"]["duration_s"]
    assert old - new == pytest.approx(saved, abs=0.1)
    # The room's known pauses: 0.7 s between turns, the 2 s tail; speech activity pads speech,
    # so each detected pause is somewhat shorter than the true one.
    lines = truth["utterances"]
    true_gaps = [b["start_s"] - a["end_s"] for a, b in pairwise(lines)]
    tail = truth["duration_s"] - lines[-1]["end_s"]
    true_saved = sum(g - 0.2 for g in true_gaps if g > 0.4) + (tail - 0.2)
    assert 0.5 * true_saved < saved <= true_saved + 0.1
