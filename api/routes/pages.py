"""The web pages for hosts, listeners and moderators: server-rendered from the same access checks
and view functions as the JSON API, with small scripts that call that API for every change.

Each page admits roles through ``allow`` like any endpoint; a browser that is not signed in is
sent to the login page, and other refusals are shown as a page (see ``api.errors``).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from api.access import (
    managed_episode,
    may_manage_show,
    public_show,
    published_episode,
    space_for,
)
from api.auth import (
    SESSION_COOKIE,
    principal_for,
    same_origin,
    secure_cookies,
)
from api.deps import SessionDep, SettingsDep, StoreDep
from api.limits import refuse_after_failures
from api.roles import Admin, Anyone, Cutter, Host, Moderator
from api.routes import moderation
from api.routes.clips import list_clips
from api.routes.complaints import parties_of
from api.routes.erasures import erasure_out
from api.views import (
    chapter_list,
    episode_out,
    episode_page_url,
    episode_speakers,
    fast_follow_url,
    note_paragraphs,
    page_of,
    space_out,
    subscribe_links,
    transcript_turns,
)
from api.web import publish_action, render, safe_next
from infra.models import Episode, Participant, Show, Space, TranscriptSegment
from infra.urls import cover_url, feed_url
from services import editing, erasure, host_audio
from services import statements as services_statements
from services.errors import Forbidden
from services.feed import published_notes
from services.publishing import published_episodes

# What a listener may report, in the words the report form shows.
REPORT_CATEGORIES = (
    ("harassment", "Harassment or bullying"),
    ("hate", "Hate speech"),
    ("violence", "Violence or threats"),
    ("sexual", "Sexual content"),
    ("self_harm", "Self-harm"),
    ("privacy", "Private information shared"),
    ("spam", "Spam"),
    ("copyright", "Copyright"),
    ("misinformation", "Misinformation"),
    ("other", "Something else"),
)

router = APIRouter(tags=["pages"], include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, principal: Anyone) -> HTMLResponse:
    return render(request, "home.html", session, principal)


@router.get("/consent", response_class=HTMLResponse)
def consent_page(
    request: Request, session: SessionDep, store: StoreDep, principal: Anyone
) -> HTMLResponse:
    """A participant's own page: an invite link opens it (the link's secret is claimed by the
    page's script), then their answers, their data and their keys."""
    from api.routes.me import participation_of

    participation = participation_of(session, principal) if principal.participant_id else None
    statements, erasures = [], []
    if participation is not None:
        participant = session.get(Participant, principal.participant_id)
        statements = services_statements.statements_for(
            session, parties_of(principal), participant.space_id
        )
        erasures = [
            erasure_out(session, store, found, with_keys=False)
            for found in erasure.requests_of(session, participant)
        ]
    return render(
        request,
        "consent.html",
        session,
        principal,
        participation=participation,
        statements=statements,
        erasures=erasures,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, principal: Anyone) -> HTMLResponse:
    return render(
        request,
        "login.html",
        session,
        principal,
        next=safe_next(request.query_params.get("next")),
        error=None,
    )


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep, principal: Anyone):
    """Sign in with an API key: the key is kept in an HttpOnly, SameSite=Strict cookie and the
    pages act as its principal. Wrong keys are limited per address and per key prefix; a
    valid key always signs in."""
    if not same_origin(request):
        raise Forbidden("sign in from this site's login page")
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("key") or [""])[0].strip()
    target = safe_next((form.get("next") or [""])[0])
    error = None
    if not token:
        error = "Enter your API key."
    else:
        try:
            principal_for(session, token)
        except HTTPException as refused:
            refuse_after_failures(request, token, setting="login_rate", noun="failed sign-ins")
            error = f"That key does not work: {refused.detail}."
    if error:
        return render(
            request, "login.html", session, principal, status_code=200, next=target, error=error
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, _: Anyone) -> RedirectResponse:
    if not same_origin(request):
        raise Forbidden("sign out from this site's pages")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/s/{show_id}", response_class=HTMLResponse)
def show_page(
    show_id: str, request: Request, session: SessionDep, principal: Anyone
) -> HTMLResponse:
    """The show: its published episodes, newest first, 20 a page, each playable here, and the
    links podcast apps subscribe with."""
    show = public_show(session, show_id)
    page = page_of(published_episodes(session, show.id), request.query_params.get("page"))
    feed = feed_url(show.id)
    return render(
        request,
        "show.html",
        session,
        principal,
        show=show,
        cover=cover_url(show),
        feed=feed,
        apps=subscribe_links(feed, show.title),
        fast_follow=fast_follow_url(show.id),
        episodes=[episode_out(e) for e, _ in page.items],
        page=page,
    )


def _transcript(session, episode_id: str) -> list[TranscriptSegment]:
    return list(
        session.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.episode_id == episode_id)
            .order_by(TranscriptSegment.start_s)
        )
    )


@router.get("/e/{episode_id}", response_class=HTMLResponse)
def episode_page(
    episode_id: str, request: Request, session: SessionDep, principal: Anyone
) -> HTMLResponse:
    """Player (shortcuts, "share this moment", resumes where the listener stopped), speakers and
    their talk time, chapters and notes when the episode has them, the transcript in turns that
    follows playback, transcript downloads, the episode's clips."""
    episode = published_episode(session, episode_id)
    show = session.get(Show, episode.show_id)
    return render(
        request,
        "episode.html",
        session,
        principal,
        show=show,
        episode=episode_out(episode),
        page_url=episode_page_url(episode.id),
        speakers=episode_speakers(episode),
        # Shown when the episode carries them; episodes have neither yet.
        chapters=chapter_list(getattr(episode, "chapters", None)),
        notes=note_paragraphs(published_notes(session, episode)[0]),
        turns=transcript_turns(_transcript(session, episode.id)),
        clips=list_clips(episode.id, session, principal),
        report_categories=REPORT_CATEGORIES,
    )


@router.get("/e/{episode_id}/cut", response_class=HTMLResponse)
def clip_maker(
    episode_id: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Cutter,
) -> HTMLResponse:
    """Select a range on the waveform or by transcript lines; the range is checked (duration,
    who is heard, whether they allow clips) before it can be cut."""
    episode = published_episode(session, episode_id)
    show = session.get(Show, episode.show_id)
    as_host = show is not None and may_manage_show(principal, show)
    return render(
        request,
        "cut.html",
        session,
        principal,
        show=show,
        episode=episode_out(episode),
        lines=_transcript(session, episode.id),
        min_s=settings.clip_min_s,
        max_s=None if as_host else settings.listener_clip_max_s,
    )


@router.get("/host", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, principal: Host) -> HTMLResponse:
    """The host's shows and their spaces, with each space's progress."""
    query = select(Show).order_by(Show.created_at)
    if not principal.is_admin:
        query = query.where(Show.owner_id == principal.user_id)
    shows = []
    for show in session.scalars(query):
        spaces = session.scalars(
            select(Space).where(Space.show_id == show.id).order_by(Space.started_at.desc())
        )
        shows.append((show, [space_out(session, space) for space in spaces]))
    return render(request, "host.html", session, principal, shows=shows)


def chapter_lines(episode: Episode) -> list[str]:
    """The host's chapters (else the published ones) as the host edits them: ``M:SS[.s] title``,
    no title where one is made from the words."""
    marks = episode.host_chapters
    if marks is None:
        marks = [{"start_s": c["start_s"], "title": c["title"]} for c in episode.chapters]
    lines = []
    for mark in marks:
        start = float(mark["start_s"])
        minutes, seconds = divmod(start, 60)
        stamp = (
            f"{int(minutes)}:{seconds:04.1f}"
            if seconds % 1
            else f"{int(minutes)}:{int(seconds):02d}"
        )
        lines.append(f"{stamp} {mark['title'] or ''}".rstrip())
    return lines


@router.get("/host/spaces/{space_id}", response_class=HTMLResponse)
def space_page(
    space_id: str, request: Request, session: SessionDep, principal: Host
) -> HTMLResponse:
    """Per-stage progress, consent of every participant, who is missing, and publishing."""
    space = space_out(session, space_for(session, principal, space_id))
    episode = session.get(Episode, space.episode.id) if space.episode else None
    return render(
        request,
        "space.html",
        session,
        principal,
        space=space,
        show=session.get(Show, space.show_id),
        publish=publish_action(space),
        statements=services_statements.statements_of_space(session, space.id),
        chapters=chapter_list(episode.chapters) if episode else [],
        host_chapter_lines=chapter_lines(episode) if episode else [],
        notes=published_notes(session, episode)[0] if episode else "",
        notes_are_host=episode is not None and episode.host_notes is not None,
    )


@router.get("/admin/erasures", response_class=HTMLResponse)
def erasures_page(
    request: Request, session: SessionDep, store: StoreDep, principal: Admin
) -> HTMLResponse:
    """Erasure requests, the one due first first, with what is left of each voice."""
    requests = [
        erasure_out(session, store, found, with_keys=True)
        for found in erasure.requests_by_due_date(session)
    ]
    return render(request, "erasures.html", session, principal, requests=requests)


@router.get("/host/episodes/{episode_id}/edit", response_class=HTMLResponse)
def edit_page(
    episode_id: str, request: Request, session: SessionDep, principal: Host
) -> HTMLResponse:
    """The editor: the transcript as published now, each line with its room-time range (its
    first and last word), to cut or mute; shorten silences; the version history, previews,
    publishing and reverting, all through the versions API."""
    episode = managed_episode(session, principal, episode_id)
    lines = editing.transcript_lines(session, episode)
    return render(
        request,
        "edit.html",
        session,
        principal,
        show=session.get(Show, episode.show_id),
        episode=episode_out(episode) if episode.media else None,
        episode_id=episode.id,
        lines=lines,
        versions=editing.versions(session, episode),
        host_audio=host_audio.show_audio(session, episode.show_id),
        edit_version=episode.edit_version,
        rendered_version=episode.rendered_version,
        space_id=episode.space_id,
    )


@router.get("/moderate", response_class=HTMLResponse)
def moderation_queue(request: Request, session: SessionDep, principal: Moderator) -> HTMLResponse:
    items = moderation.queue(session, principal, limit=200)
    return render(request, "moderate.html", session, principal, items=items)


@router.get("/moderate/{complaint_id}", response_class=HTMLResponse)
def review_page(
    complaint_id: str,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    principal: Moderator,
) -> HTMLResponse:
    """One complaint: the reported range on the accused speaker's own track (or the mix), the
    transcript around it, the retention countdown, decisions and the audit trail."""
    review = moderation.review(complaint_id, session, store, principal)
    window = review.window
    complaint = review.complaint
    start = complaint.start_s if complaint.start_s is not None else window["start_s"]
    end = complaint.end_s if complaint.end_s is not None else window["end_s"]
    accused = next((t for t in review.tracks if t.participant == review.accused), None)
    return render(
        request,
        "review.html",
        session,
        principal,
        review=review,
        complaint=complaint,
        accused=accused,
        jump_s=round(max(start - window["start_s"], 0.0), 3),
        reported=(start, end),
    )
