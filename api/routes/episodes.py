"""Episodes and their media: audio and transcripts, served through the API (with HTTP range
requests) or by redirect to a short-lived signed URL, never from a public bucket."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from sqlalchemy.orm import Session

from api import schemas
from api.deps import SessionDep, SettingsDep, StoreDep
from api.urls import MEDIA_FILES
from api.views import episode_out
from infra.models import Episode, Space

router = APIRouter(tags=["episodes"])


def get_published_episode(session: Session, episode_id: str) -> Episode:
    episode = session.get(Episode, episode_id)
    space = session.get(Space, episode.space_id) if episode else None
    if episode is None or space is None or space.status != "published":
        raise HTTPException(404, f"episode {episode_id} not found")
    return episode


@router.get("/episodes/{episode_id}", response_model=schemas.EpisodeOut)
def read_episode(episode_id: str, session: SessionDep) -> schemas.EpisodeOut:
    return episode_out(get_published_episode(session, episode_id))


@router.get("/episodes/{episode_id}/report")
def read_report(episode_id: str, session: SessionDep) -> dict:
    """What was measured: loudness of the delivered files, probes, exclusions, stage timings."""
    return get_published_episode(session, episode_id).report


def media_object_key(episode: Episode, filename: str) -> str | None:
    stem, _, extension = filename.partition(".")
    if stem == "episode":
        entry = episode.media.get(extension)
        return entry["key"] if entry else None
    return episode.transcripts.get(extension)


@router.get(
    "/media/episodes/{episode_id}/{render_id}/{filename}",
    response_class=Response,
    responses={
        200: {
            "content": {"audio/mpeg": {}, "audio/ogg": {}, "text/vtt": {}, "application/json": {}}
        },
        206: {"description": "partial content (range request)"},
        307: {"description": "redirect to a signed URL (SPACECAST_MEDIA_DELIVERY=redirect)"},
        404: {"model": schemas.ErrorOut},
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
) -> Response:
    episode = get_published_episode(session, episode_id)
    key = media_object_key(episode, filename) if filename in MEDIA_FILES else None
    if key is None or render_id != episode.render_id:
        # Media of an earlier rendering is withdrawn, not served.
        raise HTTPException(
            404, f"{filename} of episode {episode_id} (rendering {render_id}) not found"
        )
    if settings.media_delivery == "redirect":
        return RedirectResponse(store.presigned_get(key, expires_s=900), status_code=307)
    read = store.read_range(key, request.headers.get("range"))
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(read.length),
        "Cache-Control": "public, max-age=86400",
    }
    if read.content_range:
        headers["Content-Range"] = read.content_range

    def _chunks():
        try:
            yield from read.body.iter_chunks(chunk_size=256 * 1024)
        finally:
            read.body.close()

    return StreamingResponse(
        _chunks(), status_code=read.status, media_type=read.content_type, headers=headers
    )
