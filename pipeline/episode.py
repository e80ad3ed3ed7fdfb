"""What an episode publishes besides its audio: transcript files, feed persons and its guid."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from pipeline.activity import SpeechActivity
from pipeline.consent import Publication
from pipeline.feed import Person, TranscriptLink
from pipeline.transcribe import AUTO
from pipeline.transcript import (
    JSON_MIME,
    SRT_MIME,
    VTT_MIME,
    Segment,
    to_podcast_json,
    to_srt,
    to_webvtt,
)

# Room roles mapped to the Podcasting 2.0 person taxonomy (group "cast").
PERSON_ROLES = {"host": "host", "cohost": "co-host", "speaker": "guest", "guest": "guest"}

TRANSCRIPT_FILES = {
    "json": ("transcript.json", JSON_MIME),
    "vtt": ("transcript.vtt", VTT_MIME),
    "srt": ("transcript.srt", SRT_MIME),
}


def write_transcripts(segments: Sequence[Segment], out_dir: Path) -> dict[str, Path]:
    """Write the transcript in every published format; return each file by format."""
    texts = {
        "json": json.dumps(to_podcast_json(segments), ensure_ascii=False, indent=1),
        "vtt": to_webvtt(segments),
        "srt": to_srt(segments),
    }
    paths = {}
    for key, (name, _) in TRANSCRIPT_FILES.items():
        path = out_dir / name
        path.write_text(texts[key], encoding="utf-8")
        paths[key] = path
    return paths


def episode_language(room_language: str, transcription: dict[str, dict]) -> str:
    """The language the episode is announced in: the room's, or for an ``auto`` room the one
    detected on the most transcribed audio (English when nobody was transcribed)."""
    if room_language.lower() != AUTO:
        return room_language
    heard: dict[str, float] = {}
    for stats in transcription.values():
        language = stats.get("language")
        if language and language != AUTO:
            heard[language] = heard.get(language, 0.0) + float(stats.get("audio_s") or 0.0)
    return max(heard, key=lambda k: heard[k]) if heard else "en"


def transcript_links(urls: dict[str, str], language: str) -> list[TranscriptLink]:
    """Feed links for transcript URLs keyed by format; WebVTT and SRT are time-coded captions."""
    links = []
    for key in ("vtt", "srt", "json"):
        if key in urls:
            rel = "captions" if key in ("vtt", "srt") else None
            links.append(TranscriptLink(urls[key], TRANSCRIPT_FILES[key][1], language, rel))
    return links


def persons(participants: Sequence[tuple[str, str]]) -> list[Person]:
    """Feed persons from (name, room role) pairs of the audible participants."""
    return [Person(name=name, role=PERSON_ROLES.get(role, "guest")) for name, role in participants]


def episode_guid(show_key: str, space_id: str) -> str:
    """A guid that stays the same whenever the same space of the same show is published again."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"spacecast:{show_key}:{space_id}"))


def episode_description(description: str | None, started_on: str, names: Sequence[str]) -> str:
    """The item description: the host's own, or who spoke and when."""
    if description:
        return description
    people = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
    return f"Recorded live on {started_on} with {people}."


def missing_summary(consent: Publication, activity: dict[str, SpeechActivity]) -> list[dict]:
    """Who has not answered, and how much of the conversation they spoke (when recorded)."""
    total = sum(a.speech_s for a in activity.values()) or 1.0
    return [
        {
            "participant_id": e.participant_id,
            "name": e.name,
            "speech_s": round(activity[e.participant_id].speech_s, 2)
            if e.participant_id in activity
            else 0.0,
            "share_of_speech": round(activity[e.participant_id].speech_s / total, 3)
            if e.participant_id in activity
            else 0.0,
        }
        for e in consent.missing
    ]
