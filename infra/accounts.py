"""Users and their API keys. A key is shown once, when it is made; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import ApiKey, User, utcnow

# "room": the platform's room service, an account an operator makes; it vouches for who takes
# part in a room (reports joins, delivers invite links) for every show.
ROLES = ("admin", "host", "moderator", "listener", "recorder", "room")
TOKEN_PREFIX = "sc_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_key(
    session: Session,
    *,
    user: User | None,
    label: str,
    show_id: str | None = None,
    participant_id: str | None = None,
    expires_at: datetime | None = None,
    issued_by: str | None = None,
    grant_id: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return it with its token (the only time the token exists)."""
    token = new_token()
    key = ApiKey(
        user_id=user.id if user else None,
        token_sha256=token_digest(token),
        label=label,
        show_id=show_id,
        participant_id=participant_id,
        expires_at=expires_at,
        issued_by=issued_by,
        grant_id=grant_id,
    )
    session.add(key)
    session.flush()
    return key, token


def create_user(session: Session, name: str, roles: list[str], *, label: str = "first key"):
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    user = User(name=name, roles=sorted(set(roles)))
    session.add(user)
    session.flush()
    key, token = issue_key(session, user=user, label=label)
    return user, key, token


def find_key(session: Session, token: str) -> ApiKey | None:
    """The live key for a presented token, or None (unknown, revoked or expired)."""
    key = session.scalar(select(ApiKey).where(ApiKey.token_sha256 == token_digest(token)))
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= utcnow():
        return None
    return key
