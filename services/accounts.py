"""Accounts and API keys: making them (a key is shown once, when it is made; only its SHA-256 is
stored), finding the live key of a token, recorder keys for a show (expiring), and revoking keys
and disabling accounts."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from infra.models import ApiKey, Show, User, utcnow
from infra.settings import get_settings
from services.errors import Conflict, NotFound

# "room": the platform's room service, an account an operator makes; it vouches for who takes
# part in a room (reports joins, delivers invite links) for every show. "monitor": reads /metrics.
ROLES = ("admin", "host", "moderator", "listener", "recorder", "room", "monitor")
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
    """The live key for a presented token, or None (unknown, revoked or expired).

    Its account, and a recorder key's show and that show's owner, come in the same statement
    (``api.auth.principal_for`` checks that neither account is disabled): who is calling is
    asked on every request, every live chunk too, and each round trip is waited for."""
    key = session.scalar(
        select(ApiKey)
        .options(joinedload(ApiKey.user), joinedload(ApiKey.show).joinedload(Show.owner))
        .where(ApiKey.token_sha256 == token_digest(token))
    )
    if key is None or key.revoked_at is not None:
        return None
    if key.expires_at is not None and key.expires_at <= utcnow():
        return None
    return key


def account(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"account {user_id} not found")
    return user


def disable(session: Session, user: User, *, by_user_id: str | None) -> User:
    """Every key of the account stops working at once (and a host's shows' recorder keys)."""
    if user.id == by_user_id:
        raise Conflict("an administrator cannot disable their own account")
    user.disabled_at = user.disabled_at or utcnow()
    return user


def enable(user: User) -> User:
    user.disabled_at = None
    return user


def revoke(key: ApiKey | None, key_id: str) -> None:
    if key is None:
        raise NotFound(f"key {key_id} not found")
    key.revoked_at = key.revoked_at or utcnow()


def recorder_key(
    session: Session, show: Show, *, label: str, expires_in_days: float | None, issued_by: str
) -> tuple[User, ApiKey, str]:
    """A service account for the room's recorder: ingest for this one show, expiring after
    ``recorder_key_days`` at most (it cannot vouch for participants)."""
    most = get_settings().recorder_key_days
    days = min(expires_in_days or most, most)
    user = User(name=label or f"recorder of {show.title}", roles=["recorder"])
    session.add(user)
    session.flush()
    key, token = issue_key(
        session,
        user=user,
        label=label or "recorder",
        show_id=show.id,
        expires_at=utcnow() + timedelta(days=days),
        issued_by=issued_by,
    )
    return user, key, token


def recorder_keys(session: Session, show: Show) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.show_id == show.id).order_by(ApiKey.created_at))
    )


def all_accounts(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.created_at)))


def key_of(
    session: Session, key_id: str, *, user_id: str | None = None, show_id: str | None = None
) -> ApiKey | None:
    """A key, if it is the account's (``user_id``) or the show's recorder key (``show_id``)."""
    query = select(ApiKey).where(ApiKey.id == key_id)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    if show_id is not None:
        query = query.where(ApiKey.show_id == show_id)
    return session.scalar(query)
