"""Shows: create, list and change (hosts), read, the RSS feed and the default cover art
(public)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import schemas
from api.access import may_manage_show, public_show, show_for
from api.conditional import not_modified, strong_etag, validators
from api.deps import SessionDep, StoreDep
from api.roles import Anyone, Host
from api.streaming import FEED_CACHE_CONTROL
from api.views import show_out
from infra.models import Show
from services import feed
from services.feed import show_cover, show_feed
from services.versions import last_modified

router = APIRouter(prefix="/shows", tags=["shows"])


@router.post("", status_code=201, response_model=schemas.ShowOut)
def create_show(body: schemas.ShowIn, session: SessionDep, principal: Host) -> schemas.ShowOut:
    show = Show(
        owner_id=principal.user_id,
        title=body.title,
        author=body.author,
        description=body.description,
        link=str(body.link) if body.link else None,
        image_url=str(body.image_url) if body.image_url else None,
        language=body.language,
        category=body.category,
        explicit=body.explicit,
        owner_email=body.owner_email,
        process_speakers=body.process_speakers,
    )
    session.add(show)
    session.flush()
    return show_out(show, private=True)


@router.get("", response_model=list[schemas.ShowOut])
def list_shows(session: SessionDep, principal: Host) -> list[schemas.ShowOut]:
    """The caller's shows (every show, for an admin)."""
    shows = feed.shows_of(session, None if principal.is_admin else principal.user_id)
    return [show_out(show, private=True) for show in shows]


@router.get("/{show_id}", response_model=schemas.ShowOut)
def read_show(show_id: str, session: SessionDep, principal: Anyone) -> schemas.ShowOut:
    """Public show details; the owner's e-mail only to the show's host."""
    show = public_show(session, show_id)
    return show_out(show, private=may_manage_show(principal, show))


@router.patch("/{show_id}", response_model=schemas.ShowOut)
def update_show(
    show_id: str, body: schemas.ShowPatch, session: SessionDep, principal: Host
) -> schemas.ShowOut:
    """The host's choices for the show's next renderings (episodes already made stay)."""
    show = show_for(session, principal, show_id)
    if body.process_speakers is not None:
        show.process_speakers = body.process_speakers
    session.flush()
    return show_out(show, private=True)


@router.get(
    "/{show_id}/feed.xml",
    response_class=Response,
    responses={
        200: {"content": {"application/rss+xml": {}}},
        304: {"description": "not modified (If-None-Match or If-Modified-Since)"},
    },
)
def read_feed(show_id: str, request: Request, session: SessionDep, _: Anyone) -> Response:
    """The show's RSS feed, built from what may be published now. Conditional: apps that send
    back its ETag (or Last-Modified) get 304 while it has not changed; every cache must ask
    again before each use (``no-cache``), so a withdrawal reaches every app at once."""
    xml = show_feed(session, public_show(session, show_id))
    etag = strong_etag(xml)
    modified = last_modified(session, f"feed:{show_id}", etag)
    headers = validators(etag, modified, FEED_CACHE_CONTROL)
    return not_modified(request, etag, modified, headers) or Response(
        xml, media_type="application/rss+xml; charset=utf-8", headers=headers
    )


@router.get(
    "/{show_id}/cover.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def read_cover(show_id: str, session: SessionDep, store: StoreDep, _: Anyone) -> Response:
    show = public_show(session, show_id)
    data = await run_in_threadpool(show_cover, store, show)
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})
