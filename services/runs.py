"""Stage runs and what they made: one typed result per stage, as stored in ``StageRun.result``,
the bucket objects each names, and the results of a space's runs read in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import StageRun
from infra.settings import Settings
from pipeline.activity import SpeechActivity
from pipeline.states import IN_FLIGHT, RunStatus, Stage

R = TypeVar("R", bound="StageResult")

# A long track is transcribed in parts: part 0's run has the participant id as its subject (a
# track in one part is run as it always was), part k's ``<participant id>:<k>``.
_PART = ":"


def set_inputs(run: StageRun, fingerprint: str) -> None:
    """The run is for the inputs ``fingerprint`` names now. Other inputs than before count its
    attempts from 0 again (reopening a failed space clears every fingerprint not done, so a
    retried dead letter gets the whole bound again)."""
    if run.fingerprint != fingerprint:
        run.attempts_at_fingerprint = 0
    run.fingerprint = fingerprint


def attempts_exhausted(run: StageRun, fingerprint: str, settings: Settings) -> bool:
    """Whether the run, still in flight at ``fingerprint``, made as many attempts at those
    inputs as the queue gives one message (the first and ``stage_retries`` retries), so another
    must not be sent or started. A stage that dies without recording an outcome (its worker
    killed, its result never written) comes back as a message the broker delivers again or the
    flow sends anew, whose retries count from 0: this bound is what stops it going on forever."""
    return (
        run.fingerprint == fingerprint
        and run.status in IN_FLIGHT
        and run.attempts_at_fingerprint > settings.stage_retries
    )


def part_subject(participant_id: str, index: int) -> str:
    """The subject of the run transcribing part ``index`` of a participant's track."""
    return participant_id if index == 0 else f"{participant_id}{_PART}{index}"


def subject_participant(subject: str) -> str:
    """The participant a run's subject names (any part of their track)."""
    return subject.split(_PART, 1)[0]


def subject_part(subject: str) -> int:
    """Which part of the participant's track a subject names (0 for the whole or first)."""
    _, _, index = subject.partition(_PART)
    return int(index) if index else 0


@dataclass(frozen=True)
class StageResult:
    """What a stage made. ``cost`` is what running it took (CPU, the worker's memory), added by
    the stage runner; fields are the stage's own."""

    stage: ClassVar[Stage]
    cost: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def as_dict(self) -> dict:
        data = asdict(self)
        cost = data.pop("cost")
        return {**data, **cost}

    @classmethod
    def from_dict(cls: type[R], data: dict) -> R:
        names = {f.name for f in fields(cls)} - {"cost"}
        own = {k: v for k, v in data.items() if k in names}
        return cls(**own, cost={k: v for k, v in data.items() if k not in names})

    def output_keys(self) -> set[str]:
        """The bucket objects this result names."""
        return set()

    def keys_holding(self, participant_id: str) -> set[str]:
        """The bucket objects this result names that hold ``participant_id``'s voice or words
        (the result holds them: everything it names)."""
        return self.output_keys()


@dataclass(frozen=True)
class ActivityResult(StageResult):
    stage: ClassVar[Stage] = Stage.ACTIVITY
    segments: list = field(default_factory=list)  # [start_s, end_s] of speech, room timeline
    audio_s: float = 0.0
    speech_s: float = 0.0

    @classmethod
    def of(cls, activity: SpeechActivity) -> ActivityResult:
        return cls(**activity.as_dict())

    def activity(self) -> SpeechActivity:
        return SpeechActivity.from_dict({"segments": self.segments, "audio_s": self.audio_s})

    def windows(self) -> list[tuple[float, float]]:
        return [(float(a), float(b)) for a, b in self.segments]


@dataclass(frozen=True)
class BleedResult(StageResult):
    stage: ClassVar[Stage] = Stage.BLEED
    findings: list = field(default_factory=list)  # BleedFinding.as_dict() each
    crosstalk: list = field(default_factory=list)  # Crosstalk.as_dict() each, any recorded pair

    def bleeding(self) -> set[str]:
        """Excluded speakers found on a published microphone."""
        return {f["speaker_id"] for f in self.findings if f["detected"]}


@dataclass(frozen=True)
class MixResult(StageResult):
    stage: ClassVar[Stage] = Stage.MIX
    key: str = ""
    profile_key: str = ""  # the mix's 100 ms momentary loudness (clips read it)
    timeline_start_s: float = 0.0  # room time of the mix's first sample
    duration_s: float = 0.0
    voices: list = field(default_factory=list)  # participant ids whose voice the mix holds
    loudness: dict = field(default_factory=dict)
    ducked_windows: int = 0
    leveling: dict = field(default_factory=dict)  # pipeline.leveling.leveling_report
    health: dict = field(default_factory=dict)  # participant id -> TrackHealth.as_dict()
    cleanup: dict = field(default_factory=dict)  # participant id -> what repaired their track
    # participant id -> their track's stored preparation (workers.tracks): its description's
    # key, the repaired track's key (None when not repaired), and whether this run measured it
    # (false) or read back what an earlier mix of the same track stored (true).
    prepared: dict = field(default_factory=dict)
    # The mix of the same voices that mixes of other mutes splice from (workers.stages): its
    # description, the mix and its profile (this mix's own keys when it is that mix); and the
    # seconds this mix mixed again of it (None: mixed whole).
    base_keys: list = field(default_factory=list)
    spliced_s: float | None = None

    def output_keys(self) -> set[str]:
        prepared = {
            k for track in self.prepared.values() for k in (track["key"], track["cleaned_key"]) if k
        }
        return {k for k in (self.key, self.profile_key, *self.base_keys) if k} | prepared

    def keys_holding(self, participant_id: str) -> set[str]:
        """The mix holds every voice in it, and so does the mix it splices from (the same
        voices); each track's stored preparation only its own, and stays for the next mix while
        that voice is published."""
        own = self.prepared.get(participant_id) or {}
        kept = (own.get("key"), own.get("cleaned_key"))
        return {k for k in (self.key, self.profile_key, *self.base_keys, *kept) if k}


@dataclass(frozen=True)
class MasterResult(StageResult):
    stage: ClassVar[Stage] = Stage.MASTER
    files: dict = field(default_factory=dict)  # "mp3"/"opus" -> delivered file, with its key
    voices: list = field(default_factory=list)
    # The host's edits rendered: the version and EditPlan.as_dict() (room spans kept, mutes,
    # what shortening silences saved); empty for the room as recorded.
    edits: dict = field(default_factory=dict)

    def output_keys(self) -> set[str]:
        return {f["key"] for f in self.files.values() if "key" in f}


@dataclass(frozen=True)
class TranscriptionResult(StageResult):
    stage: ClassVar[Stage] = Stage.TRANSCRIBE
    key: str = ""  # the speaker's word-timed segments, room timeline
    segments: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    real_time_factor: float = 0.0
    language: str = ""  # what Whisper transcribed (detected, for auto)
    model: str = ""
    # A part of a long track: [index, count, start s, end s (None: the track's end)], track time.
    part: list | None = None

    def output_keys(self) -> set[str]:
        return {self.key} if self.key else set()


@dataclass(frozen=True)
class PublishResult(StageResult):
    stage: ClassVar[Stage] = Stage.PUBLISH
    render_id: str | None = None
    segments: int = 0
    deleted_objects: int = 0


RESULTS: dict[Stage, type[StageResult]] = {
    cls.stage: cls
    for cls in (
        ActivityResult,
        BleedResult,
        MixResult,
        MasterResult,
        TranscriptionResult,
        PublishResult,
    )
}


def result_of(run: StageRun) -> StageResult | None:
    """The run's typed result (None until it has one)."""
    return RESULTS[Stage(run.stage)].from_dict(run.result) if run.result else None


def output_keys(run: StageRun) -> set[str]:
    result = result_of(run)
    return result.output_keys() if result else set()


def keys_holding(run: StageRun, participant_id: str) -> set[str]:
    """The objects of the run's result that hold the participant's voice or words."""
    result = result_of(run)
    return result.keys_holding(participant_id) if result else set()


@dataclass(frozen=True)
class SpaceResults:
    """The results of a space's finished runs."""

    activity: dict[str, ActivityResult]
    transcription: dict[str, TranscriptionResult]  # run subject (a part of a track) -> result
    bleed: BleedResult | None
    mix: MixResult | None
    master: MasterResult | None


def done_results(session: Session, space_id: str) -> SpaceResults:
    runs = session.scalars(
        select(StageRun).where(StageRun.space_id == space_id, StageRun.status == RunStatus.DONE)
    )
    by_stage: dict[Stage, dict[str, Any]] = {stage: {} for stage in Stage}
    for run in runs:
        result = result_of(run)
        if result is not None:
            by_stage[Stage(run.stage)][run.subject] = result
    return SpaceResults(
        activity=by_stage[Stage.ACTIVITY],
        transcription=by_stage[Stage.TRANSCRIBE],
        bleed=by_stage[Stage.BLEED].get(""),
        mix=by_stage[Stage.MIX].get(""),
        master=by_stage[Stage.MASTER].get(""),
    )
