"""Entry module for ``dramatiq``: installs the broker and registers every actor."""

from workers import broker as _broker  # noqa: F401  (installs the broker first)
from workers.clips import render_clip_audio, render_clip_audiogram, sweep_clips
from workers.flow import advance_space, resume_stalled, stage_gave_up
from workers.moderation import prepare_review, sweep_vault
from workers.stages import (
    check_bleed,
    detect_activity,
    master_space,
    mix_space,
    publish_space,
    transcribe_participant,
)

__all__ = [
    "advance_space",
    "check_bleed",
    "detect_activity",
    "master_space",
    "mix_space",
    "prepare_review",
    "publish_space",
    "render_clip_audio",
    "render_clip_audiogram",
    "resume_stalled",
    "stage_gave_up",
    "sweep_clips",
    "sweep_vault",
    "transcribe_participant",
]
