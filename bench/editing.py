"""Editing speed: what publishing an edited version re-runs (the mix again, for the mute, and
mastering with the cuts), on the four-speaker scenario, and the preview's latency.

    .venv/bin/python -m bench.editing [--minutes 60] [--cuts 10] [--out bench/out/editing.json]

The scenario (bench/scenario.py) is built once and cached under ``--cache``. The edit list has
``--cuts`` cuts of 3-8 s spread over the room and one mute of one speaker for 20 s; the preview
is the service's (``services.editing``'s) resolution of the list against the room, with the
scenario's speech as the activity. Transcription is not re-run by an edit (its inputs do not
change), so it is not in the figure; publishing itself (re-timing the transcript, writing the
feed) is measured on the real service by tests/service/test_editing.py.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from bench.scenario import SPEAKERS, build_scenario
from pipeline.edits import Cut, Mute, RoomTimeline, ShortenSilences, resolve, validate
from pipeline.loudness import measure_delivered
from pipeline.master import MP3, Edits, LoudnessTarget, master_episode
from pipeline.mix import MixInput, mix_tracks


def edit_list(minutes: float, cuts: int, seed: int = 5) -> list:
    rng = random.Random(seed)
    span = minutes * 60.0 / cuts
    starts = [round(i * span + rng.uniform(5, span - 10), 3) for i in range(cuts)]
    ops: list = [Cut(start, round(start + rng.uniform(3, 8), 3)) for start in starts]
    ops.append(Mute("chioma", minutes * 30.0, minutes * 30.0 + 20.0))
    return ops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--cuts", type=int, default=10)
    parser.add_argument("--cache", default="bench/out/scenario-editing")
    parser.add_argument("--out", default="bench/out/editing.json")
    args = parser.parse_args(argv)
    manifest_path = build_scenario(args.minutes, Path(args.cache) / f"{args.minutes:g}min")
    folder = manifest_path.parent
    truth = json.loads((folder / "truth.json").read_text())
    timeline = RoomTimeline(
        start_s=0.0,
        end_s=max(s.join_s for s in SPEAKERS) + args.minutes * 60.0,
        speakers={s.id: s.name for s in SPEAKERS},
    )
    ops = edit_list(args.minutes, args.cuts)
    speech = [(u["start_s"], u["end_s"]) for u in truth["utterances"]]
    began = time.perf_counter()
    validate(ops, timeline)
    plan = resolve(ops, timeline, speech=speech)
    preview_s = time.perf_counter() - began
    began = time.perf_counter()
    silences = resolve([*ops, ShortenSilences(1.5, 0.5)], timeline, speech=speech)
    silence_preview_s = time.perf_counter() - began

    with tempfile.TemporaryDirectory(prefix="spacecast-bench-editing-") as tmp:
        work = Path(tmp)
        inputs = [
            MixInput(folder / f"{s.id}.opus", s.join_s, s.name, mute=tuple(plan.mutes_of(s.id)))
            for s in SPEAKERS
        ]
        began = time.perf_counter()
        mixed = mix_tracks(inputs, work / "mix.flac", timeout_s=3600)
        mix_s = time.perf_counter() - began
        began = time.perf_counter()
        mastered = master_episode(
            mixed.path,
            mixed.loudness,
            work,
            formats=(MP3,),
            target=LoudnessTarget(),
            timeout_s=3600,
            edits=Edits(plan, mixed.timeline_start_s),
        )
        master_s = time.perf_counter() - began
        delivered = mastered.files["mp3"]
        measured, duration_s = measure_delivered(delivered.path, what="bench", timeout_s=600)
    report = {
        "scenario": {"minutes": args.minutes, "speakers": len(SPEAKERS)},
        "edits": {
            "cuts": args.cuts,
            "mutes": 1,
            "removed_s": round(mixed.duration_s - plan.duration_s, 3),
        },
        "edit_to_rendered_s": round(mix_s + master_s, 1),
        "mix_s": round(mix_s, 1),
        "master_s": round(master_s, 1),
        "master_passes": delivered.passes,
        "preview_ms": round(preview_s * 1000, 2),
        "preview_with_silences_ms": round(silence_preview_s * 1000, 2),
        "silence_saved_s": round(silences.silence_saved_s, 1),
        "delivered": {
            "duration_s": round(duration_s, 3),
            "expected_s": round(plan.duration_s, 3),
            "duration_error_ms": round((duration_s - plan.duration_s) * 1000, 1),
            "integrated_lufs": measured.integrated_lufs,
            "true_peak_dbtp": measured.true_peak_dbtp,
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
