"""Database rows turned into API response bodies."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import schemas
from api.urls import feed_url, media_url
from infra.models import Episode, Participant, Show, Space, StageRun
from infra.settings import get_settings
from pipeline.consent import ConsentState, Participation, decide_publication
from pipeline.retention import Retention
from pipeline.states import SpaceStatus
from services.ledger import current_states
from services.publishing import episode_servable
from services.retention import retention_for
from services.runs import done_results

STAGE_ORDER = {"activity": 0, "transcribe": 1, "bleed": 2, "mix": 3, "master": 4, "publish": 5}


def show_out(show: Show, *, private: bool) -> schemas.ShowOut:
    """``private``: the caller manages the show and may see its contact e-mail."""
    return schemas.ShowOut(
        id=show.id,
        title=show.title,
        author=show.author,
        description=show.description,
        link=show.link,
        image_url=show.image_url,
        language=show.language,
        category=show.category,
        explicit=show.explicit,
        owner_email=show.owner_email if private else None,
        feed_url=feed_url(show.id),
        created_at=show.created_at,
    )


def consent_out(state: ConsentState) -> schemas.ConsentOut:
    return schemas.ConsentOut(**state.as_dict())


def participant_out(
    p: Participant, state: ConsentState | None = None, speech_s: float | None = None
) -> schemas.ParticipantOut:
    track = p.track
    return schemas.ParticipantOut(
        id=p.handle,
        name=p.name,
        role=p.role,
        offset=p.offset_s,
        joined_at=p.joined_at,
        consent=consent_out(state or ConsentState()),
        speech_s=speech_s,
        track=schemas.TrackOut(
            sha256=track.sha256,
            size_bytes=track.size_bytes,
            format_name=track.format_name,
            codec=track.codec,
            sample_rate_hz=track.sample_rate_hz,
            channels=track.channels,
            duration_s=track.duration_s,
            uploaded_at=track.uploaded_at,
            chunk_count=track.chunk_count,
            chunks_sha256=track.chunks_sha256,
        )
        if track
        else None,
    )


def episode_out(episode: Episode) -> schemas.EpisodeOut:
    return schemas.EpisodeOut(
        id=episode.id,
        space_id=episode.space_id,
        guid=episode.guid,
        title=episode.title,
        description=episode.description,
        published_at=episode.published_at,
        duration_s=episode.duration_s,
        audio={name: media_url(episode, f"episode.{name}") for name in episode.media},
        transcripts={fmt: media_url(episode, f"transcript.{fmt}") for fmt in episode.transcripts},
        loudness=episode.media["mp3"]["loudness"],
        persons=episode.persons,
        feed_url=feed_url(episode.show_id),
    )


def retention_out(retention: Retention, space: Space) -> schemas.RetentionOut:
    """When the space's raw recordings expire and why they are kept (no complaint details)."""
    return schemas.RetentionOut(
        ended_at=retention.ended_at,
        expires_at=retention.expires_at,
        deletes_at=None if space.vault_deleted_at else retention.deletes_at,
        held=retention.held,
        held_until=retention.held_until,
        reason="deleted after the retention period" if space.vault_deleted_at else retention.reason,
        deleted_at=space.vault_deleted_at,
    )


def space_out(session: Session, space: Space) -> schemas.SpaceOut:
    handles = {p.id: p.handle for p in space.participants}
    runs = list(session.scalars(select(StageRun).where(StageRun.space_id == space.id)))
    states = current_states(session, space.id)
    results = done_results(session, space.id)
    speech = {pid: a.speech_s for pid, a in results.activity.items()}
    total_speech = sum(speech.values()) or None
    decision = decide_publication(
        [Participation(p.id, p.name, has_track=p.track is not None) for p in space.participants],
        states,
    )
    bleed = [
        {
            **f,
            "speaker_id": handles.get(f["speaker_id"]),
            "heard_on_id": handles.get(f["heard_on_id"]),
        }
        for f in (results.bleed.findings if results.bleed else [])
    ]
    runs.sort(key=lambda r: (STAGE_ORDER.get(r.stage, 9), r.subject))
    stages = [
        schemas.StageOut(
            stage=run.stage,
            participant=handles.get(run.subject) if run.subject else None,
            status=run.status,
            progress=round(run.progress, 3),
            attempts=run.attempts,
            error=run.error,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
        for run in runs
    ]
    if space.status == SpaceStatus.PUBLISHED:
        progress = 1.0
    elif stages:
        progress = sum(s.progress for s in stages) / max(len(stages), 1)
    else:
        progress = 0.0
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    return schemas.SpaceOut(
        id=space.id,
        show_id=space.show_id,
        title=space.title,
        description=space.description,
        language=space.language,
        started_at=space.started_at,
        status=space.status,
        error=space.error,
        progress=round(progress, 3),
        notice=space.notice or get_settings().recording_notice,
        missing_policy=space.missing_policy,
        duck_excluded=space.duck_excluded,
        participants=[
            participant_out(p, states.get(p.id), speech.get(p.id)) for p in space.participants
        ],
        excluded=[
            schemas.ExclusionOut(
                participant=handles[e.participant_id],
                name=e.name,
                excluded_from=e.excluded_from,
                status=e.status,
                reason=e.reason,
                speech_s=speech.get(e.participant_id),
            )
            for e in decision.exclusions
        ],
        missing=[
            schemas.MissingOut(
                participant=handles[e.participant_id],
                name=e.name,
                speech_s=speech.get(e.participant_id),
                share_of_speech=round(speech[e.participant_id] / total_speech, 3)
                if total_speech and e.participant_id in speech
                else None,
            )
            for e in decision.missing
        ],
        bleed=bleed,
        stages=stages,
        episode=episode_out(episode)
        if episode and episode_servable(session, episode, states)
        else None,
        recordings=retention_out(
            retention_for(session, space, get_settings().retention_policy()), space
        ),
    )
