"""Database tables: accounts and keys, participants' grants, shows, spaces, participants, their
tracks and live chunks, per-stage runs, dead letters, episodes, clips, and moderation
(complaints, statements of reasons, appeals, erasure requests, removed ranges, the audit log,
deletion records)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps stored in UTC and always read back zone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; Spacecast stores zone-aware UTC times")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class User(Base):
    """A person or service account. Global roles: admin, host, moderator, listener, recorder."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]


class ApiKey(Base):
    """A bearer token, stored only as its SHA-256. A key may be narrowed to one show (a room
    recorder's key) or be a participant's own key for one participation."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    show_id: Mapped[str | None] = mapped_column(ForeignKey("shows.id"))
    participant_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Who had it made (user:ID, room:ID, ...); for a participant's key, who issued the grant it
    # was claimed from (``grant_id``).
    issued_by: Mapped[str | None] = mapped_column(String(100))
    grant_id: Mapped[str | None] = mapped_column(String(32))

    # Read with the key in one statement (``services.accounts.find_key``).
    user: Mapped[User | None] = relationship()
    show: Mapped[Show | None] = relationship()


class ParticipantGrant(Base):
    """A one-time secret from which a participant claims their own key on their own device.

    ``join``: the room service reports a join with the SHA-256 of a secret the participant's
    device made (the device keeps the secret; nobody else ever holds it); valid while the room
    is live, for a few minutes. ``invite``: a link the room service delivers to a participant
    after the room. Only the secret's SHA-256 is stored; a grant is claimed once.
    """

    __tablename__ = "participant_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # join, invite
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    key_id: Mapped[str | None] = mapped_column(String(32))


class Show(Base):
    __tablename__ = "shows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    author: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(2000))
    image_url: Mapped[str | None] = mapped_column(String(2000))
    language: Mapped[str] = mapped_column(String(35), default="en")
    category: Mapped[str] = mapped_column(String(200), default="Society & Culture")
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_email: Mapped[str | None] = mapped_column(String(320))
    # Repair hum and noise and bring every published voice to one loudness before the mix
    # (false: the sound as recorded).
    process_speakers: Mapped[bool] = mapped_column(Boolean, default=True)
    # Scheduled and live rooms in the feed as podcast:liveItem (the host opts in).
    live_items: Mapped[bool] = mapped_column(Boolean, default=False)
    # podcast:locked "yes" with owner_email: other platforms must not import the feed.
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Changed after every commit that changes what the feed holds (services/feed_versions.py):
    # a feed built at one version is that version's feed.
    feed_version: Mapped[int] = mapped_column(Integer, default=0)
    # The season episodes are published in from now on (None: the show has no seasons).
    season: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    spaces: Mapped[list[Space]] = relationship(back_populates="show")
    owner: Mapped[User | None] = relationship()


class Space(Base):
    __tablename__ = "spaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    show_id: Mapped[str] = mapped_column(ForeignKey("shows.id"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35), default="en")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)  # a future one: scheduled
    # Where listeners join the room (podcast:contentLink), and its live audio stream if the
    # room service gives one (the live item's enclosure).
    room_url: Mapped[str | None] = mapped_column(String(2000))
    stream_url: Mapped[str | None] = mapped_column(String(2000))
    # recording -> processing -> (held) -> published; or failed (with error)
    status: Mapped[str] = mapped_column(String(20), default="recording")
    # The notice every participant is shown when they join (the default when unset).
    notice: Mapped[str | None] = mapped_column(Text)
    # The host's choice while someone has not answered: "hold" publication, or "exclude" them.
    missing_policy: Mapped[str] = mapped_column(String(10), default="hold")
    # Lower every published track while an excluded speaker who bleeds into them talks.
    duck_excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The moderation vault (raw tracks, review mix, work files) was deleted by the sweeper.
    vault_deleted_at: Mapped[datetime | None]

    show: Mapped[Show] = relationship(back_populates="spaces")
    participants: Mapped[list[Participant]] = relationship(
        back_populates="space", order_by="Participant.created_at"
    )


class Participant(Base):
    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("space_id", "handle"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    handle: Mapped[str] = mapped_column(String(64))  # the room's own id for this participant
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="speaker")
    offset_s: Mapped[float] = mapped_column(Float, default=0.0)
    # Room time of the track's last sample, as the room service reports it (None: not said);
    # with it, a track's length against end - offset says how far its recorder's clock drifted.
    end_s: Mapped[float | None] = mapped_column(Float)
    joined_at: Mapped[datetime | None]  # when the room service reported them joining
    # What they speak when it is not the space's language (a language tag or "auto").
    language: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A moderator's decision took their part out of everything published (not a consent answer:
    # the participant cannot undo it).
    removed_at: Mapped[datetime | None]
    removed_by_complaint: Mapped[str | None] = mapped_column(String(32))

    space: Mapped[Space] = relationship(back_populates="participants")
    track: Mapped[Track | None] = relationship(back_populates="participant", uselist=False)


class Track(Base):
    """The current raw track of a participant, as stored in the bucket."""

    __tablename__ = "tracks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), unique=True)
    object_key: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    format_name: Mapped[str] = mapped_column(String(100))
    codec: Mapped[str] = mapped_column(String(50))
    sample_rate_hz: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Record consent was withdrawn while a complaint held the space: deleted once the hold ends.
    erase_requested_at: Mapped[datetime | None]
    # Assembled from live chunks: how many, and the SHA-256 of their audio in sequence order.
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    chunks_sha256: Mapped[str | None] = mapped_column(String(64))

    participant: Mapped[Participant] = relationship(back_populates="track")


class TrackChunk(Base):
    """One acknowledged chunk of a participant's live upload: raw PCM stored in the vault before
    it was acknowledged, placed on the track at ``start_sample`` (48 kHz samples)."""

    __tablename__ = "track_chunks"
    __table_args__ = (UniqueConstraint("participant_id", "seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    start_sample: Mapped[int] = mapped_column(BigInteger)
    samples: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class LiveTrack(Base):
    """Work done on a participant's live chunks while the room is live (``services.live``):
    speech activity over the contiguous acknowledged prefix and transcription of closed speech,
    with the chain of chunks (``chain_seq``, ``chain_fp``) and the settings (``settings_fp``)
    it was computed from, so the stages adopt it at the end only when those are still the same.
    Transcript pieces are objects under the space's ``work/`` prefix (``transcript_keys``)."""

    __tablename__ = "live_tracks"

    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    queued: Mapped[bool] = mapped_column(Boolean, default=False)
    settings_fp: Mapped[str] = mapped_column(String(64), default="")
    chain_seq: Mapped[int] = mapped_column(Integer, default=-1)  # last chunk of the prefix
    chain_fp: Mapped[str] = mapped_column(String(64), default="")
    chain_end_sample: Mapped[int] = mapped_column(BigInteger, default=0)
    done_s: Mapped[float] = mapped_column(Float, default=0.0)  # activity final up to here
    segments: Mapped[list] = mapped_column(JSON, default=list)  # [start_s, end_s], track time
    transcribed_s: Mapped[float] = mapped_column(Float, default=0.0)
    transcript_keys: Mapped[list] = mapped_column(JSON, default=list)
    final: Mapped[bool] = mapped_column(Boolean, default=False)  # covers the assembled track
    cpu_s: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StageRun(Base):
    """One pipeline stage of one space (``subject``: the participant for per-track stages).

    ``fingerprint`` identifies the inputs the result was made from; a run whose fingerprint no
    longer matches the space's current inputs is stale and is run again.
    """

    __tablename__ = "stage_runs"
    __table_args__ = (UniqueConstraint("space_id", "stage", "subject"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    # The participant of a per-track stage; ``<participant id>:<k>`` for part k of a
    # transcription in parts (services.runs.part_subject).
    subject: Mapped[str] = mapped_column(String(40), default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    # queued -> running -> done; failed (error a user can act on) or retrying (transient error)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # every attempt, ever
    # Attempts at the current fingerprint (services.runs.set_inputs counts them from 0 again when
    # it changes): the bound on sending again a stage that dies without recording an outcome.
    attempts_at_fingerprint: Mapped[int] = mapped_column(Integer, default=0)
    # The attempt that owns the run: set when an attempt starts, checked when it records its
    # outcome, so a worker that was paused while another took the stage over is fenced out.
    attempt_token: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeadLetter(Base):
    """A queue message whose retries ran out (or that was refused unprocessed), with the reason;
    an administrator can send it again."""

    __tablename__ = "dead_letters"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    queue_name: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    args: Mapped[list] = mapped_column(JSON, default=list)
    message: Mapped[dict] = mapped_column(JSON)  # the whole message, as the broker had it
    space_id: Mapped[str | None] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retried_at: Mapped[datetime | None]
    retries: Mapped[int] = mapped_column(Integer, default=0)  # times an administrator resent it


class Episode(Base):
    """The published episode of a space. ``guid`` never changes once published."""

    __tablename__ = "episodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), unique=True)
    show_id: Mapped[str] = mapped_column(ForeignKey("shows.id"), index=True)
    guid: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    render_id: Mapped[str] = mapped_column(String(64))  # names this rendering's media objects
    duration_s: Mapped[float] = mapped_column(Float)
    # Room time of the episode's first sample: room times minus this are episode times.
    timeline_start_s: Mapped[float] = mapped_column(Float, default=0.0)
    # {"mp3": {"key", "size_bytes", "mime_type", "loudness", ...}, "opus": {...}}
    media: Mapped[dict] = mapped_column(JSON)
    # {"json": key, "vtt": key, "srt": key}
    transcripts: Mapped[dict] = mapped_column(JSON)
    persons: Mapped[list] = mapped_column(JSON)  # [{"name", "role"}]
    # The published chapters, episode timeline ([{"start_s", "end_s", "title", "generated"}];
    # empty: none, an episode too short for two).
    chapters: Mapped[list] = mapped_column(JSON, default=list)
    # The host's own chapters ([{"start_s", "title"}], a title None to have it generated), which
    # every rendering keeps; None: chapters are generated.
    host_chapters: Mapped[list | None] = mapped_column(JSON)
    # Generated show notes: {"speakers": [[name, speech_s]], "quotes": [[speaker, start_s, text]]}
    notes: Mapped[dict] = mapped_column(JSON, default=dict)
    # The host's own show notes (plain text), shown and published instead of the generated ones;
    # None: the generated notes.
    host_notes: Mapped[str | None] = mapped_column(Text)
    # Its number in the show (itunes:episode, podcast:episode), given at first publication.
    number: Mapped[int | None] = mapped_column(Integer)
    season: Mapped[int | None] = mapped_column(Integer)  # the show's season at that moment
    # Whose voice and words this rendering holds ({"audible": [...], "transcribed": [...]}).
    consent_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    report: Mapped[dict] = mapped_column(JSON)
    removed_at: Mapped[datetime | None]  # taken down by its host or a moderator
    removed_by: Mapped[str | None] = mapped_column(String(20))  # "host" or "moderation"
    removal_reason: Mapped[str | None] = mapped_column(Text)
    # The host's edits: the version (EpisodeVersion.number, 0 = the room as recorded) the flow
    # renders, the version the current media were rendered from, and the room-time spans that
    # rendering kept ([[start_s, end_s], ...]; empty: the room unedited from timeline_start_s).
    edit_version: Mapped[int] = mapped_column(Integer, default=0)
    rendered_version: Mapped[int] = mapped_column(Integer, default=0)
    kept: Mapped[list] = mapped_column(JSON, default=list)
    # The intro's length in that rendering: the room is heard from this episode second on.
    lead_s: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EpisodeVersion(Base):
    """One version of a host's edit list for an episode (never changed once made; a revert is a
    new version with an earlier one's operations). Times are room time; a mute names the
    speaker by the room's handle."""

    __tablename__ = "episode_versions"
    __table_args__ = (UniqueConstraint("episode_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episodes.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... (0 is the room as recorded)
    operations: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))  # user:ID
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]  # when the host last published it


class HostAudio(Base):
    """A show's own audio (an intro, an outro, a music bed), uploaded by its host and probed
    like a track. It is the host's, never a participant's stem; edit lists of the show's
    episodes name it by id. Kept as long as the show (not in the room's vault)."""

    __tablename__ = "host_audio"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    show_id: Mapped[str] = mapped_column(ForeignKey("shows.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    object_key: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    format_name: Mapped[str] = mapped_column(String(100))
    codec: Mapped[str] = mapped_column(String(50))
    sample_rate_hz: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    integrated_lufs: Mapped[float] = mapped_column(Float)  # mono at the mix rate, as rendered
    created_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServedVersion(Base):
    """The version of a document built at request time (a feed, chapters) last served, by its
    ETag, and since when: its Last-Modified."""

    __tablename__ = "served_versions"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "feed:SHOW", ...
    etag: Mapped[str] = mapped_column(String(80))
    since: Mapped[datetime]


class ConsentEntry(Base):
    """One grant or withdrawal in the append-only consent ledger (the database refuses updates
    and deletes). A participant's consent is their latest entry per purpose."""

    __tablename__ = "consent_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # record, publish, transcribe, clip
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(30))  # in_room_prompt, host_invite_link, api, ...
    actor: Mapped[str] = mapped_column(String(100))  # who made the entry (user:ID, participant:ID)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(32))  # the participant's key that made it


class TranscriptSegment(Base):
    """A published transcript line, for search. Replaced whenever the episode is rendered again."""

    __tablename__ = "transcript_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episodes.id"), index=True)
    participant_id: Mapped[str] = mapped_column(String(32))
    speaker: Mapped[str] = mapped_column(String(200))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)


class Clip(Base):
    """A range of an episode cut by its host or a listener, rendered as its own audio."""

    __tablename__ = "clips"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    episode_id: Mapped[str] = mapped_column(ForeignKey("episodes.id"), index=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    creator_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    made_by: Mapped[str] = mapped_column(String(10))  # "host" or "listener"
    title: Mapped[str] = mapped_column(String(200), default="")
    start_s: Mapped[float] = mapped_column(Float)  # room timeline
    end_s: Mapped[float] = mapped_column(Float)
    # queued -> ready; failed; withdrawn (consent), expired (episode taken down by its host),
    # removed (by moderation), deleted
    status: Mapped[str] = mapped_column(String(12), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    speakers: Mapped[list] = mapped_column(JSON, default=list)  # participant ids audible in it
    consent_snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    render_id: Mapped[str | None] = mapped_column(String(64))
    media: Mapped[dict] = mapped_column(JSON, default=dict)  # {"mp3": {...}, "mp4": {...}}
    transcript: Mapped[list] = mapped_column(JSON, default=list)  # excerpt, clip timeline
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)  # outlives its episode
    soundbite: Mapped[bool] = mapped_column(Boolean, default=False)  # in the feed
    replays: Mapped[int] = mapped_column(Integer, default=0)
    render_s: Mapped[float | None] = mapped_column(Float)  # processing time of the render
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]


class Complaint(Base):
    """A report against a space, one speaker, a time range, an episode or a clip. While open (and
    for the appeal window after its decision) it holds the space's raw recordings."""

    __tablename__ = "complaints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    target: Mapped[str] = mapped_column(String(10))  # space, speaker, range, episode, clip
    participant_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"))
    # The speaker as the reporter named them (resolved to ``participant_id`` for moderators).
    speaker_text: Mapped[str | None] = mapped_column(String(200))
    episode_id: Mapped[str | None] = mapped_column(ForeignKey("episodes.id"))
    clip_id: Mapped[str | None] = mapped_column(ForeignKey("clips.id"))
    start_s: Mapped[float | None] = mapped_column(Float)  # room timeline
    end_s: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(100))  # user:ID or participant:ID
    # A formal notice (DSA article 16): who gives it, the exact place, a statement of good faith.
    is_notice: Mapped[bool] = mapped_column(Boolean, default=False)
    notifier_name: Mapped[str | None] = mapped_column(String(200))
    notifier_email: Mapped[str | None] = mapped_column(String(320))
    location_url: Mapped[str | None] = mapped_column(String(2000))
    good_faith: Mapped[bool] = mapped_column(Boolean, default=False)
    # An administrator took the space offline at once; the complaint is the review of that.
    emergency_at: Mapped[datetime | None]
    # open -> escalated -> dismissed | actioned
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    decision: Mapped[str | None] = mapped_column(String(20))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Statement(Base):
    """A statement of reasons (DSA article 17): what a decision restricted, the facts and the rule
    relied on, whether automation was used, and how to appeal. Kept for as long as the platform
    keeps decision records: it outlives the vault and the audio it was about."""

    __tablename__ = "statements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    complaint_id: Mapped[str | None] = mapped_column(ForeignKey("complaints.id"), index=True)
    space_id: Mapped[str | None] = mapped_column(ForeignKey("spaces.id"), index=True)
    # Who the decision restricts, who may read it and appeal: "user:ID", "participant:ID".
    affected: Mapped[list] = mapped_column(JSON, default=list)
    # episode_removed, speaker_removed, clip_removed, space_offline
    restriction: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))  # what was restricted, in words
    category: Mapped[str] = mapped_column(String(30))
    facts: Mapped[str] = mapped_column(Text)
    ground: Mapped[str] = mapped_column(Text)  # the rule relied on
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    evidence: Mapped[list] = mapped_column(JSON, default=list)  # what was heard, and when
    text: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    appeal_until: Mapped[datetime]
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(100))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class Appeal(Base):
    """An appeal against the decision on a complaint, by its notifier or the affected party;
    reviewed by another moderator than the one who decided. Open, it holds the recordings."""

    __tablename__ = "appeals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    complaint_id: Mapped[str] = mapped_column(ForeignKey("complaints.id"), index=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    appellant: Mapped[str] = mapped_column(String(100))  # user:ID or participant:ID
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # upheld, reversed
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErasureRequest(Base):
    """A participant's request to erase their voice and words (GDPR article 17): due a month
    after it is made, extendable by two months with a reason; closed only when a listing of the
    bucket shows none of the objects made from their voice (``assets``: every one known when it
    was made, and found since), apart from what a legal hold keeps."""

    __tablename__ = "erasure_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    extended_months: Mapped[int] = mapped_column(Integer, default=0)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    assets: Mapped[list] = mapped_column(JSON, default=list)  # [{"kind", "key"}]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(100))
    proof: Mapped[dict] = mapped_column(JSON, default=dict)  # what the closing listing showed


class ReasonTemplate(Base):
    """A moderator-edited statement template for one complaint category (defaults in
    ``pipeline.statements``)."""

    __tablename__ = "reason_templates"

    category: Mapped[str] = mapped_column(String(30), primary_key=True)
    ground: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RemovedRange(Base):
    """A stretch of a space (room timeline) a moderator took down: no clip may hold it."""

    __tablename__ = "removed_ranges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id"), index=True)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    complaint_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One access to the vault or one moderation decision (append-only: the database refuses
    updates and deletes)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))  # user:ID of the moderator or admin
    action: Mapped[str] = mapped_column(String(30))
    space_id: Mapped[str | None] = mapped_column(String(32), index=True)
    complaint_id: Mapped[str | None] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class Deletion(Base):
    """A vault object the sweeper deletes: written before the delete, marked done once the
    bucket no longer has it; a failed one stays pending and is retried by the next sweep."""

    __tablename__ = "deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    space_id: Mapped[str] = mapped_column(String(32), index=True)
    object_key: Mapped[str] = mapped_column(String(500), index=True)
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
