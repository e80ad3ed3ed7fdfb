"""Request and response bodies of the API (separate from the database models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictBool

HANDLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Role = Literal["host", "cohost", "speaker", "guest"]


class ShowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    author: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=10_000)
    link: AnyHttpUrl | None = None
    image_url: AnyHttpUrl | None = Field(
        default=None, description="square JPEG or PNG, 1400-3000 px"
    )
    language: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    category: str = Field(default="Society & Culture", max_length=200)
    explicit: StrictBool = False
    owner_email: str | None = Field(
        default=None, pattern=r"^[^@ \t\r\n]+@[^@ \t\r\n]+\.[^@ \t\r\n]+$"
    )


class ShowOut(ShowIn):
    model_config = ConfigDict(extra="ignore")

    id: str
    feed_url: str
    created_at: datetime


class ConsentIn(BaseModel):
    """Answers per purpose; an absent purpose is not answered (and so refused). At registration,
    an absent transcribe or clip takes publish's answer."""

    model_config = ConfigDict(extra="forbid")

    record: StrictBool | None = Field(default=None, description="raw track kept, for moderation")
    publish: StrictBool | None = Field(
        default=None, description="audible in the episode, named in the feed"
    )
    transcribe: StrictBool | None = Field(
        default=None, description="words in published transcripts"
    )
    clip: StrictBool | None = Field(default=None, description="audible in clips")


class ConsentOut(BaseModel):
    record: bool | None
    publish: bool | None
    transcribe: bool | None
    clip: bool | None
    withdrawn: list[str] = Field(description="purposes granted, then withdrawn")


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=HANDLE_PATTERN, description="the room's own id for this participant")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\r\n\t<>]+$")
    role: Role = "speaker"
    offset: float = Field(
        ge=0.0, le=7 * 24 * 3600.0, description="room-time second of the track's first sample"
    )
    consent: ConsentIn = Field(default_factory=ConsentIn)


class ParticipantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\r\n\t<>]+$")
    role: Role | None = None
    offset: float | None = Field(default=None, ge=0.0, le=7 * 24 * 3600.0)


class TrackOut(BaseModel):
    sha256: str
    size_bytes: int
    format_name: str
    codec: str
    sample_rate_hz: int
    channels: int
    duration_s: float
    uploaded_at: datetime
    chunk_count: int | None = Field(
        default=None, description="assembled from this many live chunks (None: uploaded whole)"
    )
    chunks_sha256: str | None = Field(
        default=None, description="SHA-256 of the chunks' bytes in sequence order"
    )


class ChunkOut(BaseModel):
    seq: int
    start_sample: int = Field(description="position on the participant's track, 48 kHz samples")
    samples: int
    start_s: float
    duration_s: float
    sha256: str
    stored: bool = Field(description="false: this chunk had already been acknowledged")


class ChunkListOut(BaseModel):
    participant: str
    rate_hz: int
    format: str
    chunks: list[ChunkOut]
    next_seq: int = Field(description="the sequence number a resumed upload continues with")
    next_start_sample: int = Field(description="where the last acknowledged chunk ends")
    acknowledged_s: float = Field(description="seconds of audio acknowledged")
    assembled: bool
    track: TrackOut | None


class ChunksFinishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunks: int = Field(ge=1, description="how many chunks were sent (sequence 0 to chunks-1)")
    sha256: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 of every chunk's bytes, concatenated in sequence order",
    )


class DeadLetterOut(BaseModel):
    id: str
    message_id: str
    queue: str
    actor: str
    args: list
    space_id: str | None
    reason: str
    failed_at: datetime
    retried_at: datetime | None
    retries: int


class ParticipantOut(BaseModel):
    id: str
    name: str
    role: str
    offset: float
    joined_at: datetime | None
    consent: ConsentOut
    speech_s: float | None = Field(description="seconds of speech on their track, once measured")
    track: TrackOut | None


class SpaceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    started_at: datetime | None = None
    language: str = Field(default="en", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=500)


class StageOut(BaseModel):
    stage: str
    participant: str | None
    status: str
    progress: float
    attempts: int
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class EpisodeOut(BaseModel):
    id: str
    space_id: str
    guid: str
    title: str
    description: str
    published_at: datetime
    duration_s: float
    audio: dict[str, str]
    transcripts: dict[str, str]
    loudness: dict
    persons: list[dict]
    feed_url: str


class MissingOut(BaseModel):
    participant: str
    name: str
    speech_s: float | None
    share_of_speech: float | None


class ExclusionOut(BaseModel):
    participant: str
    name: str
    excluded_from: str
    status: str
    reason: str
    speech_s: float | None


class RetentionOut(BaseModel):
    ended_at: datetime
    expires_at: datetime = Field(description="end of the retention period, holds aside")
    deletes_at: datetime | None = Field(description="when the sweep deletes it; null while held")
    held: bool
    held_until: datetime | None
    reason: str
    deleted_at: datetime | None = Field(description="when the sweeper deleted the recordings")


class SpaceOut(BaseModel):
    id: str
    show_id: str
    title: str
    description: str | None
    language: str
    started_at: datetime
    status: str = Field(description="recording, processing, held, published, unpublished or failed")
    error: str | None
    progress: float
    notice: str
    missing_policy: str
    duck_excluded: bool
    participants: list[ParticipantOut]
    excluded: list[ExclusionOut]
    missing: list[MissingOut] = Field(description="who has not answered, and how much they spoke")
    bleed: list[dict] = Field(description="excluded speakers found on published microphones")
    stages: list[StageOut]
    episode: EpisodeOut | None
    recordings: RetentionOut = Field(
        description="when the raw recordings kept for moderators expire, and why they are held"
    )


class FinishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    missing: Literal["hold", "exclude"] = Field(
        default="hold",
        description="while someone has not answered: hold publication, or publish without them",
    )
    duck_excluded: StrictBool = Field(
        default=False, description="lower every track while an excluded speaker bleeds into it"
    )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    missing: Literal["hold", "exclude"] | None = None
    duck_excluded: StrictBool | None = None


class AnswersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: ConsentIn
    note: str | None = Field(default=None, max_length=1000)


class LedgerEntryOut(BaseModel):
    purpose: str
    granted: bool
    source: str
    actor: str
    recorded_at: datetime
    note: str | None


class LedgerOut(BaseModel):
    participant: str
    name: str
    consent: ConsentOut
    entries: list[LedgerEntryOut]


class PromptItem(BaseModel):
    purpose: str
    question: str
    answer: bool | None


class JoinOut(BaseModel):
    notice: str
    prompt: list[PromptItem]
    participant_key: str = Field(description="the participant's own key: answers and self-service")


class InviteOut(BaseModel):
    url: str
    participant_key: str
    expires_at: datetime


class ParticipationOut(BaseModel):
    space_id: str
    space_title: str
    participant: str
    name: str
    notice: str
    prompt: list[PromptItem]
    consent: ConsentOut
    entries: list[LedgerEntryOut]
    track_retained: bool
    track_sha256: str | None


class SearchHit(BaseModel):
    episode_id: str
    episode_title: str
    speaker: str
    start_s: float
    end_s: float
    text: str
    audio_url: str


class ErrorOut(BaseModel):
    detail: str = Field(description="what is wrong, in words a user can act on")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\r\n\t<>]+$")
    roles: list[Literal["admin", "host", "moderator", "listener"]] = Field(
        min_length=1, max_length=4
    )


class ListenerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\r\n\t<>]+$")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(default="", max_length=200)


class KeyOut(BaseModel):
    id: str
    label: str
    created_at: datetime
    token: str | None = Field(default=None, description="shown once, when the key is made")


class UserOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    created_at: datetime


class Credentials(BaseModel):
    user: UserOut
    key: KeyOut


class WhoAmI(BaseModel):
    user_id: str | None
    roles: list[str]
    show_id: str | None
    participant_id: str | None


class ClipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_s: float = Field(ge=0.0, le=7 * 24 * 3600.0)
    end_s: float = Field(gt=0.0, le=7 * 24 * 3600.0)
    title: str = Field(default="", max_length=200, pattern=r"^[^\r\n\t<>]*$")
    timeline: Literal["episode", "room"] = Field(
        default="episode", description="seconds into the episode, or on the room's timeline"
    )


class ClipCheckOut(BaseModel):
    """Whether a range could be cut now, before cutting it."""

    start_s: float
    end_s: float
    duration_s: float
    speakers: list[str] = Field(description="the episode's speakers heard in the range")
    blocked_by: list[str] = Field(
        description="those heard who do not allow clips (or are heard though not published)"
    )
    allowed: bool
    problems: list[str] = Field(description="why it would be refused, as the refusal says it")


class ClipPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=200, pattern=r"^[^\r\n\t<>]*$")
    pinned: StrictBool | None = Field(default=None, description="host only: outlives the episode")
    soundbite: StrictBool | None = Field(default=None, description="host only: listed in the feed")


class ClipLine(BaseModel):
    speaker: str
    startTime: float
    endTime: float
    body: str


class ClipOut(BaseModel):
    id: str
    episode_id: str
    title: str
    start_s: float = Field(description="seconds into the episode")
    end_s: float
    duration_s: float
    status: str = Field(description="queued, ready, failed, withdrawn, expired or deleted")
    error: str | None
    made_by: str
    speakers: list[str]
    transcript: list[ClipLine]
    audio_url: str | None
    audiogram_url: str | None
    captions_url: str | None
    share_url: str
    context_url: str = Field(description="the full episode at the clip's moment")
    pinned: bool
    soundbite: bool
    replays: int
    render_s: float | None
    created_at: datetime


class SuggestionOut(BaseModel):
    start_s: float
    end_s: float
    score: float
    speakers: list[str]
    reasons: list[str]
    preview: str


# Moderation

ComplaintCategory = Literal[
    "harassment",
    "hate",
    "violence",
    "sexual",
    "self_harm",
    "privacy",
    "spam",
    "copyright",
    "misinformation",
    "other",
]


class ComplaintIn(BaseModel):
    """What is reported. Listeners name a published episode (``episode_id``) or a clip
    (``clip_id``); participants report in their own space; hosts in their own spaces
    (``space_id``). ``speaker`` is a participant's handle or name; ``start_s``/``end_s`` are on
    the episode's timeline when an episode is named, else on the room's."""

    model_config = ConfigDict(extra="forbid")

    target: Literal["space", "speaker", "range", "episode", "clip"]
    space_id: str | None = Field(default=None, min_length=1, max_length=32)
    episode_id: str | None = Field(default=None, min_length=1, max_length=32)
    clip_id: str | None = Field(default=None, min_length=1, max_length=32)
    speaker: str | None = Field(default=None, min_length=1, max_length=200)
    start_s: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    end_s: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    category: ComplaintCategory
    text: str = Field(default="", max_length=5000)


class ComplaintOut(BaseModel):
    id: str
    space_id: str
    target: str
    speaker: str | None
    episode_id: str | None
    clip_id: str | None
    start_s: float | None = Field(description="room timeline")
    end_s: float | None
    category: str
    text: str
    status: str = Field(description="open, escalated, dismissed or actioned")
    decision: str | None
    decided_at: datetime | None
    created_at: datetime


class QueueItemOut(ComplaintOut):
    reports: int = Field(description="undecided complaints about the same space")
    space_title: str
    retention: RetentionOut


class ReviewLineOut(BaseModel):
    speaker: str
    participant: str
    start_s: float
    end_s: float
    text: str
    published: bool = Field(description="also in the published transcript")


class ReviewTrackOut(BaseModel):
    participant: str
    name: str
    offset_s: float
    duration_s: float
    sha256: str
    audio_url: str = Field(description="the reported window on this speaker's own track")


class ReviewOut(BaseModel):
    complaint: ComplaintOut
    space_title: str
    reports: int
    window: dict = Field(description="start_s and end_s on the room timeline, with padding")
    accused: str | None = Field(description="handle of the reported speaker")
    tracks: list[ReviewTrackOut]
    mix_url: str = Field(description="the window on the mix of every retained track")
    transcript_status: str = Field(
        description="ready, or pending while review transcripts are made"
    )
    transcript: list[ReviewLineOut]
    retention: RetentionOut
    audit: list[dict]


class ModerationDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["dismiss", "remove_episode", "remove_clip", "remove_speaker", "escalate"]
    reason: str = Field(min_length=3, max_length=5000)
    speaker: str | None = Field(
        default=None, max_length=200, description="for remove_speaker, when not the reported one"
    )


class AuditOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    space_id: str | None
    complaint_id: str | None
    reason: str
    detail: dict


class DeletionOut(BaseModel):
    space_id: str
    object_key: str
    reason: str
    requested_at: datetime
    deleted_at: datetime | None
    attempts: int
    last_error: str | None
