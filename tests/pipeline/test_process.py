"""The offline main job on the bundled 3-speaker sample, with Bruno refusing publication."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import podcastparser
import pytest

from pipeline.quality import ScriptLine, speaker_attribution, word_error_rate
from pipeline.transcript import Segment
from tests.audio import decode, ebur128, max_normalized_correlation, rms_db, window

pytestmark = pytest.mark.slow

BRUNO_WORDS = {
    "saxophone",
    "marmalade",
    "zanzibar",
    "lighthouse",
    "pottery",
    "accordion",
    "volcano",
}


def on_episode_timeline(script: list[ScriptLine], report: dict) -> list[ScriptLine]:
    shift = report["episode"]["timeline_start_s"]
    return [ScriptLine(s.speaker_id, s.text, s.start_s - shift, s.end_s - shift) for s in script]


@pytest.mark.parametrize("name", ["episode.mp3", "episode.opus"])
def test_delivered_episode_is_at_minus_16_lufs_and_under_minus_1_dbtp(
    offline_episode, name
) -> None:
    out, report = offline_episode
    integrated, true_peak = ebur128(out / name)
    assert integrated == pytest.approx(-16.0, abs=0.5)
    assert true_peak <= -1.0
    assert report["episode"]["files"][name.split(".")[1]]["loudness"][
        "integrated_lufs"
    ] == pytest.approx(integrated, abs=0.05)


def test_refusing_speaker_is_absent_from_every_transcript_format(offline_episode) -> None:
    out, _ = offline_episode
    for name in ("transcript.json", "transcript.vtt", "transcript.srt"):
        text = (out / name).read_text().lower()
        assert "bruno" not in text, name
        assert not {w for w in BRUNO_WORDS if w in text}, name
    speakers = {s["speaker"] for s in json.loads((out / "transcript.json").read_text())["segments"]}
    assert speakers == {"Alice", "Chioma"}


def test_refusing_speaker_is_inaudible_in_episode(offline_episode, sample_dir, script) -> None:
    out, report = offline_episode
    episode = decode(out / "episode.mp3")
    timeline = on_episode_timeline(script, report)
    tracks = {t["participant_id"]: t for t in report["tracks"]}
    start = report["episode"]["timeline_start_s"]

    def aligned(speaker: str, line: ScriptLine):
        """The speaker's own track at the moment of ``line``, and the episode at that moment."""
        own = decode(sample_dir / tracks[speaker]["track"])
        track_start = line.start_s + start - tracks[speaker]["offset_s"]
        return (
            window(own, track_start, track_start + line.end_s - line.start_s),
            window(episode, line.start_s, line.end_s),
        )

    speech_level = rms_db(
        np.concatenate(
            [window(episode, s.start_s, s.end_s) for s in timeline if s.speaker_id != "bruno"]
        )
    )
    bruno_lines = [s for s in timeline if s.speaker_id == "bruno"]
    assert len(bruno_lines) == 5
    for line in bruno_lines:
        own, heard = aligned("bruno", line)
        leakage_db = rms_db(heard) - speech_level
        assert leakage_db < -40.0, f"Bruno audible at {line.start_s:.1f} s: {leakage_db:.1f} dB"
        assert max_normalized_correlation(own, heard) < 0.1
    # The same measurement does see a published speaker, so the check above can fail.
    own, heard = aligned("alice", next(s for s in timeline if s.speaker_id == "alice"))
    assert max_normalized_correlation(own, heard) > 0.5


def test_consenting_speakers_are_transcribed_and_attributed(offline_episode, script) -> None:
    out, report = offline_episode
    segments = [
        Segment(s["speaker"].lower(), s["speaker"], s["startTime"], s["endTime"], s["body"])
        for s in json.loads((out / "transcript.json").read_text())["segments"]
    ]
    timeline = on_episode_timeline(script, report)
    for speaker in ("alice", "chioma"):
        reference = " ".join(line.text for line in script if line.speaker_id == speaker)
        heard = " ".join(s.text for s in segments if s.speaker_id == speaker)
        assert word_error_rate(reference, heard) <= 0.12, speaker
    assert speaker_attribution(segments, timeline) >= 0.95


def test_feed_lists_the_episode_for_a_podcast_client(offline_episode) -> None:
    out, report = offline_episode
    feed = (out / "feed.xml").read_bytes()
    parsed = podcastparser.parse((out / "feed.xml").as_uri(), io.BytesIO(feed))
    (episode,) = parsed["episodes"]
    (enclosure,) = episode["enclosures"]
    assert enclosure["url"] == (out / "episode.mp3").as_uri()
    assert enclosure["file_size"] == (out / "episode.mp3").stat().st_size
    assert enclosure["mime_type"] == "audio/mpeg"
    assert episode["total_time"] == round(report["episode"]["duration_s"])
    assert episode["transcript_url"].startswith((out / "transcript.").as_uri())
    assert [p["name"] for p in episode["persons"]] == ["Alice", "Chioma"]
    assert b"Bruno" not in feed


def test_report_says_what_was_measured_and_who_was_left_out(offline_episode, truth) -> None:
    out, report = offline_episode
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["episode"]["loudness"] == report["episode"]["loudness"]
    (excluded,) = on_disk["excluded"]
    assert excluded["participant_id"] == "bruno"
    assert excluded["status"] == "refused" and "publication" in excluded["reason"]
    bruno_speech = sum(
        u["end_s"] - u["start_s"] for u in truth["utterances"] if u["speaker_id"] == "bruno"
    )
    assert excluded["speech_s"] == pytest.approx(bruno_speech, rel=0.1)
    tracks = {t["participant_id"]: t for t in on_disk["tracks"]}
    assert (
        tracks["alice"]["probe"]["codec"] == "opus" and tracks["chioma"]["probe"]["codec"] == "aac"
    )
    assert tracks["bruno"]["published"] is False
    assert sum(t["share_of_speech"] for t in tracks.values()) == pytest.approx(1.0, abs=0.01)
    assert on_disk["missing"] == []
    assert [f["detected"] for f in on_disk["bleed"]["findings"]] == [False, False]
    for stage in ("probe", "mix", "master", "transcribe", "publish"):
        assert on_disk["stages"][stage]["wall_s"] >= 0
    assert on_disk["stages"]["transcribe"]["per_participant"]["alice"]["real_time_factor"] > 1


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spacecast", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_rejects_a_bad_manifest_with_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "space.json"
    manifest.write_text('{"space": {}}')
    done = run_cli("process", str(manifest), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and lines[0].startswith("spacecast: error: space.json: ")


def test_cli_rejects_a_track_that_is_not_audio_naming_it(sample_dir: Path, tmp_path: Path) -> None:
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    (tmp_path / "alice.opus").write_text("not audio at all")
    manifest["participants"] = [dict(manifest["participants"][0], track="alice.opus")]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    done = run_cli("process", str(path), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("spacecast: error: alice.opus: not an audio file")
    )
    assert not (tmp_path / "out" / "episode.mp3").exists()


def test_cli_holds_publication_while_someone_has_not_answered(
    sample_dir: Path, tmp_path: Path
) -> None:
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    manifest["participants"][1]["consent"] = {
        "record": True
    }  # Bruno never answered about publishing
    for p in manifest["participants"]:
        p["track"] = str(sample_dir / p["track"])
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    done = run_cli(
        "process", str(path), "--out", str(tmp_path / "out"), "--hold-missing", "--quiet"
    )
    assert done.returncode == 3
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "spacecast: held: manifest.json: held until every speaker answers; waiting for Bruno ("
    )
    assert not (tmp_path / "out" / "episode.mp3").exists()
