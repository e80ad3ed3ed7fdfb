"""Speaker-attributed transcripts on the episode timeline, and their published formats:
Podcasting 2.0 JSON, WebVTT with voice spans, and SRT."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

JSON_MIME = "application/json"
VTT_MIME = "text/vtt"
SRT_MIME = "application/x-subrip"


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True)
class Segment:
    """One stretch of one speaker's speech."""

    speaker_id: str
    speaker: str
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = field(default=())

    def shifted(self, by_s: float) -> Segment:
        return replace(
            self,
            start_s=self.start_s + by_s,
            end_s=self.end_s + by_s,
            words=tuple(Word(w.start_s + by_s, w.end_s + by_s, w.text) for w in self.words),
        )


def segments_to_data(segments: Iterable[Segment]) -> list[dict]:
    """Plain data for storage between stages (round-trips with :func:`segments_from_data`)."""
    return [asdict(segment) for segment in segments]


def segments_from_data(data: Iterable[dict]) -> list[Segment]:
    return [
        Segment(
            speaker_id=item["speaker_id"],
            speaker=item["speaker"],
            start_s=float(item["start_s"]),
            end_s=float(item["end_s"]),
            text=item["text"],
            words=tuple(
                Word(float(w["start_s"]), float(w["end_s"]), w["text"]) for w in item["words"]
            ),
        )
        for item in data
    ]


def merge_transcripts(
    per_speaker: Iterable[Sequence[Segment]], *, shift_s: float = 0.0
) -> list[Segment]:
    """One transcript in time order from each speaker's own, moved by ``shift_s`` seconds."""
    merged = [segment.shifted(shift_s) for segments in per_speaker for segment in segments]
    merged.sort(key=lambda s: (s.start_s, s.end_s, s.speaker_id))
    return merged


def split_for_captions(
    segments: Sequence[Segment], *, max_chars: int = 84, max_s: float = 7.0
) -> list[Segment]:
    """Cut long segments into caption-sized cues of about equal length at word boundaries."""
    cues: list[Segment] = []
    for segment in segments:
        duration = segment.end_s - segment.start_s
        parts = max(math.ceil(len(segment.text) / max_chars), math.ceil(duration / max_s))
        words = segment.words
        if parts <= 1 or len(words) < 2:
            cues.append(segment)
            continue
        parts = min(parts, len(words))
        per_part = math.ceil(len(words) / parts)
        for first in range(0, len(words), per_part):
            cues.append(_cue_from_words(segment, words[first : first + per_part]))
    return cues


def _cue_from_words(segment: Segment, words: Sequence[Word]) -> Segment:
    return replace(
        segment,
        start_s=words[0].start_s,
        end_s=words[-1].end_s,
        text="".join(w.text for w in words).strip(),
        words=tuple(words),
    )


def to_podcast_json(segments: Sequence[Segment]) -> dict:
    """The Podcasting 2.0 JSON transcript (version 1.0.0): one entry per segment."""
    return {
        "version": "1.0.0",
        "segments": [
            {
                "speaker": s.speaker,
                "startTime": round(s.start_s, 3),
                "endTime": round(s.end_s, 3),
                "body": s.text,
            }
            for s in segments
        ],
    }


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(segments: Sequence[Segment]) -> str:
    """WebVTT captions; each cue names its speaker in a ``<v>`` voice span."""
    lines = ["WEBVTT", ""]
    for index, cue in enumerate(split_for_captions(segments), start=1):
        # Cue text must not contain "-->" and voice annotations must not contain ">".
        body = _vtt_escape(cue.text.replace("-->", "->"))
        lines += [
            str(index),
            f"{_timestamp(cue.start_s, '.')} --> {_timestamp(cue.end_s, '.')}",
            f"<v {_vtt_escape(cue.speaker)}>{body}</v>",
            "",
        ]
    return "\n".join(lines)


def to_srt(segments: Sequence[Segment]) -> str:
    """SRT captions; SRT has no voice tag, so each cue starts with the speaker's name."""
    blocks = []
    for index, cue in enumerate(split_for_captions(segments), start=1):
        blocks.append(
            f"{index}\n{_timestamp(cue.start_s, ',')} --> {_timestamp(cue.end_s, ',')}\n"
            f"{cue.speaker}: {cue.text}\n"
        )
    return "\n".join(blocks)
