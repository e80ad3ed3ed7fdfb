"""Episodes and their media: audio and transcripts, served through the API (with HTTP range
requests) or by redirect to a short-lived signed URL, never from a public bucket."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from api import schemas
from api.access import managed_episode, published_episode
from api.conditional import not_modified, strong_etag, validators
from api.deps import SessionDep, SettingsDep, StoreDep
from api.head import head_only
from api.limits import rate_limited
from api.roles import Anyone, Host
from api.streaming import REVALIDATED, WITHDRAWABLE, stream_object
from api.views import episode_out
from infra.urls import MEDIA_FILES, media_url
from pipeline.chapters import CHAPTERS_MIME
from services.chapters import chapters_pending, set_host_chapters
from services.errors import NotFound
from services.feed import episode_notes, published_notes
from services.notes import set_host_notes
from services.publishing import chapters_json_of, delete_objects, media_key_of, take_down_episode
from services.versions import last_modified

router = APIRouter(tags=["episodes"])


@router.get("/episodes/{episode_id}", response_model=schemas.EpisodeOut)
def read_episode(episode_id: str, session: SessionDep, _: Anyone) -> schemas.EpisodeOut:
    return episode_out(published_episode(session, episode_id))


@router.delete("/episodes/{episode_id}", status_code=204)
def take_down(episode_id: str, session: SessionDep, store: StoreDep, principal: Host) -> None:
    """Take the episode down: out of the feed, its media, transcripts and everything derived
    from the room for it deleted; listeners' clips expire with it unless the host pinned them."""
    episode = managed_episode(session, principal, episode_id)
    keys = take_down_episode(session, store, episode, by="host", reason="taken down by its host")
    session.commit()
    delete_objects(store, keys)


def _chapters_out(episode) -> schemas.ChaptersOut:
    return schemas.ChaptersOut(
        episode_id=episode.id,
        chapters=episode.chapters,
        host_chapters=episode.host_chapters,
        pending=chapters_pending(episode),
        chapters_url=media_url(episode, "chapters.json") if episode.chapters else None,
    )


@router.get("/episodes/{episode_id}/chapters", response_model=schemas.ChaptersOut)
def read_host_chapters(
    episode_id: str, session: SessionDep, principal: Host
) -> schemas.ChaptersOut:
    """The episode's chapters as published, and the host's own if they set them."""
    return _chapters_out(managed_episode(session, principal, episode_id))


@router.put(
    "/episodes/{episode_id}/chapters",
    status_code=202,
    response_model=schemas.ChaptersOut,
    dependencies=[Depends(rate_limited("chapters", "chapter_edit_rate", noun="chapter edits"))],
)
def edit_chapters(
    episode_id: str, body: schemas.ChaptersIn, session: SessionDep, principal: Host
) -> schemas.ChaptersOut:
    """Set the episode's chapters (rename, move, merge, split, add or delete: send the list as
    it should be); they are published when the episode has been rendered again. Refused (422)
    naming the chapter and the problem: outside the episode, overlapping, empty title."""
    episode = managed_episode(session, principal, episode_id)
    set_host_chapters(session, episode, [(c.start_s, c.title) for c in body.chapters])
    return _chapters_out(episode)


@router.delete(
    "/episodes/{episode_id}/chapters",
    status_code=202,
    response_model=schemas.ChaptersOut,
    dependencies=[Depends(rate_limited("chapters", "chapter_edit_rate", noun="chapter edits"))],
)
def reset_chapters(episode_id: str, session: SessionDep, principal: Host) -> schemas.ChaptersOut:
    """Drop the host's chapters: they are generated from the transcript again."""
    episode = managed_episode(session, principal, episode_id)
    set_host_chapters(session, episode, None)
    return _chapters_out(episode)


def _notes_out(session, episode) -> schemas.NotesOut:
    return schemas.NotesOut(
        episode_id=episode.id,
        text=published_notes(session, episode)[0],
        generated=episode_notes(session, episode),
        host_notes=episode.host_notes,
    )


@router.get("/episodes/{episode_id}/notes", response_model=schemas.NotesOut)
def read_notes(episode_id: str, session: SessionDep, principal: Host) -> schemas.NotesOut:
    """The episode's show notes as published, the generated ones and the host's own."""
    return _notes_out(session, managed_episode(session, principal, episode_id))


@router.put(
    "/episodes/{episode_id}/notes",
    response_model=schemas.NotesOut,
    dependencies=[Depends(rate_limited("notes", "notes_edit_rate", noun="notes edits"))],
)
def edit_notes(
    episode_id: str,
    body: schemas.NotesIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: Host,
) -> schemas.NotesOut:
    """Write the episode's show notes (plain text): the feed (description, itunes:summary,
    content:encoded) and the episode page show them from now on, in place of the generated
    ones. Refused (422) naming the problem: too long, a control character."""
    episode = managed_episode(session, principal, episode_id)
    set_host_notes(session, episode, body.text, settings.max_notes_chars)
    return _notes_out(session, episode)


@router.delete(
    "/episodes/{episode_id}/notes",
    response_model=schemas.NotesOut,
    dependencies=[Depends(rate_limited("notes", "notes_edit_rate", noun="notes edits"))],
)
def reset_notes(episode_id: str, session: SessionDep, principal: Host) -> schemas.NotesOut:
    """Drop the host's notes: the generated ones are published again."""
    episode = managed_episode(session, principal, episode_id)
    set_host_notes(session, episode, None, 0)
    return _notes_out(session, episode)


@router.get("/episodes/{episode_id}/report")
def read_report(episode_id: str, session: SessionDep, principal: Host) -> dict:
    """What was measured: loudness of the delivered files, probes, exclusions, stage timings."""
    return managed_episode(session, principal, episode_id).report


@router.get(
    "/media/episodes/{episode_id}/{render_id}/chapters.json",
    response_class=Response,
    responses={
        200: {"content": {CHAPTERS_MIME: {}}},
        304: {"description": "not modified (If-None-Match or If-Modified-Since)"},
        410: {"model": schemas.ErrorOut},
    },
)
def read_chapters(
    episode_id: str, render_id: str, request: Request, session: SessionDep, _: Anyone
) -> Response:
    """The episode's chapters in the JSON chapters format 1.2.0, which web players may load
    from any site (Access-Control-Allow-Origin: *)."""
    episode = published_episode(session, episode_id)
    body = json.dumps(chapters_json_of(session, episode, render_id), ensure_ascii=False).encode()
    etag = strong_etag(body)
    modified = last_modified(session, f"chapters:{episode.id}", etag)
    headers = {
        **validators(etag, modified, REVALIDATED),
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag, Last-Modified",
    }
    return not_modified(request, etag, modified, headers) or Response(
        body, media_type=CHAPTERS_MIME, headers=headers
    )


@router.get(
    "/media/episodes/{episode_id}/{render_id}/{filename}",
    response_class=Response,
    responses={
        200: {
            "content": {"audio/mpeg": {}, "audio/ogg": {}, "text/vtt": {}, "application/json": {}}
        },
        206: {"description": "partial content (range request)"},
        304: {"description": "a transcript not modified (If-None-Match or If-Modified-Since)"},
        307: {
            "description": "a GET redirected to a signed URL (SPACECAST_MEDIA_DELIVERY=redirect)"
        },
        416: {"model": schemas.ErrorOut},
    },
)
def read_media(
    episode_id: str,
    render_id: str,
    filename: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    _: Anyone,
) -> Response:
    episode = published_episode(session, episode_id)
    if filename not in MEDIA_FILES:
        raise NotFound(f"{filename} of episode {episode_id} not found")
    key = media_key_of(session, episode, filename, render_id)
    if settings.media_delivery == "redirect" and not head_only(request):
        # Short-lived, and the object is deleted when consent is withdrawn, so a URL handed
        # out before a withdrawal stops working with it. A HEAD is answered here instead: a
        # signed URL is good for one method only, and the API's answer costs one HeadObject.
        return RedirectResponse(
            store.presigned_get(key, expires_s=60),
            status_code=307,
            headers={"Cache-Control": WITHDRAWABLE},
        )
    if filename.startswith("transcript."):
        return _transcript(request, store, key, filename)
    return stream_object(
        store,
        key,
        request=request,
        cache_control=WITHDRAWABLE,
        name=filename,
    )


def _transcript(request: Request, store, key: str, filename: str) -> Response:
    """A transcript, for players on any site, answered 304 while the client holds it: its
    object never changes under its URL (the rendering names it), so the bucket's ETag and
    Last-Modified are its validators; a withdrawal answers 410 before they are read."""
    head = store.head(key)
    if head is None:
        raise NotFound(f"{filename} not found")
    etag, modified = head["ETag"], head["LastModified"]
    headers = {
        **validators(etag, modified, REVALIDATED),
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag, Last-Modified",
    }
    cached = not_modified(request, etag, modified, headers)
    if cached is not None:
        return cached
    extra = {k: v for k, v in headers.items() if k != "Cache-Control"}
    return stream_object(
        store,
        key,
        request=request,
        cache_control=REVALIDATED,
        name=filename,
        extra_headers=extra,
    )
