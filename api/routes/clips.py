"""Clips: hosts cut any range of their episodes, listeners up to a minute of a published one; each
is rendered on its own, shared by a stable URL and page, counted when replayed, and withdrawn the
moment a voice in it withdraws consent."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from api import schemas
from api.access import managed_episode, may_manage_show, published_episode
from api.auth import Principal
from api.conditional import not_modified, strong_etag
from api.deps import SessionDep, StoreDep
from api.head import head_only
from api.limits import rate_limited
from api.roles import Anyone, Cutter, Host
from api.streaming import WITHDRAWABLE, stream_object
from api.web import render
from infra.models import Clip, Episode, Show, Space
from infra.urls import (
    CLIP_FILES,
    clip_media_url,
    clip_share_url,
    cover_url,
    episode_moment_url,
)
from pipeline.states import ClipStatus
from pipeline.transcript import segments_from_data
from services import clips
from services.errors import Gone, NotFound
from services.publishing import clip_servable, delete_objects, episode_timeline, take_down_clip

router = APIRouter(tags=["clips"])


def clip_out(session, clip: Clip, episode: Episode) -> schemas.ClipOut:
    # Where the episode as edited now plays the clip's words (none: the host edited them out).
    at = episode_timeline(episode).episode_range(clip.start_s, clip.end_s)
    names = {p.id: p.name for p in session.get(Space, clip.space_id).participants}
    ready = clip.status == ClipStatus.READY
    lines = segments_from_data(clip.transcript) if ready else []
    return schemas.ClipOut(
        id=clip.id,
        episode_id=clip.episode_id,
        title=clip.title or episode.title,
        start_s=round(at[0], 3) if at else None,
        end_s=round(at[1], 3) if at else None,
        duration_s=round(clip.end_s - clip.start_s, 3),
        status=clip.status,
        error=clip.error,
        made_by=clip.made_by,
        speakers=[names.get(pid, "") for pid in clip.speakers],
        transcript=[
            schemas.ClipLine(speaker=s.speaker, startTime=s.start_s, endTime=s.end_s, body=s.text)
            for s in lines
        ],
        audio_url=clip_media_url(clip, "clip.mp3") if ready else None,
        audiogram_url=clip_media_url(clip, "clip.mp4") if ready and "mp4" in clip.media else None,
        captions_url=clip_media_url(clip, "clip.vtt") if ready else None,
        share_url=clip_share_url(clip),
        context_url=episode_moment_url(episode, at[0]) if at else None,
        pinned=clip.pinned,
        soundbite=clip.soundbite,
        replays=clip.replays,
        render_s=clip.render_s,
        created_at=clip.created_at,
    )


def _episode_for_cutting(session, principal: Principal, episode_id: str) -> tuple[Episode, bool]:
    """The episode and whether the caller cuts it as its host (then even while it is held)."""
    episode = session.get(Episode, episode_id)
    show = session.get(Show, episode.show_id) if episode else None
    if episode is not None and show is not None and may_manage_show(principal, show):
        return episode, True
    return published_episode(session, episode_id), False


def _assess(session, principal: Principal, episode_id: str, body: schemas.ClipIn) -> clips.Cut:
    episode, as_host = _episode_for_cutting(session, principal, episode_id)
    return clips.assess_cut(
        session,
        episode,
        as_host=as_host,
        start_s=body.start_s,
        end_s=body.end_s,
        timeline=body.timeline,
    )


@router.post(
    "/episodes/{episode_id}/clips/check",
    response_model=schemas.ClipCheckOut,
    dependencies=[Depends(rate_limited("clip_check", "clip_check_rate", noun="clip checks"))],
)
def check_clip(
    episode_id: str, body: schemas.ClipIn, session: SessionDep, principal: Cutter
) -> schemas.ClipCheckOut:
    """Whether a range could be cut now, without cutting it: its duration, who is heard in it and
    what would refuse it (the same checks as cutting)."""
    cut = _assess(session, principal, episode_id, body)
    problems = [p for p in (cut.range_error, cut.consent_error) if p]
    return schemas.ClipCheckOut(
        start_s=round(cut.start_s, 3),
        end_s=round(cut.end_s, 3),
        duration_s=round(cut.end_s - cut.start_s, 3),
        speakers=[cut.names.get(pid, "") for pid in cut.voices],
        blocked_by=cut.blocked_by,
        allowed=not problems,
        problems=problems,
    )


@router.post(
    "/episodes/{episode_id}/clips",
    status_code=202,
    response_model=schemas.ClipOut,
    dependencies=[Depends(rate_limited("clip", "clip_rate", noun="clips"))],
)
def create_clip(
    episode_id: str, body: schemas.ClipIn, session: SessionDep, principal: Cutter
) -> schemas.ClipOut:
    """Cut a range. Refused (409) when anyone audible in it has not consented to clips, and the
    refusal names them."""
    cut = _assess(session, principal, episode_id, body)
    clip = clips.cut(session, cut, creator_id=principal.user_id, title=body.title)
    return clip_out(session, clip, cut.episode)


def _may_change(session, principal: Principal, clip: Clip, episode: Episode) -> bool:
    show = session.get(Show, episode.show_id)
    return may_manage_show(principal, show) or (
        principal.user_id is not None and principal.user_id == clip.creator_id
    )


def _changeable(session, principal: Principal, clip_id: str) -> tuple[Clip, Episode]:
    clip, episode = clips.find(session, clip_id)
    if not _may_change(session, principal, clip, episode):
        raise NotFound(f"clip {clip_id} not found")
    return clip, episode


@router.get("/clips/{clip_id}", response_model=schemas.ClipOut)
def read_clip(clip_id: str, session: SessionDep, principal: Anyone) -> schemas.ClipOut:
    clip, episode = clips.find(session, clip_id)
    clips.visible(session, clip, episode, may_change=_may_change(session, principal, clip, episode))
    return clip_out(session, clip, episode)


@router.patch("/clips/{clip_id}", response_model=schemas.ClipOut)
def change_clip(
    clip_id: str, body: schemas.ClipPatch, session: SessionDep, principal: Cutter
) -> schemas.ClipOut:
    """Rename (its maker or host); pin it so it outlives the episode, or list it in the feed as a
    soundbite (the show's host)."""
    clip, episode = _changeable(session, principal, clip_id)
    clips.change(
        session,
        clip,
        hosting=may_manage_show(principal, session.get(Show, episode.show_id)),
        title=body.title,
        pinned=body.pinned,
        soundbite=body.soundbite,
    )
    return clip_out(session, clip, episode)


@router.delete("/clips/{clip_id}", status_code=204)
def delete_clip(clip_id: str, session: SessionDep, store: StoreDep, principal: Cutter) -> None:
    clip, _ = _changeable(session, principal, clip_id)
    keys = take_down_clip(clip)
    session.commit()
    delete_objects(store, keys)


@router.post("/clips/{clip_id}/audiogram", status_code=202, response_model=schemas.ClipOut)
def request_audiogram(clip_id: str, session: SessionDep, principal: Cutter) -> schemas.ClipOut:
    """Render the clip as a square MP4 with its waveform and burned-in captions; poll the clip
    for its URL."""
    clip, episode = _changeable(session, principal, clip_id)
    clips.request_audiogram(session, clip, episode)
    return clip_out(session, clip, episode)


@router.get("/episodes/{episode_id}/clips", response_model=list[schemas.ClipOut])
def list_clips(episode_id: str, session: SessionDep, _: Anyone) -> list[schemas.ClipOut]:
    """The episode's ready clips, soundbites first, most replayed next."""
    episode = published_episode(session, episode_id)
    return [clip_out(session, c, episode) for c in clips.servable_clips(session, episode)]


@router.get("/episodes/{episode_id}/clip-suggestions", response_model=list[schemas.SuggestionOut])
def clip_suggestions(
    episode_id: str, session: SessionDep, principal: Host
) -> list[schemas.SuggestionOut]:
    """Candidate clips, ranked; the method is in pipeline/suggest.py."""
    episode = managed_episode(session, principal, episode_id)
    return [
        schemas.SuggestionOut(
            start_s=s.start_s,
            end_s=s.end_s,
            score=s.score,
            speakers=list(s.speakers),
            reasons=list(s.reasons),
            preview=s.preview,
        )
        for s in clips.suggestions(session, episode)
    ]


@router.get(
    "/media/clips/{clip_id}/{render_id}/{filename}",
    response_class=Response,
    responses={
        200: {
            "content": {"audio/mpeg": {}, "video/mp4": {}, "text/vtt": {}, "application/json": {}}
        },
        206: {"description": "partial content (range request)"},
        416: {"model": schemas.ErrorOut},
    },
)
def read_clip_media(
    clip_id: str,
    render_id: str,
    filename: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    _: Anyone,
) -> Response:
    clip, episode = clips.find(session, clip_id)
    key = clips.servable_media(session, clip, episode, CLIP_FILES.get(filename, ""), render_id)
    range_header = request.headers.get("range")
    whole = not range_header or range_header.strip() == "bytes=0-"
    if filename == "clip.mp3" and whole and not head_only(request):
        clips.count_replay(session, clip)
    return stream_object(store, key, request=request, cache_control=WITHDRAWABLE, name=filename)


@router.get("/c/{clip_id}", response_class=HTMLResponse, include_in_schema=False)
def share_page(clip_id: str, request: Request, session: SessionDep, principal: Anyone) -> Response:
    """The clip's share page: player, transcript excerpt, speakers, the moment in context, and
    OpenGraph tags for link previews."""
    clip, episode = clips.find(session, clip_id)
    if not clip_servable(session, clip, episode):
        raise Gone(f"clip {clip_id} is no longer available")
    show = session.get(Show, episode.show_id)
    page = render(
        request,
        "clip.html",
        session,
        principal,
        clip=clip_out(session, clip, episode),
        show=show,
        cover=cover_url(show),
    )
    # Conditional, for link-preview crawlers that come back: the page's own ETag (it differs by
    # who is signed in, so private), checked only once the clip is known to be servable.
    etag = strong_etag(page.body)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Cookie"}
    cached = not_modified(request, etag, None, headers)
    if cached is not None:
        return cached
    page.headers.update(headers)
    return page
