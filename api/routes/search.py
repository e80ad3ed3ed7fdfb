"""Search across published transcripts: only words that may be published are ever found."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import and_, func, select

from api import schemas
from api.auth import Principal, Role, allow
from api.deps import SessionDep
from api.urls import media_url
from infra.models import Episode, TranscriptSegment
from services.publishing import episode_servable

router = APIRouter(tags=["search"])

Anyone = Annotated[Principal, Depends(allow(Role.PUBLIC, objects="published transcripts"))]


@router.get("/search", response_model=list[schemas.SearchHit])
def search(
    session: SessionDep,
    _: Anyone,
    q: Annotated[
        str, Query(min_length=2, max_length=200, description="words to find, all of them")
    ],
    show_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[schemas.SearchHit]:
    """Transcript lines containing every word of ``q``, with a link to that moment."""
    words = [w for w in q.lower().split() if w][:10]
    escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
    condition = and_(
        *(func.lower(TranscriptSegment.text).like(f"%{w}%", escape="\\") for w in escaped)
    )
    query = (
        select(TranscriptSegment, Episode)
        .join(Episode, Episode.id == TranscriptSegment.episode_id)
        .where(condition)
        .order_by(Episode.published_at.desc(), TranscriptSegment.start_s)
    )
    if show_id:
        query = query.where(Episode.show_id == show_id)
    hits: list[schemas.SearchHit] = []
    allowed: dict[str, bool] = {}
    for row, episode in session.execute(query.limit(limit * 5)):
        if episode.id not in allowed:
            allowed[episode.id] = episode_servable(session, episode)
        if not allowed[episode.id]:
            continue
        hits.append(
            schemas.SearchHit(
                episode_id=episode.id,
                episode_title=episode.title,
                speaker=row.speaker,
                start_s=row.start_s,
                end_s=row.end_s,
                text=row.text,
                audio_url=f"{media_url(episode, 'episode.mp3')}#t={row.start_s:.1f}",
            )
        )
        if len(hits) == limit:
            break
    return hits
