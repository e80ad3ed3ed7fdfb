"""Shows: create, read, the RSS feed and the default cover art."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from api import schemas
from api.deps import SessionDep, StoreDep
from api.publishing import show_feed
from api.views import show_out
from infra.models import Show
from infra.storage import show_key
from pipeline.cover import render_cover

router = APIRouter(prefix="/shows", tags=["shows"])


def get_show(session: Session, show_id: str) -> Show:
    show = session.get(Show, show_id)
    if show is None:
        raise HTTPException(404, f"show {show_id} not found")
    return show


@router.post("", status_code=201, response_model=schemas.ShowOut)
def create_show(body: schemas.ShowIn, session: SessionDep) -> schemas.ShowOut:
    show = Show(
        title=body.title,
        author=body.author,
        description=body.description,
        link=str(body.link) if body.link else None,
        image_url=str(body.image_url) if body.image_url else None,
        language=body.language,
        category=body.category,
        explicit=body.explicit,
        owner_email=body.owner_email,
    )
    session.add(show)
    session.flush()
    return show_out(show)


@router.get("/{show_id}", response_model=schemas.ShowOut)
def read_show(show_id: str, session: SessionDep) -> schemas.ShowOut:
    return show_out(get_show(session, show_id))


@router.get(
    "/{show_id}/feed.xml",
    response_class=Response,
    responses={200: {"content": {"application/rss+xml": {}}}},
)
def read_feed(show_id: str, session: SessionDep) -> Response:
    xml = show_feed(session, get_show(session, show_id))
    return Response(xml, media_type="application/rss+xml; charset=utf-8")


@router.get(
    "/{show_id}/cover.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def read_cover(
    show_id: str,
    session: SessionDep,
    store: StoreDep,
) -> Response:
    show = get_show(session, show_id)
    key = show_key(show.id, "cover.png")

    def _load_or_render() -> bytes:
        if store.exists(key):
            return store.get_bytes(key)
        with tempfile.TemporaryDirectory(prefix="spacecast-cover-") as tmp:
            data = render_cover(show.title, Path(tmp) / "cover.png").read_bytes()
        store.put_bytes(key, data, content_type="image/png")
        return data

    data = await run_in_threadpool(_load_or_render)
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})
