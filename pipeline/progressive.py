"""Progressive MP3: a long master encoded segment by segment, as the segments become ready, and
spliced at frame boundaries into one stream that decodes as the whole encode does.

The delivered MP3 is 44.1 kHz dual mono (``pipeline.master.MP3``), CBR, encoded without LAME's
bit reservoir (``-reservoir 0``), so every frame's bits are its own and frames of different
encodes can follow each other. Each segment is encoded with a pre-roll and a post-roll of one
unit around it and only its own frames are kept: the encoder's filterbank and psychoacoustic
state have settled by the segment's first frame, so the decoder's overlap with the frame before
the join is (nearly) the one the whole encode gives. Measured in
``tests/pipeline/test_progressive.py``: without pre-roll a join clicks (error at the join 3x the
error elsewhere), with one unit of pre-roll it is no worse than anywhere else.

Segment bounds are whole units of :data:`UNIT_SAMPLES` at 48 kHz, 1.28 s: 49 MP3 frames at
44.1 kHz and 64 Opus frames of 20 ms, so a bound is exact in every rate the master uses.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.ffmpeg import input_args, output_path, run_ffmpeg

SOURCE_RATE_HZ = 48_000
MP3_RATE_HZ = 44_100
MP3_FRAME_SAMPLES = 1152
UNIT_SAMPLES = 61_440  # at 48 kHz: 1.28 s = 49 MP3 frames at 44.1 kHz = 64 Opus frames
UNIT_FRAMES = 49
ROLL_UNITS = 1  # pre-roll and post-roll around each segment
_BITRATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


def mp3_frames(data: bytes) -> list[bytes]:
    """The MPEG-1 Layer III frames of a raw stream (no ID3 tag, no Xing header), in order."""
    frames = []
    i = 0
    while i + 4 <= len(data):
        header = int.from_bytes(data[i : i + 4], "big")
        if header >> 21 != 0x7FF or (header >> 19) & 3 != 3 or (header >> 17) & 3 != 1:
            raise ValueError(f"not an MPEG-1 Layer III frame at byte {i}")
        bitrate = _BITRATES_KBPS[(header >> 12) & 15] * 1000
        rate = (44_100, 48_000, 32_000)[(header >> 10) & 3]
        size = 144 * bitrate // rate + ((header >> 9) & 1)
        frames.append(data[i : i + size])
        i += size
    return frames


def roll_region(start_unit: int, end_unit: int, total_units: int) -> tuple[int, int]:
    """The units a segment's encode hears: one before and one after it, within the track."""
    return max(0, start_unit - ROLL_UNITS), min(total_units, end_unit + ROLL_UNITS)


def encode_segment(
    region: Path,
    *,
    region_start_unit: int,
    start_unit: int,
    end_unit: int,
    last: bool,
    bitrate: str,
    timeout_s: float,
) -> bytes:
    """The MP3 frames of units ``[start_unit, end_unit)`` of a master, from ``region``: the
    master's 48 kHz mono samples from unit ``region_start_unit`` on (see :func:`roll_region`).
    The last segment keeps the encoder's closing frames."""
    out = region.with_suffix(".segment.mp3")
    run_ffmpeg(
        [
            *input_args(region),
            # Dual mono as the master makes it (``-ac 2`` would take 3 dB off each channel).
            *("-af", "channelmap=map=0|0:channel_layout=stereo", "-ar", str(MP3_RATE_HZ)),
            *("-c:a", "libmp3lame", "-b:a", bitrate, "-compression_level", "5"),
            *("-reservoir", "0", "-write_xing", "0", "-id3v2_version", "0"),
            *("-f", "mp3", output_path(out)),
        ],
        timeout_s=timeout_s,
        what=f"MP3 segment of units {start_unit}-{end_unit}",
    )
    frames = mp3_frames(out.read_bytes())
    out.unlink()
    first = (start_unit - region_start_unit) * UNIT_FRAMES
    count = (end_unit - start_unit) * UNIT_FRAMES
    return b"".join(frames[first:] if last else frames[first : first + count])
