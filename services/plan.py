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
from pipeline.transcribe import chosen_model, model_fingerprint, part_count, speaker_language
from services.consent import may_keep_track
from services.editing import chosen_operations, needs_speech
from services.host_audio import audio_named
from services.ledger import current_states
from services.runs import part_subject, subject_part, subject_participant

# Bump when a stage's output for the same inputs changes (a new algorithm or format).
STAGE_VERSIONS = {
    "activity": 2,
    "bleed": 2,
    "mix": 5,
    # A published track's health, repair and leveling (workers.tracks), which the mix reads.
    "prepare": 2,  # 2: a denoised track keeps the raw track's samples (afftdn's delay taken off)
    "master": 1,
    "transcribe": 3,
    "publish": 5,
}


def fingerprint(stage: str, *parts: object) -> str:
    text = json.dumps([stage, STAGE_VERSIONS[stage], *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def track_of(p: Participant) -> tuple:
    """A participant's track as the stages read it: whose, which bytes, where in the room (and
    where it ends, when the room said: its clock drift is measured from that)."""
    ends = (round(p.end_s, 6),) if p.end_s is not None else ()
    return (p.id, p.track.sha256, round(p.offset_s, 6), *ends)


def prepare_fingerprint(p: Participant, activity_fp: str, leveled: bool) -> str:
    """The inputs of a published track's health, repair and leveling (``workers.tracks``): the
    track, the speech activity they measure it on, the show's leveling choice. Nothing of the
    host's edit list: a mute or a cut leaves them alone."""
    return fingerprint("prepare", track_of(p), activity_fp, leveled)


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
    # What the mix is made of but for the host's mutes: a mix of the same base is spliced from
    # the stored one (workers.stages), never a mix of other voices or tracks.
    mix_base_fp: str
    prepare_fps: dict[str, str]  # published participant id -> fingerprint of their track's
    # preparation for the mix: what a mute leaves alone, so a mix for an edit reads it back
    master_fp: str
    transcribe_fps: dict[str, str]  # run subject (a part of a participant's track) -> fingerprint
    publish_fp: str
    snapshot: dict = field(default_factory=dict)
    host_chapters: list | None = None  # the host's own chapters, which publishing keeps
    edit_version: int = 0  # the episode version rendered (0: the room as recorded)
    edits: tuple[Operation, ...] = ()  # its operations; mutes name participant ids
    host_audio: tuple = ()  # the show's own audio (HostAudio rows) the operations add
    part_s: float = 0.0  # tracks longer than this are transcribed in parts

    def host_audio_lengths(self) -> dict[str, float]:
        return {audio.id: audio.duration_s for audio in self.host_audio}

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

    def transcription_part(self, subject: str) -> tuple[Participant, int, int]:
        """The participant, part index and part count a transcription subject names."""
        participant = self.participant(subject_participant(subject))
        count = self.transcription_parts(participant)
        index = next(k for k in range(count) if part_subject(participant.id, k) == subject)
        return participant, index, count

    def transcription_subjects(self, participant_id: str) -> list[str]:
        """The subjects of a participant's transcription runs, part by part in track order."""
        return sorted(
            (s for s in self.transcribe_fps if subject_participant(s) == participant_id),
            key=subject_part,
        )

    def transcription_parts(self, participant: Participant) -> int:
        """How many parts the participant's track is transcribed in."""
        return part_count(participant.track.duration_s, self.part_s) if participant.track else 1

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

    activity_fps = {p.id: fingerprint("activity", track_of(p)) for p in recorded}
    suspects = {e.participant_id for e in publication.exclusions if e.excluded_from == "episode"}
    # The bleed check of excluded speakers, and crosstalk between every recorded pair (it
    # reads everyone's speech activity).
    bleed_fp = fingerprint(
        "bleed",
        sorted(activity_fps[pid] for pid in suspects if pid in activity_fps),
        sorted(track_of(p) for p in audible),
        sorted(activity_fps.values()),
    )
    edit_version, edits = chosen_operations(session, space)
    host_audio = tuple(audio_named(session, space.show_id, edits))
    audible_ids = {p.id for p in audible}
    # Mutes change the mix; cuts, trims and shortened silences only the mastered files (the
    # mix stays on the room timeline). Edits of nobody (a mute of a withdrawn voice) change none.
    mutes = [op for op in edits if isinstance(op, Mute) and op.speaker_id in audible_ids]
    cuts = [op for op in edits if not isinstance(op, Mute)]
    leveled = bool(space.show.process_speakers)
    # Track health and leveling measure each voice on its speech windows: inputs of the mix,
    # and of nothing the host's edits change.
    prepare_fps = {
        p.id: prepare_fingerprint(p, activity_fps.get(p.id, ""), leveled) for p in audible
    }
    # What the mix is made of: the published tracks and the ducking, then the mutes, then their
    # activity, the leveling choice and each track's preparation. The base leaves out the mutes.
    voices = (sorted(track_of(p) for p in audible), bleed_fp if space.duck_excluded else None)
    shaped = (
        sorted(activity_fps.get(p.id, "") for p in audible),
        leveled,
        sorted(prepare_fps.values()),
    )
    mix_fp = fingerprint("mix", *voices, *([operations_to_data(mutes)] if mutes else []), *shaped)
    mix_base_fp = fingerprint("mix", "base", *voices, *shaped)
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
        *([sorted((a.id, a.sha256, a.integrated_lufs) for a in host_audio)] if host_audio else []),
        settings.target_lufs,
        settings.true_peak_dbtp,
        settings.loudness_tolerance_lu,
        settings.mp3_bitrate,
        settings.opus_bitrate if settings.deliver_opus else None,
    )
    whisper = settings.whisper_settings()

    # Parts are cut in pauses of the speaker's speech, which needs the detector on.
    part_s = settings.transcribe_part_s if whisper.vad else 0.0

    def transcribe_fps_of(p: Participant) -> dict[str, str]:
        language = speaker_language(p.language, space.language)
        model = replace(whisper, model=chosen_model(whisper, language))
        common = (track_of(p), language, model_fingerprint(model))
        count = part_count(p.track.duration_s, part_s) if p.track else 1
        if count == 1:  # the whole track, as before parts existed
            return {p.id: fingerprint("transcribe", *common)}
        return {
            part_subject(p.id, k): fingerprint("transcribe", *common, [k, count, part_s])
            for k in range(count)
        }

    transcribe_fps = {s: fp for p in transcribed for s, fp in transcribe_fps_of(p).items()}
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
        mix_base_fp=mix_base_fp,
        prepare_fps=prepare_fps,
        master_fp=master_fp,
        transcribe_fps=transcribe_fps,
        publish_fp=publish_fp,
        snapshot=taken,
        host_chapters=host_chapters,
        edit_version=edit_version,
        edits=edits,
        host_audio=host_audio,
        part_s=part_s,
    )
