"""Transcript quality against a known script: word error rate and speaker attribution."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.transcript import Segment

_WORD = re.compile(r"(?:[^\W_]|')+")  # letters and digits of any script, and apostrophes
# Spellings Whisper and a script may legitimately differ on.
_EQUIVALENT = {"neighborhood": "neighbourhood", "honor": "honour", "color": "colour"}


def normalize_words(text: str) -> list[str]:
    """Lower-case words without accents (``Été`` and ``ete`` are one word), hyphens splitting."""
    folded = "".join(
        ch
        for ch in unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
        if not unicodedata.combining(ch)
    )
    words = _WORD.findall(folded.replace("-", " "))
    return [_EQUIVALENT.get(w.strip("'"), w.strip("'")) for w in words if w.strip("'")]


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning ``reference`` into ``hypothesis``."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, after normalization."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return word_errors(ref, hyp) / len(ref)


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


def timed_word_error_rate(
    script: Sequence[ScriptLine], segments: Sequence[Segment], *, window_s: float = 300.0
) -> tuple[float, int, int]:
    """Word error rate of a long transcript against its script: (rate, errors, reference words).

    Aligning hours of words at once costs time quadratic in their number, so the timeline is cut
    into windows of about ``window_s`` at the middle of a pause between script lines, and each
    segment's words are counted in the window holding the segment's midpoint.
    """
    lines = sorted(script, key=lambda line: line.start_s)
    if not lines:
        return (0.0 if not segments else 1.0), 0, 0
    cuts: list[float] = []
    window_start = lines[0].start_s
    for before, after in itertools.pairwise(lines):
        if after.start_s - window_start >= window_s and after.start_s >= before.end_s:
            cuts.append((before.end_s + after.start_s) / 2)
            window_start = after.start_s
    bounds = [float("-inf"), *cuts, float("inf")]
    windows = list(itertools.pairwise(bounds))

    def _window(t: float) -> int:
        return next(i for i, (a, b) in enumerate(windows) if a <= t < b)

    references: list[list[str]] = [[] for _ in windows]
    hypotheses: list[list[str]] = [[] for _ in windows]
    for line in lines:
        references[_window((line.start_s + line.end_s) / 2)] += normalize_words(line.text)
    for segment in sorted(segments, key=lambda s: s.start_s):
        hypotheses[_window((segment.start_s + segment.end_s) / 2)] += normalize_words(segment.text)
    errors = sum(word_errors(r, h) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(r) for r in references)
    return errors / max(total, 1), errors, total
