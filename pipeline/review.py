"""What a moderator hears and reads of a reported moment: a window of the room timeline cut
from one speaker's own track or from a mix of every retained track, and the speaker-attributed
transcript lines around it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.ffmpeg import ALLOWED_DEMUXERS, FFmpegRun, output_path, run_ffmpeg
from pipeline.transcript import Segment

REVIEW_RATE_HZ = 48_000


@dataclass(frozen=True)
class ReviewTrack:
    """A retained track and where its first sample lies on the room timeline."""

    path: Path
    offset_s: float


@dataclass(frozen=True)
class Window:
    start_s: float  # room timeline
    end_s: float

    @classmethod
    def around(cls, start_s: float, end_s: float, pad_s: float, limit_s: float) -> Window:
        """The range widened by ``pad_s`` on each side, kept within 0..``limit_s``."""
        return cls(max(0.0, start_s - pad_s), min(max(limit_s, end_s), end_s + pad_s))

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def excerpt_command(tracks: Sequence[ReviewTrack], window: Window, out: Path) -> list[str]:
    """ffmpeg arguments that render ``window`` of the room timeline from ``tracks`` (one track:
    that speaker alone; several: their unnormalized mix, as the room heard it) as MP3.

    Each input is read only from the window's start (input seeking), delayed where the track
    began inside the window, and the result is cut to the window's exact length.
    """
    parts = []
    for track in tracks:
        seek_s = max(0.0, window.start_s - track.offset_s)
        delay_s = max(0.0, track.offset_s - window.start_s)
        stream = ffmpeg.input(
            f"file:{track.path}",
            ss=f"{seek_s:.3f}",
            t=f"{window.duration_s + 1:.3f}",
            protocol_whitelist="file",
            format_whitelist=ALLOWED_DEMUXERS,
        ).audio
        parts.append(
            stream.filter(
                "aformat", sample_fmts="fltp", sample_rates=REVIEW_RATE_HZ, channel_layouts="mono"
            ).filter("adelay", delays=f"{round(delay_s * REVIEW_RATE_HZ)}S", all=1)
        )
    mixed = (
        parts[0]
        if len(parts) == 1
        else ffmpeg.filter(parts, "amix", inputs=len(parts), duration="longest", normalize=0)
    )
    mixed = mixed.filter("apad").filter("atrim", end=f"{window.duration_s:.3f}")
    output = ffmpeg.output(
        mixed, output_path(out), acodec="libmp3lame", ar=REVIEW_RATE_HZ, ac=1, audio_bitrate="96k"
    )
    return output.compile(cmd=[])


def render_excerpt(
    tracks: Sequence[ReviewTrack], window: Window, out: Path, *, timeout_s: float
) -> FFmpegRun:
    if not tracks:
        raise ValueError("no retained track to play")
    return run_ffmpeg(
        excerpt_command(tracks, window, out),
        timeout_s=timeout_s,
        what=f"rendering {window.start_s:.1f}-{window.end_s:.1f} s for review",
    )


def lines_in(segments: Sequence[Segment], window: Window) -> list[Segment]:
    """Transcript lines that overlap the window, in order of their start."""
    return sorted(
        (s for s in segments if s.end_s > window.start_s and s.start_s < window.end_s),
        key=lambda s: (s.start_s, s.speaker),
    )


def search_lines(segments: Sequence[Segment], query: str, *, limit: int = 200) -> list[Segment]:
    """Lines containing every word of ``query`` (case-insensitive), in order of their start."""
    words = query.lower().split()
    hits = [s for s in segments if all(word in s.text.lower() for word in words)]
    return sorted(hits, key=lambda s: (s.start_s, s.speaker))[:limit]
