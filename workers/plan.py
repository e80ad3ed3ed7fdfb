"""What a space needs done, derived from the database: who is published (the consent decision)
and a fingerprint of every stage's inputs, so results are keyed by what they were made from."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from infra.models import Participant, Space
from infra.settings import Settings
from pipeline.consent import Exclusion, ParticipantConsent, decide_publication
from pipeline.errors import NothingToPublish
from pipeline.transcribe import model_fingerprint

# Bump when a stage's output for the same inputs changes (a new algorithm or format).
STAGE_VERSIONS = {"mix": 1, "master": 1, "transcribe": 1, "publish": 1}


def fingerprint(stage: str, *parts: object) -> str:
    text = json.dumps([stage, STAGE_VERSIONS[stage], *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SpacePlan:
    space: Space
    audible: list[Participant]
    transcribed: list[Participant]
    exclusions: list[Exclusion]
    mix_fp: str
    master_fp: str
    transcribe_fps: dict[str, str]  # participant id -> fingerprint
    publish_fp: str

    def participant(self, participant_id: str) -> Participant:
        return next(p for p in self.space.participants if p.id == participant_id)


def plan_space(session: Session, space: Space, settings: Settings) -> SpacePlan:
    participants = list(space.participants)
    decision = decide_publication(
        [
            ParticipantConsent(
                p.id, p.name, p.consent_record, p.consent_publish, p.consent_transcribe
            )
            for p in participants
        ]
    )
    by_id = {p.id: p for p in participants}
    audible = [by_id[pid] for pid in decision.audible if by_id[pid].track is not None]
    if not audible:
        raise NothingToPublish("no participant with a track consented to publication")
    transcribed = [by_id[pid] for pid in decision.transcribed if by_id[pid].track is not None]
    mix_fp = fingerprint(
        "mix", sorted((p.id, p.track.sha256, round(p.offset_s, 6)) for p in audible)
    )
    master_fp = fingerprint(
        "master",
        mix_fp,
        settings.target_lufs,
        settings.true_peak_dbtp,
        settings.loudness_tolerance_lu,
        settings.mp3_bitrate,
        settings.opus_bitrate if settings.deliver_opus else None,
    )
    whisper = model_fingerprint(settings.whisper_settings())
    transcribe_fps = {
        p.id: fingerprint(
            "transcribe", p.track.sha256, round(p.offset_s, 6), space.language, whisper
        )
        for p in transcribed
    }
    publish_fp = fingerprint(
        "publish",
        master_fp,
        sorted(transcribe_fps.items()),
        [(p.id, p.name, p.role) for p in audible],
        space.title,
        space.description,
        space.language,
    )
    return SpacePlan(
        space=space,
        audible=audible,
        transcribed=transcribed,
        exclusions=list(decision.exclusions),
        mix_fp=mix_fp,
        master_fp=master_fp,
        transcribe_fps=transcribe_fps,
        publish_fp=publish_fp,
    )
