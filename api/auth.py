"""Who is calling: bearer API keys resolved to a principal with roles, and each endpoint's
declaration of the roles it admits.

Roles: ``admin``, ``host`` (their own shows), ``moderator`` (the vault, audited), ``listener``
(published episodes and clips), ``recorder`` (a key a host makes for their room's recorder:
ingest for one show), ``room`` (the platform's room service, an account an operator makes: ingest
for every show, and the only one besides an admin that vouches for participants: it reports
joins and delivers invite links), ``participant`` (a key for one participation, claimed by the
participant on their own device: their own data), ``monitor`` (reads the deployment's metrics,
nothing else: the key a Prometheus server holds) and ``public`` (no key).
Unknown, revoked or expired keys get 401; a role an endpoint does not admit gets 403; an object
the caller may not reach is answered 404, as if it did not exist.

The web pages sign in with the same API key, kept in an HttpOnly, SameSite=Strict cookie
(``SESSION_COOKIE``); a request with that cookie and no Authorization header is that key's
principal. Requests that change something on the strength of the cookie must come from this
site: an Origin header naming it (browsers send one with every form post and script request), or
``CSRF_HEADER``, which another site's page cannot send without a CORS preflight this API never
grants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from api.deps import SessionDep
from infra.settings import get_settings
from services.accounts import find_key
from services.consent import Answerer


class Role(StrEnum):
    ADMIN = "admin"
    HOST = "host"
    MODERATOR = "moderator"
    LISTENER = "listener"
    RECORDER = "recorder"
    ROOM = "room"
    PARTICIPANT = "participant"
    MONITOR = "monitor"  # reads the metrics, nothing else (a key for Prometheus)
    PUBLIC = "public"


@dataclass(frozen=True)
class Principal:
    user_id: str | None
    roles: frozenset[Role]
    key_id: str | None = None
    show_id: str | None = None  # a recorder key's show
    participant_id: str | None = None  # a participant key's participation

    def has(self, *roles: Role) -> bool:
        return bool(self.roles & set(roles))

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def subject(self) -> str:
        """Identifies the caller for rate limits and audit trails."""
        return f"user:{self.user_id}" if self.user_id else f"key:{self.key_id}"


ANONYMOUS = Principal(user_id=None, roles=frozenset({Role.PUBLIC}))
SESSION_COOKIE = "spacecast_key"
CSRF_HEADER = "x-spacecast-page"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def same_origin(request: Request) -> bool:
    """The request's Origin, when the browser sent one, is this server: as the request reached
    it, or as the public base URL names it (behind a proxy that terminates TLS)."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    public = urlsplit(get_settings().public_base_url)
    allowed = {f"{request.url.scheme}://{request.url.netloc}", f"{public.scheme}://{public.netloc}"}
    return origin.rstrip("/") in allowed


def secure_cookies(request: Request) -> bool:
    """Session cookies are Secure whenever the site is served over https: as the request
    reached the app, or as the public base URL says (behind a proxy that terminates TLS)."""
    return request.url.scheme == "https" or get_settings().public_base_url.startswith("https:")


def _cookie_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if request.method in SAFE_METHODS:
        return token
    page_script = bool(request.headers.get(CSRF_HEADER)) and same_origin(request)
    page_form = "origin" in request.headers and same_origin(request)
    if not (page_script or page_form):
        raise HTTPException(
            403,
            "a signed-in page's changes must come from this site's pages "
            f"(an Origin of this site, or the {CSRF_HEADER} header)",
        )
    return token


def principal_for(session, token: str) -> Principal:
    """The principal of an API key; 401 for an unknown, revoked or expired one."""
    key = find_key(session, token)
    if key is None:
        raise _unauthorized("API key unknown, revoked or expired")
    if key.participant_id is not None:
        return Principal(
            user_id=key.user_id,
            roles=frozenset({Role.PARTICIPANT, Role.PUBLIC}),
            key_id=key.id,
            participant_id=key.participant_id,
        )
    user = key.user  # read with the key, as the show and its owner are
    if user is None or user.disabled_at is not None:
        raise _unauthorized("the account of this API key is disabled")
    roles = {Role(role) for role in user.roles} | {Role.PUBLIC}
    if key.show_id is not None:
        owner = key.show.owner if key.show is not None else None
        if owner is not None and owner.disabled_at is not None:
            raise _unauthorized("the account of the show this recorder key belongs to is disabled")
        roles = {
            Role.RECORDER,
            Role.PUBLIC,
        }  # a recorder key does ingest for its show, nothing else
    return Principal(user_id=user.id, roles=frozenset(roles), key_id=key.id, show_id=key.show_id)


def principal_dep(request: Request, session: SessionDep) -> Principal:
    principal = _principal(request, session)
    # The lookup's transaction ends here and its connection goes back to the pool: the route
    # may wait long for a client's body, or open sessions of its own, and a request holding one
    # connection while it waits for another runs the pool dry under load (every request then
    # failed with 500 after the pool's 30 s). A route that uses this session again begins a new
    # transaction on a connection it takes then.
    session.commit()
    return principal


def _principal(request: Request, session: Session) -> Principal:
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        # Which one a proxy or a framework would pick differs; a stale header must never act.
        raise HTTPException(400, "send one Authorization header, not several")
    header = headers[0] if headers else None
    if not header:
        token = _cookie_token(request)
        return principal_for(session, token) if token else ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization must be 'Bearer <api key>'")
    return principal_for(session, token.strip())


def allow(*roles: Role, objects: str = "") -> Callable[..., Principal]:
    """A dependency admitting callers with one of ``roles``.

    ``objects`` says in words which objects those roles reach (checked in the route); both are
    read back by the authorization matrix test and the API documentation.
    """

    def _dependency(principal: Annotated[Principal, Depends(principal_dep)]) -> Principal:
        if principal.has(*roles):
            return principal
        if principal.roles == ANONYMOUS.roles:
            raise _unauthorized("this endpoint needs an API key (Authorization: Bearer ...)")
        raise HTTPException(403, f"this endpoint is for: {', '.join(sorted(roles))}")

    _dependency.roles = frozenset(roles)  # type: ignore[attr-defined]
    _dependency.objects = objects  # type: ignore[attr-defined]
    return _dependency


def reporter_of(principal: Principal) -> Answerer:
    """Who a consent report made with this key comes from: the room service or a show's
    recorder relaying its prompt, or a host or operator writing down what was said."""
    if principal.has(Role.ADMIN, Role.HOST):
        return Answerer.host(principal.subject)
    if principal.has(Role.ROOM):
        return Answerer.room(f"room:{principal.user_id}")
    return Answerer.room(f"recorder:{principal.key_id}")
