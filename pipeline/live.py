"""Work on a live track while the room is live: the chain of acknowledged chunks a result was
computed from, speech activity advanced over the contiguous acknowledged prefix (what is final
so far, what may still go on), and the closed stretches of speech ready to be transcribed.

Pure logic and audio through ffmpeg: the detector and the transcriber are those of
``pipeline.activity`` and ``pipeline.transcribe``, run on a region of the track written to a
small WAV file, so live results are made by the same code as the whole-track ones.
"""

from __future__ import annotations

import hashlib
import wave
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.activity import detect_speech, merge_segments
from pipeline.chunks import BYTES_PER_SAMPLE, RATE_HZ, ChunkSpan
from pipeline.ffmpeg import decoded_pcm
from pipeline.transcribe import SPEECH_JOIN_S, SPEECH_PAD_S, WhisperSettings, transcribe_track
from pipeline.transcript import Segment

# Bump when live results for the same chunks change (so older ones are never adopted).
LIVE_VERSION = 1
CONTEXT_S = 5.0  # audio before the final point the detector hears again
HOLD_S = 2.0  # speech this close to the end of what arrived may still go on
MAX_OPEN_S = 120.0  # a stretch the detector never closes is cut here
STEP_S = 30.0  # new audio that makes a live step worth running
BATCH_SPEECH_S = 25.0  # speech gathered before a transcription (one Whisper window's worth)
BATCH_PAUSE_S = SPEECH_JOIN_S  # a pause this long closes a stretch of speech
REGION_PAD_S = SPEECH_PAD_S + 0.1  # audio kept around the speech handed to Whisper


def chain_step(fp: str, span: ChunkSpan) -> str:
    """The chain's fingerprint once ``span`` follows the chunks fingerprinted ``fp``."""
    text = f"{fp}|{span.seq}|{span.start_sample}|{span.samples}|{span.sha256}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Chain:
    """The contiguous prefix of chunks 0..``seq`` (every number acknowledged)."""

    seq: int = -1
    fp: str = ""
    end_sample: int = 0

    @property
    def end_s(self) -> float:
        return self.end_sample / RATE_HZ


def extend_chain(chain: Chain, spans: Iterable[ChunkSpan]) -> Chain:
    """``chain`` extended by the chunks that follow it without a missing number."""
    by_seq = {s.seq: s for s in spans}
    seq, fp, end = chain.seq, chain.fp, chain.end_sample
    while (span := by_seq.get(seq + 1)) is not None:
        seq, fp, end = span.seq, chain_step(fp, span), span.end_sample
    return Chain(seq, fp, end)


def chain_of(spans: Iterable[ChunkSpan]) -> Chain:
    return extend_chain(Chain(), spans)


def region_pcm(
    spans: Sequence[ChunkSpan],
    read: Callable[[ChunkSpan], bytes],
    start_sample: int,
    end_sample: int,
) -> bytes:
    """The track's samples ``[start_sample, end_sample)`` from its chunks, silence where none
    was sent (as assembly fills it)."""
    out = bytearray((end_sample - start_sample) * BYTES_PER_SAMPLE)
    for span in spans:
        a, b = max(span.start_sample, start_sample), min(span.end_sample, end_sample)
        if b <= a:
            continue
        data = read(span)
        src = (a - span.start_sample) * BYTES_PER_SAMPLE
        dst = (a - start_sample) * BYTES_PER_SAMPLE
        out[dst : dst + (b - a) * BYTES_PER_SAMPLE] = data[src : src + (b - a) * BYTES_PER_SAMPLE]
    return bytes(out)


def write_track_tail(
    track: Path, start_sample: int, out: Path, *, timeout_s: float, label: str
) -> Path:
    """The samples of an assembled track from ``start_sample`` to its end, as a WAV file,
    streamed (memory stays flat however long the tail): regions are then read from it."""
    skip = start_sample * BYTES_PER_SAMPLE
    with (
        decoded_pcm(
            track, rate_hz=RATE_HZ, what=f"live tail of {label}", timeout_s=timeout_s
        ) as pcm,
        wave.open(str(out), "wb") as sink,
    ):
        sink.setnchannels(1)
        sink.setsampwidth(BYTES_PER_SAMPLE)
        sink.setframerate(RATE_HZ)
        while data := pcm.read(1 << 20):
            if skip >= len(data):
                skip -= len(data)
                continue
            sink.writeframes(data[skip:])
            skip = 0
    return out


def wav_region(path: Path, base_sample: int, start_sample: int, end_sample: int) -> bytes:
    """Samples ``[start_sample, end_sample)`` of a track from a WAV holding it from
    ``base_sample`` on (silence past its end)."""
    if start_sample < base_sample:
        raise ValueError(f"sample {start_sample} is before the tail's start ({base_sample})")
    with wave.open(str(path), "rb") as source:
        source.setpos(min(source.getnframes(), start_sample - base_sample))
        data = source.readframes(end_sample - start_sample)
    return data.ljust((end_sample - start_sample) * BYTES_PER_SAMPLE, b"\0")


def write_wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(BYTES_PER_SAMPLE)
        out.setframerate(RATE_HZ)
        out.writeframes(pcm)
    return path


@dataclass(frozen=True)
class ActivityProgress:
    """Speech found so far on the track (seconds of the track), final before ``done_s``."""

    segments: tuple[tuple[float, float], ...] = ()
    done_s: float = 0.0


def activity_region(progress: ActivityProgress) -> float:
    """Where the next step's detector starts hearing (context before the final point)."""
    return max(0.0, progress.done_s - CONTEXT_S)


def advance_activity(
    progress: ActivityProgress,
    found: Iterable[tuple[float, float]],
    end_s: float,
    *,
    final: bool,
) -> ActivityProgress:
    """Fold what the detector found over ``[activity_region(progress), end_s)`` into
    ``progress``. Speech that reaches to within :data:`HOLD_S` of ``end_s`` may still go on:
    it stays open (the final point stops at its start) unless ``final`` (the track ended) or it
    has been open for :data:`MAX_OPEN_S`."""
    found = sorted((a, b) for a, b in found if b > progress.done_s)
    done = end_s if final else max(progress.done_s, end_s - HOLD_S)
    if not final:
        for a, b in found:
            if b >= done:
                if done - max(a, progress.done_s) < MAX_OPEN_S:
                    done = max(progress.done_s, min(done, a))
                break
    new = []
    for a, b in found:
        if a >= done:
            break
        new.append((max(a, progress.done_s), min(b, done)))
    merged = merge_segments([*progress.segments, *new], gap_s=0.05)
    return ActivityProgress(tuple((round(a, 3), round(b, 3)) for a, b in merged), round(done, 3))


def detect_region(path: Path, region_start_s: float, *, timeout_s: float, label: str):
    """Speech in a region written to ``path``, in seconds of the track."""
    return detect_speech(path, offset_s=region_start_s, timeout_s=timeout_s, label=label).segments


@dataclass(frozen=True)
class Batch:
    """A closed stretch of speech to transcribe: its spans (track seconds) and the region of
    the track that holds them with some padding."""

    spans: tuple[tuple[float, float], ...]

    @property
    def start_s(self) -> float:
        return max(0.0, self.spans[0][0] - REGION_PAD_S)

    @property
    def end_s(self) -> float:
        return self.spans[-1][1] + REGION_PAD_S


def closed_batches(progress: ActivityProgress, transcribed_s: float, *, final: bool) -> list[Batch]:
    """Speech after ``transcribed_s`` ready to transcribe: gathered until it holds
    :data:`BATCH_SPEECH_S` and a pause of :data:`BATCH_PAUSE_S` that is final closes it (so the
    transcriber never joins across the cut, see ``pipeline.transcribe.speech_chunks``); at the
    end (``final``) whatever is left."""
    pending = [(a, b) for a, b in progress.segments if a >= transcribed_s]
    batches: list[Batch] = []
    current: list[tuple[float, float]] = []
    for n, (a, b) in enumerate(pending):
        current.append((a, b))
        following = pending[n + 1][0] if n + 1 < len(pending) else progress.done_s
        closed = following - b >= BATCH_PAUSE_S and b + BATCH_PAUSE_S <= progress.done_s
        if closed and sum(y - x for x, y in current) >= BATCH_SPEECH_S:
            batches.append(Batch(tuple(current)))
            current = []
    if final and current:
        batches.append(Batch(tuple(current)))
    return batches


def transcribed_until(batch: Batch, progress: ActivityProgress, *, final: bool) -> float:
    """The track second up to which speech is transcribed once ``batch`` is."""
    return progress.done_s if final else batch.spans[-1][1] + BATCH_PAUSE_S / 2


def transcribe_batch(
    path: Path,
    batch: Batch,
    *,
    speaker_id: str,
    speaker: str,
    offset_s: float,
    language: str,
    settings: WhisperSettings,
    timeout_s: float,
) -> tuple[list[Segment], float]:
    """Segments of one batch, written to ``path`` as the region ``batch.start_s..end_s``, on
    the room timeline (the track starts at ``offset_s``); and the CPU seconds it took."""
    result = transcribe_track(
        path,
        speaker_id=speaker_id,
        speaker=speaker,
        offset_s=offset_s + batch.start_s,
        language=language,
        settings=settings,
        timeout_s=timeout_s,
        speech=[(a - batch.start_s, b - batch.start_s) for a, b in batch.spans],
    )
    return result.segments, result.cpu_s
