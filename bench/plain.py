"""The plain alternative the benchmark compares with, on the same mix: loudness done with ffmpeg's
loudnorm in two passes as ffmpeg-normalize does it (measure, then normalize linearly with the
measured values, one ffmpeg run per delivered file), and the whole mix transcribed by one
faster-whisper process at its default thread count, without voice activity detection.

    .venv/bin/python -m bench.plain transcribe MIX OUT.json   # in a process of its own
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from pipeline.ffmpeg import FFmpegRun, input_args, output_path, run_ffmpeg
from pipeline.loudness import Loudness, measure_delivered
from pipeline.transcribe import resolve_model

TARGET = {"I": -16.0, "TP": -1.0, "LRA": 11.0}  # loudnorm's own LRA default
_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.DOTALL)


def _loudnorm_stats(stderr: str) -> dict:
    found = _JSON.findall(stderr)
    if not found:
        raise ValueError("loudnorm printed no statistics")
    return json.loads(found[-1])


def loudnorm_two_pass(mix: Path, out_dir: Path, *, timeout_s: float = 7200.0) -> dict:
    """Measure ``mix`` with loudnorm, then render MP3 and Opus with loudnorm given the measured
    values (linear, as ffmpeg-normalize asks; loudnorm itself falls back to dynamic mode when a
    linear gain would break the true-peak limit). Returns what each run cost and the delivered
    files' loudness measured with ebur128."""
    target = ":".join(f"{k}={v}" for k, v in TARGET.items())
    first = run_ffmpeg(
        [*input_args(mix), "-af", f"loudnorm={target}:print_format=json", "-f", "null", "-"],
        timeout_s=timeout_s,
        what="loudnorm first pass",
    )
    measured = _loudnorm_stats(first.stderr)
    second_filter = (
        f"loudnorm={target}:measured_I={measured['input_i']}:measured_TP={measured['input_tp']}"
        f":measured_LRA={measured['input_lra']}:measured_thresh={measured['input_thresh']}"
        f":offset={measured['target_offset']}:linear=true:print_format=json"
    )
    runs: dict[str, FFmpegRun] = {"first_pass": first}
    files: dict[str, dict] = {}
    for name, rate, codec in (
        ("mp3", 44_100, ["-c:a", "libmp3lame", "-b:a", "96k"]),
        ("opus", 48_000, ["-c:a", "libopus", "-b:a", "64k"]),
    ):
        path = out_dir / f"plain.{name}"
        run = run_ffmpeg(
            [*input_args(mix), "-af", second_filter, "-ar", str(rate), *codec, output_path(path)],
            timeout_s=timeout_s,
            what=f"loudnorm second pass ({name})",
        )
        runs[f"second_pass_{name}"] = run
        loudness, duration_s = measure_delivered(path, what=f"measuring {path.name}")
        files[name] = {
            "loudness": loudness.as_dict(),
            "duration_s": round(duration_s, 3),
            "mode": _loudnorm_stats(run.stderr).get("normalization_type"),
        }
    return {
        "first_pass": {k: measured[k] for k in ("input_i", "input_tp", "input_lra")},
        "runs": {
            name: {
                "wall_s": round(r.wall_s, 2),
                "cpu_s": round(r.cpu_s, 2),
                "peak_rss_mb": round(r.max_rss_mb, 1),
            }
            for name, r in runs.items()
        },
        "wall_s": round(sum(r.wall_s for r in runs.values()), 2),
        "cpu_s": round(sum(r.cpu_s for r in runs.values()), 2),
        "files": files,
    }


def delivered_loudness(files: dict) -> Loudness:
    mp3 = files["mp3"]["loudness"]
    return Loudness(mp3["integrated_lufs"], mp3["true_peak_dbtp"], mp3["range_lu"])


def transcribe_whole(mix: Path, out: Path, *, model_name: str = "tiny.en") -> None:
    """faster-whisper as a plain script uses it: the whole file decoded into memory, default
    ``cpu_threads``, no VAD; the decoding options are the service's (beam 5, word timestamps,
    no conditioning on previous text) so only the way of running differs."""
    from faster_whisper import WhisperModel

    started, cpu_started = time.monotonic(), time.process_time()
    model = WhisperModel(
        str(resolve_model(model_name, Path.home())), device="cpu", compute_type="int8"
    )
    pieces, info = model.transcribe(
        str(mix),
        language="en",
        beam_size=5,
        vad_filter=False,
        word_timestamps=True,
        condition_on_previous_text=False,
    )
    segments = [
        {"start_s": p.start, "end_s": p.end, "text": p.text.strip()} for p in pieces if p.text
    ]
    out.write_text(
        json.dumps(
            {
                "segments": segments,
                "audio_s": info.duration,
                "wall_s": round(time.monotonic() - started, 2),
                "cpu_s": round(time.process_time() - cpu_started, 2),
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "transcribe":
        raise SystemExit(__doc__)
    transcribe_whole(Path(sys.argv[2]), Path(sys.argv[3]))
