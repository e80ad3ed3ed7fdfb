"""The space manifest: who spoke in a room, on which track, from when, with what consent.

``load_manifest`` is the edge where a JSON file becomes validated domain values; every error it
raises names the file and the field at fault.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import InvalidManifest
from pipeline.transcribe import speaker_language, validated_language

Role = Literal["host", "cohost", "speaker", "guest"]


class Consent(BaseModel):
    """A participant's answers, in the shorthand ``pipeline.consent.entries_from_shorthand``
    expands: an absent purpose is unanswered, which counts as a refusal."""

    model_config = ConfigDict(extra="allow")

    record: bool | None = None
    publish: bool | None = None
    transcribe: bool | None = None
    clip: bool | None = None


class SpaceInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    description: str | None = None
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    language: str = Field(
        default="en",
        min_length=2,
        max_length=35,
        description="what the room speaks: a language tag, or 'auto' to detect it per speaker",
    )

    _language = field_validator("language")(validated_language)

    @field_validator("started_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class ShowInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: str = Field(min_length=1, max_length=500)
    author: str = Field(min_length=1, max_length=500)
    description: str = ""
    link: str | None = None
    image: str | None = None
    language: str | None = None
    category: str = "Society & Culture"
    explicit: bool = False
    email: str | None = None
    process_speakers: bool = Field(
        default=True,
        description="repair hum and noise on every published track and bring every voice to one "
        "loudness before the mix (false: the sound as recorded)",
    )


class ParticipantInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    role: Role = "speaker"
    track: str = Field(min_length=1)
    offset: float = Field(
        ge=0.0, description="seconds on the room timeline of the track's first sample"
    )
    end: float | None = Field(
        default=None,
        gt=0.0,
        description="seconds on the room timeline of the track's last sample, to the "
        "millisecond, as the room's clock has it (optional: the track's length against "
        "end - offset measures its recorder's clock drift)",
    )
    consent: Consent = Field(default_factory=Consent)
    language: str | None = Field(
        default=None,
        min_length=2,
        max_length=35,
        description="what this participant speaks, when not the room's language",
    )

    _language = field_validator("language")(validated_language)

    def speaks(self, room_language: str) -> str:
        return speaker_language(self.language, room_language)

    @field_validator("offset", "end")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number of seconds")
        return value

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> ParticipantInfo:
        if self.end is not None and self.end <= self.offset:
            raise ValueError(
                f"end ({self.end:g} s) must be after offset ({self.offset:g} s): both are "
                "room-time seconds, of the track's first sample and of its last"
            )
        return self

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ch in value for ch in "\r\n\t<>"):
            raise ValueError("must not contain line breaks, tabs or angle brackets")
        return value.strip()


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    space: SpaceInfo
    show: ShowInfo
    participants: list[ParticipantInfo] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        seen_ids: set[str] = set()
        seen_tracks: set[str] = set()
        for index, participant in enumerate(self.participants):
            if participant.id in seen_ids:
                raise ValueError(f"participants[{index}].id {participant.id!r} appears twice")
            if participant.track in seen_tracks:
                raise ValueError(
                    f"participants[{index}].track {participant.track!r} is used by two participants"
                )
            seen_ids.add(participant.id)
            seen_tracks.add(participant.track)
        return self


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = "".join(
        f"[{part}]" if isinstance(part, int) else (f".{part}" if i else str(part))
        for i, part in enumerate(first["loc"])
    )
    message = first["msg"].removeprefix("Value error, ")
    more = len(error.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"


def parse_manifest(data: object, *, source: str = "manifest") -> Manifest:
    """Validate already-decoded manifest data."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidManifest(f"{source}: {_describe(exc)}") from None


def load_manifest(path: Path) -> tuple[Manifest, dict[str, Path]]:
    """Read and validate a manifest file; return it with each participant's resolved track path."""
    label = path.name
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidManifest(f"{path}: manifest file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidManifest(f"{path}: cannot read manifest ({exc})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidManifest(
            f"{label}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    manifest = parse_manifest(data, source=label)
    folder = path.resolve().parent
    tracks: dict[str, Path] = {}
    for participant in manifest.participants:
        track = (folder / participant.track).resolve()
        if not track.is_file():
            raise InvalidManifest(
                f"{participant.track}: track of participant {participant.id!r} not found "
                f"(looked in {folder})"
            )
        tracks[participant.id] = track
    return manifest, tracks
