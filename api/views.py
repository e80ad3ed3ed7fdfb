"""Database rows turned into API response bodies."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import schemas
from api.urls import feed_url, media_url
from infra.models import Episode, Participant, Show, Space, StageRun

STAGE_ORDER = {"mix": 0, "transcribe": 1, "master": 2, "publish": 3}


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


def participant_out(p: Participant) -> schemas.ParticipantOut:
    track = p.track
    return schemas.ParticipantOut(
        id=p.handle,
        name=p.name,
        role=p.role,
        offset=p.offset_s,
        consent=schemas.ConsentIn(
            record=p.consent_record, publish=p.consent_publish, transcribe=p.consent_transcribe
        ),
        track=schemas.TrackOut(
            sha256=track.sha256,
            size_bytes=track.size_bytes,
            format_name=track.format_name,
            codec=track.codec,
            sample_rate_hz=track.sample_rate_hz,
            channels=track.channels,
            duration_s=track.duration_s,
            uploaded_at=track.uploaded_at,
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


def space_out(session: Session, space: Space) -> schemas.SpaceOut:
    handles = {p.id: p.handle for p in space.participants}
    runs = list(session.scalars(select(StageRun).where(StageRun.space_id == space.id)))
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
    if space.status == "published":
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
        participants=[participant_out(p) for p in space.participants],
        stages=stages,
        episode=episode_out(episode) if episode and space.status == "published" else None,
    )
