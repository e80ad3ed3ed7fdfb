"""How well generated chapters find the changes of topic: spaces of known topics in sequence
(bench/topics.py) are spoken with espeak-ng, each speaker's track transcribed with faster-whisper
(tiny.en) as the transcribe stage does, the transcripts merged into sentences, and chapters made
from them. A boundary is found when a true change lies within ±20 s of it, each change matched
once. The baseline is chapters of equal length, as many as the true number of topics (it is told
what the method has to find).

    .venv/bin/python -m bench.chapters [--spaces 4] [--out bench/out/chapters.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from bench.topics import TOPICS, build_topic_space
from pipeline.chapters import ChapterSettings, generate_chapters
from pipeline.transcribe import WhisperSettings, transcribe_track
from pipeline.transcript import Segment, merge_transcripts

TOLERANCE_S = 20.0


def match_boundaries(
    found: list[float], truth: list[float], tolerance_s: float = TOLERANCE_S
) -> int:
    """How many true changes have a found boundary within ``tolerance_s`` (one to one, closest
    pairs first)."""
    pairs = sorted(
        (abs(f - t), i, j)
        for i, f in enumerate(found)
        for j, t in enumerate(truth)
        if abs(f - t) <= tolerance_s
    )
    used_f, used_t, hits = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
            hits += 1
    return hits


def scores(found: list[float], truth: list[float]) -> dict:
    hits = match_boundaries(found, truth)
    return {
        "found": len(found),
        "true": len(truth),
        "hits": hits,
        "precision": round(hits / len(found), 3) if found else None,
        "recall": round(hits / len(truth), 3) if truth else None,
    }


def equal_boundaries(duration_s: float, count: int) -> list[float]:
    """The baseline: ``count`` chapters of equal length."""
    return [duration_s * k / count for k in range(1, count)]


def transcribe_space(truth: dict, whisper: WhisperSettings) -> list[Segment]:
    per_speaker = []
    for speaker, path in truth["tracks"].items():
        result = transcribe_track(
            Path(path),
            speaker_id=speaker,
            speaker=speaker.capitalize(),
            offset_s=0.0,
            language="en",
            settings=whisper,
            timeout_s=3600.0,
        )
        per_speaker.append(result.segments)
    return merge_transcripts(per_speaker)


def script_segments(truth: dict) -> list[Segment]:
    """The script itself as sentences (what a perfect transcriber would give)."""
    return [
        Segment(t["speaker_id"], t["speaker_id"], t["start_s"], t["end_s"], t["text"])
        for t in truth["turns"]
    ]


def topic_plan(seed: int, count: int, *, low_s: float, high_s: float) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    names = rng.sample(sorted(TOPICS), count)
    return [(name, round(rng.uniform(low_s, high_s))) for name in names]


def evaluate(
    truth: dict, segments: list[Segment], settings: ChapterSettings
) -> tuple[dict, dict, list]:
    chapters = generate_chapters(segments, truth["duration_s"], settings)
    found = [c.start_s for c in chapters[1:]]
    changes = truth["changes_s"]
    baseline = equal_boundaries(truth["duration_s"], len(changes) + 1)
    return scores(found, changes), scores(baseline, changes), chapters


def _total(rows: list[dict]) -> dict:
    found = sum(r["found"] for r in rows)
    true = sum(r["true"] for r in rows)
    hits = sum(r["hits"] for r in rows)
    return {
        "found": found,
        "true": true,
        "hits": hits,
        "precision": round(hits / found, 3) if found else None,
        "recall": round(hits / true, 3) if true else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=4)
    parser.add_argument("--topics", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/out/chapters.json"))
    args = parser.parse_args()
    threads = int(os.environ.get("SPACECAST_WHISPER_THREADS", "1"))
    whisper = WhisperSettings(cpu_threads=threads)
    settings = ChapterSettings()
    rows = []
    # Seeds 1-6 were used to choose the defaults (window_s, cutoff_sd) on the scripts; the
    # figures come from other spaces.
    for seed in range(11, 11 + args.spaces):
        plan = topic_plan(seed, args.topics, low_s=130.0, high_s=420.0)
        truth = build_topic_space(plan, args.out.parent / f"topics-{seed}", seed=seed)
        started = time.monotonic()
        heard = transcribe_space(truth, whisper)
        wall = time.monotonic() - started
        method, baseline, chapters = evaluate(truth, heard, settings)
        scripted, _, _ = evaluate(truth, script_segments(truth), settings)
        rows.append(
            {
                "seed": seed,
                "topics": plan,
                "duration_s": truth["duration_s"],
                "changes_s": truth["changes_s"],
                "transcribe_wall_s": round(wall, 1),
                "method": method,
                "method_on_script": scripted,
                "baseline": baseline,
                "chapters": [(c.start_s, c.title) for c in chapters],
            }
        )
        print(json.dumps(rows[-1]))
    summary = {
        "tolerance_s": TOLERANCE_S,
        "settings": settings.__dict__,
        "method": _total([r["method"] for r in rows]),
        "method_on_script": _total([r["method_on_script"] for r in rows]),
        "baseline": _total([r["baseline"] for r in rows]),
        "spaces": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(json.dumps({k: summary[k] for k in ("method", "method_on_script", "baseline")}))


if __name__ == "__main__":
    main()
