"""Search across published transcripts: only words that may be published are ever found."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import schemas
from api.deps import SessionDep
from api.roles import Anyone
from api.views import search_hit
from services.publishing import find_lines

router = APIRouter(tags=["search"])


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
    return [
        search_hit(row, episode)
        for row, episode in find_lines(session, q, show_id=show_id, limit=limit)
    ]
