"""Clips: hosts cut any range of their episodes, listeners up to a minute of a published one; each
is rendered on its own, shared by a stable URL and page, counted when replayed, and withdrawn the
moment a voice in it withdraws consent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select, update

from api import schemas
from api.access import managed_episode, may_manage_show, published_episode
from api.auth import Principal, Role, allow
from api.deps import SessionDep, SettingsDep, StoreDep
from api.limits import rate_limited
from api.streaming import stream_object
from api.urls import (
    CLIP_FILES,
    clip_media_url,
    clip_share_url,
    cover_url,
    episode_moment_url,
)
from infra.clips import clip_context, clip_servable
from infra.models import Clip, Episode, Show, Space, TranscriptSegment
from infra.moderation import take_down_clip
from pipeline.suggest import suggest_clips
from pipeline.transcript import Segment, segments_from_data

router = APIRouter(tags=["clips"])
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))

Cutter = Annotated[
    Principal,
    Depends(
        allow(
            Role.HOST,
            Role.ADMIN,
            Role.LISTENER,
            objects="listeners: published episodes; hosts: episodes of own shows; "
            "changes: the clip's maker or the show's host",
        )
    ),
]
Anyone = Annotated[Principal, Depends(allow(Role.PUBLIC, objects="ready, consented clips"))]
Manager = Annotated[Principal, Depends(allow(Role.HOST, Role.ADMIN, objects="own shows' episodes"))]


def _timeline_start(episode: Episode) -> float:
    return float((episode.report or {}).get("episode", {}).get("timeline_start_s", 0.0))


def clip_out(session, clip: Clip, episode: Episode) -> schemas.ClipOut:
    shift = _timeline_start(episode)
    names = {p.id: p.name for p in session.get(Space, clip.space_id).participants}
    ready = clip.status == "ready"
    lines = segments_from_data(clip.transcript) if ready else []
    return schemas.ClipOut(
        id=clip.id,
        episode_id=clip.episode_id,
        title=clip.title or episode.title,
        start_s=round(clip.start_s - shift, 3),
        end_s=round(clip.end_s - shift, 3),
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
        context_url=episode_moment_url(episode, clip.start_s - shift),
        pinned=clip.pinned,
        soundbite=clip.soundbite,
        replays=clip.replays,
        render_s=clip.render_s,
        created_at=clip.created_at,
    )


def _episode_for_cutting(session, principal: Principal, episode_id: str) -> tuple[Episode, bool]:
    """The episode and whether the caller cuts it as its host."""
    episode = session.get(Episode, episode_id)
    show = session.get(Show, episode.show_id) if episode else None
    if episode is not None and show is not None and may_manage_show(principal, show):
        if not episode.media:
            raise HTTPException(
                409, f"episode {episode_id} has no audio to cut (it is being made again)"
            )
        return episode, True
    return published_episode(session, episode_id), False


@router.post(
    "/episodes/{episode_id}/clips",
    status_code=202,
    response_model=schemas.ClipOut,
    dependencies=[Depends(rate_limited("clip", "clip_rate", noun="clips"))],
)
def create_clip(
    episode_id: str,
    body: schemas.ClipIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: Cutter,
) -> schemas.ClipOut:
    """Cut a range. Refused (409) when anyone audible in it has not consented to clips, and the
    refusal names them."""
    from workers.actors import render_clip_audio

    episode, as_host = _episode_for_cutting(session, principal, episode_id)
    shift = _timeline_start(episode)
    start, end = (
        (body.start_s, body.end_s)
        if body.timeline == "episode"
        else (body.start_s - shift, body.end_s - shift)
    )
    if end - start < settings.clip_min_s:
        raise HTTPException(422, f"a clip lasts at least {settings.clip_min_s:.0f} s")
    if not as_host and end - start > settings.listener_clip_max_s:
        raise HTTPException(
            422,
            f"listeners cut at most {settings.listener_clip_max_s:.0f} s; "
            f"this range is {end - start:.1f} s",
        )
    if not 0 <= start < end <= episode.duration_s + 0.05:
        raise HTTPException(
            422,
            f"the range {start:.1f}-{end:.1f} s is outside the episode "
            f"(0-{episode.duration_s:.1f} s)",
        )
    space = session.get(Space, episode.space_id)
    context = clip_context(session, space, episode)
    audible, blockers = context.blockers(start + shift, end + shift)
    if blockers:
        raise HTTPException(
            409, f"cannot clip {start:.1f}-{end:.1f} s: " + "; ".join(b.reason for b in blockers)
        )
    voices = [pid for pid in audible if pid in context.published]
    clip = Clip(
        episode_id=episode.id,
        space_id=space.id,
        creator_id=principal.user_id,
        made_by="host" if as_host else "listener",
        title=body.title,
        start_s=start + shift,
        end_s=end + shift,
        speakers=voices,
        consent_snapshot={"clipped": voices},
    )
    session.add(clip)
    session.commit()
    render_clip_audio.send(clip.id)
    return clip_out(session, clip, episode)


def _clip(session, clip_id: str) -> tuple[Clip, Episode]:
    clip = session.get(Clip, clip_id)
    if clip is None or clip.status == "deleted":
        raise HTTPException(404, f"clip {clip_id} not found")
    return clip, session.get(Episode, clip.episode_id)


def _may_change(session, principal: Principal, clip: Clip, episode: Episode) -> bool:
    show = session.get(Show, episode.show_id)
    return may_manage_show(principal, show) or (
        principal.user_id is not None and principal.user_id == clip.creator_id
    )


def _visible(session, principal: Principal, clip: Clip, episode: Episode) -> None:
    """Anyone sees a servable clip; its maker and host also see it while queued or failed."""
    if clip_servable(session, clip, episode):
        return
    if clip.status in ("withdrawn", "expired"):
        raise HTTPException(410, f"clip {clip.id} was {clip.status}")
    if clip.status == "ready":
        raise HTTPException(410, f"clip {clip.id} is no longer available")
    if not _may_change(session, principal, clip, episode):
        raise HTTPException(404, f"clip {clip.id} not found")


@router.get("/clips/{clip_id}", response_model=schemas.ClipOut)
def read_clip(clip_id: str, session: SessionDep, principal: Anyone) -> schemas.ClipOut:
    clip, episode = _clip(session, clip_id)
    _visible(session, principal, clip, episode)
    return clip_out(session, clip, episode)


@router.patch("/clips/{clip_id}", response_model=schemas.ClipOut)
def change_clip(
    clip_id: str, body: schemas.ClipPatch, session: SessionDep, principal: Cutter
) -> schemas.ClipOut:
    """Rename (its maker or host); pin it so it outlives the episode, or list it in the feed as a
    soundbite (the show's host)."""
    clip, episode = _clip(session, clip_id)
    if not _may_change(session, principal, clip, episode):
        raise HTTPException(404, f"clip {clip_id} not found")
    hosting = may_manage_show(principal, session.get(Show, episode.show_id))
    if (body.pinned is not None or body.soundbite is not None) and not hosting:
        raise HTTPException(403, "only the show's host pins clips or makes them soundbites")
    if body.title is not None:
        clip.title = body.title
    if body.pinned is not None:
        clip.pinned = body.pinned
    if body.soundbite is not None:
        clip.soundbite = body.soundbite
    session.flush()
    return clip_out(session, clip, episode)


@router.delete("/clips/{clip_id}", status_code=204)
def delete_clip(clip_id: str, session: SessionDep, store: StoreDep, principal: Cutter) -> None:
    clip, episode = _clip(session, clip_id)
    if not _may_change(session, principal, clip, episode):
        raise HTTPException(404, f"clip {clip_id} not found")
    keys = take_down_clip(clip)
    session.commit()
    for key in keys:
        store.delete(key)


@router.post("/clips/{clip_id}/audiogram", status_code=202, response_model=schemas.ClipOut)
def request_audiogram(clip_id: str, session: SessionDep, principal: Cutter) -> schemas.ClipOut:
    """Render the clip as a square MP4 with its waveform and burned-in captions; poll the clip
    for its URL."""
    from workers.actors import render_clip_audiogram

    clip, episode = _clip(session, clip_id)
    if not _may_change(session, principal, clip, episode):
        raise HTTPException(404, f"clip {clip_id} not found")
    if not clip_servable(session, clip, episode):
        raise HTTPException(409, f"clip {clip_id} is {clip.status}, not ready")
    render_clip_audiogram.send(clip.id)
    return clip_out(session, clip, episode)


@router.get("/episodes/{episode_id}/clips", response_model=list[schemas.ClipOut])
def list_clips(episode_id: str, session: SessionDep, _: Anyone) -> list[schemas.ClipOut]:
    """The episode's ready clips, soundbites first, most replayed next."""
    episode = published_episode(session, episode_id)
    clips = session.scalars(
        select(Clip).where(Clip.episode_id == episode.id, Clip.status == "ready")
    )
    shown = [c for c in clips if clip_servable(session, c, episode)]
    shown.sort(key=lambda c: (not c.soundbite, -c.replays, c.start_s))
    return [clip_out(session, c, episode) for c in shown]


@router.get("/episodes/{episode_id}/clip-suggestions", response_model=list[schemas.SuggestionOut])
def clip_suggestions(
    episode_id: str, session: SessionDep, principal: Manager
) -> list[schemas.SuggestionOut]:
    """Candidate clips, ranked; the method is in pipeline/suggest.py."""
    episode = managed_episode(session, principal, episode_id)
    space = session.get(Space, episode.space_id)
    context = clip_context(session, space, episode)
    shift = context.timeline_start_s

    def blocks(pid: str) -> bool:
        if pid in context.bleeding_unducked:
            return True
        state = context.states.get(pid)
        return pid in context.published and (state is None or not state.allows("clip"))

    blocked_ids = [pid for pid in context.activity if blocks(pid)]
    blocked = [(a - shift, b - shift) for pid in blocked_ids for a, b in context.activity[pid]]
    lines = [
        Segment(row.participant_id, row.speaker, row.start_s, row.end_s, row.text)
        for row in session.scalars(
            select(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id)
        )
    ]
    return [
        schemas.SuggestionOut(
            start_s=s.start_s,
            end_s=s.end_s,
            score=s.score,
            speakers=list(s.speakers),
            reasons=list(s.reasons),
            preview=s.preview,
        )
        for s in suggest_clips(lines, blocked=blocked)
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
    clip, episode = _clip(session, clip_id)
    if not clip_servable(session, clip, episode):
        raise HTTPException(410, f"clip {clip_id} is no longer available")
    entry = clip.media.get(CLIP_FILES.get(filename, ""))
    if entry is None or render_id != clip.render_id:
        raise HTTPException(404, f"{filename} of clip {clip_id} not found")
    range_header = request.headers.get("range")
    if filename == "clip.mp3" and (not range_header or range_header.strip() == "bytes=0-"):
        session.execute(update(Clip).where(Clip.id == clip.id).values(replays=Clip.replays + 1))
    return stream_object(
        store,
        entry["key"],
        range_header=range_header,
        cache_control="public, max-age=300",
        name=filename,
    )


@router.get("/c/{clip_id}", response_class=HTMLResponse, include_in_schema=False)
def share_page(clip_id: str, request: Request, session: SessionDep, _: Anyone) -> HTMLResponse:
    """The clip's share page: player, transcript excerpt, speakers, the moment in context, and
    OpenGraph tags for link previews."""
    clip, episode = _clip(session, clip_id)
    if not clip_servable(session, clip, episode):
        raise HTTPException(410, f"clip {clip_id} is no longer available")
    show = session.get(Show, episode.show_id)
    return templates.TemplateResponse(
        request,
        "clip.html",
        {"clip": clip_out(session, clip, episode), "show": show, "cover": cover_url(show)},
    )
