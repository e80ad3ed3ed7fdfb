"""Editing speed: what publishing an edited version re-runs (the mix again, for the mute, and
mastering with the cuts), on the four-speaker scenario; what the mix stage did besides until each
track's preparation was kept (health, repair and leveling of every track, ``workers.tracks``:
measured once into an S3 server, then read back as an edit does); the edit's mix made whole and
spliced from the first rendering's mix (``pipeline.mix.splice_mix``), side by side; the preview's
latency, and
the latency of one cut's audio preview (``pipeline.preview``: the seconds around the cut
rendered from the mix, side by side with the same preview made with pydub).

    .venv/bin/python -m bench.editing [--minutes 60] [--cuts 10] [--out bench/out/editing.json]

The scenario (bench/scenario.py) is built once and cached under ``--cache``. The edit list has
``--cuts`` cuts of 3-8 s spread over the room and one mute of one speaker for 20 s (10 s a
minute in a room under 2 min); the preview
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
from dataclasses import replace
from pathlib import Path

from bench.scenario import SPEAKERS, build_scenario
from infra.s3server import LocalS3Server
from infra.settings import Settings
from infra.storage import ObjectStore
from pipeline.edits import Cut, Mute, RoomTimeline, ShortenSilences, resolve, validate
from pipeline.loudness import measure_delivered
from pipeline.master import MP3, Edits, LoudnessTarget, master_episode
from pipeline.mix import MIX_RATE_HZ, MixInput, StoredMix, mix_tracks, splice_mix
from pipeline.preview import render_cut_preview, seam_plan
from workers.tracks import PreparedTrack, prepare_track


def pydub_cut_preview(mix: Path, mix_start_s: float, plan, index: int, out: Path) -> None:
    """The plain alternative: pydub decodes the two stretches around the cut (ffmpeg seeks, as
    ours does) into memory, joins them with its own crossfade, exports an MP3."""
    from pydub import AudioSegment

    around = seam_plan(plan, index)
    (a0, b0), (a1, b1) = around.kept
    fade_ms = round(around.crossfade_s * 1000)
    left = AudioSegment.from_file(
        mix, "flac", start_second=a0 - mix_start_s, duration=b0 - a0 + around.crossfade_s / 2
    )
    right = AudioSegment.from_file(
        mix, "flac", start_second=a1 - mix_start_s - around.crossfade_s / 2, duration=b1 - a1
    )
    left.append(right, crossfade=fade_ms).export(out, format="mp3", bitrate="96k")


def cut_preview_latency(mix: Path, mix_start_s: float, plan, work: Path) -> dict:
    """Every cut of ``plan`` previewed both ways: wall time of each, in ms."""
    from pipeline.master import Treatment

    ours, plain = [], []
    for index in range(len(plan.removed)):
        began = time.perf_counter()
        render_cut_preview(
            mix, mix_start_s, plan, index, work / "cut.mp3",
            treatment=Treatment(6.0, -2.0), timeout_s=60,
        )  # fmt: skip
        ours.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        pydub_cut_preview(mix, mix_start_s, plan, index, work / "cut-pydub.mp3")
        plain.append((time.perf_counter() - began) * 1000)
    return {
        "cuts": len(ours),
        "ffmpeg_median_ms": round(sorted(ours)[len(ours) // 2], 1),
        "ffmpeg_max_ms": round(max(ours), 1),
        "pydub_median_ms": round(sorted(plain)[len(plain) // 2], 1),
        "pydub_max_ms": round(max(plain), 1),
    }


def prepare_tracks(
    store: ObjectStore, folder: Path, speech: dict[str, list], work: Path
) -> tuple[dict[str, PreparedTrack], float]:
    """Every speaker's track prepared for the mix as the mix stage does (leveled, as the show's
    default), with the wall time it took: measured when nothing is stored for it, read back
    (the repaired track fetched) when it is."""
    began = time.perf_counter()
    prepared = {
        s.id: prepare_track(
            store,
            "bench-editing",
            s.id,
            f"bench-{s.id}-{s.join_s}",  # one stem each, never changed: a fixed fingerprint
            folder / f"{s.id}.opus",
            [(a - s.join_s, b - s.join_s) for a, b in speech[s.id]],
            work,
            leveled=True,
            timeout_s=3600,
            label=s.name,
        )
        for s in SPEAKERS
    }
    return prepared, time.perf_counter() - began


def edit_list(minutes: float, cuts: int, seed: int = 5) -> list:
    rng = random.Random(seed)
    span = minutes * 60.0 / cuts
    starts = [round(i * span + rng.uniform(5, span - 10), 3) for i in range(cuts)]
    ops: list = [Cut(start, round(start + rng.uniform(3, 8), 3)) for start in starts]
    # 20 s; in a room under 2 min, 10 s a minute, so the mute stays a small share of the room
    ops.append(Mute("chioma", minutes * 30.0, minutes * 30.0 + min(20.0, minutes * 10.0)))
    return ops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--cuts", type=int, default=10)
    parser.add_argument("--cache", default="bench/out/scenario-editing")
    parser.add_argument("--out", default="bench/out/editing.json")
    parser.add_argument(
        "--no-master", action="store_true", help="stop after the mix and the cut previews"
    )
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

    own_speech = {
        s.id: [(u["start_s"], u["end_s"]) for u in truth["utterances"] if u["speaker_id"] == s.id]
        for s in SPEAKERS
    }

    with tempfile.TemporaryDirectory(prefix="spacecast-bench-editing-") as tmp:
        work = Path(tmp)
        s3 = LocalS3Server(work / "s3").start()
        try:
            env = s3.env()
            store = ObjectStore(
                Settings(
                    s3_endpoint_url=env["SPACECAST_S3_ENDPOINT_URL"],
                    s3_access_key=env["SPACECAST_S3_ACCESS_KEY"],
                    s3_secret_key=env["SPACECAST_S3_SECRET_KEY"],
                )
            )
            store.ensure_bucket()
            (work / "first").mkdir()
            (work / "edit").mkdir()
            _, measured_s = prepare_tracks(store, folder, own_speech, work / "first")
            prepared, read_back_s = prepare_tracks(store, folder, own_speech, work / "edit")
        finally:
            s3.stop()
        assert all(p.reused for p in prepared.values()) and read_back_s < measured_s
        inputs = [
            MixInput(
                prepared[s.id].heard(folder / f"{s.id}.opus"),
                s.join_s,
                s.name,
                gain=prepared[s.id].level.mix_points,
                mute=tuple(plan.mutes_of(s.id)),
            )
            for s in SPEAKERS
        ]
        # The first rendering's mix (the room as recorded, no mute), which the service keeps
        # for the mixes of later versions to splice from.
        began = time.perf_counter()
        first = mix_tracks(
            [replace(item, mute=()) for item in inputs], work / "first.flac", timeout_s=3600
        )
        first_mix_s = time.perf_counter() - began
        # The edit's mix both ways, in the same run: mixed whole (the plain way), and spliced
        # from the first (the service's way).
        began = time.perf_counter()
        whole = mix_tracks(inputs, work / "whole.flac", timeout_s=3600)
        mix_s = time.perf_counter() - began
        began = time.perf_counter()
        mixed = splice_mix(
            inputs,
            StoredMix(
                first.path,
                first.timeline_start_s,
                tuple(() for _ in inputs),
                first.loudness,
                first.momentary,
            ),
            work / "mix.flac",
            timeout_s=3600,
        )
        splice_s = time.perf_counter() - began
        assert mixed is not None and mixed.spliced is not None
        splice = {
            "spliced_s": round(splice_s, 1),
            "mixed_whole_s": round(mix_s, 1),
            "first_mix_s": round(first_mix_s, 1),
            "stretches_s": round(sum(x.samples for x in mixed.spliced) / MIX_RATE_HZ, 1),
            "integrated_lufs": {
                "spliced": round(mixed.loudness.integrated_lufs, 2),
                "whole": round(whole.loudness.integrated_lufs, 2),
            },
            "cpu_s": {"spliced": round(mixed.run.cpu_s, 1), "whole": round(whole.run.cpu_s, 1)},
            "ffmpeg_peak_mb": {
                "spliced": round(mixed.run.max_rss_mb, 1),
                "whole": round(whole.run.max_rss_mb, 1),
            },
        }
        cut_previews = cut_preview_latency(mixed.path, mixed.timeline_start_s, plan, work)
        preparation = {
            "measured_s": round(measured_s, 1),
            "read_back_s": round(read_back_s, 1),
            "repaired_tracks": sum(1 for p in prepared.values() if p.cleaned_key),
        }
        if args.no_master:
            report = {
                "mix_s": round(mix_s, 1),
                "splice": splice,
                "preparation": preparation,
                "cut_preview": cut_previews,
            }
            print(json.dumps(report, indent=2))
            Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
            return 0
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
        # What the mix and master stages of an edit take now (each track's preparation read
        # back, the mix spliced), mixing whole instead, and measuring every track again too.
        "edit_to_rendered_s": round(read_back_s + splice_s + master_s, 1),
        "edit_to_rendered_mixing_whole_s": round(read_back_s + mix_s + master_s, 1),
        "edit_to_rendered_remeasuring_s": round(measured_s + mix_s + master_s, 1),
        "preparation": preparation,
        "mix_s": round(mix_s, 1),
        "splice": splice,
        "master_s": round(master_s, 1),
        "master_passes": delivered.passes,
        "preview_ms": round(preview_s * 1000, 2),
        "preview_with_silences_ms": round(silence_preview_s * 1000, 2),
        "silence_saved_s": round(silences.silence_saved_s, 1),
        "cut_preview": cut_previews,
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
