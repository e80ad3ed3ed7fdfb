"""Clips: who is audible in a range, whether all of them allow clips, the clip's own audio
(loudness-normalized, with fades), its transcript excerpt, and its audiogram video."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.activity import speech_within
from pipeline.consent import ConsentState
from pipeline.errors import NothingToPublish
from pipeline.ffmpeg import input_args, lavfi_input, output_path, run_ffmpeg
from pipeline.loudness import SILENCE_LUFS, Loudness, integrated_over
from pipeline.master import (
    MP3,
    DeliveryFormat,
    Excerpt,
    LoudnessTarget,
    MasterResult,
    master_episode,
)
from pipeline.transcript import Segment, Word, to_srt

FADE_S = 0.25
AUDIBLE_MIN_S = 0.3  # less speech than this in a range is a breath, not a voice


@dataclass(frozen=True)
class Blocker:
    participant_id: str
    name: str
    reason: str


def audible_in(
    start_s: float,
    end_s: float,
    activity: Mapping[str, Sequence[tuple[float, float]]],
) -> list[str]:
    """Participants whose own track has speech in the range (room timeline), in the order they
    are first heard in it."""
    heard = [
        pid
        for pid, segments in activity.items()
        if speech_within(segments, start_s, end_s) >= AUDIBLE_MIN_S
    ]

    def first_heard(pid: str) -> tuple[float, str]:
        starts = [max(s, start_s) for s, e in activity[pid] if e > start_s and s < end_s]
        return (min(starts, default=end_s), pid)

    return sorted(heard, key=first_heard)


def clip_blockers(
    audible: Sequence[str],
    names: Mapping[str, str],
    published: Sequence[str],
    states: Mapping[str, ConsentState],
    bleeding_unducked: Sequence[str],
) -> list[Blocker]:
    """Why a clip of this range may not be made: each audible speaker without clip consent.

    An excluded speaker counts as audible only where their voice reaches published microphones
    (a bleed finding the mix did not duck).
    """
    blockers = []
    for pid in audible:
        name = names.get(pid, pid)
        state = states.get(pid, ConsentState())
        if pid in published:
            if not state.allows("clip"):
                answer = (
                    "withdrew consent to"
                    if "clip" in state.withdrawn
                    else (
                        "has not consented to"
                        if state.clip is not None
                        else "has not answered whether they consent to"
                    )
                )
                blockers.append(
                    Blocker(
                        pid, name, f"{name} speaks in this range and {answer} appearing in clips"
                    )
                )
        elif pid in bleeding_unducked:
            blockers.append(
                Blocker(
                    pid,
                    name,
                    f"{name} is heard in this range through another microphone and is not "
                    "published",
                )
            )
    return blockers


def excerpt_transcript(segments: Sequence[Segment], start_s: float, end_s: float) -> list[Segment]:
    """The lines spoken within [start, end] (episode timeline), on the clip's own timeline."""
    excerpt = []
    for segment in segments:
        if segment.end_s <= start_s or segment.start_s >= end_s:
            continue
        words = tuple(w for w in segment.words if w.end_s > start_s and w.start_s < end_s)
        if segment.words and not words:
            continue
        text = "".join(w.text for w in words).strip() if words else segment.text
        first = words[0].start_s if words else segment.start_s
        last = words[-1].end_s if words else segment.end_s
        clipped = replace(
            segment,
            start_s=max(first, start_s),
            end_s=min(last, end_s),
            text=text,
            words=tuple(Word(w.start_s, w.end_s, w.text) for w in words),
        )
        excerpt.append(clipped.shifted(-start_s))
    return excerpt


def render_clip(
    mix: Path,
    momentary: list[float],
    start_s: float,
    duration_s: float,
    out_dir: Path,
    *,
    target: LoudnessTarget,
    timeout_s: float,
    formats: Sequence[DeliveryFormat] = (MP3,),
) -> MasterResult:
    """The clip, cut straight from the mix with short fades, as delivered files at the podcast
    loudness target (measured on each file). Its loudness before treatment comes from the mix's
    momentary profile, so no pass over the audio is spent measuring it."""
    integrated = integrated_over(momentary, start_s, start_s + duration_s)
    if integrated <= SILENCE_LUFS:
        raise NothingToPublish("the chosen range is silent")
    return master_episode(
        mix,
        Loudness(integrated, float("-inf"), 0.0),
        out_dir,
        formats=formats,
        target=target,
        timeout_s=timeout_s,
        stem="clip",
        excerpt=Excerpt(start_s, duration_s, FADE_S),
    )


AUDIOGRAM_SIZE = 720
AUDIOGRAM_FPS = 15
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
_CAPTION_STYLE = "FontName=DejaVu Sans,FontSize=16,Alignment=2,MarginV=40"


def render_audiogram(
    audio: Path, captions: Sequence[Segment], title: str, out: Path, *, timeout_s: float
) -> Path:
    """A square MP4 for social networks: the waveform and the transcript burned in as captions."""
    size, fps = AUDIOGRAM_SIZE, AUDIOGRAM_FPS
    with tempfile.TemporaryDirectory(prefix="spacecast-audiogram-") as tmp:
        srt = Path(tmp) / "captions.srt"
        srt.write_text(to_srt(captions), encoding="utf-8")
        burn = f"subtitles={srt}:force_style='{_CAPTION_STYLE}'," if captions else ""
        title_file = Path(tmp) / "title.txt"
        title_file.write_text(title[:60], encoding="utf-8")
        draw_title = (
            f",drawtext=fontfile={_FONT}:textfile={title_file}:expansion=none:fontcolor=white:"
            f"fontsize=34:x=(w-text_w)/2:y=60"
            if Path(_FONT).is_file()
            else ""
        )
        graph = (
            f"[0:a]showwaves=s={size}x{size // 3}:mode=cline:colors=white:rate={fps},"
            "format=rgba[w];"
            f"[1:v][w]overlay=0:(H-h)/2:shortest=1{draw_title},"
            f"{burn}format=yuv420p[v]"
        )
        run_ffmpeg(
            [
                *input_args(audio),
                *lavfi_input(f"color=c=0x1d3557:s={size}x{size}:r={fps}"),
                "-filter_complex",
                graph,
                "-map",
                "[v]",
                "-map",
                "0:a",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-crf",
                "28",
                "-c:a",
                "aac",
                "-b:a",
                "96k",
                "-shortest",
                "-movflags",
                "+faststart",
                output_path(out),
            ],
            timeout_s=timeout_s,
            what="rendering the audiogram",
        )
    return out
