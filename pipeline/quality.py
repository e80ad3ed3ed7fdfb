"""Transcript quality against a known script: word error rate and speaker attribution."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.transcript import Segment

_WORD = re.compile(r"[a-z0-9']+")
# Spellings Whisper and a script may legitimately differ on.
_EQUIVALENT = {"neighborhood": "neighbourhood", "honor": "honour", "color": "colour"}


def normalize_words(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("-", " "))
    return [_EQUIVALENT.get(w.strip("'"), w.strip("'")) for w in words if w.strip("'")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, after normalization."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1] / len(ref)


@dataclass(frozen=True)
class ScriptLine:
    """One known utterance: who said it and when, on the same timeline as the transcript."""

    speaker_id: str
    text: str
    start_s: float
    end_s: float


def speaker_attribution(segments: Sequence[Segment], script: Sequence[ScriptLine]) -> float:
    """Share of transcript words attributed to the speaker who really spoke at that moment.

    Each segment is matched to the script line it overlaps most in time; segments that overlap
    no line count as wrong.
    """
    total = correct = 0
    for segment in segments:
        words = len(normalize_words(segment.text))
        if not words:
            continue
        total += words
        best, best_overlap = None, 0.0
        for line in script:
            overlap = min(segment.end_s, line.end_s) - max(segment.start_s, line.start_s)
            if overlap > best_overlap:
                best, best_overlap = line, overlap
        if best is not None and best.speaker_id == segment.speaker_id:
            correct += words
    return correct / total if total else 0.0
