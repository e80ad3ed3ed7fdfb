"""Request and response bodies of the API (separate from the database models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictBool, field_validator

from pipeline.feed import ITUNES_CATEGORIES
from pipeline.statements import CATEGORIES
from pipeline.text import refused_class, text_problem
from pipeline.transcribe import validated_language

HANDLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A person's name: one line, no angle brackets, none of the characters pipeline.text refuses.
NAME_PATTERN = rf"^[^<>{refused_class()}]+$"
TITLE_PATTERN = rf"^[^<>{refused_class()}]*$"
_EMAIL_PART = rf"[^@ {refused_class()}]+"
EMAIL_PATTERN = rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"
Role = Literal["host", "cohost", "speaker", "guest"]
# What a room or a speaker speaks: a language tag (its primary language one Whisper knows), or
# "auto" to detect it from the speech.
SPEECH_LANGUAGE_PATTERN = r"^(auto|[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)$"
LANGUAGE_MAX = 35  # the database's column (BCP 47 tags fit in 35 characters)
# Free text that may span lines; every other string field is one line.
_MULTILINE_FIELDS = frozenset({"description", "text", "reason", "note"})


def _check_text(value: object, *, multiline: bool) -> None:
    if isinstance(value, str):
        problem = text_problem(value, multiline=multiline)
        if problem:
            raise ValueError(problem)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item, multiline=multiline)


def _declare_clean_text(schema: dict) -> None:
    """Say in the JSON schema what the check refuses: a pattern on every string property that
    has none of its own (so clients and schema-driven tests know)."""
    for name, prop in schema.get("properties", {}).items():
        variants = prop.get("anyOf", [prop])
        for variant in variants:
            if variant.get("type") != "string" or "pattern" in variant or "enum" in variant:
                continue
            if variant.get("format") == "uri":  # AnyHttpUrl: an http(s) URL
                variant["pattern"] = r"^https?://[A-Za-z0-9]"
            else:
                multiline = name in _MULTILINE_FIELDS
                variant["pattern"] = f"^[^{refused_class(multiline=multiline)}]*$"


class InputModel(BaseModel):
    """A request body: unknown fields are refused, and so is text that would break a feed, a
    page or the database (``pipeline.text``), naming the field and the character (checked
    before any other rule, so the message is that one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_declare_clean_text)

    @field_validator("*", mode="before")
    @classmethod
    def _clean_text(cls, value: object, info) -> object:
        _check_text(value, multiline=info.field_name in _MULTILINE_FIELDS)
        return value


class ShowIn(InputModel):
    title: str = Field(min_length=1, max_length=500)
    author: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=10_000)
    link: AnyHttpUrl | None = None
    image_url: AnyHttpUrl | None = Field(
        default=None, description="square JPEG or PNG, 1400-3000 px"
    )
    language: str = Field(
        default="en", max_length=LANGUAGE_MAX, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
    )
    category: str = Field(
        default="Society & Culture",
        max_length=200,
        description="one of Apple Podcasts' categories, or 'Category > Subcategory'",
        json_schema_extra={
            "enum": [
                name
                for parent, subs in ITUNES_CATEGORIES.items()
                for name in (parent, *(f"{parent} > {sub}" for sub in subs))
            ]
        },
    )
    explicit: StrictBool = False
    owner_email: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    process_speakers: StrictBool = Field(
        default=True,
        description="repair hum and noise on every published track and bring every voice to one "
        "loudness before the mix (false: the sound as recorded)",
    )
    live_items: StrictBool = Field(
        default=False,
        description="list the show's scheduled and live rooms in its feed (podcast:liveItem)",
    )
    season: int | None = Field(
        default=None, ge=1, le=100_000, description="the season episodes are published in"
    )
    locked: StrictBool = Field(
        default=False,
        description="podcast:locked: other platforms may not import the feed (needs owner_email, "
        "the address a platform asks to unlock it)",
    )

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        parent, _, sub = (part.strip() for part in value.partition(">"))
        if parent not in ITUNES_CATEGORIES or (sub and sub not in ITUNES_CATEGORIES[parent]):
            raise ValueError(
                f"{value!r} is not an Apple Podcasts category; use one of "
                f"{', '.join(ITUNES_CATEGORIES)}, or 'Category > Subcategory'"
            )
        return f"{parent} > {sub}" if sub else parent


class ShowOut(BaseModel):
    title: str
    author: str
    description: str
    link: str | None
    image_url: str | None
    language: str
    category: str
    explicit: bool
    owner_email: str | None
    process_speakers: bool
    live_items: bool
    locked: bool
    season: int | None
    id: str
    feed_url: str
    created_at: datetime


class ShowPatch(InputModel):
    process_speakers: StrictBool | None = Field(
        default=None, description="process each speaker's track in the next rendering"
    )
    live_items: StrictBool | None = Field(
        default=None, description="list scheduled and live rooms in the feed"
    )
    locked: StrictBool | None = Field(
        default=None, description="podcast:locked (needs owner_email)"
    )
    season: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="the season of episodes first published from now on (0: no seasons)",
    )


class ConsentIn(InputModel):
    """Answers per purpose; an absent purpose is not answered (and so refused). At registration,
    an absent transcribe or clip takes publish's answer."""

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


class ParticipantIn(InputModel):
    id: str = Field(pattern=HANDLE_PATTERN, description="the room's own id for this participant")
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    role: Role = "speaker"
    offset: float = Field(
        ge=0.0, le=7 * 24 * 3600.0, description="room-time second of the track's first sample"
    )
    end: float | None = Field(
        default=None,
        gt=0.0,
        le=7 * 24 * 3600.0,
        description="room-time second of the track's last sample, to the millisecond, as the "
        "room's clock has it (optional): the track's length against end - offset measures "
        "its recorder's clock drift",
    )
    consent: ConsentIn = Field(default_factory=ConsentIn)
    language: str | None = Field(
        default=None,
        max_length=LANGUAGE_MAX,
        pattern=SPEECH_LANGUAGE_PATTERN,
        description="what this participant speaks when not the space's language "
        "(a language tag, or auto)",
    )

    _language = field_validator("language")(validated_language)


class ParticipantPatch(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NAME_PATTERN)
    role: Role | None = None
    offset: float | None = Field(default=None, ge=0.0, le=7 * 24 * 3600.0)
    end: float | None = Field(default=None, gt=0.0, le=7 * 24 * 3600.0)
    language: str | None = Field(
        default=None, max_length=LANGUAGE_MAX, pattern=SPEECH_LANGUAGE_PATTERN
    )

    _language = field_validator("language")(validated_language)


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


class ChunksFinishIn(InputModel):
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
    end: float | None = Field(default=None, description="room-time second of the track's end")
    language: str | None = Field(description="when not the space's language")
    joined_at: datetime | None
    consent: ConsentOut
    speech_s: float | None = Field(description="seconds of speech on their track, once measured")
    track: TrackOut | None
    health: dict | None = Field(
        default=None,
        description="how their published track sounds as recorded, once mixed: speech level, "
        "noise floor, hum, clipping, gaps, the problems found, and clock drift (drift_ppm, "
        "method, uncertainty_ppm, offset_per_hour_s, corrected; null when not measured)",
    )
    cleanup: dict | None = Field(
        default=None,
        description="what repaired their track before the mix (hum notches, noise reduction) "
        "with the noise floor and hum before and after",
    )


class SpaceIn(InputModel):
    title: str = Field(min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=10_000)
    started_at: datetime | None = Field(
        default=None, description="when the room starts (a future time: scheduled); default now"
    )
    room_url: AnyHttpUrl | None = Field(
        default=None,
        max_length=2000,
        description="where listeners join the room (the live item's podcast:contentLink)",
    )
    stream_url: AnyHttpUrl | None = Field(
        default=None,
        max_length=2000,
        description="the room's live audio stream, if the room service gives one (the live "
        "item's enclosure while the room is live)",
    )
    language: str = Field(
        default="en",
        max_length=LANGUAGE_MAX,
        pattern=SPEECH_LANGUAGE_PATTERN,
        description="what the room speaks: a language tag (picks the Whisper model), or auto "
        "to detect it from each speaker's first speech",
    )
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=500)

    _language = field_validator("language")(validated_language)


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
    chapters_url: str | None = None  # JSON chapters (format 1.2.0); None: no chapters
    chapters: list[dict] = []  # {"start_s", "end_s", "title", "generated"}, episode timeline


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
    room_url: str | None
    stream_url: str | None
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


class FinishIn(InputModel):
    missing: Literal["hold", "exclude"] = Field(
        default="hold",
        description="while someone has not answered: hold publication, or publish without them",
    )
    duck_excluded: StrictBool = Field(
        default=False, description="lower every track while an excluded speaker bleeds into it"
    )


class DecisionIn(InputModel):
    missing: Literal["hold", "exclude"] | None = None
    duck_excluded: StrictBool | None = None


class AnswersIn(InputModel):
    answers: ConsentIn
    note: str | None = Field(default=None, max_length=1000)


class LedgerEntryOut(BaseModel):
    purpose: str
    granted: bool
    source: str = Field(
        description="in_room_prompt or invite_link (the participant, with their own key); "
        "reported_by_host or reported_by_room (someone wrote down what they said); manifest"
    )
    actor: str
    own: bool = Field(description="made by the participant with their own key")
    key_id: str | None = Field(description="the participant's key that made it")
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


class JoinIn(InputModel):
    device_challenge: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="hex SHA-256 of a secret the participant's device generated and keeps; "
        "the device claims its key with the secret itself",
    )


class JoinOut(BaseModel):
    notice: str
    prompt: list[PromptItem]
    claim_url: str = Field(description="where the participant's device claims its key")
    claim_expires_at: datetime


class InviteOut(BaseModel):
    url: str = Field(description="the consent page with the link's secret; shown once")
    expires_at: datetime


class ClaimIn(InputModel):
    secret: str = Field(min_length=16, max_length=200, description="device secret or invite's")
    session: StrictBool = Field(
        default=False, description="keep the key in this browser's sign-in cookie instead"
    )


class ClaimOut(BaseModel):
    participant_key: str | None = Field(
        description="your own key, shown once (null when kept in the sign-in cookie)"
    )
    expires_at: datetime | None
    space_id: str
    space_title: str
    participant: str
    notice: str
    prompt: list[PromptItem]


class ParticipantKeyOut(BaseModel):
    id: str
    obtained_by: str = Field(description="join (in the room) or invite (a link)")
    issued_by: str | None = Field(description="who issued the join or the invite")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    current: bool = Field(description="the key of this request")


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
    track_held_until: datetime | None = Field(
        description="you withdrew record consent while a complaint holds the space: your track "
        "is kept for its moderators only, and erased at this time"
    )
    keys: list[ParticipantKeyOut]


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


class UserIn(InputModel):
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
    roles: list[Literal["admin", "host", "moderator", "listener", "room", "monitor"]] = Field(
        min_length=1,
        max_length=6,
        description="room: the platform's room service account; monitor: reads /metrics only",
    )


class ListenerIn(InputModel):
    name: str = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)


class KeyIn(InputModel):
    label: str = Field(default="", max_length=200)


class RecorderKeyIn(InputModel):
    label: str = Field(default="", max_length=200)
    expires_in_days: float | None = Field(
        default=None,
        gt=0,
        le=3650,
        description="days until the key stops working (default SPACECAST_RECORDER_KEY_DAYS, "
        "and never more)",
    )


class KeyOut(BaseModel):
    id: str
    label: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    token: str | None = Field(default=None, description="shown once, when the key is made")


class UserOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    created_at: datetime
    disabled_at: datetime | None = None


class Credentials(BaseModel):
    user: UserOut
    key: KeyOut


class WhoAmI(BaseModel):
    user_id: str | None
    roles: list[str]
    show_id: str | None
    participant_id: str | None


class ClipIn(InputModel):
    start_s: float = Field(ge=0.0, le=7 * 24 * 3600.0)
    end_s: float = Field(gt=0.0, le=7 * 24 * 3600.0)
    title: str = Field(default="", max_length=200, pattern=TITLE_PATTERN)
    timeline: Literal["episode", "room"] = Field(
        default="episode", description="seconds into the episode, or on the room's timeline"
    )


class ChapterIn(InputModel):
    start_s: float = Field(ge=0.0, le=7 * 24 * 3600.0, allow_inf_nan=False)
    title: str | None = Field(
        default=None,
        max_length=200,
        pattern=TITLE_PATTERN,
        description="null: a title is made from the chapter's words at every rendering",
    )


class ChaptersIn(InputModel):
    """The episode's chapters in time order, the first at 0; an empty list: no chapters."""

    chapters: list[ChapterIn] = Field(max_length=500)


class NotesIn(InputModel):
    """The episode's show notes as the host writes them: plain text (no markup: every character
    is shown as written; web addresses become links), paragraphs at blank lines."""

    text: str = Field(max_length=100_000, description="at most SPACECAST_MAX_NOTES_CHARS")


class NotesOut(BaseModel):
    episode_id: str
    text: str = Field(description="the notes as published now")
    generated: str = Field(
        description="the notes made from the room (shown when the host's are unset)"
    )
    host_notes: str | None = Field(description="the host's own notes; null: the generated ones")


class ChapterOut(BaseModel):
    start_s: float
    end_s: float
    title: str
    generated: bool


class ChaptersOut(BaseModel):
    episode_id: str
    chapters: list[ChapterOut]  # as published now
    host_chapters: list[dict] | None  # the host's own ({"start_s", "title"}); None: generated
    pending: bool  # the host's change is being published (the episode is rendered again)
    chapters_url: str | None


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


class ClipPatch(InputModel):
    title: str | None = Field(default=None, max_length=200, pattern=TITLE_PATTERN)
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
    start_s: float | None = Field(
        description="seconds into the episode as published now; null when the host's edits "
        "no longer hold the clip's range"
    )
    end_s: float | None
    duration_s: float
    status: str = Field(
        description="queued, ready, failed, withdrawn (consent), expired (episode taken down, "
        "or the host edited its moment out), "
        "removed (by moderation) or deleted"
    )
    error: str | None
    made_by: str
    speakers: list[str]
    transcript: list[ClipLine]
    audio_url: str | None
    audiogram_url: str | None
    captions_url: str | None
    share_url: str
    context_url: str | None = Field(
        description="the full episode at the clip's moment (null when edited out)"
    )
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

ComplaintCategory = Literal[CATEGORIES]  # type: ignore[valid-type]


class ComplaintIn(InputModel):
    """What is reported. Listeners name a published episode (``episode_id``) or a clip
    (``clip_id``); participants report in their own space; hosts in their own spaces
    (``space_id``). ``speaker`` is a participant's handle or name; ``start_s``/``end_s`` are on
    the episode's timeline when an episode is named, else on the room's."""

    target: Literal["space", "speaker", "range", "episode", "clip"]
    space_id: str | None = Field(default=None, min_length=1, max_length=32)
    episode_id: str | None = Field(default=None, min_length=1, max_length=32)
    clip_id: str | None = Field(default=None, min_length=1, max_length=32)
    speaker: str | None = Field(default=None, min_length=1, max_length=200)
    start_s: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    end_s: float | None = Field(default=None, ge=0, le=7 * 24 * 3600)
    category: ComplaintCategory
    text: str = Field(default="", max_length=5000)
    notice: StrictBool = Field(
        default=False,
        description="a formal notice (DSA article 16): needs notifier_name, notifier_email, "
        "location_url, good_faith and the reasons in text",
    )
    notifier_name: str | None = Field(default=None, min_length=1, max_length=200)
    notifier_email: str | None = Field(
        default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    location_url: AnyHttpUrl | None = Field(
        default=None, description="the episode or clip URL the notice is about"
    )
    good_faith: StrictBool = Field(
        default=False,
        description="the notifier's statement that the notice is accurate and complete in good "
        "faith",
    )


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
    notice: bool = False
    notifier_name: str | None = None
    notifier_email: str | None = None
    location_url: str | None = None
    good_faith: bool = False
    acknowledgment: str | None = Field(
        default=None, description="for a formal notice: its receipt, with its id"
    )
    appeal_until: datetime | None = Field(
        default=None, description="once decided: the decision may be appealed until then"
    )
    emergency: bool = Field(default=False, description="an administrator's emergency takedown")


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
    episode_moment: dict | None = Field(
        default=None,
        description="the reported moment in the published episode: {episode_id, version "
        "(published now), at_s (null: edited out of it), held_by_versions (every published "
        "version that held it whole)}",
    )


class ModerationDecisionIn(InputModel):
    decision: Literal["dismiss", "remove_episode", "remove_clip", "remove_speaker", "escalate"]
    reason: str = Field(min_length=3, max_length=5000)
    speaker: str | None = Field(
        default=None, max_length=200, description="for remove_speaker, when not the reported one"
    )


class DisableIn(InputModel):
    """Why an administrator disables an account: written into its statement of reasons."""

    category: ComplaintCategory = "other"
    reason: str = Field(min_length=3, max_length=5000)


class StatementOut(BaseModel):
    """A statement of reasons (DSA article 17), as the restricted party reads it."""

    id: str
    complaint_id: str | None
    space_id: str | None
    restriction: str = Field(
        description="episode_removed, speaker_removed, clip_removed, space_offline or "
        "account_disabled"
    )
    subject: str
    category: str
    facts: str
    ground: str = Field(description="the rule relied on")
    automated: bool = Field(description="whether automated means detected or decided it")
    emergency: bool
    evidence: list[dict] = Field(description="what the moderators heard and searched, and when")
    text: str
    decided_at: datetime
    appeal_until: datetime
    lifted_at: datetime | None = Field(description="reversed on review or on appeal")
    lift_reason: str | None


class AppealIn(InputModel):
    text: str = Field(min_length=3, max_length=5000, description="why the decision is wrong")


class AppealOut(BaseModel):
    id: str
    complaint_id: str
    status: str = Field(description="open, upheld or reversed")
    text: str
    created_at: datetime
    decided_at: datetime | None
    reason: str | None


class AppealDecisionIn(InputModel):
    decision: Literal["uphold", "reverse"]
    reason: str = Field(min_length=3, max_length=5000)


class TemplateIn(InputModel):
    ground: str = Field(min_length=3, max_length=2000, description="the rule relied on")
    text: str = Field(
        min_length=3,
        max_length=10_000,
        description="the statement, with $subject, $restriction, $decided_at, $facts, $ground, "
        "$automation, $appeal_until, $complaint_id and $category filled in",
    )


class TemplateOut(BaseModel):
    category: str
    ground: str
    text: str
    edited: bool = Field(description="a moderator's version, not the default")


class EmergencyIn(InputModel):
    category: ComplaintCategory
    reason: str = Field(min_length=3, max_length=5000)


class ErasureAssetOut(BaseModel):
    kind: str = Field(
        description="raw_track, live_chunk, review_transcript, activity, transcript, mix, "
        "master, episode_audio, episode_transcript, clip, search_lines or chapters"
    )
    key: str | None = Field(default=None, description="the bucket object (administrators only)")
    state: str = Field(description="present, erased, or held by a complaint or appeal")
    held_until: datetime | None = None


class ErasureOut(BaseModel):
    """An erasure request (GDPR article 17) with every object made from the voice."""

    id: str
    space_id: str
    participant: str = Field(description="the participant's handle")
    requested_at: datetime
    due_at: datetime = Field(description="a month after the request, later when extended")
    extended_months: int
    extension_reason: str | None
    overdue: bool
    closed_at: datetime | None
    held_until: datetime | None = Field(
        description="a legal hold (an open complaint or appeal) keeps the raw recording until"
    )
    assets: list[ErasureAssetOut]


class ErasureExtendIn(InputModel):
    months: int = Field(ge=1, le=2)
    reason: str = Field(min_length=3, max_length=2000)


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


class HostAudioOut(BaseModel):
    """A show's own audio (an intro, an outro, a music bed) an edit list may add."""

    id: str
    show_id: str
    name: str
    sha256: str
    size_bytes: int
    format_name: str
    codec: str
    sample_rate_hz: int
    channels: int
    duration_s: float
    integrated_lufs: float = Field(description="measured as rendered (mono, 48 kHz)")
    uploaded_at: datetime


class VersionIn(InputModel):
    """A host's edit list (docs/api.md#editing-versions-of-an-episode). Every time is room
    time; ``mute`` names a speaker by the room's handle."""

    operations: list[dict] = Field(
        max_length=500,
        description="each {op: trim | cut | mute | shorten_silences | intro | outro | bed, "
        "...}: trim {start_s, end_s} (either null), cut {start_s, end_s}, mute {speaker_id, "
        "start_s, end_s}, shorten_silences {longer_than_s, to_s}, intro {audio_id}, outro "
        "{audio_id}, bed {audio_id, level_db, duck_db} (audio_id: the show's own audio)",
        json_schema_extra={
            "example": [
                {"op": "cut", "start_s": 12.0, "end_s": 15.5},
                {"op": "mute", "speaker_id": "chioma", "start_s": 30.0, "end_s": 31.2},
            ]
        },
    )
    note: str = Field(default="", max_length=500)


class VersionOut(BaseModel):
    number: int = Field(description="1, 2, ...; 0 is the room as recorded")
    operations: list[dict]
    note: str
    created_by: str | None
    created_at: datetime | None
    published_at: datetime | None = Field(description="when the host last published it")
    chosen: bool = Field(description="the version the episode renders (published last)")
    rendered: bool = Field(description="the version the episode's current media hold")


class VersionListOut(BaseModel):
    episode_id: str
    edit_version: int
    rendered_version: int
    versions: list[VersionOut]


class PreviewCut(BaseModel):
    room_start_s: float
    room_end_s: float
    at_s: float = Field(description="where in the edited episode the seam falls")


class PreviewOut(BaseModel):
    """What a version makes of the episode, from speech activity (nothing is rendered)."""

    version: int
    duration_s: float
    unedited_duration_s: float
    saved_s: float
    silence_saved_s: float = Field(description="of saved_s, what shortening silences took")
    kept: list[list[float]] = Field(description="room-time spans kept, in order")
    cuts: list[PreviewCut]
    mutes: list[dict]
