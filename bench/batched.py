"""faster-whisper's BatchedInferencePipeline against the service's sequential decode, on the
benchmark scenario's speaker tracks: CPU seconds and word error of each.

    .venv/bin/python -m bench.batched --minutes 10            # 4 x 10 min, batch 8, beam 5

Both hear the same audio: each track's speech spans as the activity stage finds them, padded
and joined as the service does (``pipeline.transcribe.speech_chunks``). The sequential side is
the service's own ``transcribe_track`` (beam 5, word timestamps, one thread); the batched side
groups the same speech into clips of at most 30 s and decodes ``--batch`` clips at a time (beam
5, word timestamps, one thread); its segments are split where the words pause, as the service
splits its own. Word error is scored against the script per speaker as
``bench.space`` scores the published transcript. The track is decoded whole into memory here
(a benchmark of a few minutes of audio), never in the service.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.scenario import build_scenario
from pipeline.activity import detect_speech
from pipeline.ffmpeg import decoded_pcm
from pipeline.quality import ScriptLine, timed_word_error_rate
from pipeline.transcribe import (
    SAMPLE_RATE_HZ,
    WhisperSettings,
    load_model,
    speech_chunks,
    split_at_pauses,
    transcribe_track,
)
from pipeline.transcript import Segment, Word

CLIP_S = 30.0


def _say(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def _clips(chunks: list[dict[str, int]]) -> list[dict[str, float]]:
    """Clips of the joined speech (seconds of the concatenated audio), at most 30 s each, cut
    between speech chunks where possible."""
    clips: list[list[float]] = []
    at = 0.0
    for chunk in chunks:
        length = (chunk["end"] - chunk["start"]) / SAMPLE_RATE_HZ
        while length > 0:
            piece = min(length, CLIP_S)
            if clips and at + piece - clips[-1][0] <= CLIP_S:
                clips[-1][1] = at + piece
            else:
                clips.append([at, at + piece])
            at += piece
            length -= piece
    return [{"start": a, "end": b} for a, b in clips]


def transcribe_batched(
    path: Path, speech: list[tuple[float, float]], offset_s: float, settings: WhisperSettings,
    batch_size: int, speaker_id: str,
) -> tuple[list[Segment], float]:  # fmt: skip
    from faster_whisper import BatchedInferencePipeline
    from faster_whisper.transcribe import restore_speech_timestamps

    with decoded_pcm(path, rate_hz=SAMPLE_RATE_HZ, what=path.name, timeout_s=3600) as pcm:
        audio = np.frombuffer(pcm.read(), dtype=np.int16)
    spans = speech_chunks(speech, 0, len(audio))
    joined = np.concatenate([audio[c["start"] : c["end"]] for c in spans]).astype(np.float32)
    clips = _clips(spans)
    pipeline = BatchedInferencePipeline(load_model(settings))
    cpu = time.process_time()
    pieces, _ = pipeline.transcribe(
        joined / 32768.0,
        language="en",
        beam_size=settings.beam_size,
        word_timestamps=True,
        vad_filter=False,
        clip_timestamps=clips,
        batch_size=batch_size,
    )
    pieces = list(restore_speech_timestamps(pieces, spans, SAMPLE_RATE_HZ))
    cpu_s = time.process_time() - cpu
    segments = []
    for piece in pieces:  # one segment per stretch of speech, as transcribe_track makes them
        words = [Word(offset_s + w.start, offset_s + w.end, w.word) for w in (piece.words or [])]
        for run in split_at_pauses(words):
            text = "".join(w.text for w in run).strip()
            if text:
                segments.append(
                    Segment(speaker_id, speaker_id, run[0].start_s, run[-1].end_s, text)
                )
    return segments, cpu_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", default="bench/out")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    scenario = build_scenario(args.minutes, out / f"scenario-{args.minutes:g}min").parent
    truth = json.loads((scenario / "truth.json").read_text())
    manifest = json.loads((scenario / "manifest.json").read_text())
    settings = WhisperSettings(model="tiny.en", cpu_threads=1, beam_size=5)
    rows = []
    totals = {"sequential": [0, 0, 0.0], "batched": [0, 0, 0.0]}
    for participant in manifest["participants"]:
        sid, offset = participant["id"], participant["offset"]
        track = scenario / participant["track"]
        script = [
            ScriptLine(u["speaker_id"], u["text"], u["start_s"], u["end_s"])
            for u in truth["utterances"]
            if u["speaker_id"] == sid
        ]
        speech = detect_speech(track, offset_s=0.0, timeout_s=3600).segments
        _say(f"{sid}: sequential")
        cpu = time.process_time()
        sequential = transcribe_track(
            track, speaker_id=sid, speaker=sid, offset_s=offset, language="en",
            settings=replace(settings), timeout_s=3600, speech=speech,
        ).segments  # fmt: skip
        sequential_cpu = time.process_time() - cpu
        _say(f"{sid}: batched, {args.batch} clips at a time")
        batched, batched_cpu = transcribe_batched(
            track, list(speech), offset, settings, args.batch, sid
        )
        row = {"speaker": sid, "speech_s": round(sum(b - a for a, b in speech), 1)}
        for name, segments, cpu_s in (
            ("sequential", sequential, sequential_cpu),
            ("batched", batched, batched_cpu),
        ):
            wer, errors, words = timed_word_error_rate(script, segments)
            row[name] = {"cpu_s": round(cpu_s, 1), "wer": round(wer, 4)}
            totals[name][0] += errors
            totals[name][1] += words
            totals[name][2] += cpu_s
        rows.append(row)
        _say(json.dumps(row))
    summary = {
        name: {"cpu_s": round(cpu, 1), "wer": round(errors / max(words, 1), 4), "words": words}
        for name, (errors, words, cpu) in totals.items()
    }
    report = {"minutes": args.minutes, "batch": args.batch, "tracks": rows, "total": summary}
    (out / f"batched-{args.minutes:g}min.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["total"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
