"""All configuration, read once from ``SPACECAST_*`` environment variables; every setting is in
docs/configuration.md."""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.chapters import ChapterSettings
from pipeline.master import LoudnessTarget
from pipeline.probe import TrackLimits
from pipeline.retention import RetentionPolicy
from pipeline.transcribe import WhisperSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPACECAST_", extra="ignore")

    # Service wiring
    database_url: str = "sqlite:///.spacecast/spacecast.db"
    # The longest wait for PostgreSQL: to connect, and for any answer to a query (the server's
    # own statement_timeout should be shorter, so a slow query is cancelled there first).
    database_timeout_s: float = 30.0
    broker_url: str = "redis://127.0.0.1:6379/0"  # or amqp://guest:guest@127.0.0.1:5672/ or stub://
    # Redis broker: how long a worker may miss heartbeats before its unacknowledged messages go
    # back to the queue, and the share of broker commands that run that maintenance pass.
    redis_heartbeat_timeout_s: float = 30.0
    broker_timeout_s: float = 10.0  # Redis: the longest wait to connect and for any answer
    redis_maintenance_chance: float = 0.1
    queue_prefix: str = ""  # namespaces queue names, so several deployments can share a broker
    public_base_url: str = "http://127.0.0.1:8000"
    media_delivery: Literal["proxy", "redirect"] = "proxy"
    # Operations: how long GET /readyz waits for each dependency; log lines as plain text or
    # JSON ("auto": JSON unless stderr is a terminal); the workers' Prometheus exporter (off
    # when the port is 0; each worker host serves its own, on a private address).
    ready_timeout_s: float = 2.0
    log_format: Literal["text", "json", "auto"] = "text"
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 0

    # S3-compatible storage (AWS S3, MinIO, R2, rclone serve s3, ...)
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str = "spacecast"
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    s3_create_bucket: bool = True
    s3_max_attempts: int = 8  # per request, with backoff, before an S3 error is raised
    s3_read_timeout_s: float = 60.0  # the longest wait for any bytes of an S3 answer

    # Audio
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    loudness_tolerance_lu: float = 0.5
    mp3_bitrate: str = "96k"
    opus_bitrate: str = "64k"
    deliver_opus: bool = True
    max_track_bytes: int = 2 * 1024**3
    max_track_duration_s: float = 6 * 3600.0
    stage_timeout_s: float = 3 * 3600.0
    # A running stage renews its hold on its run this often; a run not renewed for three times
    # as long lost its worker, and a redelivered message or the scheduler takes it over.
    stage_lease_s: float = 5.0
    # A finished attempt that cannot reach the database to record its outcome (a restart, a cut
    # link) tries again for this long before it gives the work up to the queue's retry.
    stage_record_patience_s: float = 300.0
    # Live ingest: the longest chunk a recorder may send (raw PCM, 48 kHz mono s16le)
    max_chunk_s: float = 30.0
    # Live ingest: work on the chunks while the room is live (speech activity, transcription),
    # adopted by the stages at the end when nothing it assumed changed
    live_work: bool = True

    # Queue retries of a stage that met a transient error (S3, database, broker): backoff
    # doubles from the minimum up to the maximum, for at most stage_retries retries.
    stage_retries: int = 8
    retry_min_backoff_ms: int = 2_000
    retry_max_backoff_ms: int = 300_000

    # Transcription
    # Unset: chosen by each track's language (tiny.en for English, base for the rest); set, the
    # operator's choice for every language.
    whisper_model: str | None = None
    whisper_compute_type: str = "int8"
    whisper_threads: int = max(1, min(4, os.cpu_count() or 1))
    whisper_beam_size: int = 5
    whisper_vad: bool = True
    # A track longer than this is transcribed in parts of about this length (cut in pauses) that
    # workers take at once; 0: every track whole.
    transcribe_part_s: float = 600.0
    model_cache_dir: Path = Path.home() / ".cache" / "spacecast" / "models"

    # Chapters (pipeline/chapters.py; measured in bench/chapters.py)
    chapter_min_s: float = 120.0
    chapter_edit_rate: str = "30/hour"  # host edits of chapters (each renders the episode again)
    notes_edit_rate: str = "60/hour"  # host edits of an episode's show notes
    max_notes_chars: int = 10_000

    # Feeds: a built feed is served again while the show's feed version stands, at most this
    # long (a bound for a change whose version move was lost with its process).
    feed_cache_max_age_s: float = 60.0
    # Conditional polls of a kept feed answered by each API process from memory, without the
    # database, while PostgreSQL's notifications say its version stands (api/feed_polls.py).
    feed_polls_from_memory: bool = True

    # Shown to everyone who joins a recorded space (a space may set its own).
    recording_notice: str = (
        "This space is being recorded, each voice on its own track. If you agree, your track is "
        "kept for 30 days so moderators can review complaints. Your voice is published in the "
        "podcast episode, its transcript and clips only if you agree; a published voice's track "
        "is kept as long as the episode is. You can withdraw any of these at any time."
    )
    invite_days: int = 14
    # A join reported by the room service lets the participant's device claim its key for this
    # long (and only while the room is live).
    join_grant_s: float = 600.0
    participant_key_days: float = 365.0  # how long a participant's own key works
    recorder_key_days: float = 90.0  # how long a show's recorder key works (unless revoked)
    # A track whose owner withdrew record consent while a complaint held the space is kept for
    # its moderators at most this long.
    withdrawn_hold_days: float = 30.0

    # Abuse limits ("N/second|minute|hour|day", per caller)
    max_body_bytes: int = 1024 * 1024
    upload_rate: str = "60/minute"
    chunk_rate: str = "1200/minute"  # live chunks (a 5 s chunk per speaker of a 100-speaker room)
    signup_rate: str = "10/hour"
    login_rate: str = "20/minute"  # failed web sign-ins per client address and per key prefix
    consent_rate: str = "20/hour"  # consent answers one caller may record (each re-renders)
    claim_rate: str = "30/minute"  # participant key claims per client address
    max_participants: int = 500  # participants one space may register
    # Addresses of reverse proxies whose X-Forwarded-For is believed (comma-separated; empty:
    # none, the connection's own address is the client's).
    trusted_proxies: str = ""
    rate_limit_redis_url: str | None = None  # unset: counted in each API process's memory

    work_dir: Path | None = None  # scratch space for workers; default: the system temp folder
    # Workers keep local copies of objects they read again and again (an episode's mix, for clips).
    cache_dir: Path = Path.home() / ".cache" / "spacecast" / "objects"
    cache_max_bytes: int = 5 * 1024**3

    # Clips
    listener_clip_max_s: float = 60.0
    clip_min_s: float = 3.0
    clip_rate: str = "10/minute"
    clip_check_rate: str = "240/minute"  # the clip maker checks a range as it is dragged

    # Editing: a cut's preview (rendered by the API process), the host's own audio
    cut_preview_rate: str = "120/minute"
    preview_timeout_s: float = 30.0
    max_host_audio_bytes: int = 200 * 1024**2
    max_host_audio_duration_s: float = 3600.0

    # Moderation: raw recordings kept after a space ends, and after a complaint is decided
    retention_days: float = 30.0
    appeal_window_days: float = 183.0  # DSA article 20: appeals for at least 6 months
    complaint_rate: str = "5/hour"
    sweep_interval_s: float = 3600.0  # how often `spacecast scheduler` asks for a sweep
    resume_interval_s: float = 60.0  # how often `spacecast scheduler` resumes stalled spaces
    review_padding_s: float = 15.0  # audio and transcript heard around a reported moment

    def stage_lease_expiry(self) -> timedelta:
        return timedelta(seconds=3 * self.stage_lease_s)

    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            retention=timedelta(days=self.retention_days),
            appeal_window=timedelta(days=self.appeal_window_days),
            withdrawn_hold=timedelta(days=self.withdrawn_hold_days),
        )

    def whisper_settings(self) -> WhisperSettings:
        return WhisperSettings(
            model=self.whisper_model or None,
            compute_type=self.whisper_compute_type,
            cpu_threads=self.whisper_threads,
            beam_size=self.whisper_beam_size,
            vad=self.whisper_vad,
            cache_dir=self.model_cache_dir,
        )

    def chapter_settings(self) -> ChapterSettings:
        return ChapterSettings(min_chapter_s=self.chapter_min_s)

    def loudness_target(self) -> LoudnessTarget:
        return LoudnessTarget(
            integrated_lufs=self.target_lufs,
            true_peak_dbtp=self.true_peak_dbtp,
            tolerance_lu=self.loudness_tolerance_lu,
        )

    def proxy_options(self) -> dict:
        """uvicorn's proxy settings: X-Forwarded-For is believed only from ``trusted_proxies``
        (uvicorn's own default trusts 127.0.0.1, which lets any local client pick its address)."""
        trusted = [ip.strip() for ip in self.trusted_proxies.split(",") if ip.strip()]
        return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}

    def track_limits(self) -> TrackLimits:
        return TrackLimits(max_bytes=self.max_track_bytes, max_duration_s=self.max_track_duration_s)

    def host_audio_limits(self) -> TrackLimits:
        """What a host's intro, outro or music bed may be: a track's checks, smaller limits."""
        return TrackLimits(
            max_bytes=self.max_host_audio_bytes, max_duration_s=self.max_host_audio_duration_s
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
