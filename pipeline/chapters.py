"""Chapters of an episode from its speaker-attributed transcript, and their published form (the
Podcasting 2.0 JSON chapters format, version 1.2.0).

Method (lexical cohesion, in the manner of Hearst's TextTiling, on the time axis):

1. Every sentence is reduced to its content words: lower case, letters only, English stop words
   and conversational fillers dropped, a light suffix stemmer ("telescopes" and "telescope" are
   one term).
2. Every sentence start is a candidate boundary. Its cohesion is the cosine similarity of the
   content words spoken in the ``window_s`` seconds before it and the ``window_s`` seconds after
   it (term counts, each sentence counted where it starts).
3. A candidate's depth is how far its cohesion lies below the highest cohesion reached by
   climbing to the left and to the right (TextTiling's depth score): a topic change is a valley
   between two stretches that hold together.
4. Boundaries are taken deepest first while deeper than ``mean + cutoff_sd x standard deviation``
   of the candidates' depths and at least ``min_chapter_s`` from the episode's start, its end
   and every boundary already taken.
5. Each boundary is snapped to the best place to cut within ``snap_s`` seconds: the sentence
   start after the longest pause, a change of speaker counting as ``turn_bonus_s`` more pause.
6. Each chapter is titled with its key phrases: runs of content words in the chapter's own
   words, scored by the sum of their terms' weights (count in the chapter x log of how much rarer
   the term is in the other chapters), the best one or two joined, at most ``title_chars``.

Pure: the caller decides whose words may be used (only those of speakers who consented to
publication and to transcription reach this module), so chapter titles hold no one else's words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.transcript import Segment

CHAPTERS_MIME = "application/json+chapters"
CHAPTERS_VERSION = "1.2.0"
MAX_TITLE_CHARS = 200  # the longest title a host may give a chapter


@dataclass(frozen=True)
class ChapterSettings:
    """The method's parameters (see the module docstring); defaults measured in
    bench/chapters.py."""

    min_chapter_s: float = 120.0
    window_s: float = 90.0
    cutoff_sd: float = 1.0
    snap_s: float = 10.0
    turn_bonus_s: float = 0.5
    title_chars: int = 60


@dataclass(frozen=True)
class Chapter:
    """A chapter on the episode timeline; ``generated`` is False once a host wrote its title."""

    start_s: float
    end_s: float
    title: str
    generated: bool = True


# English stop words, and the words of talk that carry no topic.
_STOP_WORDS = frozenset(
    """
a about above after again against all almost also although always am among an and another any
anybody anyone anything are aren around as at away back be became because been before being
below between both but by came can cannot could couldn did didn do does doesn doing don done
down during each either else enough even ever every everybody everyone everything few for from
further get gets getting give go goes going gone got had hadn has hasn have haven having he her
here hers herself him himself his how however i if in into is isn it its itself just keep kind
last least less let lets like made make makes many may maybe me might mine more most much must
my myself never new next no nobody none nor not nothing now of off often oh ok okay old on once
one only onto or other others our ours ourselves out over own per perhaps put quite rather
really right said same say says see seem seemed seems shall she should shouldn since so some
somebody someone something sometimes still such sure take than that the their theirs them
themselves then there these they thing things think this those though thought through thus to
together too took toward towards two under until up upon us used very want wanted was wasn way
we well went were weren what whatever when where whether which while who whole whom whose why
will with within without won would wouldn yeah yes yet you your yours yourself yourselves
actually absolutely agree anyway believe bit course definitely exactly far guess hear heard
honestly indeed know knew lot lots mean means okay pretty remember said saying seen tell told
true um uh hmm mhm ah wow great good nice fine first second third time times day days year
years today tonight morning evening week weeks ago talk talked talking speak spoke look looked
looking come comes coming went call called need needs tried try trying use using find found
hello hi hey bye goodbye thanks thank welcome please sorry
""".split()  # noqa: SIM905 (a word list reads best as words)
)  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def stem(word: str) -> str:
    """A light English suffix stemmer: plural and verb endings, enough that a topic's words
    group together ("telescopes", "telescope"; "planting", "planted", "plant")."""
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "e"),
                         ("s", "")):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "zes", "ses")):
                return word[:-1]
            return word[: len(word) - len(suffix)] + keep
    return word


def _words(text: str) -> list[str]:
    return [m.group(0).lower().replace("\u2019", "'") for m in _WORD.finditer(text)]


def content_terms(text: str) -> list[str]:
    """The stemmed content words of ``text``, in order."""
    return [stem(w) for w in _words(text) if w.split("'")[0] not in _STOP_WORDS and len(w) > 2]


def _cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return 0.0
    dot = sum(count * b[term] for term, count in a.items() if term in b)
    norm = math.sqrt(sum(c * c for c in a.values())) * math.sqrt(sum(c * c for c in b.values()))
    return dot / norm


def cohesion(sentences: Sequence[Segment], window_s: float) -> list[float]:
    """For each sentence start after the first, the similarity of the words before it and the
    words after it (``window_s`` seconds each side)."""
    terms = [Counter(content_terms(s.text)) for s in sentences]
    scores = []
    for i in range(1, len(sentences)):
        at = sentences[i].start_s
        left, right = Counter(), Counter()
        for j in range(i - 1, -1, -1):
            if sentences[j].start_s < at - window_s:
                break
            left.update(terms[j])
        for j in range(i, len(sentences)):
            if sentences[j].start_s >= at + window_s:
                break
            right.update(terms[j])
        scores.append(_cosine(left, right))
    return scores


def depth_scores(scores: Sequence[float]) -> list[float]:
    """TextTiling's depth of each score: the climb to the highest score reached going left while
    scores rise, plus the same to the right."""
    depths = []
    for i, score in enumerate(scores):
        left = score
        for j in range(i - 1, -1, -1):
            if scores[j] < left:
                break
            left = scores[j]
        right = score
        for j in range(i + 1, len(scores)):
            if scores[j] < right:
                break
            right = scores[j]
        depths.append((left - score) + (right - score))
    return depths


def _pause_before(sentences: Sequence[Segment], i: int, turn_bonus_s: float) -> float:
    before = sentences[i - 1]
    ended = max(s.end_s for s in sentences[:i] if s.start_s >= before.start_s - 30.0)
    turn = turn_bonus_s if sentences[i].speaker_id != before.speaker_id else 0.0
    return max(0.0, sentences[i].start_s - ended) + turn


def find_boundaries(
    sentences: Sequence[Segment], duration_s: float, settings: ChapterSettings
) -> list[float]:
    """Chapter start times after the first (which is 0), on the sentences' timeline."""
    if len(sentences) < 3 or duration_s < 2 * settings.min_chapter_s:
        return []
    depths = depth_scores(cohesion(sentences, settings.window_s))
    mean = sum(depths) / len(depths)
    sd = math.sqrt(sum((d - mean) ** 2 for d in depths) / len(depths))
    cutoff = mean + settings.cutoff_sd * sd
    min_s = settings.min_chapter_s
    chosen: list[int] = []  # sentence indexes whose start begins a chapter
    for k in sorted(range(len(depths)), key=lambda k: (-depths[k], k)):
        if depths[k] <= cutoff or depths[k] <= 0.0:
            break
        i = k + 1
        at = _snap(sentences, i, settings)
        start = sentences[at].start_s
        if start < min_s or duration_s - start < min_s:
            continue
        if any(abs(start - sentences[c].start_s) < min_s for c in chosen):
            continue
        chosen.append(at)
    return sorted(sentences[i].start_s for i in chosen)


def _snap(sentences: Sequence[Segment], i: int, settings: ChapterSettings) -> int:
    """The sentence start within ``snap_s`` of sentence ``i``'s that follows the longest pause
    (a change of speaker counting extra); ``i`` itself on a tie."""
    at = sentences[i].start_s
    near = [
        j for j in range(1, len(sentences)) if abs(sentences[j].start_s - at) <= settings.snap_s
    ]
    return max(
        near,
        key=lambda j: (
            round(_pause_before(sentences, j, settings.turn_bonus_s), 3),
            -abs(j - i),
        ),
    )


def _phrases(text: str) -> list[list[str]]:
    """Runs of content words as spoken (at most three words), cut at stop words and
    punctuation."""
    runs: list[list[str]] = [[]]
    for piece in re.split(r"[.,;:!?\u2014\u2013()\"]", text):
        for word in _WORD.findall(piece):
            low = word.lower().replace("\u2019", "'")
            if low.split("'")[0] in _STOP_WORDS or len(low) <= 2:
                runs.append([])
            else:
                runs[-1].append(word)
        runs.append([])
    return [run[:3] for run in runs if run]


def title_chapters(
    texts: Sequence[str], *, title_chars: int = ChapterSettings.title_chars
) -> list[str]:
    """A title for each chapter's text from its key phrases (see the module docstring)."""
    counts = [Counter(content_terms(text)) for text in texts]
    n = len(texts)
    titles = []
    for index, text in enumerate(texts):
        own = counts[index]

        def weight(term: str, own: Counter = own, index: int = index) -> float:
            elsewhere = sum(1 for k, c in enumerate(counts) if k != index and term in c)
            return own[term] * math.log((n + 1) / (elsewhere + 1) + 1.0)

        scored: dict[str, float] = {}
        spoken: dict[str, Counter] = {}  # each phrase's forms as spoken (capitals kept)
        for run in _phrases(text):
            phrase = " ".join(run).lower()
            spoken.setdefault(phrase, Counter())[" ".join(run)] += 1
            if phrase not in scored:
                terms = [stem(w.lower()) for w in run]
                scored[phrase] = sum(weight(t) for t in terms) / math.sqrt(len(terms))
        ranked = sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))
        picked: list[str] = []
        used: set[str] = set()
        for phrase, _ in ranked:
            terms = {stem(w) for w in phrase.split()}
            if terms & used:
                continue
            picked.append(_usual_form(spoken[phrase]))
            used |= terms
            if len(picked) == 2:
                break
        title = " and ".join(picked) if picked else ""
        if len(title) > title_chars and picked:
            title = picked[0][:title_chars]
        titles.append(title[:1].upper() + title[1:] if title else f"Part {index + 1}")
    return titles


def _usual_form(forms: Counter) -> str:
    """A phrase as it reads in a title: in lower case if it was ever spoken so, else (a name,
    "Jupiter") in the form most often spoken."""
    if any(f == f.lower() for f in forms):
        return min(forms).lower()
    return max(sorted(forms), key=lambda f: forms[f])


def generate_chapters(
    segments: Sequence[Segment],
    duration_s: float,
    settings: ChapterSettings | None = None,
) -> list[Chapter]:
    """The episode's chapters (covering 0 to ``duration_s``) from its transcript sentences, on
    the episode timeline. An episode shorter than two minimum chapters, or without words, is
    one chapter."""
    settings = settings or ChapterSettings()
    sentences = sorted((s for s in segments if s.text.strip()), key=lambda s: s.start_s)
    starts = [0.0, *find_boundaries(sentences, duration_s, settings)]
    ends = [*starts[1:], duration_s]
    texts = [
        " ".join(s.text for s in sentences if a <= s.start_s < b or (k == 0 and s.start_s < a)
                 or (k == len(starts) - 1 and s.start_s >= b))
        for k, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]  # fmt: skip
    titles = title_chapters(texts, title_chars=settings.title_chars)
    return [
        Chapter(start_s=round(a, 3), end_s=round(b, 3), title=title)
        for a, b, title in zip(starts, ends, titles, strict=True)
    ]


def chapters_at(
    marks: Sequence[tuple[float, str | None]], segments: Sequence[Segment], duration_s: float
) -> list[Chapter]:
    """Chapters starting at the host's ``marks`` (start, title), each running to the next; a
    mark without a title gets one generated from the chapter's words (as in
    :func:`generate_chapters`), so it changes with the transcript."""
    ordered = sorted((start, title) for start, title in marks if 0.0 <= start < duration_s)
    starts = [start for start, _ in ordered]
    ends = [*starts[1:], duration_s]
    sentences = [s for s in segments if s.text.strip()]
    texts = [
        " ".join(s.text for s in sentences if a <= s.start_s < b or (k == 0 and s.start_s < a)
                 or (k == len(starts) - 1 and s.start_s >= b))
        for k, (a, b) in enumerate(zip(starts, ends, strict=True))
    ]  # fmt: skip
    generated = title_chapters(texts)
    return [
        Chapter(round(a, 3), round(b, 3), title or made, generated=title is None)
        for (a, title), b, made in zip(ordered, ends, generated, strict=True)
    ]


def episode_chapters(
    segments: Sequence[Segment],
    duration_s: float,
    settings: ChapterSettings | None = None,
    *,
    marks: Sequence[tuple[float, str | None]] | None = None,
) -> list[Chapter]:
    """The chapters an episode publishes: at the host's ``marks`` when the host set them, else
    generated; none when that makes fewer than two (one chapter is no table of contents)."""
    if marks is not None:
        chapters = chapters_at(marks, segments, duration_s)
    else:
        chapters = generate_chapters(segments, duration_s, settings)
    return chapters if len(chapters) >= 2 else []


def write_id3_chapters(mp3: Path, chapters: Sequence[Chapter], *, title: str) -> None:
    """Put ``chapters`` into the MP3's ID3v2.3 tag as CHAP frames (times in milliseconds, each
    with its title) under one ordered, top-level CTOC, replacing any there; the audio is not
    touched. Kept to ID3v2.3, the version every podcast app reads."""
    from mutagen.id3 import CHAP, CTOC, ID3, TIT2, CTOCFlags, ID3NoHeaderError

    try:
        tags = ID3(mp3)
    except ID3NoHeaderError:
        tags = ID3()
    tags.delall("CHAP")
    tags.delall("CTOC")
    ids = [f"chp{index}" for index in range(len(chapters))]
    tags.add(
        CTOC(
            element_id="toc",
            flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
            child_element_ids=ids,
            sub_frames=[TIT2(encoding=1, text=[title])],
        )
    )
    for element_id, chapter in zip(ids, chapters, strict=True):
        tags.add(
            CHAP(
                element_id=element_id,
                start_time=round(chapter.start_s * 1000),
                end_time=round(chapter.end_s * 1000),
                start_offset=0xFFFFFFFF,  # not given: players seek by time
                end_offset=0xFFFFFFFF,
                sub_frames=[TIT2(encoding=1, text=[chapter.title])],
            )
        )
    tags.save(mp3, v2_version=3)


def format_timestamp(seconds: float) -> str:
    """ "M:SS" or "H:MM:SS", the form podcast apps turn into links in a description."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def chapters_description(chapters: Sequence[Chapter]) -> str:
    """The chapters as timestamp lines for the episode's description (empty for fewer than
    two: one chapter is no table of contents)."""
    if len(chapters) < 2:
        return ""
    return "\n".join(f"{format_timestamp(c.start_s)} {c.title}" for c in chapters)


def to_chapters_json(chapters: Sequence[Chapter], *, title: str | None = None) -> dict:
    """The Podcasting 2.0 JSON chapters document (version 1.2.0)."""
    doc: dict = {"version": CHAPTERS_VERSION}
    if title:
        doc["title"] = title
    doc["chapters"] = [
        {"startTime": round(c.start_s, 3), "endTime": round(c.end_s, 3), "title": c.title}
        for c in chapters
    ]
    return doc


def chapters_to_data(chapters: Sequence[Chapter]) -> list[dict]:
    return [
        {"start_s": c.start_s, "end_s": c.end_s, "title": c.title, "generated": c.generated}
        for c in chapters
    ]


def chapters_from_data(data: Sequence[dict]) -> list[Chapter]:
    return [
        Chapter(float(d["start_s"]), float(d["end_s"]), str(d["title"]), bool(d["generated"]))
        for d in data
    ]
