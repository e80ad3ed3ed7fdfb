"""How well published transcripts read: segments of the JSON transcript that end inside a
sentence, and caption cues over the caption rules (lines of at most 42 characters, at most two
lines, at most 7 s), measured on what `process_space` writes for a sample space.

    .venv/bin/python -m bench.transcripts [--sample town_square] [--scenario-minutes 3]
        [--out bench/out/transcripts.json]

The figures are read from the published files only (transcript.json, .vtt, .srt), with their
own notion of a sentence end (the text ends in . ! ? or …, closing quotes allowed), so they do
not depend on the code they measure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import tempfile
from pathlib import Path

from bench.scenario import build_scenario
from infra.samples import build_sample_space, load_spec
from pipeline.process import process_space

LINE_CHARS = 42
CUE_LINES = 2
CUE_S = 7.0
# . ! ? … and the ideographic full stop, exclamation and question marks; closing quotes after.
_STOP = "[.!?\u2026\u3002\uff01\uff1f][\"')\\]\u201d\u2019]*"
_SENTENCE_END = re.compile(_STOP + r"$")
_SENTENCE_INSIDE = re.compile(_STOP + r"\s+\S")
_CUE_TIMES = re.compile(r"(\d+):(\d\d):(\d\d)[.,](\d{3}) --> (\d+):(\d\d):(\d\d)[.,](\d{3})")
_VOICE = re.compile(r"</?v[^>]*>")


def json_figures(doc: dict) -> dict:
    """Segments whose body ends inside a sentence: followed by the same speaker (a break with no
    reason) or by another speaker (a change of speaker, which may end a segment)."""
    segments = doc["segments"]
    same, change = 0, 0
    several = sum(bool(_SENTENCE_INSIDE.search(s["body"].strip())) for s in segments)
    for this, following in itertools.pairwise(segments):
        if _SENTENCE_END.search(this["body"].strip()):
            continue
        if following["speaker"] == this["speaker"]:
            same += 1
        else:
            change += 1
    last_open = bool(segments) and not _SENTENCE_END.search(segments[-1]["body"].strip())
    inside = same + change + int(last_open)
    return {
        "segments": len(segments),
        "ending_inside_a_sentence": inside,
        "share_ending_inside_a_sentence": round(inside / max(len(segments), 1), 3),
        "of_which_same_speaker_continues": same,
        "of_which_at_a_change_of_speaker": change,
        "holding_more_than_one_sentence": several,
        "longest_segment_s": round(
            max((s["endTime"] - s["startTime"] for s in segments), default=0.0), 2
        ),
    }


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def caption_figures(text: str, *, vtt: bool) -> dict:
    """Cues and the lines and cues over the rules, as a player would show them."""
    cues = lines_over = cues_over_lines = cues_over_s = 0
    longest_line = 0
    for block in re.split(r"\n\s*\n", text.strip()):
        rows = block.splitlines()
        at = next((i for i, row in enumerate(rows) if _CUE_TIMES.search(row)), None)
        if at is None:
            continue
        times = _CUE_TIMES.search(rows[at]).groups()
        duration = _seconds(*times[4:]) - _seconds(*times[:4])
        shown = [_VOICE.sub("", row) if vtt else row for row in rows[at + 1 :] if row.strip()]
        cues += 1
        lines_over += sum(len(row) > LINE_CHARS for row in shown)
        longest_line = max([longest_line, *(len(row) for row in shown)])
        cues_over_lines += len(shown) > CUE_LINES
        cues_over_s += duration > CUE_S + 1e-3
    return {
        "cues": cues,
        "lines_over_42_chars": lines_over,
        "cues_over_2_lines": cues_over_lines,
        "cues_over_7_s": cues_over_s,
        "longest_line_chars": longest_line,
    }


def measure(manifest: Path, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    process_space(manifest, out_dir)
    return {
        "json": json_figures(json.loads((out_dir / "transcript.json").read_text("utf-8"))),
        "vtt": caption_figures((out_dir / "transcript.vtt").read_text("utf-8"), vtt=True),
        "srt": caption_figures((out_dir / "transcript.srt").read_text("utf-8"), vtt=False),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", action="append", help="infra/samples spec (repeatable)")
    parser.add_argument("--scenario-minutes", type=float, default=3.0, help="0: skip")
    parser.add_argument("--out", default="bench/out/transcripts.json")
    args = parser.parse_args()
    results = {}
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="spacecast-bench-transcripts-") as tmp:
        folder = Path(tmp)
        published = out.with_suffix("")  # the transcripts measured, kept to read
        for name in args.sample or ["town_square", "quick_chat"]:
            manifest = build_sample_space(load_spec(name), folder / name)
            results[name] = measure(manifest, published / name)
        if args.scenario_minutes:
            minutes = args.scenario_minutes
            scenario = Path("bench/out") / f"scenario-{minutes:g}min"
            manifest = build_scenario(minutes, scenario)
            results[f"scenario-{minutes:g}min"] = measure(manifest, published / scenario.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
