"""Real recorded speech, not synthesized: a LibriVox reader (pocketsphinx test data) and a voice
actress's telephone prompts at 8 kHz (Asterisk core sounds), as two speakers of one space."""

import gzip
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.master import MP3
from pipeline.process import ProcessOptions, process_space
from pipeline.quality import ScriptLine, speaker_attribution, word_error_rate
from pipeline.transcript import Segment
from tests.audio import ebur128

pytestmark = pytest.mark.slow

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
RATE_HZ = 16_000


def pcm(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-ac",
            "1",
            "-ar",
            str(RATE_HZ),
            "-f",
            "s16le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16)


def build_track(
    clips: list[tuple[Path, str]], out: Path, rate_hz: int, speaker: str, offset_s: float
):
    """Clips one after another with 0.8 s pauses; return the script lines on the room timeline."""
    pieces, lines, clock = [], [], 0.5
    pieces.append(np.zeros(int(0.5 * RATE_HZ), dtype=np.int16))
    for path, text in clips:
        samples = pcm(path)
        lines.append(
            ScriptLine(speaker, text, offset_s + clock, offset_s + clock + len(samples) / RATE_HZ)
        )
        pieces += [samples, np.zeros(int(0.8 * RATE_HZ), dtype=np.int16)]
        clock += len(samples) / RATE_HZ + 0.8
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", str(RATE_HZ), "-ac", "1", "-i", "-",
         "-ar", str(rate_hz), str(out)],
        input=np.concatenate(pieces).tobytes(),
        check=True,
    )  # fmt: skip
    return lines, clock


@pytest.fixture(scope="module")
def real_space(tmp_path_factory: pytest.TempPathFactory):
    missing = [p for p in (LIBRIVOX, ASTERISK, ASTERISK_TEXTS) if not p.exists()]
    assert not missing, f"real speech fixtures missing ({missing}); run scripts/bootstrap.sh test"
    folder = tmp_path_factory.mktemp("real-speech")
    reader_clips = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        text, _, name = line.removeprefix("<s> ").rpartition(" </s> (")
        reader_clips.append((LIBRIVOX / f"{name.rstrip(')')}.wav", text))
    with gzip.open(ASTERISK_TEXTS, "rt") as texts:
        prompts = dict(line.split(": ", 1) for line in texts if ": " in line)
    allison_clips = [
        (ASTERISK / f"{n}.wav", prompts[n].strip()) for n in ("demo-echotest", "demo-moreinfo")
    ]
    reader_lines, reader_s = build_track(
        reader_clips, folder / "reader.flac", 16_000, "reader", 0.0
    )
    allison_lines, _ = build_track(
        allison_clips, folder / "allison.wav", 8_000, "allison", reader_s + 1.0
    )
    manifest = {
        "space": {"id": "real-1", "title": "Real voices"},
        "show": {"title": "Real voices", "author": "Spacecast tests"},
        "participants": [
            {"id": "reader", "name": "Reader", "track": "reader.flac", "offset": 0.0,
             "consent": {"record": True, "publish": True}},
            {"id": "allison", "name": "Allison", "track": "allison.wav", "offset": reader_s + 1.0,
             "consent": {"record": True, "publish": True}},
        ],
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = process_space(folder / "manifest.json", folder / "out", ProcessOptions(formats=(MP3,)))
    return folder / "out", report, reader_lines + allison_lines


def test_real_voices_are_transcribed_and_attributed(real_space) -> None:
    out, report, script = real_space
    segments = [
        Segment(s["speaker"].lower(), s["speaker"], s["startTime"], s["endTime"], s["body"])
        for s in json.loads((out / "transcript.json").read_text())["segments"]
    ]
    for speaker in ("reader", "allison"):
        reference = " ".join(line.text for line in script if line.speaker_id == speaker)
        heard = " ".join(s.text for s in segments if s.speaker_id == speaker)
        assert word_error_rate(reference, heard) <= 0.08, (speaker, heard)
    shift = report["episode"]["timeline_start_s"]
    timeline = [
        ScriptLine(s.speaker_id, s.text, s.start_s - shift, s.end_s - shift) for s in script
    ]
    assert speaker_attribution(segments, timeline) >= 0.95


def test_real_voices_episode_meets_the_loudness_target(real_space) -> None:
    out, _, _ = real_space
    integrated, true_peak = ebur128(out / "episode.mp3")
    assert integrated == pytest.approx(-16.0, abs=0.5)
    assert true_peak <= -1.0
