"""Clips: hosts cut any range of their episodes, listeners up to a minute of a published one; each
is rendered on its own, shared by a stable URL and page, counted when replayed, and withdrawn the
moment a voice in it withdraws consent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select, update

from api import schemas
from api.access import managed_episode, may_manage_show, published_episode
from api.auth import Principal, Role, allow
from api.deps import SessionDep, SettingsDep, StoreDep
from api.limits import rate_limited
from api.streaming import WITHDRAWABLE, stream_object
from api.urls import (
    CLIP_FILES,
    clip_media_url,
    clip_share_url,
    cover_url,
    episode_moment_url,
)
from api.web import render
from infra.models import Clip, Episode, Show, Space, TranscriptSegment
from infra.queue import enqueue
from pipeline.suggest import suggest_clips
from pipeline.transcript import Segment, segments_from_data
from services.clips import clip_context
from services.publishing import clip_servable, take_down_clip

router = APIRouter(tags=["clips"])

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
    return episode.timeline_start_s


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
        if episode.removed_at is not None:
            raise HTTPException(410, f"episode {episode_id} was taken down: nothing of it is cut")
        if not episode.media:
            raise HTTPException(
                409, f"episode {episode_id} has no audio to cut (it is being made again)"
            )
        return episode, True
    return published_episode(session, episode_id), False


@dataclass(frozen=True)
class _Cut:
    """A requested range, checked: the episode, the range on the episode timeline, who is
    audible in it and whatever stops it from becoming a clip."""

    episode: Episode
    space: Space
    as_host: bool
    start_s: float
    end_s: float
    shift_s: float
    voices: list[str]  # participant ids heard in the range and published in the episode
    names: dict[str, str]
    range_error: str | None  # too short, too long or outside the episode (422)
    consent_error: str | None  # someone audible refuses clips, naming them (409)
    blocked_by: list[str]


def _assess_cut(
    session, settings, principal: Principal, episode_id: str, body: schemas.ClipIn
) -> _Cut:
    """The one clip gate, shared by cutting a clip and checking a range before cutting."""
    episode, as_host = _episode_for_cutting(session, principal, episode_id)
    shift = _timeline_start(episode)
    start, end = (
        (body.start_s, body.end_s)
        if body.timeline == "episode"
        else (body.start_s - shift, body.end_s - shift)
    )
    range_error = None
    if end - start < settings.clip_min_s:
        range_error = f"a clip lasts at least {settings.clip_min_s:.0f} s"
    elif not as_host and end - start > settings.listener_clip_max_s:
        range_error = (
            f"listeners cut at most {settings.listener_clip_max_s:.0f} s; "
            f"this range is {end - start:.1f} s"
        )
    elif not 0 <= start < end <= episode.duration_s + 0.05:
        range_error = (
            f"the range {start:.1f}-{end:.1f} s is outside the episode "
            f"(0-{episode.duration_s:.1f} s)"
        )
    space = session.get(Space, episode.space_id)
    context = clip_context(session, space, episode)
    audible, blockers = context.blockers(start + shift, end + shift)
    consent_error = (
        f"cannot clip {start:.1f}-{end:.1f} s: " + "; ".join(b.reason for b in blockers)
        if blockers
        else None
    )
    return _Cut(
        episode=episode,
        space=space,
        as_host=as_host,
        start_s=start,
        end_s=end,
        shift_s=shift,
        voices=[pid for pid in audible if pid in context.published],
        names=context.names,
        range_error=range_error,
        consent_error=consent_error,
        blocked_by=[b.name for b in blockers],
    )


@router.post(
    "/episodes/{episode_id}/clips/check",
    response_model=schemas.ClipCheckOut,
    dependencies=[Depends(rate_limited("clip_check", "clip_check_rate", noun="clip checks"))],
)
def check_clip(
    episode_id: str,
    body: schemas.ClipIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: Cutter,
) -> schemas.ClipCheckOut:
    """Whether a range could be cut now, without cutting it: its duration, who is heard in it and
    what would refuse it (the same checks as cutting)."""
    cut = _assess_cut(session, settings, principal, episode_id, body)
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
    episode_id: str,
    body: schemas.ClipIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: Cutter,
) -> schemas.ClipOut:
    """Cut a range. Refused (409) when anyone audible in it has not consented to clips, and the
    refusal names them."""
    cut = _assess_cut(session, settings, principal, episode_id, body)
    if cut.range_error:
        raise HTTPException(422, cut.range_error)
    if cut.consent_error:
        raise HTTPException(409, cut.consent_error)
    episode, space, as_host = cut.episode, cut.space, cut.as_host
    start, end, shift = cut.start_s, cut.end_s, cut.shift_s
    voices = cut.voices
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
    enqueue("render_clip_audio", clip.id)
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
    if clip.status in ("withdrawn", "expired", "removed"):
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
    if body.title is not None and clip.soundbite and not hosting:
        # The host approved this clip, title included, for the show's feed.
        raise HTTPException(
            403, "this clip is a soundbite the host approved for the feed: only the host renames it"
        )
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
    clip, episode = _clip(session, clip_id)
    if not _may_change(session, principal, clip, episode):
        raise HTTPException(404, f"clip {clip_id} not found")
    if not clip_servable(session, clip, episode):
        raise HTTPException(409, f"clip {clip_id} is {clip.status}, not ready")
    enqueue("render_clip_audiogram", clip.id)
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
        cache_control=WITHDRAWABLE,
        name=filename,
    )


@router.get("/c/{clip_id}", response_class=HTMLResponse, include_in_schema=False)
def share_page(
    clip_id: str, request: Request, session: SessionDep, principal: Anyone
) -> HTMLResponse:
    """The clip's share page: player, transcript excerpt, speakers, the moment in context, and
    OpenGraph tags for link previews."""
    clip, episode = _clip(session, clip_id)
    if not clip_servable(session, clip, episode):
        raise HTTPException(410, f"clip {clip_id} is no longer available")
    show = session.get(Show, episode.show_id)
    return render(
        request,
        "clip.html",
        session,
        principal,
        clip=clip_out(session, clip, episode),
        show=show,
        cover=cover_url(show),
    )
