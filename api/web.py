"""What the web pages share: their templates, who is signed in, and the few presentation choices
(time formats, what the publish button says) that are not business rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api import schemas
from api.auth import SESSION_COOKIE, Principal, Role
from infra.models import User

API_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(API_DIR / "templates"))


def clock(seconds: float | None) -> str:
    """``75.4`` -> ``1:15``; hours when there are any."""
    if seconds is None:
        return ""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


templates.env.filters["clock"] = clock


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the pages show them."""

    name: str
    roles: frozenset[str]

    @property
    def hosts(self) -> bool:
        return bool(self.roles & {"host", "admin"})

    @property
    def moderates(self) -> bool:
        return bool(self.roles & {"moderator", "admin"})

    @property
    def cuts(self) -> bool:
        return bool(self.roles & {"host", "admin", "listener"})

    @property
    def reports(self) -> bool:
        return bool(self.roles & {"listener", "host", "moderator", "admin", "participant"})


def viewer_of(session: Session, principal: Principal) -> Viewer | None:
    if principal.roles == frozenset({Role.PUBLIC}):
        return None
    user = session.get(User, principal.user_id) if principal.user_id else None
    name = user.name if user and not principal.participant_id else "participant"
    return Viewer(name=name, roles=frozenset(r.value for r in principal.roles))


def render(
    request: Request,
    template: str,
    session: Session,
    principal: Principal,
    status_code: int = 200,
    **context,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer_of(session, principal), **context},
        status_code=status_code,
    )


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no other host) is followed after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request) -> RedirectResponse:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@dataclass(frozen=True)
class PublishAction:
    enabled: bool
    label: str
    reason: str


def publish_action(space: schemas.SpaceOut) -> PublishAction:
    """What the host's publish button offers for a space, and why it is disabled when it is."""
    missing = ", ".join(m.name for m in space.missing)
    if space.status == "held":
        return PublishAction(
            True,
            f"Publish without {missing}" if missing else "Publish",
            f"Held until everyone answers the consent prompt; still missing: {missing}. "
            "Publishing leaves them out of the episode and its transcript."
            if missing
            else "Held by your choice; publishing makes the episode now.",
        )
    if space.status == "processing":
        return PublishAction(
            False,
            "Publish",
            f"Still processing ({space.progress:.0%}); it is published by itself when every "
            "stage is done.",
        )
    if space.status == "recording":
        return PublishAction(
            False,
            "Publish",
            "The room is still recording: its tracks are published once the room is finished.",
        )
    if space.status == "published":
        return PublishAction(False, "Published", "This space is published.")
    if space.status == "unpublished":
        return PublishAction(
            False, "Publish", "Nobody audible consented to publication, so there is no episode."
        )
    return PublishAction(
        False, "Publish", f"Processing failed: {space.error or 'see the stages below'}."
    )
