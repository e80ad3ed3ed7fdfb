"""The benchmark's space: four espeak-ng speakers, each on their own Opus track (48 kHz mono) of a
given length, joining at staggered times, each talking about a quarter of the time, with every
word they say known.

Sentences are made from a seeded grammar of everyday words, so every turn is distinct and the
script is reproducible; espeak-ng speaks each turn once (about 200x real time) into a cache, and
each track is encoded as a stream with one turn in memory at a time. A built scenario is kept in
its folder and reused while its parameters are the same.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.samples import SPEECH_RATE_HZ, speak, write_track

SCENARIO_VERSION = 1


@dataclass(frozen=True)
class Speaker:
    id: str
    name: str
    role: str
    voice: str
    join_s: float


SPEAKERS = (
    Speaker("alice", "Alice", "host", "en-us+f3", 0.0),
    Speaker("bruno", "Bruno", "speaker", "en-us+m3", 20.0),
    Speaker("chioma", "Chioma", "speaker", "en-gb+f4", 45.0),
    Speaker("dan", "Dan", "speaker", "en-gb-scotland", 75.0),
)

_SUBJECTS = (
    "the baker", "my brother", "the mayor", "our teacher", "the old fisherman", "a young painter",
    "the bus driver", "my sister", "the librarian", "the farmer", "the doctor", "our neighbor",
    "the gardener", "a tall student", "the shop keeper", "my cousin", "the captain", "the nurse",
)  # fmt: skip
_VERBS = (
    "carried", "painted", "repaired", "found", "sold", "borrowed", "cleaned", "opened",
    "delivered", "described", "brought", "wrapped", "moved", "checked", "lost", "bought",
)  # fmt: skip
_OBJECTS = (
    "a wooden chair", "the green bicycle", "fresh bread", "an old map", "the garden gate",
    "a basket of apples", "the blue umbrella", "a heavy box", "the kitchen table", "a warm coat",
    "the broken clock", "a bag of potatoes", "the front door", "a small boat", "the red kite",
    "a pair of boots", "the school bell", "a jar of honey",
)  # fmt: skip
_PLACES = (
    "near the river", "behind the station", "at the market", "in the library", "on the hill",
    "by the old bridge", "in the town square", "at the harbor", "under the big tree",
    "next to the bakery", "in the park", "along the beach", "outside the museum",
)  # fmt: skip
_TIMES = (
    "on Monday morning", "last winter", "after the concert", "before lunch", "every Sunday",
    "in the evening", "during the storm", "at sunrise", "last weekend", "after school",
)  # fmt: skip
_OPENERS = (
    "I think", "Honestly", "As far as I know", "Believe it or not", "By the way", "Remember when",
    "Well", "You know",
)  # fmt: skip


def _sentence(rng: random.Random) -> str:
    s, v, o = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    form = rng.randrange(5)
    if form == 0:
        return f"{s.capitalize()} {v} {o} {rng.choice(_PLACES)} {rng.choice(_TIMES)}."
    if form == 1:
        return f"{rng.choice(_OPENERS)}, {s} {v} {o} {rng.choice(_PLACES)}."
    if form == 2:
        return f"Did you hear that {s} {v} {o} {rng.choice(_TIMES)}?"
    if form == 3:
        s2, v2, o2 = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
        return f"{s.capitalize()} {v} {o}, and then {s2} {v2} {o2}."
    return f"{rng.choice(_TIMES).capitalize()}, {s} {v} {o} {rng.choice(_PLACES)}."


@dataclass(frozen=True)
class Turn:
    speaker_id: str
    text: str
    start_s: float
    end_s: float


def plan_turns(
    minutes: float, speech_cache: Path, *, seed: int = 11, speakers=SPEAKERS
) -> list[Turn]:
    """Turns on the room timeline. Each speaker is present from their join for ``minutes``; the
    one present who has talked least so far (as a share of their time present) takes the next
    turn, so everyone talks about a quarter of the time. Speaks every turn into the cache."""
    rng = random.Random(seed)
    leave = {s.id: s.join_s + minutes * 60.0 for s in speakers}
    voices = {s.id: s.voice for s in speakers}
    talked = dict.fromkeys(leave, 0.0)
    turns: list[Turn] = []
    clock = 0.5
    end_s = max(leave.values()) - 1.0
    while clock < end_s:
        present = [s for s in speakers if s.join_s + 0.5 <= clock < leave[s.id] - 20.0]
        if not present:
            clock += 0.5
            continue
        previous = turns[-1].speaker_id if turns else None
        candidates = [s for s in present if s.id != previous] or present
        who = min(candidates, key=lambda s: talked[s.id] / max(clock - s.join_s, 1.0))
        text = " ".join(_sentence(rng) for _ in range(rng.choice((1, 1, 2))))
        samples = speak(text, voices[who.id], speech_cache)
        duration = len(samples) / SPEECH_RATE_HZ
        turns.append(Turn(who.id, text, round(clock, 3), round(clock + duration, 3)))
        talked[who.id] += duration
        clock += duration + rng.uniform(0.3, 0.8)
    return turns


def build_scenario(minutes: float, out_dir: Path, *, seed: int = 11) -> Path:
    """Write (or reuse) the space's tracks, ``manifest.json`` and ``truth.json``; return the
    manifest's path."""
    params = {"version": SCENARIO_VERSION, "minutes": minutes, "seed": seed}
    manifest_path = out_dir / "manifest.json"
    stamp = out_dir / "scenario.json"
    if manifest_path.exists() and stamp.exists() and json.loads(stamp.read_text()) == params:
        return manifest_path
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".speech"
    cache.mkdir(exist_ok=True)
    turns = plan_turns(minutes, cache, seed=seed)
    voices = {s.id: s.voice for s in SPEAKERS}

    def _write(index: int, speaker: Speaker) -> None:
        own = ((t.start_s, speak(t.text, voices[t.speaker_id], cache)) for t in turns
               if t.speaker_id == speaker.id)  # fmt: skip
        write_track(
            out_dir / f"{speaker.id}.opus",
            "opus",
            48_000,
            1,
            speaker.join_s,
            speaker.join_s + minutes * 60.0,
            own,
            index,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(_write, i, s) for i, s in enumerate(SPEAKERS)]:
            future.result()
    manifest = {
        "space": {
            "id": f"bench-{minutes:g}min",
            "title": f"Benchmark space, {len(SPEAKERS)} x {minutes:g} min",
            "started_at": "2026-11-20T18:00:00Z",
            "language": "en",
        },
        "show": {
            "title": "Spacecast Benchmarks",
            "author": "Alice",
            "description": "Long synthetic spaces with a known script.",
            "link": "https://example.org/bench",
        },
        "participants": [
            {
                "id": s.id,
                "name": s.name,
                "role": s.role,
                "track": f"{s.id}.opus",
                "offset": s.join_s,
                "consent": {"record": True, "publish": True},
            }
            for s in SPEAKERS
        ],
    }
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    truth = {
        "utterances": [asdict(t) for t in turns],
        "duration_s": max(s.join_s for s in SPEAKERS) + minutes * 60.0,
        "speakers": {s.id: s.name for s in SPEAKERS},
        "track_s": minutes * 60.0,
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    stamp.write_text(json.dumps(params))
    return manifest_path
