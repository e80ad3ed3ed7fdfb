"""What a space needs done, derived from the database: the consent decision from the ledger, and
a fingerprint of every stage's inputs, so results are keyed by what they were made from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import Episode, Participant, Space
from infra.settings import Settings
from pipeline.consent import Exclusion, Participation, Publication, decide_publication, snapshot
from pipeline.edits import Mute, Operation, operations_to_data
from pipeline.states import Stage
from pipeline.transcribe import chosen_model, model_fingerprint, speaker_language
from services.consent import may_keep_track
from services.editing import chosen_operations, needs_speech
from services.ledger import current_states

# Bump when a stage's output for the same inputs changes (a new algorithm or format).
STAGE_VERSIONS = {
    "activity": 2,
    "bleed": 1,
    "mix": 4,
    "master": 1,
    "transcribe": 3,
    "publish": 5,
}


def fingerprint(stage: str, *parts: object) -> str:
    text = json.dumps([stage, STAGE_VERSIONS[stage], *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SpacePlan:
    space: Space
    publication: Publication
    recorded: list[Participant]  # tracks the stages may read (a track it may keep)
    audible: list[Participant]
    transcribed: list[Participant]
    activity_fps: dict[str, str]  # participant id -> fingerprint
    bleed_fp: str
    mix_fp: str
    master_fp: str
    transcribe_fps: dict[str, str]
    publish_fp: str
    snapshot: dict = field(default_factory=dict)
    host_chapters: list | None = None  # the host's own chapters, which publishing keeps
    edit_version: int = 0  # the episode version rendered (0: the room as recorded)
    edits: tuple[Operation, ...] = ()  # its operations; mutes name participant ids

    @property
    def exclusions(self) -> tuple[Exclusion, ...]:
        return self.publication.exclusions

    @property
    def bleed_suspects(self) -> list[Participant]:
        """Recorded speakers kept out of the episode, whose voice may be on others' microphones."""
        episode_out = {e.participant_id for e in self.exclusions if e.excluded_from == "episode"}
        return [p for p in self.recorded if p.id in episode_out]

    @property
    def leveled(self) -> bool:
        """The show levels voices between speakers before the mix (the host's choice)."""
        return bool(self.space.show.process_speakers)

    @property
    def held(self) -> bool:
        """Publication waits: someone has not answered and the host chose to wait for them."""
        return bool(self.publication.missing) and self.space.missing_policy == "hold"

    def participant(self, participant_id: str) -> Participant:
        return next(p for p in self.space.participants if p.id == participant_id)

    def fingerprint(self, stage: Stage, subject: str = "") -> str | None:
        """The fingerprint of ``stage``'s inputs (for ``subject``, a participant, where the stage
        is per participant); None when the plan does not have that stage run."""
        if stage == Stage.ACTIVITY:
            return self.activity_fps.get(subject)
        if stage == Stage.TRANSCRIBE:
            return self.transcribe_fps.get(subject)
        if not self.audible and stage != Stage.PUBLISH:
            return None  # nobody may be heard: nothing is mixed; publishing withdraws
        return {
            Stage.BLEED: self.bleed_fp,
            Stage.MIX: self.mix_fp,
            Stage.MASTER: self.master_fp,
            Stage.PUBLISH: self.publish_fp,
        }[stage]


def plan_space(session: Session, space: Space, settings: Settings) -> SpacePlan:
    participants = list(space.participants)
    states = current_states(session, space.id)
    publication = decide_publication(
        [Participation(p.id, p.name, has_track=p.track is not None) for p in participants], states
    )
    by_id = {p.id: p for p in participants}
    recorded = [p for p in participants if p.track is not None and may_keep_track(states, p)]
    audible = [by_id[pid] for pid in publication.audible]
    transcribed = [by_id[pid] for pid in publication.transcribed]

    def track_of(p: Participant) -> tuple:
        return (p.id, p.track.sha256, round(p.offset_s, 6))

    activity_fps = {p.id: fingerprint("activity", track_of(p)) for p in recorded}
    suspects = {e.participant_id for e in publication.exclusions if e.excluded_from == "episode"}
    bleed_fp = fingerprint(
        "bleed",
        sorted(activity_fps[pid] for pid in suspects if pid in activity_fps),
        sorted(track_of(p) for p in audible),
    )
    edit_version, edits = chosen_operations(session, space)
    audible_ids = {p.id for p in audible}
    # Mutes change the mix; cuts, trims and shortened silences only the mastered files (the
    # mix stays on the room timeline). Edits of nobody (a mute of a withdrawn voice) change none.
    mutes = [op for op in edits if isinstance(op, Mute) and op.speaker_id in audible_ids]
    cuts = [op for op in edits if not isinstance(op, Mute)]
    leveled = bool(space.show.process_speakers)
    mix_fp = fingerprint(
        "mix",
        sorted(track_of(p) for p in audible),
        bleed_fp if space.duck_excluded else None,
        *([operations_to_data(mutes)] if mutes else []),
        # Track health and leveling measure each voice on its speech windows: inputs of the mix.
        sorted(activity_fps.get(p.id, "") for p in audible),
        leveled,
    )
    master_fp = fingerprint(
        "master",
        mix_fp,
        *(
            [
                operations_to_data(cuts),
                sorted(activity_fps[p.id] for p in audible if p.id in activity_fps)
                if needs_speech(edits)
                else None,
            ]
            if cuts
            else []
        ),
        settings.target_lufs,
        settings.true_peak_dbtp,
        settings.loudness_tolerance_lu,
        settings.mp3_bitrate,
        settings.opus_bitrate if settings.deliver_opus else None,
    )
    whisper = settings.whisper_settings()

    def transcribe_fp(p: Participant) -> str:
        language = speaker_language(p.language, space.language)
        model = replace(whisper, model=chosen_model(whisper, language))
        return fingerprint("transcribe", track_of(p), language, model_fingerprint(model))

    transcribe_fps = {p.id: transcribe_fp(p) for p in transcribed}
    taken = snapshot(publication)
    host_chapters = session.scalar(
        select(Episode.host_chapters).where(Episode.space_id == space.id)
    )
    publish_fp = fingerprint(
        "publish",
        master_fp,
        sorted(transcribe_fps.items()),
        sorted(activity_fps.items()),
        bleed_fp,
        [(p.id, p.name, p.role) for p in audible],
        taken,
        space.title,
        space.description,
        space.language,
        settings.chapter_min_s,
        host_chapters,
        *([edit_version] if edit_version else []),
    )
    return SpacePlan(
        space=space,
        publication=publication,
        recorded=recorded,
        audible=audible,
        transcribed=transcribed,
        activity_fps=activity_fps,
        bleed_fp=bleed_fp,
        mix_fp=mix_fp,
        master_fp=master_fp,
        transcribe_fps=transcribe_fps,
        publish_fp=publish_fp,
        snapshot=taken,
        host_chapters=host_chapters,
        edit_version=edit_version,
        edits=edits,
    )
