"""The hour-long clock drift case: two speakers, one recorder running fast, uploaded whole after
the room with the room time each recording ended, through the offline job (real ffmpeg, real
faster-whisper). Side by side in one run: the manifest with ``end`` (the track is measured by its
length and resampled into room time) and without it (the track as recorded, the plain
alternative).

    .venv/bin/python -m bench.drift [--minutes 60] [--ppm 1000]

Reported: the drift read, the drifted speaker's lines (attributed to whom, and how far their
transcript time lies from where the room heard them and from where the same line lands when the
recorder's clock is accurate, a third run), the correction's CPU, wall time and real-time factor,
and each run's wall time and peak memory. The tracks are written by ffmpeg from a few seconds of
espeak-ng speech placed on an hour of silence: nothing holds an hour of audio in memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.drift import correct_drift, drift_from_declared_span
from pipeline.master import MP3
from pipeline.probe import probe_track
from pipeline.process import ProcessOptions, process_space

RATE = 48_000
# (speaker, seconds from the room's start or, negative, from its end, text)
LINES = [
    ("ana", 2.0, "Good evening, this is the garden club, and tonight we talk about tomatoes."),
    ("ben", 9.0, "Thank you Ana, my tomatoes were late this year because of the cold spring."),
    ("ana", -50.0, "Before we close, the seed swap is on Saturday at the library."),
    ("ben", -40.0, "And bring your own bags, the market ran out of them last week."),
    ("ben", -25.0, "Good night everybody, see you at the next meeting of the garden club."),
]
OUT = Path(__file__).parent / "out"


def _line_wav(text: str, voice: str, path: Path) -> float:
    """espeak-ng's line at 48 kHz, and where its speech starts in the file (s)."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le",
         "-"], check=True, capture_output=True,
    ).stdout  # fmt: skip
    samples = np.abs(np.frombuffer(raw, dtype=np.float32))
    return float(np.argmax(samples > 0.02 * samples.max()) / RATE)


def _track(
    folder: Path, speaker: str, room_s: float, label_hz: int | None
) -> tuple[Path, list[tuple[float, str]]]:
    """The speaker's track of ``room_s`` (FLAC), their lines placed on silence, re-timed as a
    recorder labelling the room's 48 kHz as ``label_hz`` writes it; and each line's room time
    of onset with its text."""
    inputs, delays, onsets = [], [], []
    voice = "en-us" if speaker == "ana" else "en-gb"
    for n, (who, at_s, text) in enumerate(LINES):
        if who != speaker:
            continue
        placed = at_s if at_s >= 0 else room_s + at_s
        wav = folder / f"{speaker}-{n}.wav"
        lead = _line_wav(text, voice, wav)
        inputs += ["-i", str(wav)]
        delays.append(placed)
        onsets.append((placed + lead, text))
    chains = [
        f"[{i}]aresample={RATE},aformat=channel_layouts=mono,adelay={round(d * 1000)}[l{i}]"
        for i, d in enumerate(delays)
    ]
    mixed = "".join(f"[l{i}]" for i in range(len(delays)))
    total = round(room_s * RATE)
    graph = ";".join(
        [*chains, f"{mixed}amix=inputs={len(delays)}:normalize=0:duration=longest,"
         f"apad=whole_len={total},atrim=end_sample={total}"
         + (f",asetrate={label_hz},aresample={RATE}" if label_hz else "")]
    )  # fmt: skip
    path = folder / f"{speaker}.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-c:a", "flac",
         str(path)],
        check=True,
    )  # fmt: skip
    return path, onsets


def _manifest(folder: Path, room_s: float, declared: bool) -> Path:
    participants = []
    for speaker in ("ana", "ben"):
        entry = {"id": speaker, "name": speaker.title(), "track": f"{speaker}.flac",
                 "offset": 0.0, "consent": {"record": True, "publish": True}}  # fmt: skip
        if declared:
            entry["end"] = room_s
        participants.append(entry)
    manifest = {
        "space": {"id": f"drift-{int(declared)}", "title": "The garden club"},
        "show": {"title": "Drift bench", "author": "Spacecast bench"},
        "participants": participants,
    }
    path = folder / f"manifest-{'end' if declared else 'plain'}.json"  # beside its tracks
    path.write_text(json.dumps(manifest))
    return path


def _lines_heard(transcript: Path, onsets: list[tuple[float, str]]) -> list[dict]:
    """Each line of the drifted speaker: who the transcript says said it (the segment holding
    words from inside it), and where that speaker's first segment within 5 s of the room's
    onset starts (Whisper may split a line in two), against the onset."""
    segments = json.loads(transcript.read_text())["segments"]
    found = []
    for onset, text in onsets:
        # Words inside the line (a name at its start is often misheard), else its last words.
        keys = [" ".join(_words(text)[3:6]), " ".join(_words(text)[-4:-1])]
        holder = next(
            (s for key in keys for s in segments if key in " ".join(_words(s["body"]))), None
        )
        near = [
            s for s in segments
            if holder and s["speaker"] == holder["speaker"] and abs(s["startTime"] - onset) < 5
        ]  # fmt: skip
        start = min((s["startTime"] for s in near), default=None)
        found.append({
            "room_onset_s": round(onset, 3),
            "text": text,
            "speaker": holder["speaker"] if holder else None,
            "start_s": start,
            "error_s": round(start - onset, 3) if start is not None else None,
        })  # fmt: skip
    return found


def _words(text: str) -> list[str]:
    return "".join(c if c.isalpha() or c.isspace() else " " for c in text.lower()).split()


def _run(manifest: Path, out: Path) -> dict:
    began = time.monotonic()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = process_space(manifest, out, ProcessOptions(formats=(MP3,)))
    return {
        "report": report,
        "wall_s": round(time.monotonic() - began, 1),
        "peak_rss_mb_self": round(max(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
                                  / 1024, 1),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--ppm", type=float, default=1000.0, help="the fast recorder's drift")
    parser.add_argument("--out", type=Path, help="the JSON report (default bench/out/)")
    args = parser.parse_args(argv)
    room_s = args.minutes * 60
    label_hz = round(RATE / (1 + args.ppm * 1e-6))
    true_ppm = (RATE / label_hz - 1) * 1e6
    (args.out.parent if args.out else OUT).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spacecast-drift-bench-") as tmp:
        accurate, fast = Path(tmp) / "accurate", Path(tmp) / "fast"
        for folder, label in ((accurate, None), (fast, label_hz)):
            folder.mkdir()
            _track(folder, "ana", room_s, None)
            _, onsets = _track(folder, "ben", room_s, label)
        probe = probe_track(fast / "ben.flac", label="ben.flac")
        estimate = drift_from_declared_span(probe.duration_s, 0.0, room_s)
        began = time.monotonic()
        run = correct_drift(
            fast / "ben.flac", estimate.drift_ppm, Path(tmp) / "ben-room.flac", timeout_s=3600,
            label="ben",
        )  # fmt: skip
        correction = {
            "wall_s": round(time.monotonic() - began, 1),
            "cpu_s": round(run.cpu_s, 1),
            "peak_rss_mb": round(run.max_rss_mb, 1),
            "real_time_factor": round(room_s / max(run.cpu_s, 1e-9), 1),
        }
        results = {}
        for name, folder, declared in (
            ("accurate clock", accurate, True),
            ("with end", fast, True),
            ("without end (as recorded)", fast, False),
        ):
            out = folder / ("out-end" if declared else "out-plain")
            ran = _run(_manifest(folder, room_s, declared), out)
            ben = next(t for t in ran["report"]["tracks"] if t["participant_id"] == "ben")
            results[name] = {
                "drift": ben["health"]["drift"] if ben.get("health") else None,
                "lines": _lines_heard(out / "transcript.json", onsets),
                "wall_s": ran["wall_s"],
                "real_time_factor": round(2 * room_s / ran["wall_s"], 1),
                "peak_rss_mb_bench_process": ran["peak_rss_mb_self"],
            }
        # Whisper places a segment's start on its own (tenths of a second off the onset, the
        # same way for the same audio): each line against where it lands with an accurate clock.
        reference = results["accurate clock"]["lines"]
        for result in results.values():
            for line, same in zip(result["lines"], reference, strict=True):
                both = line["start_s"] is not None and same["start_s"] is not None
                line["vs_accurate_clock_s"] = (
                    round(line["start_s"] - same["start_s"], 3) if both else None
                )
    summary = {
        "minutes": args.minutes,
        "true_ppm": round(true_ppm, 2),
        "estimate_ppm": round(estimate.drift_ppm, 2),
        "uncertainty_ppm": round(estimate.uncertainty_ppm, 2),
        "correction_alone": correction,
        "runs": results,
    }
    path = args.out or OUT / f"drift-{args.minutes:g}min.json"
    path.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
