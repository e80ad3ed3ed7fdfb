"""Speaker-attributed transcripts on the episode timeline, cut into sentences, and their
published formats: Podcasting 2.0 JSON (a segment per sentence), WebVTT with voice spans and SRT
(sentences cut into caption cues)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise

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
    """One transcript in time order from each speaker's own, moved by ``shift_s`` seconds, in
    sentences (see :func:`into_sentences`)."""
    merged = [segment.shifted(shift_s) for segments in per_speaker for segment in segments]
    merged.sort(key=_time_order)
    return into_sentences(merged)


def _time_order(segment: Segment) -> tuple[float, float, str]:
    return (segment.start_s, segment.end_s, segment.speaker_id)


# Sentence ends: . ! ? … and the ideographic, Arabic and Devanagari ones; closing quotes and
# brackets may follow. A title before a name is not an end ("Dr. Okafor").
_SENTENCE_STOPS = ".!?\u2026\u3002\uff01\uff1f\u061f\u0964"
_CLOSING = "\"')]\u201d\u2019\u00bb"
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.",
                            "e.g.", "i.e.", "mt."})  # fmt: skip
# A stretch without any sentence end (a model that does not punctuate) is cut at its longest
# pauses until no line is longer than this.
MAX_SENTENCE_S = 30.0


def ends_sentence(word: str, following: str | None = None) -> bool:
    """Whether ``word`` ends a sentence, given the word that follows it (None: nothing does).
    A following word in lower case continues the sentence ("Well... maybe")."""
    bare = word.strip().rstrip(_CLOSING)
    if not bare or bare[-1] not in _SENTENCE_STOPS:
        return False
    if following is None:
        return True
    if bare.lower().lstrip(_CLOSING + "(\u201c\u2018\u00ab") in _ABBREVIATIONS:
        return False
    first = following.strip().lstrip(_CLOSING + "(\u201c\u2018\u00ab\u00bf\u00a1")[:1]
    return not first.islower()


@dataclass(frozen=True)
class _Token:
    """A word, or the whole text of a segment that has no word timings (``timed`` False)."""

    word: Word
    timed: bool


def into_sentences(segments: Sequence[Segment]) -> list[Segment]:
    """The transcript re-cut so each segment is one sentence of one speaker.

    ``segments`` are in time order. Consecutive segments of one speaker (no one else's segment
    starts between them: one turn) are joined, whatever pause or Whisper window separated them,
    and cut after every word that ends a sentence; a turn is never joined across another
    speaker's, so a sentence someone interrupts ends at the interruption. Each word keeps its own
    times; a segment starts at its first word and ends at its last.
    """
    sentences: list[Segment] = []
    turn: list[Segment] = []
    for segment in [*segments, None]:
        if turn and (segment is None or segment.speaker_id != turn[0].speaker_id):
            sentences.extend(_turn_sentences(turn))
            turn = []
        if segment is not None:
            turn.append(segment)
    sentences.sort(key=_time_order)
    return sentences


def _turn_sentences(turn: Sequence[Segment]) -> list[Segment]:
    tokens = [
        _Token(word, True) if segment.words else _Token(_whole(segment), False)
        for segment in turn
        for word in (segment.words or (None,))
    ]
    pieces: list[list[_Token]] = [[]]
    for index, token in enumerate(tokens):
        pieces[-1].append(token)
        following = tokens[index + 1].word.text if index + 1 < len(tokens) else None
        if following is not None and ends_sentence(token.word.text, following):
            pieces.append([])
    first = turn[0]
    return [
        Segment(
            speaker_id=first.speaker_id,
            speaker=first.speaker,
            start_s=part[0].word.start_s,
            end_s=part[-1].word.end_s,
            text="".join(t.word.text for t in part).strip(),
            words=tuple(t.word for t in part if t.timed),
        )
        for piece in pieces
        if piece
        for part in _within_length(piece)
    ]


def _whole(segment: Segment) -> Word:
    return Word(segment.start_s, segment.end_s, " " + segment.text.strip())


def _within_length(tokens: list[_Token]) -> list[list[_Token]]:
    """``tokens`` cut so that no part lasts over ``MAX_SENTENCE_S``: each part ends at the
    longest pause (after a comma counts half a second more) among the cuts that keep it short
    enough, the later one on a tie."""
    parts: list[list[_Token]] = []
    first = 0
    while tokens[-1].word.end_s - tokens[first].word.start_s > MAX_SENTENCE_S:
        fits = first + 1  # a single word longer than the limit is a part of its own
        while tokens[fits].word.end_s - tokens[first].word.start_s <= MAX_SENTENCE_S:
            fits += 1
        cut = max(range(first + 1, fits + 1), key=lambda i: (_pause_after(tokens, i), i))
        parts.append(tokens[first:cut])
        first = cut
    parts.append(tokens[first:])
    return parts


def _pause_after(tokens: Sequence[_Token], index: int) -> float:
    """How much a sentence-less stretch invites a cut before ``tokens[index]``."""
    before = tokens[index - 1].word
    comma = 0.5 if before.text.rstrip()[-1:] in ",;:" else 0.0
    return round(tokens[index].word.start_s - before.end_s + comma, 3)  # ms: ties go later


# Caption cues follow the usual subtitle rules: at most two lines of 42 characters (the
# speaker's name, which SRT shows, counted on the first), at most 7 seconds, cut where a reader
# pauses: after punctuation, else before a conjunction or preposition.
CAPTION_LINE_CHARS = 42
CAPTION_LINES = 2
CAPTION_MAX_S = 7.0
_PHRASE_STARTS = frozenset({
    "and", "but", "or", "so", "because", "that", "which", "who", "whom", "whose", "when", "where",
    "while", "if", "then", "than", "though", "although", "unless", "until", "after", "before",
    "since", "as", "to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "into",
    "over", "under", "between", "through", "without", "like",
})  # fmt: skip
_DETERMINERS = frozenset({
    "the", "a", "an", "this", "these", "those", "my", "your", "his", "her", "its", "our", "their",
    "every", "each", "some", "any", "no",
})  # fmt: skip


@dataclass(frozen=True)
class Cue:
    """One caption: a stretch of one sentence, laid out in lines."""

    speaker_id: str
    speaker: str
    start_s: float
    end_s: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def caption_label(speaker: str) -> str:
    """What a cue's first line starts with in SRT, which has no voice tag."""
    return f"{speaker}: "


def split_for_captions(
    segments: Sequence[Segment],
    *,
    line_chars: int = CAPTION_LINE_CHARS,
    max_lines: int = CAPTION_LINES,
    max_s: float = CAPTION_MAX_S,
) -> list[Cue]:
    """Every segment as caption cues within the cue rules, cut at word boundaries where a reader
    pauses; a single word too long for a line or too slow for a cue is a cue of its own."""
    cues: list[Cue] = []
    for segment in segments:
        words = list(segment.words) or _spread(segment)
        first_line = max(line_chars - len(caption_label(segment.speaker)), 12)
        layout = _CueLayout(words, first_line, line_chars, max_lines, max_s)
        for a, b, lines in layout.cues():
            cues.append(
                Cue(
                    segment.speaker_id, segment.speaker, words[a].start_s, words[b - 1].end_s, lines
                )
            )
    return cues


def _spread(segment: Segment) -> list[Word]:
    """Words of a segment that has no word timings, timed in proportion to their length (for
    cutting its captions only)."""
    texts = segment.text.split()
    if not texts:
        return [Word(segment.start_s, segment.end_s, segment.text)]
    total = sum(len(t) + 1 for t in texts)
    per_char = (segment.end_s - segment.start_s) / total
    words, at = [], segment.start_s
    for text in texts:
        end = at + (len(text) + 1) * per_char
        words.append(Word(at, end, " " + text))
        at = end
    return words


def _break_cost(before: str, after: str) -> float:
    """How badly a line or cue reads when cut between the words ``before`` and ``after``."""
    tail = before.rstrip()[-1:]
    if tail and tail in _SENTENCE_STOPS + ",;:\u2014\u2013":
        return 0.0
    next_word = after.strip().lower().strip(_CLOSING + "(")
    if next_word in _PHRASE_STARTS:
        return 1.0
    if next_word in _DETERMINERS:
        return 2.0
    if before.strip().lower() in _DETERMINERS:  # "the / garden" parts a noun from its article
        return 4.0
    return 3.0


class _CueLayout:
    """Cuts one sentence's words into cues (fewest cues, then the best places to cut, then even
    lengths) and each cue into lines, by dynamic programming over the cut positions."""

    def __init__(
        self, words: Sequence[Word], first_line: int, line_chars: int, lines: int, max_s: float
    ) -> None:
        self.texts = [w.text.strip() for w in words]
        self.words, self.first_line, self.line_chars = words, first_line, line_chars
        self.max_lines, self.max_s = lines, max_s
        self.ends = [0]  # ends[i]: characters of the first i words, each with a space after
        for text in self.texts:
            self.ends.append(self.ends[-1] + len(text) + 1)
        # breaks[i]: the cost of cutting before word i
        self.breaks = [0.0] + [_break_cost(x, y) for x, y in pairwise(self.texts)]

    def _chars(self, a: int, b: int) -> int:
        """Length of words ``a..b-1`` joined by spaces."""
        return self.ends[b] - self.ends[a] - 1

    def _line_cuts(self, a: int, b: int, lines: int, width: int) -> tuple[float, list[int]] | None:
        """The cheapest way to lay words ``a..b-1`` out in at most ``lines`` lines: (cost, cut
        positions), or None when they do not fit."""
        if self._chars(a, b) <= width:
            return 0.0, []
        if lines == 1:
            return None
        best: tuple[float, list[int]] | None = None
        for cut in range(a + 1, b):
            head = self._chars(a, cut)
            if head > width:
                break
            rest = self._line_cuts(cut, b, lines - 1, self.line_chars)
            if rest is None:
                continue
            tail = self._chars(cut, rest[1][0] if rest[1] else b)
            # Lines of about even length read best, a top line longer than the next worst.
            balance = abs(head - tail) / self.line_chars * (1.0 if head > tail else 0.5)
            cost = rest[0] + self.breaks[cut] + balance
            if best is None or cost < best[0]:
                best = (cost, [cut, *rest[1]])
        return best

    def cues(self) -> list[tuple[int, int, tuple[str, ...]]]:
        n = len(self.words)
        capacity = self.first_line + (self.max_lines - 1) * self.line_chars
        # best[j]: (cost, start of the last cue, its line cuts) for words 0..j-1 in cues
        best: list[tuple[float, int, list[int]] | None] = [None] * (n + 1)
        best[0] = (0.0, 0, [])
        for b in range(1, n + 1):
            for a in range(b - 1, -1, -1):
                single = b - a == 1
                duration = self.words[b - 1].end_s - self.words[a].start_s
                if not single and duration > self.max_s:
                    break
                layout = self._line_cuts(a, b, self.max_lines, self.first_line)
                if layout is None:
                    if not single:
                        break
                    layout = (0.0, [])
                filled = min(self._chars(a, b) / capacity, 1.0)
                cost = best[a][0] + 10.0 + layout[0] + 2.0 * (1.0 - filled) ** 2
                if b < n:
                    cost += 2.0 * self.breaks[b]
                if best[b] is None or cost < best[b][0]:
                    best[b] = (cost, a, layout[1])
        cues = []
        b = n
        while b > 0:
            _, a, cuts = best[b]
            bounds = [a, *cuts, b]
            cues.append((a, b, tuple(" ".join(self.texts[x:y]) for x, y in pairwise(bounds))))
            b = a
        return cues[::-1]


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
        body = "\n".join(_vtt_escape(line.replace("-->", "->")) for line in cue.lines)
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
        text = caption_label(cue.speaker) + "\n".join(cue.lines)
        blocks.append(
            f"{index}\n{_timestamp(cue.start_s, ',')} --> {_timestamp(cue.end_s, ',')}\n{text}\n"
        )
    return "\n".join(blocks)
