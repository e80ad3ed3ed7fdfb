"""Spaces made of known topics, one after another, for measuring chapters: each topic is a script
of turns from a seeded grammar that mixes the topic's own words with everyday talk shared by
every topic, spoken by alternating espeak-ng voices; the times the topic changes are the truth.

The change of topic falls at a turn, with the same pause as any other turn (drawn from one
range), so a method cannot find it from the pause alone.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.samples import SPEECH_RATE_HZ, speak, write_track

TOPICS_VERSION = 1

VOICES = {"alice": "en-us+f3", "bruno": "en-us+m3", "chioma": "en-gb+f4"}

# Each topic: things, what is done to them, and how they are.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "gardening": (
        ("tomatoes", "the compost heap", "seedlings", "the greenhouse", "rose bushes", "the soil",
         "earthworms", "the vegetable patch", "runner beans", "the watering can", "weeds"),
        ("planted", "watered", "pruned", "dug up", "fertilized", "harvested"),
        ("leafy", "muddy", "ripe", "sprouting", "flowering"),
    ),
    "astronomy": (
        ("the telescope", "Jupiter", "the moon", "a comet", "the galaxy", "Saturn's rings",
         "the night sky", "a meteor shower", "the planets", "distant stars", "the orbit"),
        ("observed", "photographed", "tracked", "measured", "spotted", "mapped"),
        ("bright", "faint", "distant", "shining", "cosmic"),
    ),
    "baking": (
        ("the sourdough", "the oven", "flour", "the dough", "butter", "the pastry", "yeast",
         "a chocolate cake", "the bread tin", "cinnamon rolls", "the icing"),
        ("kneaded", "baked", "whisked", "proved", "glazed", "sliced"),
        ("crusty", "golden", "sweet", "fluffy", "buttery"),
    ),
    "football": (
        ("the goalkeeper", "the striker", "the penalty", "the referee", "the league", "the stadium",
         "the midfield", "a corner kick", "the coach", "the defenders", "the final whistle"),
        ("scored", "tackled", "defended", "passed", "booked", "substituted"),
        ("offside", "unbeaten", "relegated", "brilliant", "nervous"),
    ),
    "sailing": (
        ("the mainsail", "the harbour", "the rudder", "the anchor", "the tide", "the yacht",
         "the crew", "a strong gale", "the mast", "the lighthouse", "the waves"),
        ("hoisted", "steered", "anchored", "moored", "navigated", "capsized"),
        ("salty", "windy", "choppy", "coastal", "calm"),
    ),
    "railways": (
        ("the locomotive", "the timetable", "the platform", "the signal box", "the carriages",
         "the steam engine", "the railway line", "the ticket office", "the junction",
         "the freight train", "the tunnel"),
        ("delayed", "electrified", "shunted", "coupled", "restored", "scheduled"),
        ("punctual", "crowded", "narrow gauge", "express", "rusty"),
    ),
    "computers": (
        ("the database", "the compiler", "the server", "the keyboard", "the software",
         "the algorithm", "the network", "a memory leak", "the processor", "the source code",
         "the backup"),
        ("compiled", "debugged", "installed", "deployed", "rebooted", "encrypted"),
        ("slow", "secure", "virtual", "digital", "broken"),
    ),
    "beekeeping": (
        ("the beehive", "the queen bee", "honeycomb", "the worker bees", "pollen", "the swarm",
         "the smoker", "beeswax", "the nectar", "the colony", "the hive frames"),
        ("inspected", "smoked", "extracted", "collected", "split", "fed"),
        ("buzzing", "sticky", "healthy", "gentle", "busy"),
    ),
}  # fmt: skip

_PEOPLE = ("my brother", "our neighbour", "my aunt", "a friend of mine", "the old man next door",
           "my cousin", "everybody here", "our host")  # fmt: skip
_WHEN = ("last weekend", "on Sunday", "every spring", "after work", "in the evening",
         "a few years ago", "this morning", "during the holidays")  # fmt: skip
_OPENERS = ("I think", "Honestly", "You know", "Well", "To be fair", "Funny thing is",
            "I remember", "As far as I can tell")  # fmt: skip
_REPLIES = ("That is so true.", "I had no idea.", "Really? Tell me more.", "Oh, I love that.",
            "Same here, to be honest.")  # fmt: skip


def topic_sentence(topic: str, rng: random.Random) -> str:
    things, doings, kinds = TOPICS[topic]
    a, b = rng.sample(things, 2)
    did, kind = rng.choice(doings), rng.choice(kinds)
    form = rng.randrange(5)
    if form == 0:
        return f"{rng.choice(_OPENERS)}, {rng.choice(_PEOPLE)} {did} {a} {rng.choice(_WHEN)}."
    if form == 1:
        return f"{a[:1].upper() + a[1:]} was {kind}, so we {did} {b}."
    if form == 2:
        return f"Have you ever {did} {a} when {b} is {kind}?"
    if form == 3:
        return f"{rng.choice(_WHEN).capitalize()}, {rng.choice(_PEOPLE)} {did} {a} and {b}."
    return f"{rng.choice(_OPENERS)}, {a} and {b} are always {kind} {rng.choice(_WHEN)}."


@dataclass(frozen=True)
class Turn:
    speaker_id: str
    topic: str
    text: str
    start_s: float
    end_s: float


def plan_topic_turns(
    topics: list[tuple[str, float]], cache: Path, *, seed: int = 7
) -> tuple[list[Turn], list[float]]:
    """Turns on the room timeline for ``topics`` (name, seconds) in sequence, and the times the
    topic changes. Speakers take turns in rotation; a turn is one or two topic sentences, now
    and then followed by a short reply from the next speaker."""
    rng = random.Random(seed)
    speakers = list(VOICES)
    turns: list[Turn] = []
    changes: list[float] = []
    clock = 0.5
    who = 0
    for index, (topic, seconds) in enumerate(topics):
        if index:
            changes.append(round(clock, 3))
        until = clock + seconds
        while clock < until:
            speaker = speakers[who % len(speakers)]
            who += 1
            if turns and rng.random() < 0.15:
                text = rng.choice(_REPLIES)
            else:
                text = " ".join(topic_sentence(topic, rng) for _ in range(rng.choice((1, 2))))
            duration = len(speak(text, VOICES[speaker], cache)) / SPEECH_RATE_HZ
            turns.append(Turn(speaker, topic, text, round(clock, 3), round(clock + duration, 3)))
            clock += duration + rng.uniform(0.3, 0.9)
    return turns, changes


def build_topic_space(topics: list[tuple[str, float]], out_dir: Path, *, seed: int = 7) -> dict:
    """Write (or reuse) one WAV track per speaker and ``truth.json``; return the truth (turns,
    topic changes, duration, track paths)."""
    params = {"version": TOPICS_VERSION, "topics": topics, "seed": seed}
    truth_path = out_dir / "truth.json"
    if truth_path.exists():
        truth = json.loads(truth_path.read_text())
        if truth["params"] == json.loads(json.dumps(params)):
            return truth
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir / ".speech"
    cache.mkdir(exist_ok=True)
    turns, changes = plan_topic_turns(topics, cache, seed=seed)
    duration_s = round(turns[-1].end_s + 1.0, 3)
    tracks = {}
    for index, speaker in enumerate(VOICES):
        path = out_dir / f"{speaker}.wav"
        own = ((t.start_s, speak(t.text, VOICES[speaker], cache)) for t in turns
               if t.speaker_id == speaker)  # fmt: skip
        write_track(path, "wav", 16_000, 1, 0.0, duration_s, own, index)
        tracks[speaker] = str(path)
    truth = {
        "params": params,
        "turns": [asdict(t) for t in turns],
        "changes_s": changes,
        "duration_s": duration_s,
        "tracks": tracks,
    }
    truth_path.write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth
