"""Live tracks sent in chunks: raw PCM (signed 16-bit, 48 kHz, mono) placed at a declared sample
position on the participant's track. The rules a chunk must follow, and assembly of the chunks
into one FLAC track through ffmpeg, with silence wherever nothing was sent."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.errors import InvalidTrack
from pipeline.ffmpeg import decoded_pcm, output_path, run_ffmpeg_fed
from pipeline.probe import length_text

RATE_HZ = 48_000
BYTES_PER_SAMPLE = 2
_SILENCE = bytes(1024 * 1024)


class ChunkRefused(InvalidTrack):
    """A chunk breaks the rules (checksum, size, position); nothing of it was stored."""


class ChunkConflict(InvalidTrack):
    """A chunk contradicts chunks already acknowledged (overlap, a different chunk with its
    number, or the track is already assembled)."""


@dataclass(frozen=True)
class ChunkSpan:
    """Where one chunk lies on the track, in samples at :data:`RATE_HZ`."""

    seq: int
    start_sample: int
    samples: int
    sha256: str

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.samples

    @property
    def start_s(self) -> float:
        return self.start_sample / RATE_HZ

    @property
    def duration_s(self) -> float:
        return self.samples / RATE_HZ


def _longest(max_track_s: float) -> tuple[str, int]:
    """The longest track accepted, in words and in samples."""
    return length_text(max_track_s), int(max_track_s * RATE_HZ)


def check_chunk(
    label: str,
    seq: int,
    start_sample: int,
    data: bytes,
    declared_sha256: str,
    max_s: float,
    *,
    max_track_s: float,
) -> ChunkSpan:
    """Validate one received chunk; return its span or raise :class:`ChunkRefused`. A chunk
    must end within the longest track accepted (``max_track_s``): assembly fills the gap before
    it with silence, and no track is longer."""
    where = f"chunk {seq} of {label}"
    if seq < 0 or start_sample < 0:
        raise ChunkRefused(f"{where}: seq and start_sample must be >= 0")
    received = hashlib.sha256(data).hexdigest()
    if received != declared_sha256.lower():
        raise ChunkRefused(
            f"{where}: sha256 mismatch (declared {declared_sha256[:16]}..., received "
            f"{received[:16]}... over {len(data)} bytes); nothing was stored, resend it"
        )
    if not data:
        raise ChunkRefused(f"{where}: the chunk is empty (0 bytes)")
    if len(data) % BYTES_PER_SAMPLE:
        raise ChunkRefused(
            f"{where}: {len(data)} bytes is not a whole number of 16-bit samples "
            "(chunks are raw s16le PCM, 48 kHz mono)"
        )
    samples = len(data) // BYTES_PER_SAMPLE
    if samples > max_s * RATE_HZ:
        raise ChunkRefused(
            f"{where}: {samples / RATE_HZ:.1f} s of audio is longer than the {max_s:.0f} s a "
            "chunk may hold; send shorter chunks"
        )
    longest, longest_samples = _longest(max_track_s)
    if start_sample + samples > longest_samples:
        raise ChunkRefused(
            f"{where}: it would end at sample {start_sample + samples}, past the longest track "
            f"accepted ({longest}, {longest_samples} samples); nothing was stored"
        )
    return ChunkSpan(seq, start_sample, samples, received)


def check_chunk_count(label: str, count: int, max_track_s: float) -> None:
    """Refuse a declared number of chunks no track within the limit could hold."""
    longest, longest_samples = _longest(max_track_s)
    if count > longest_samples:
        raise ChunkRefused(
            f"{count} chunks declared for {label}: a track may last at most {longest} "
            f"({longest_samples} samples), and every chunk holds at least one sample"
        )


def check_placement(label: str, new: ChunkSpan, acknowledged: Iterable[ChunkSpan]) -> None:
    """Chunks follow time in sequence order and never overlap: raise :class:`ChunkConflict`
    when ``new`` would break that. Gaps are allowed (silence at assembly)."""
    where = f"chunk {new.seq} of {label}"
    for other in acknowledged:
        if other.seq < new.seq and other.end_sample > new.start_sample:
            raise ChunkConflict(
                f"{where} starts at sample {new.start_sample} ({new.start_s:.3f} s), before "
                f"chunk {other.seq} ends at sample {other.end_sample} "
                f"({other.end_sample / RATE_HZ:.3f} s): chunks may not overlap and must follow "
                "time in sequence order"
            )
        if other.seq > new.seq and other.start_sample < new.end_sample:
            raise ChunkConflict(
                f"{where} ends at sample {new.end_sample} ({new.end_sample / RATE_HZ:.3f} s), "
                f"after chunk {other.seq} starts at sample {other.start_sample}: chunks may not "
                "overlap and must follow time in sequence order"
            )


def missing_chunks(spans: Iterable[ChunkSpan], count: int) -> list[tuple[int, int]]:
    """Ranges (first, last) of sequence numbers below ``count`` that were never acknowledged,
    found from the acknowledged chunks alone, so the work does not grow with ``count``."""
    missing: list[tuple[int, int]] = []
    expected = 0
    for seq in sorted({s.seq for s in spans if s.seq < count}):
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    if expected < count:
        missing.append((expected, count - 1))
    return missing


def stream_sha256(chunks: Iterable[bytes]) -> str:
    """The checksum of a chunked track: SHA-256 of every chunk's bytes in sequence order."""
    digest = hashlib.sha256()
    for data in chunks:
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class AssembledTrack:
    path: Path
    samples: int  # the track's length, silence included
    chunks_sha256: str  # SHA-256 of the chunks' bytes in sequence order, as read back
    silence_samples: int  # gaps filled with silence


def assemble_track(
    spans: list[ChunkSpan],
    read: Callable[[ChunkSpan], Iterable[bytes]],
    out: Path,
    *,
    label: str,
    timeout_s: float,
) -> AssembledTrack:
    """Write the chunks, in sequence order, at their sample positions into ``out`` (FLAC),
    streaming each through ffmpeg as ``read`` yields it, so memory does not grow with the
    track. Each chunk is checked against its recorded checksum while it passes."""
    ordered = sorted(spans, key=lambda s: s.seq)
    digest = hashlib.sha256()
    position = 0
    silence = 0

    def _feed(stdin: IO[bytes]) -> None:
        nonlocal position, silence
        for span in ordered:
            gap = (span.start_sample - position) * BYTES_PER_SAMPLE
            if gap < 0:
                raise ChunkConflict(f"chunk {span.seq} of {label} overlaps the chunk before it")
            silence += gap // BYTES_PER_SAMPLE
            while gap > 0:
                block = _SILENCE[: min(gap, len(_SILENCE))]
                stdin.write(block)
                gap -= len(block)
            chunk_digest = hashlib.sha256()
            size = 0
            for data in read(span):
                chunk_digest.update(data)
                digest.update(data)
                size += len(data)
                stdin.write(data)
            if chunk_digest.hexdigest() != span.sha256 or size != span.samples * BYTES_PER_SAMPLE:
                raise InvalidTrack(
                    f"chunk {span.seq} of {label}: the stored chunk does not match the checksum "
                    "recorded when it was acknowledged"
                )
            position = span.end_sample

    run_ffmpeg_fed(
        [
            *("-f", "s16le", "-ar", str(RATE_HZ), "-ac", "1", "-i", "pipe:0"),
            *("-c:a", "flac", "-f", "flac", output_path(out)),
        ],
        _feed,
        timeout_s=timeout_s,
        what=f"assembling the track of {label}",
    )
    return AssembledTrack(out, position, digest.hexdigest(), silence)


def pcm_chunks(
    path: Path, *, chunk_s: float, timeout_s: float, label: str
) -> Iterator[tuple[int, bytes]]:
    """Decode an audio file to 48 kHz mono s16le and cut it in chunks of ``chunk_s`` seconds;
    yield (sample position in the file, bytes). What a recorder sends."""
    size = int(chunk_s * RATE_HZ) * BYTES_PER_SAMPLE
    position = 0
    with decoded_pcm(path, rate_hz=RATE_HZ, what=label, timeout_s=timeout_s) as pcm:
        while True:
            data = pcm.read(size)
            if not data:
                break
            while len(data) < size:  # a pipe may return short reads before the end
                more = pcm.read(size - len(data))
                if not more:
                    break
                data += more
            yield position, data
            position += len(data) // BYTES_PER_SAMPLE
