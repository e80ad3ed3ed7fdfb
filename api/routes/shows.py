"""Shows: create, list and change (hosts), the show's own audio for edits (hosts), read, the RSS
feed and the default cover art (public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api import schemas
from api.access import may_manage_show, public_show, show_for
from api.conditional import strong_etag, validators
from api.deps import SessionDep, StoreDep
from api.feed_polls import KeptFeeds, feed_response
from api.limits import rate_limited
from api.roles import Anyone, Host
from api.streaming import FEED_CACHE_CONTROL
from api.tracks import BINARY_BODY, UploadTooLarge, receive_to_file
from api.views import show_out
from infra.db import session_scope
from infra.models import HostAudio, Show
from infra.settings import get_settings
from services import feed, host_audio
from services.errors import Invalid
from services.feed import current_feed, show_cover
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
    feed.set_feed_choices(show, live_items=body.live_items, locked=body.locked, season=body.season)
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
    feed.set_feed_choices(
        show,
        live_items=body.live_items,
        locked=body.locked,
        season=body.season or None,
        no_season=body.season == 0,
    )
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
    again before each use (``no-cache``), so a withdrawal reaches every app at once. Built once
    per feed version; the answer is kept, and the next plain polls are answered from memory
    while the version stands (api/feed_polls.py)."""
    kept: KeptFeeds = request.app.state.kept_feeds
    mark = kept.mark(show_id)  # before the show's row is read: a move after it is heard
    show = public_show(session, show_id)
    max_age_s = get_settings().feed_cache_max_age_s
    built = current_feed(session, show, max_age_s)
    etag = strong_etag(built.xml)
    modified = built.since or built.remember_since(last_modified(session, f"feed:{show_id}", etag))
    headers = validators(etag, modified, FEED_CACHE_CONTROL)
    kept.keep(request, show_id, mark, built, etag, modified, headers, max_age_s)
    return feed_response(request, built.xml, etag, modified, headers)


@router.get(
    "/{show_id}/cover.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def read_cover(show_id: str, session: SessionDep, store: StoreDep, _: Anyone) -> Response:
    show = public_show(session, show_id)
    data = await run_in_threadpool(show_cover, store, show)
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})


def host_audio_out(audio: HostAudio) -> schemas.HostAudioOut:
    return schemas.HostAudioOut(
        **{name: getattr(audio, name) for name in schemas.HostAudioOut.model_fields}
    )


@router.post(
    "/{show_id}/audio",
    status_code=201,
    response_model=schemas.HostAudioOut,
    responses={413: {"model": schemas.ErrorOut}, 422: {"model": schemas.ErrorOut}},
    dependencies=[Depends(rate_limited("upload", "upload_rate", noun="uploads"))],
    openapi_extra=BINARY_BODY,
)
async def upload_host_audio(
    show_id: str,
    request: Request,
    store: StoreDep,
    principal: Host,
    name: Annotated[str, Query(min_length=1, max_length=200)],
) -> schemas.HostAudioOut:
    """The host's own audio (an intro, an outro, a music bed) as the request body, any
    container a track may be; probed and checked as tracks are, at most
    SPACECAST_MAX_HOST_AUDIO_BYTES and SPACECAST_MAX_HOST_AUDIO_DURATION_S."""
    settings = get_settings()

    def _check() -> None:  # who may send, before reading what they send
        with session_scope(settings.database_url) as session:
            show_for(session, principal, show_id)

    await run_in_threadpool(_check)
    limit = settings.max_host_audio_bytes
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isascii() and declared.isdigit() else 0
    if length > limit:
        raise UploadTooLarge(
            f"upload of {length / 1024**2:.0f} MiB is larger than the limit of "
            f"{limit / 1024**2:.0f} MiB for host audio"
        )
    path, sha256, size = await receive_to_file(request.stream(), max_bytes=limit, settings=settings)
    if size == 0:
        path.unlink(missing_ok=True)
        raise Invalid(f"host audio {name!r}: the upload is empty (0 bytes)")

    def _store() -> schemas.HostAudioOut:
        with session_scope(settings.database_url) as session:
            show = show_for(session, principal, show_id)
            audio = host_audio.accept_host_audio(
                session, store, settings, show, name, path, sha256, actor=principal.subject
            )
            return host_audio_out(audio)

    try:
        return await run_in_threadpool(_store)
    finally:
        path.unlink(missing_ok=True)


@router.get("/{show_id}/audio", response_model=list[schemas.HostAudioOut])
def list_host_audio(
    show_id: str, session: SessionDep, principal: Host
) -> list[schemas.HostAudioOut]:
    """The show's own audio, oldest first: the ids an edit list's intro, outro and bed name."""
    show = show_for(session, principal, show_id)
    return [host_audio_out(a) for a in host_audio.show_audio(session, show.id)]


@router.delete(
    "/{show_id}/audio/{audio_id}",
    status_code=204,
    responses={409: {"model": schemas.ErrorOut, "description": "an episode as published plays it"}},
)
def delete_host_audio(
    show_id: str, audio_id: str, session: SessionDep, store: StoreDep, principal: Host
) -> None:
    """Delete a piece of the show's own audio and its stored file. Refused (409, naming the
    versions) while an episode as published or being made plays it; a version that only names
    it is refused by name if published later. A second delete is 404: it is gone."""
    show = show_for(session, principal, show_id)
    host_audio.delete_host_audio(session, store, show, audio_id)
