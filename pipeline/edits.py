"""A host's edit list: what of the room becomes the episode (trim, cuts, a speaker muted over a
range, long silences shortened) and the host's own audio around and under it (an intro, an
outro, a music bed ducked under speech), checked against the room's timeline, published speakers
and the show's own audio, resolved into the room-time spans that are kept, and the things built
from it: the ffmpeg filters that cut the mix (sample-exact, with short crossfades) and add the
host's audio, and the transcript re-timed (an intro moves the room later by its length).

An edit list is non-destructive: the stems are never changed; every time in it is room time
(the timeline moderation and clips use), so one list stays true however often it is rendered.
An edit only removes or silences what the room holds; it cannot bring in a voice of the room.
The host's audio is the host's (uploaded to their show, probed like a track); it is never a
participant's stem, so adding it changes nobody's consent.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path

import ffmpeg

from pipeline.errors import InvalidEdit, InvalidTrack
from pipeline.ffmpeg import ALLOWED_DEMUXERS, run_ffmpeg
from pipeline.leveling import volume_commands
from pipeline.loudness import Loudness, parse_ebur128_summaries
from pipeline.transcript import Segment, Word

CROSSFADE_S = 0.03  # at every cut: long enough to hide the seam, short enough to keep words
MIN_CUT_S = 0.1  # a shorter cut is a mistake (and would overlap its own crossfade)
MIN_KEPT_S = 0.1  # a kept stretch shorter than this between two cuts is cut with them
MAX_OPERATIONS = 500
_AUDIO_ID = re.compile(r"[0-9a-f]{32}")  # a host audio's id (HostAudio.id)
_SPEAKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # a room handle or participant id
_RATE_HZ = 48_000  # the mix's rate (pipeline.mix.MIX_RATE_HZ)


@dataclass(frozen=True)
class Trim:
    """Keep only the room between ``start_s`` and ``end_s`` (either may be None: no trim)."""

    start_s: float | None = None
    end_s: float | None = None
    op = "trim"


@dataclass(frozen=True)
class Cut:
    """Take ``start_s``-``end_s`` of the room out of the episode."""

    start_s: float
    end_s: float
    op = "cut"


@dataclass(frozen=True)
class Mute:
    """Silence one speaker's own track over ``start_s``-``end_s``; everyone else stays."""

    speaker_id: str
    start_s: float
    end_s: float
    op = "mute"


@dataclass(frozen=True)
class ShortenSilences:
    """Wherever every published track is silent longer than ``longer_than_s``, keep ``to_s``."""

    longer_than_s: float
    to_s: float
    op = "shorten_silences"


@dataclass(frozen=True)
class Intro:
    """Open the episode with the host's audio ``audio_id``: the room is heard after it."""

    audio_id: str
    op = "intro"


@dataclass(frozen=True)
class Outro:
    """Close the episode with the host's audio ``audio_id``."""

    audio_id: str
    op = "outro"


BED_MAX_UNDER_SPEECH_DB = -15.0  # the bed while anyone speaks: at least this far under them


@dataclass(frozen=True)
class Bed:
    """The host's audio ``audio_id`` looped under the room part of the episode: ``level_db``
    from the speech's loudness while nobody speaks, ``duck_db`` lower still while any published
    speaker speaks (their speech activity, not the mix's level, drives it)."""

    audio_id: str
    level_db: float = -12.0
    duck_db: float = -14.0
    op = "bed"


Operation = Trim | Cut | Mute | ShortenSilences | Intro | Outro | Bed
HostPart = Intro | Outro | Bed
_KINDS: dict[str, type] = {
    kind.op: kind for kind in (Trim, Cut, Mute, ShortenSilences, Intro, Outro, Bed)
}
_FIELDS = {
    "trim": {"start_s", "end_s"},
    "cut": {"start_s", "end_s"},
    "mute": {"speaker_id", "start_s", "end_s"},
    "shorten_silences": {"longer_than_s", "to_s"},
    "intro": {"audio_id"},
    "outro": {"audio_id"},
    "bed": {"audio_id", "level_db", "duck_db"},
}
_DB_FIELDS = {"level_db": (-40.0, 0.0), "duck_db": (-40.0, 0.0)}  # optional, with defaults
_ONE_PER_LIST = ("trim", "shorten_silences", "intro", "outro", "bed")


def describe(index: int, op: Operation) -> str:
    """How an error names an operation: its place in the list (from 1) and what it does."""
    if isinstance(op, Trim):
        ends = [f"{op.start_s:.2f}" if op.start_s is not None else "start"]
        ends.append(f"{op.end_s:.2f}" if op.end_s is not None else "end")
        return f"operation {index + 1} (trim to {ends[0]}-{ends[1]} s)"
    if isinstance(op, Cut):
        return f"operation {index + 1} (cut {op.start_s:.2f}-{op.end_s:.2f} s)"
    if isinstance(op, Mute):
        return f"operation {index + 1} (mute {op.speaker_id} {op.start_s:.2f}-{op.end_s:.2f} s)"
    if isinstance(op, Intro | Outro | Bed):
        return f"operation {index + 1} ({op.op} {op.audio_id})"
    return f"operation {index + 1} (shorten silences over {op.longer_than_s:g} s to {op.to_s:g} s)"


def operations_from_data(data: object) -> list[Operation]:
    """The edit list from its JSON form (a list of objects, each with ``op``); an error names
    the offending operation by its place in the list."""
    if not isinstance(data, list):
        raise InvalidEdit("an edit list is a JSON list of operations")
    if len(data) > MAX_OPERATIONS:
        raise InvalidEdit(f"an edit list holds at most {MAX_OPERATIONS} operations")
    ops: list[Operation] = []
    for index, item in enumerate(data):
        where = f"operation {index + 1}"
        if not isinstance(item, dict) or item.get("op") not in _KINDS:
            raise InvalidEdit(f"{where}: op must be one of {', '.join(_KINDS)}")
        kind = item["op"]
        unknown = set(item) - _FIELDS[kind] - {"op"}
        if unknown:
            raise InvalidEdit(f"{where} ({kind}): unknown field(s) {', '.join(sorted(unknown))}")
        values = {}
        for name in _FIELDS[kind]:
            value = item.get(name)
            if name in _DB_FIELDS:
                lo, hi = _DB_FIELDS[name]
                if value is None:
                    continue  # the default
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise InvalidEdit(f"{where} ({kind}): {name} must be a number of dB")
                if not lo <= value <= hi:
                    raise InvalidEdit(f"{where} ({kind}): {name} must be {lo:g} to {hi:g} dB")
                value = float(value)
            elif name == "audio_id":
                if not isinstance(value, str) or not _AUDIO_ID.fullmatch(value):
                    raise InvalidEdit(
                        f"{where} ({kind}): audio_id must name the show's own audio (the id "
                        "POST /shows/{show_id}/audio answered)"
                    )
            elif name == "speaker_id":
                if not isinstance(value, str) or not _SPEAKER_ID.fullmatch(value):
                    raise InvalidEdit(
                        f"{where} ({kind}): speaker_id must name a speaker (their handle: "
                        "letters, digits, . _ : -, at most 64)"
                    )
            elif value is None and kind == "trim":
                pass
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidEdit(f"{where} ({kind}): {name} must be a number of seconds")
            elif not 0 <= value < 1e6:
                raise InvalidEdit(f"{where} ({kind}): {name} {value} is not a time in the room")
            else:
                value = float(value)
            values[name] = value
        ops.append(_KINDS[kind](**values))
    return ops


def load_edit_list(path: Path) -> list[Operation]:
    """An edit list file: a JSON list of operations, or an object whose ``operations`` is one
    (the body the API takes)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEdit(f"{path.name}: not a readable JSON edit list ({exc})") from None
    if isinstance(data, dict):
        data = data.get("operations")
    try:
        return operations_from_data(data)
    except InvalidEdit as exc:
        raise InvalidEdit(f"{path.name}: {exc}") from None


def operations_to_data(ops: Iterable[Operation]) -> list[dict]:
    """The JSON form (round-trips with :func:`operations_from_data`)."""
    out = []
    for op in ops:
        item: dict = {"op": op.op}
        item.update({name: getattr(op, name) for name in sorted(_FIELDS[op.op])})
        out.append(item)
    return out


@dataclass(frozen=True)
class RoomTimeline:
    """What an edit list is checked against: the unedited episode's stretch of the room, the
    speakers whose voices it holds (id -> name) and the show's own audio (id -> duration_s)."""

    start_s: float
    end_s: float
    speakers: Mapping[str, str]
    host_audio: Mapping[str, float] = field(default_factory=dict)


def validate(ops: Sequence[Operation], timeline: RoomTimeline) -> None:
    """Refuse an edit list that does not fit the room, naming the first operation that does
    not: a range outside the episode or backwards, a cut overlapping another, a mute of a
    speaker the episode does not hold, more than one trim or silence rule."""
    lo, hi = timeline.start_s, timeline.end_s
    span = f"the episode holds room time {lo:.2f}-{hi:.2f} s"
    seen: dict[str, int] = {}
    cuts: list[tuple[float, float, int]] = []
    for index, op in enumerate(ops):
        name = describe(index, op)
        if op.op in _ONE_PER_LIST:
            if op.op in seen:
                first = describe(seen[op.op], ops[seen[op.op]])
                raise InvalidEdit(f"{name}: only one {op.op} per edit list ({first} is one)")
            seen[op.op] = index
        if isinstance(op, Trim):
            start = op.start_s if op.start_s is not None else lo
            end = op.end_s if op.end_s is not None else hi
            if not lo - 0.001 <= start < end <= hi + 0.001:
                raise InvalidEdit(f"{name}: outside the episode or backwards; {span}")
            if end - start < 1.0:
                raise InvalidEdit(f"{name}: keeps under a second of the episode")
        elif isinstance(op, ShortenSilences):
            if not 0.2 <= op.to_s < op.longer_than_s:
                raise InvalidEdit(f"{name}: to_s must be at least 0.2 s and under longer_than_s")
        elif isinstance(op, Intro | Outro | Bed):
            if op.audio_id not in timeline.host_audio:
                owned = ", ".join(timeline.host_audio) or "none uploaded"
                raise InvalidEdit(f"{name}: unknown audio; the show's own audio are {owned}")
            if isinstance(op, Bed) and op.level_db + op.duck_db > BED_MAX_UNDER_SPEECH_DB:
                raise InvalidEdit(
                    f"{name}: level_db + duck_db is the bed's level while someone speaks; it "
                    f"must be at most {BED_MAX_UNDER_SPEECH_DB:g} dB"
                )
        else:
            if not lo - 0.001 <= op.start_s < op.end_s <= hi + 0.001:
                raise InvalidEdit(f"{name}: outside the episode or backwards; {span}")
            if op.end_s - op.start_s < MIN_CUT_S:
                raise InvalidEdit(f"{name}: shorter than {MIN_CUT_S:g} s")
            if isinstance(op, Mute) and op.speaker_id not in timeline.speakers:
                known = ", ".join(f"{pid} ({n})" for pid, n in timeline.speakers.items())
                raise InvalidEdit(
                    f"{name}: unknown speaker; the episode's voices are {known or 'none'}"
                )
            if isinstance(op, Cut):
                cuts.append((op.start_s, op.end_s, index))
    cuts.sort()
    for (_, b0, i0), (a1, _, i1) in pairwise(cuts):
        if a1 < b0:
            first, second = sorted((i0, i1))
            raise InvalidEdit(
                f"{describe(second, ops[second])}: overlaps {describe(first, ops[first])}"
            )


def silences(
    speech: Iterable[tuple[float, float]], start_s: float, end_s: float
) -> list[tuple[float, float]]:
    """Stretches of ``start_s``-``end_s`` in which nobody in ``speech`` (room time) speaks."""
    gaps, at = [], start_s
    for a, b in sorted(speech):
        if a > at:
            gaps.append((at, min(a, end_s)))
        at = max(at, b)
        if at >= end_s:
            break
    if at < end_s:
        gaps.append((at, end_s))
    return [(a, b) for a, b in gaps if b > a]


@dataclass(frozen=True)
class EditPlan:
    """An edit list resolved against the room: the room-time spans kept, in order, and the
    mutes; maps room time to episode time and back."""

    kept: tuple[tuple[float, float], ...]
    mutes: tuple[Mute, ...] = ()
    silence_saved_s: float = 0.0  # of the removed time, what shortening silences took
    crossfade_s: float = CROSSFADE_S
    # The host's audio: the intro's length (the room starts this late in the episode), the
    # outro's, and the parts themselves.
    lead_s: float = 0.0
    tail_s: float = 0.0
    host: tuple[HostPart, ...] = ()
    _starts: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        starts, at = [], 0.0
        for a, b in self.kept:
            starts.append(at)
            at += b - a
        object.__setattr__(self, "_starts", tuple(starts))

    @property
    def start_s(self) -> float:
        """Room time of the episode's first sample."""
        return self.kept[0][0]

    @property
    def program_s(self) -> float:
        """How long the room is heard (without the intro and outro)."""
        return sum(b - a for a, b in self.kept)

    @property
    def duration_s(self) -> float:
        return self.lead_s + self.program_s + self.tail_s

    def part(self, kind: type) -> HostPart | None:
        return next((p for p in self.host if isinstance(p, kind)), None)

    @property
    def removed(self) -> list[tuple[float, float]]:
        """The room-time stretches between kept spans (cuts and shortened silences)."""
        return [(b0, a1) for (_, b0), (a1, _) in pairwise(self.kept)]

    @property
    def edited(self) -> bool:
        return len(self.kept) > 1 or bool(self.mutes) or bool(self.host)

    def episode_time(self, room_s: float) -> float | None:
        """Where room time ``room_s`` is heard in the episode; None if it was cut (or trimmed)."""
        index = bisect.bisect_right([a for a, _ in self.kept], room_s) - 1
        if index < 0:
            return None
        a, b = self.kept[index]
        return self.lead_s + self._starts[index] + room_s - a if room_s <= b else None

    def room_time(self, episode_s: float) -> float:
        """The room time heard at ``episode_s`` of the episode (clamped to the room part: the
        intro maps to the room's first moment, the outro to its last)."""
        episode_s -= self.lead_s
        index = max(0, bisect.bisect_right(self._starts, episode_s) - 1)
        a, b = self.kept[index]
        return min(b, max(a, a + episode_s - self._starts[index]))

    def episode_range(self, room_start_s: float, room_end_s: float) -> tuple[float, float] | None:
        """A room range on the episode timeline if it was kept whole, else None."""
        for (a, b), at in zip(self.kept, self._starts, strict=True):
            if a - 1e-6 <= room_start_s and room_end_s <= b + 1e-6:
                at += self.lead_s
                return at + room_start_s - a, at + room_end_s - a
        return None

    def episode_windows(self, windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
        """Room-time ``windows`` on the episode timeline: the parts of each that were kept."""
        out = []
        for a, b in windows:
            for (ka, kb), at in zip(self.kept, self._starts, strict=True):
                lo, hi = max(a, ka), min(b, kb)
                if lo < hi:
                    out.append((self.lead_s + at + lo - ka, self.lead_s + at + hi - ka))
        return out

    @property
    def seams(self) -> list[float]:
        """Episode times where a cut joins two kept spans."""
        return [self.lead_s + at for at in self._starts[1:]]

    def muted(self, speaker_id: str, start_s: float, end_s: float) -> bool:
        return any(
            m.speaker_id == speaker_id and start_s < m.end_s and m.start_s < end_s
            for m in self.mutes
        )

    def mutes_of(self, speaker_id: str) -> list[tuple[float, float]]:
        return [(m.start_s, m.end_s) for m in self.mutes if m.speaker_id == speaker_id]

    def as_dict(self) -> dict:
        return {
            "kept": [[round(a, 3), round(b, 3)] for a, b in self.kept],
            "mutes": operations_to_data(self.mutes),
            "duration_s": round(self.duration_s, 3),
            "silence_saved_s": round(self.silence_saved_s, 3),
            "lead_s": self.lead_s,
            "tail_s": self.tail_s,
            "host": operations_to_data(self.host),
        }


def resolve(
    ops: Sequence[Operation],
    timeline: RoomTimeline,
    *,
    speech: Iterable[tuple[float, float]] = (),
) -> EditPlan:
    """The spans of the room an (already validated) edit list keeps. ``speech``: when the
    published speakers speak (room time), for shortening silences. Mutes of a speaker no longer
    published (they withdrew after the edit) are dropped: their voice is not in the mix."""
    lo, hi = timeline.start_s, timeline.end_s
    removed: list[tuple[float, float]] = []
    rule: ShortenSilences | None = None
    for op in ops:
        if isinstance(op, Trim):
            lo = max(lo, op.start_s if op.start_s is not None else lo)
            hi = min(hi, op.end_s if op.end_s is not None else hi)
        elif isinstance(op, Cut):
            removed.append((op.start_s, op.end_s))
        elif isinstance(op, ShortenSilences):
            rule = op
    silence_cuts: list[tuple[float, float]] = []
    if rule is not None:
        keep = rule.to_s
        for a, b in silences(speech, lo, hi):
            if b - a <= rule.longer_than_s:
                continue
            if a <= lo:  # silence opening the episode: keep what leads into the speech
                start, end = a, b - keep
            elif b >= hi:  # silence closing it
                start, end = a + keep, b
            else:
                start, end = a + keep / 2, b - keep / 2
            if end - start >= MIN_CUT_S:
                silence_cuts.append((start, end))
    kept = _kept_spans(lo, hi, removed + silence_cuts)
    if not kept:
        raise InvalidEdit("the edit list removes the whole episode")
    plan_without = _kept_spans(lo, hi, removed)
    saved = sum(b - a for a, b in plan_without) - sum(b - a for a, b in kept)
    mutes = tuple(op for op in ops if isinstance(op, Mute) and op.speaker_id in timeline.speakers)
    host = tuple(op for op in ops if isinstance(op, Intro | Outro | Bed))
    missing = [op for op in host if op.audio_id not in timeline.host_audio]
    if missing:
        raise InvalidEdit(f"{missing[0].op} {missing[0].audio_id}: the show has no such audio")
    lengths = {type(op): _whole_samples(timeline.host_audio[op.audio_id]) for op in host}
    return EditPlan(
        kept=tuple(kept),
        mutes=mutes,
        silence_saved_s=saved,
        lead_s=lengths.get(Intro, 0.0),
        tail_s=lengths.get(Outro, 0.0),
        host=host,
    )


def _whole_samples(seconds: float, rate_hz: int = _RATE_HZ) -> float:
    """A length as the render makes it: a whole number of samples at the mix rate."""
    return round(seconds * rate_hz) / rate_hz


def _kept_spans(
    lo: float, hi: float, removed: Iterable[tuple[float, float]]
) -> list[tuple[float, float]]:
    kept, at = [], lo
    for a, b in sorted(removed):
        if a > at:
            kept.append((at, min(a, hi)))
        at = max(at, b)
    if at < hi:
        kept.append((at, hi))
    # A sliver between two cuts is cut too (it would be a blip inside two crossfades).
    kept = [(a, b) for a, b in kept if b - a >= MIN_KEPT_S or len(kept) == 1]
    return [(a, b) for a, b in kept if b > a]


def remap_marks(
    marks: Sequence[dict], old: EditPlan, new: EditPlan, *, min_gap_s: float = 1.0
) -> list[dict]:
    """Marks on ``old``'s episode timeline (``{"start_s", ...}``, the first at 0) moved to the
    same moment of the room in ``new``'s; a mark whose moment ``new`` cut moves to where the
    cut is (the next kept moment); the first stays at 0, and a mark that lands within
    ``min_gap_s`` of the one before is dropped."""
    out: list[dict] = []
    for index, mark in enumerate(marks):
        room = old.room_time(float(mark["start_s"]))
        at = 0.0 if index == 0 else new.episode_time(room)
        if at is None:
            later = [
                new.lead_s + start
                for (a, _), start in zip(new.kept, new._starts, strict=True)
                if a > room
            ]
            at = later[0] if later else None
        if at is None or at >= new.duration_s or (out and at - out[-1]["start_s"] < min_gap_s):
            continue
        out.append({**mark, "start_s": round(at, 3)})
    return out


def unedited(start_s: float, end_s: float) -> EditPlan:
    """The plan of no edits: the whole episode."""
    return EditPlan(kept=((start_s, end_s),))


# The audio: the mix, on its own timeline (the room from its first sample), cut.


def cut_filter(
    stream: ffmpeg.nodes.FilterableStream,
    plan: EditPlan,
    *,
    mix_start_s: float,
    rate_hz: int = _RATE_HZ,
) -> ffmpeg.nodes.FilterableStream:
    """``stream`` (the mix, whose first sample is room time ``mix_start_s``) reduced to the
    plan's kept spans, joined by crossfades of ``plan.crossfade_s`` centred on each cut, so every
    moment after a cut moves earlier by exactly the time removed. Sample-exact (atrim by sample
    index); streamed, never held."""
    spans = _sample_spans(plan, mix_start_s, rate_hz)
    fade = _fade_samples(plan, rate_hz)
    legs = stream.filter_multi_output("asplit", len(spans)) if len(spans) > 1 else None
    pieces = []
    for index, (first, last) in enumerate(spans):
        leg = legs[index] if legs is not None else stream
        pieces.append(
            leg.filter("atrim", start_sample=first, end_sample=last).filter(
                "asetpts", "PTS-STARTPTS"
            )
        )
    joined = pieces[0]
    for piece in pieces[1:]:
        joined = ffmpeg.filter(
            [joined, piece], "acrossfade", nb_samples=fade, overlap=1, curve1="tri", curve2="tri"
        )
    return joined


def _fade_samples(plan: EditPlan, rate_hz: int) -> int:
    return 2 * round(plan.crossfade_s * rate_hz / 2)


def _sample_spans(plan: EditPlan, mix_start_s: float, rate_hz: int) -> list[tuple[int, int]]:
    """Sample ranges of the mix to keep: each kept span widened by half a crossfade on every
    side that meets a cut (the two halves overlap in the crossfade)."""
    half = _fade_samples(plan, rate_hz) // 2
    spans = []
    for index, (a, b) in enumerate(plan.kept):
        first = round((a - mix_start_s) * rate_hz)
        last = round((b - mix_start_s) * rate_hz)
        if index > 0:
            first -= half
        if index < len(plan.kept) - 1:
            last += half
        spans.append((max(0, first), last))
    return spans


# The words: each speaker's transcript (room time) on the edited episode's timeline.


def retime_segments(segments: Sequence[Segment], plan: EditPlan) -> list[Segment]:
    """``segments`` (one speaker's, room time) on the episode timeline: a word is kept when its
    middle is in a kept span and its speaker is not muted there, and moves with its span; a
    segment keeps its kept words (its text rebuilt from them) and is dropped when none is left.
    A segment without word times is kept or dropped whole by its middle."""
    out = []
    for segment in segments:
        if not segment.words:
            middle = (segment.start_s + segment.end_s) / 2
            at = plan.episode_time(middle)
            if at is None or plan.muted(segment.speaker_id, segment.start_s, segment.end_s):
                continue
            half = (segment.end_s - segment.start_s) / 2
            out.append(replace(segment, start_s=max(0.0, at - half), end_s=at + half))
            continue
        words = []
        for word in segment.words:
            middle = (word.start_s + word.end_s) / 2
            at = plan.episode_time(middle)
            if at is None or plan.muted(segment.speaker_id, word.start_s, word.end_s):
                continue
            words.append(
                Word(
                    max(0.0, at - (middle - word.start_s)),
                    at + (word.end_s - middle),
                    word.text,
                )
            )
        if not words:
            continue
        out.append(
            replace(
                segment,
                start_s=words[0].start_s,
                end_s=words[-1].end_s,
                text="".join(w.text for w in words).strip(),
                words=tuple(words),
            )
        )
    return out


# The host's audio: an intro and an outro around the cut room, a bed under it.

BED_ATTACK_S = 0.3  # the bed goes down this long before speech starts
BED_RELEASE_S = 0.8  # and comes back up over this long after it ends
BED_HOLD_S = 1.5  # a pause shorter than this keeps the bed down (no pumping between words)
HOST_EDGE_FADE_S = 0.02  # the intro's and outro's ends faded: no click where the room begins


@dataclass(frozen=True)
class HostAudioInputs:
    """The host's audio to render with a plan: each part's file and the gain (dB) bringing it
    to the speech's loudness; the bed's ducking script (``write_bed_commands``)."""

    files: Mapping[str, Path]  # audio_id -> local file
    gains_db: Mapping[str, float]  # audio_id -> gain
    bed_commands: Path | None = None


def host_gain_db(speech_lufs: float, audio_lufs: float) -> float:
    """The gain that plays the host's audio at the loudness of the room's speech (both measured
    as mono at the mix rate), so one master gain suits the whole episode."""
    return max(-60.0, min(40.0, speech_lufs - audio_lufs))


def program_windows(plan: EditPlan, windows: Iterable[tuple[float, float]]) -> list:
    """Room-time windows (speech of the published voices) on the timeline of the room part of
    the episode (the cut room, before the intro is put in front of it)."""
    return [(a - plan.lead_s, b - plan.lead_s) for a, b in plan.episode_windows(windows)]


def bed_gain_points(
    speech: Iterable[tuple[float, float]], program_s: float, bed: Bed
) -> list[tuple[float, float]]:
    """The bed's level over the room part of the episode, (second, dB) linear between: at
    ``level_db`` while nobody speaks, ``level_db + duck_db`` from ``BED_ATTACK_S`` before anyone
    speaks to when they stop, back up over ``BED_RELEASE_S``; pauses under ``BED_HOLD_S`` keep
    it down."""
    merged: list[list[float]] = []
    for a, b in sorted(speech):
        if merged and a - merged[-1][1] < BED_HOLD_S:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    idle, down = bed.level_db, bed.level_db + bed.duck_db
    points = [(0.0, idle)]
    for a, b in merged:
        start = max(points[-1][0], a - BED_ATTACK_S)
        if a <= 0:
            points = [(0.0, down)]
        else:
            points += [(start, idle), (max(start, a), down)]
        points += [(b, down), (b + BED_RELEASE_S, idle)]
    points.append((max(program_s, points[-1][0]), points[-1][1]))
    return points


def unmuted_speech(
    plan: EditPlan, speech: Mapping[str, Iterable[tuple[float, float]]]
) -> list[tuple[float, float]]:
    """Each published voice's speech windows (room time, by voice id) without what the plan's
    mutes of that voice silence: a muted voice does not duck the bed."""
    out = []
    for voice, windows in speech.items():
        pieces = list(windows)
        for ma, mb in plan.mutes_of(voice):
            pieces = [
                part
                for a, b in pieces
                for part in ((a, min(b, ma)), (max(a, mb), b))
                if part[1] > part[0]
            ]
        out += pieces
    return sorted(out)


def write_bed_commands(
    path: Path, plan: EditPlan, speech: Iterable[tuple[float, float]]
) -> Path | None:
    """The ``asendcmd`` script ducking the plan's bed under ``speech`` (room time: the
    published voices' own speech activity, see :func:`unmuted_speech`); None without a bed."""
    bed = plan.part(Bed)
    if bed is None:
        return None
    points = bed_gain_points(program_windows(plan, speech), plan.program_s, bed)
    path.write_text(volume_commands(points, "volume@bed"), encoding="utf-8")
    return path


def _host_stream(path: Path, gain_db: float, rate_hz: int, *, loop: bool = False):
    options = {"protocol_whitelist": "file", "format_whitelist": ALLOWED_DEMUXERS}
    if loop:
        options["stream_loop"] = -1
    return (
        ffmpeg.input(f"file:{path}", **options)
        .audio.filter("aresample", rate_hz)
        .filter("aformat", sample_fmts="fltp", sample_rates=rate_hz, channel_layouts="mono")
        .filter("volume", f"{gain_db:.3f}dB")
    )


def _exactly(stream, seconds: float, rate_hz: int):
    """``stream`` cut or padded (with silence) to exactly ``seconds``, its ends faded."""
    samples = round(seconds * rate_hz)
    fade = HOST_EDGE_FADE_S
    return (
        stream.filter("apad", whole_len=samples)
        .filter("atrim", end_sample=samples)
        .filter("asetpts", "PTS-STARTPTS")
        .filter("afade", t="in", d=fade)
        .filter("afade", t="out", st=f"{max(0.0, samples / rate_hz - fade):.6f}", d=fade)
    )


def host_audio_filter(
    program: ffmpeg.nodes.FilterableStream,
    plan: EditPlan,
    inputs: HostAudioInputs,
    *,
    rate_hz: int = _RATE_HZ,
) -> ffmpeg.nodes.FilterableStream:
    """The cut room (``program``, from :func:`cut_filter`) with the plan's host audio: the bed
    looped under it and ducked by its script, the intro before it (exactly ``plan.lead_s``),
    the outro after it (exactly ``plan.tail_s``). Streamed; nothing is held."""
    program = program.filter(
        "aformat", sample_fmts="fltp", sample_rates=rate_hz, channel_layouts="mono"
    )
    bed = plan.part(Bed)
    if bed is not None:
        if inputs.bed_commands is None:
            raise ValueError("a bed is rendered with its ducking script")
        samples = round(plan.program_s * rate_hz)
        music = (
            _host_stream(
                inputs.files[bed.audio_id], inputs.gains_db[bed.audio_id], rate_hz, loop=True
            )
            .filter("atrim", end_sample=samples)
            .filter("asetpts", "PTS-STARTPTS")
            .filter("asendcmd", f=str(inputs.bed_commands))
            .filter("volume@bed", volume=f"{10 ** (bed.level_db / 20):.6f}", eval="frame")
            .filter("afade", t="in", d=1.0)
            .filter("afade", t="out", st=f"{max(0.0, plan.program_s - 2.0):.3f}", d=2.0)
        )
        program = ffmpeg.filter([program, music], "amix", inputs=2, duration="first", normalize=0)
    pieces = [program]
    for kind, seconds, first in ((Intro, plan.lead_s, True), (Outro, plan.tail_s, False)):
        part = plan.part(kind)
        if part is None:
            continue
        stream = _host_stream(inputs.files[part.audio_id], inputs.gains_db[part.audio_id], rate_hz)
        piece = _exactly(stream, seconds, rate_hz)
        if first:
            pieces.insert(0, piece)
        else:
            pieces.append(piece)
    if len(pieces) == 1:
        return program
    return ffmpeg.filter(pieces, "concat", n=len(pieces), v=0, a=1)


def measure_host_audio(path: Path, *, label: str, timeout_s: float) -> Loudness:
    """The host's audio's loudness as it is rendered (mono at the mix rate); silent audio is
    refused (it has no loudness to match to the speech)."""
    stream = (
        ffmpeg.input(f"file:{path}", protocol_whitelist="file", format_whitelist=ALLOWED_DEMUXERS)
        .audio.filter("aresample", _RATE_HZ)
        .filter("aformat", sample_fmts="fltp", sample_rates=_RATE_HZ, channel_layouts="mono")
        .filter("ebur128", peak="true")
    )
    args = ffmpeg.output(stream, "-", format="null").compile(cmd=[])
    run = run_ffmpeg(args, timeout_s=timeout_s, what=f"measuring {label}")
    summaries = parse_ebur128_summaries(run.stderr)
    if not summaries or summaries[-1].silent:
        raise InvalidTrack(f"{label}: the audio is silent")
    return summaries[-1]
