"""The life cycles: the statuses a space, a stage run, a clip and a complaint go through, and the
pipeline's stages. Stored as their string values; compared as these enums everywhere."""

from __future__ import annotations

from enum import StrEnum


class SpaceStatus(StrEnum):
    RECORDING = "recording"  # the room is live; tracks and chunks arrive
    PROCESSING = "processing"  # stages run (again, after a consent change)
    HELD = "held"  # everything is made; publication waits for missing answers
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"  # nobody may be heard: no episode
    FAILED = "failed"  # a stage failed for good (see the error); finishing again retries
    TAKEN_DOWN = "taken_down"  # its host or a moderator took the episode down: never rendered


# Statuses in which a space's stages run and its artifacts are served.
ACTIVE = frozenset(
    {SpaceStatus.PROCESSING, SpaceStatus.HELD, SpaceStatus.PUBLISHED, SpaceStatus.UNPUBLISHED}
)
# Statuses from which a consent change or a decision renders the space again.
RENDERED = ACTIVE | {SpaceStatus.FAILED}


class Stage(StrEnum):
    ACTIVITY = "activity"  # per participant: when they speak
    TRANSCRIBE = "transcribe"  # per published participant
    BLEED = "bleed"
    MIX = "mix"
    MASTER = "master"
    PUBLISH = "publish"


PER_PARTICIPANT = frozenset({Stage.ACTIVITY, Stage.TRANSCRIBE})


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    RETRYING = "retrying"  # a transient error; the queue delivers it again
    FAILED = "failed"  # an error a user can act on, or retries ran out
    STALE = "stale"  # its outputs were deleted (consent changed): made again when needed


IN_FLIGHT = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.RETRYING})


class ClipStatus(StrEnum):
    QUEUED = "queued"
    READY = "ready"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"  # a voice in it withdrew consent
    EXPIRED = "expired"  # its host took the episode down (pinned clips excepted)
    REMOVED = "removed"  # by a moderator's decision
    DELETED = "deleted"  # by its maker or the show's host


class ComplaintStatus(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"  # an administrator decides
    DISMISSED = "dismissed"
    ACTIONED = "actioned"


UNDECIDED = frozenset({ComplaintStatus.OPEN, ComplaintStatus.ESCALATED})
