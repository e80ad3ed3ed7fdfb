"""Clip rendering speed: processing time of a playable 60-second clip (cut, master to -16 LUFS,
verify on the delivered MP3), p50 and p95 over many clips, and audiogram seconds per minute.

    .venv/bin/python -m bench.clips [--clips 20] [--out bench/out/clips.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from infra.samples import build_sample_space, load_spec
from pipeline.clips import excerpt_transcript, render_audiogram, render_clip
from pipeline.master import LoudnessTarget
from pipeline.mix import MixInput, mix_tracks
from pipeline.transcript import Segment


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--audiograms", type=int, default=3)
    parser.add_argument("--out", default="bench/out/clips.json")
    args = parser.parse_args()
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="spacecast-bench-clips-") as tmp:
        folder = Path(tmp)
        build_sample_space(load_spec("town_square"), folder / "space")
        inputs = [
            MixInput(folder / "space" / "alice.opus", 0.0, "alice"),
            MixInput(folder / "space" / "chioma.m4a", 15.5, "chioma"),
        ]
        mix = mix_tracks(inputs, folder / "mix.flac", timeout_s=120)
        renders, passes = [], []
        for index in range(args.clips):
            start = random.uniform(0.0, mix.duration_s - 61.0)
            out = folder / f"clip-{index}"
            out.mkdir()
            began = time.monotonic()
            result = render_clip(
                mix.path, mix.momentary, start, 60.0, out, target=LoudnessTarget(), timeout_s=60
            )
            renders.append(time.monotonic() - began)
            passes.append(result.files["mp3"].passes)
        clip = folder / "clip-0" / "clip.mp3"
        captions = [
            Segment(
                "alice", "Alice", 1.0, 6.0, "Good evening and welcome to community radio night."
            )
        ]
        audiograms = []
        for index in range(args.audiograms):
            began = time.monotonic()
            render_audiogram(
                clip,
                excerpt_transcript(captions, 0, 60),
                "Town Square Live",
                folder / f"a{index}.mp4",
                timeout_s=600,
            )
            audiograms.append(time.monotonic() - began)
    result = {
        "clips": args.clips,
        "clip_s": 60.0,
        "render_p50_s": round(percentile(renders, 0.5), 3),
        "render_p95_s": round(percentile(renders, 0.95), 3),
        "render_mean_s": round(statistics.mean(renders), 3),
        "mastering_passes": {str(p): passes.count(p) for p in sorted(set(passes))},
        "audiogram_s_per_minute": round(statistics.mean(audiograms), 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
