"""Live work on a track as its chunks arrive: speech activity advanced step by step over the
acknowledged prefix finds what the whole-track detector finds, never moves what it made final,
and the closed stretches handed to the transcriber cover every spoken second exactly once."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import pytest

from pipeline import live
from pipeline.activity import detect_speech, speech_within
from pipeline.chunks import RATE_HZ, ChunkSpan, pcm_chunks


def _chunks(path: Path, chunk_s: float) -> tuple[list[ChunkSpan], dict[int, bytes]]:
    spans, data = [], {}
    for seq, (position, pcm) in enumerate(
        pcm_chunks(path, chunk_s=chunk_s, timeout_s=60, label="t")
    ):
        spans.append(ChunkSpan(seq, position, len(pcm) // 2, hashlib.sha256(pcm).hexdigest()))
        data[seq] = pcm
    return spans, data


def _live_activity(spans, data, folder: Path, step_s: float):
    """Steps as the live actor runs them: one each ``step_s`` of arrival, then the final one."""
    progress = live.ActivityProgress()
    finals = []
    arrived = 0
    end = spans[-1].end_sample
    while True:
        arrived = min(end, arrived + round(step_s * RATE_HZ))
        known = [s for s in spans if s.end_sample <= arrived] if arrived < end else spans
        chain = live.chain_of(known)
        start = live.activity_region(progress)
        pcm = live.region_pcm(
            known, lambda s: data[s.seq], round(start * RATE_HZ), chain.end_sample
        )
        wav = live.write_wav(folder / "region.wav", pcm)
        found = live.detect_region(wav, start, timeout_s=60, label="t")
        before = progress
        progress = live.advance_activity(progress, found, chain.end_s, final=arrived >= end)
        # What was final stays exactly as it was.
        assert progress.done_s >= before.done_s
        kept = [s for s in progress.segments if s[1] <= before.done_s]
        assert kept == [s for s in before.segments if s[1] <= before.done_s]
        finals.append(progress)
        if arrived >= end:
            return progress, finals


@pytest.fixture(scope="module")
def alice(sample_dir: Path) -> Path:
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    entry = next(p for p in manifest["participants"] if p["id"] == "alice")
    return sample_dir / entry["track"]


def test_live_activity_finds_what_the_whole_track_detector_finds(alice, tmp_path):
    spans, data = _chunks(alice, chunk_s=5.0)
    whole = detect_speech(alice, offset_s=0.0, timeout_s=60)
    progress, steps = _live_activity(spans, data, tmp_path, step_s=20.0)
    assert len(steps) >= 4  # the track arrived in several steps
    assert progress.done_s == pytest.approx(spans[-1].end_sample / RATE_HZ, abs=1e-3)
    live_s = sum(b - a for a, b in progress.segments)
    assert whole.speech_s > 20
    assert live_s == pytest.approx(whole.speech_s, rel=0.05)
    # Every second of speech the whole-track detector found is speech live too (and back).
    covered = sum(speech_within(progress.segments, a, b) for a, b in whole.segments)
    assert covered >= 0.95 * whole.speech_s
    back = sum(speech_within(whole.segments, a, b) for a, b in progress.segments)
    assert back >= 0.95 * live_s


def test_batches_cover_the_speech_once_and_close_at_pauses(alice, tmp_path):
    spans, data = _chunks(alice, chunk_s=5.0)
    _, steps = _live_activity(spans, data, tmp_path, step_s=20.0)
    transcribed_s, batches = 0.0, []
    for n, progress in enumerate(steps):
        final = n == len(steps) - 1
        for batch in live.closed_batches(progress, transcribed_s, final=final):
            # A batch is closed: its speech is final and a long pause follows it.
            assert batch.spans[-1][1] <= progress.done_s
            batches.append(batch)
            transcribed_s = live.transcribed_until(batch, progress, final=final)
    handed = [span for b in batches for span in b.spans]
    assert handed == list(steps[-1].segments)  # each span once, in order, none left out
    assert len(batches) >= 2
    for before, after in itertools.pairwise(batches):
        assert after.spans[0][0] - before.spans[-1][1] >= live.BATCH_PAUSE_S


def test_region_from_chunks_is_the_assembled_track(alice, tmp_path):
    spans, data = _chunks(alice, chunk_s=5.0)
    # A gap: chunk 3 placed two seconds later (the speaker dropped out), as assembly fills it.
    moved = [
        s if s.seq < 3 else ChunkSpan(s.seq, s.start_sample + 2 * RATE_HZ, s.samples, s.sha256)
        for s in spans
    ]
    a, b = 12 * RATE_HZ, 23 * RATE_HZ
    pcm = live.region_pcm(moved, lambda s: data[s.seq], a, b)
    flat = bytearray()
    position = 0
    for s in moved:
        flat += bytes((s.start_sample - position) * 2) + data[s.seq]
        position = s.end_sample
    expected = bytes(flat[a * 2 : b * 2])
    assert pcm == expected
    # At the end the chunks are gone: the same samples come from the assembled track's tail.
    track = live.write_wav(tmp_path / "t.wav", bytes(flat))
    tail = live.write_track_tail(
        track, 10 * RATE_HZ, tmp_path / "tail.wav", timeout_s=60, label="t"
    )
    assert live.wav_region(tail, 10 * RATE_HZ, a, b) == expected


def test_chain_stops_at_a_missing_chunk_and_differs_for_other_audio():
    spans = [ChunkSpan(n, n * 100, 100, f"{n:064x}") for n in range(5)]
    assert live.chain_of(spans).seq == 4
    assert live.chain_of([s for s in spans if s.seq != 2]).seq == 1
    other = [*spans[:4], ChunkSpan(4, 400, 100, "f" * 64)]
    assert live.chain_of(other).fp != live.chain_of(spans).fp
    assert live.extend_chain(live.chain_of(spans[:2]), spans) == live.chain_of(spans)


def test_a_batch_closes_only_at_a_final_pause_of_two_seconds():
    speech = ((0.0, 10.0), (10.5, 20.0), (21.2, 27.0))  # 26.3 s of speech, pauses under 2 s
    # Speech ended 0.5 s before the final point: it may go on, nothing is handed over.
    assert live.closed_batches(live.ActivityProgress(speech, 27.5), 0.0, final=False) == []
    # A final pause of 2 s closes it, as one batch (the short pauses are not cuts).
    (batch,) = live.closed_batches(live.ActivityProgress(speech, 29.0), 0.0, final=False)
    assert batch.spans == speech
    # Short of the speech a batch gathers, it waits even after the pause ...
    assert live.closed_batches(live.ActivityProgress(speech[:1], 29.0), 0.0, final=False) == []
    # ... unless the track ended.
    (last,) = live.closed_batches(live.ActivityProgress(speech[:1], 29.0), 0.0, final=True)
    assert last.spans == speech[:1]
    # Transcribed speech is not handed over again.
    assert live.closed_batches(live.ActivityProgress(speech, 40.0), 28.0, final=True) == []


def test_speech_reaching_the_end_of_what_arrived_stays_open():
    found = [(1.0, 4.0), (6.0, 9.9)]  # the second may go on past 10 s
    progress = live.advance_activity(live.ActivityProgress(), found, 10.0, final=False)
    assert progress.segments == ((1.0, 4.0),) and progress.done_s == 6.0
    # The next step hears it whole and makes it final.
    later = live.advance_activity(progress, [(6.0, 12.5)], 20.0, final=False)
    assert later.segments == ((1.0, 4.0), (6.0, 12.5)) and later.done_s == 18.0
