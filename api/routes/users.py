"""Accounts and API keys: admins create, list and disable accounts and revoke any key; listeners
sign up; everyone manages their own keys; hosts make, list and revoke their shows' recorder
keys (which expire)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from api import schemas
from api.access import show_for
from api.auth import Principal, Role, allow
from api.deps import SessionDep
from api.limits import rate_limited
from infra.accounts import create_user, issue_key
from infra.models import ApiKey, User, utcnow
from infra.settings import get_settings
from services.errors import Conflict, NotFound

router = APIRouter(tags=["accounts"])

Admin = Annotated[Principal, Depends(allow(Role.ADMIN, objects="any account and key"))]
ShowManager = Annotated[Principal, Depends(allow(Role.HOST, Role.ADMIN, objects="own shows"))]


def _user_out(user: User) -> schemas.UserOut:
    return schemas.UserOut(
        id=user.id,
        name=user.name,
        roles=user.roles,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


def _key_out(key: ApiKey, token: str | None = None) -> schemas.KeyOut:
    return schemas.KeyOut(
        id=key.id,
        label=key.label,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        token=token,
    )


def _credentials(user: User, key: ApiKey, token: str) -> schemas.Credentials:
    return schemas.Credentials(user=_user_out(user), key=_key_out(key, token))


@router.post("/users", status_code=201, response_model=schemas.Credentials)
def create_account(body: schemas.UserIn, session: SessionDep, _: Admin) -> schemas.Credentials:
    """Create a person's account with roles (or the room service's, role ``room``); the
    response holds its first API key, once."""
    user, key, token = create_user(session, body.name, list(body.roles))
    return _credentials(user, key, token)


@router.get("/users", response_model=list[schemas.UserOut])
def list_accounts(session: SessionDep, _: Admin) -> list[schemas.UserOut]:
    """Every account, oldest first."""
    return [_user_out(u) for u in session.scalars(select(User).order_by(User.created_at))]


def _account(session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"account {user_id} not found")
    return user


@router.post("/users/{user_id}/disable", response_model=schemas.UserOut)
def disable_account(user_id: str, session: SessionDep, principal: Admin) -> schemas.UserOut:
    """Every key of the account stops working at once (recorder keys it owns included)."""
    if user_id == principal.user_id:
        raise Conflict("an administrator cannot disable their own account")
    user = _account(session, user_id)
    user.disabled_at = user.disabled_at or utcnow()
    return _user_out(user)


@router.post("/users/{user_id}/enable", response_model=schemas.UserOut)
def enable_account(user_id: str, session: SessionDep, _: Admin) -> schemas.UserOut:
    user = _account(session, user_id)
    user.disabled_at = None
    return _user_out(user)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_any_key(key_id: str, session: SessionDep, _: Admin) -> None:
    """Revoke any key (an account's, a recorder's, a participant's): it stops working at once."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"key {key_id} not found")
    key.revoked_at = key.revoked_at or utcnow()


@router.post(
    "/listeners",
    status_code=201,
    response_model=schemas.Credentials,
    dependencies=[Depends(rate_limited("signup", "signup_rate", noun="sign-ups"))],
)
def sign_up_listener(
    body: schemas.ListenerIn,
    session: SessionDep,
    _: Annotated[Principal, Depends(allow(Role.PUBLIC, objects="creates a listener account"))],
) -> schemas.Credentials:
    """A listener account, for cutting clips and filing complaints."""
    user, key, token = create_user(session, body.name, ["listener"])
    return _credentials(user, key, token)


_ACCOUNT_HOLDERS = (Role.ADMIN, Role.HOST, Role.MODERATOR, Role.LISTENER, Role.ROOM)


@router.get("/users/me", response_model=schemas.WhoAmI)
def who_am_i(
    principal: Annotated[
        Principal,
        Depends(allow(*_ACCOUNT_HOLDERS, Role.RECORDER, Role.PARTICIPANT, objects="the caller")),
    ],
) -> schemas.WhoAmI:
    return schemas.WhoAmI(
        user_id=principal.user_id,
        roles=sorted(r.value for r in principal.roles if r != Role.PUBLIC),
        show_id=principal.show_id,
        participant_id=principal.participant_id,
    )


@router.post("/users/me/keys", status_code=201, response_model=schemas.KeyOut)
def create_own_key(
    body: schemas.KeyIn,
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(allow(*_ACCOUNT_HOLDERS, objects="the caller's account"))
    ],
) -> schemas.KeyOut:
    user = session.get(User, principal.user_id)
    key, token = issue_key(session, user=user, label=body.label, issued_by=principal.subject)
    return _key_out(key, token)


@router.delete("/users/me/keys/{key_id}", status_code=204)
def revoke_own_key(
    key_id: str,
    session: SessionDep,
    principal: Annotated[Principal, Depends(allow(*_ACCOUNT_HOLDERS, objects="the caller's keys"))],
) -> None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == principal.user_id)
    )
    if key is None:
        raise NotFound(f"key {key_id} not found")
    key.revoked_at = key.revoked_at or utcnow()


@router.post("/shows/{show_id}/recorder-keys", status_code=201, response_model=schemas.Credentials)
def create_recorder_key(
    show_id: str,
    session: SessionDep,
    principal: ShowManager,
    body: schemas.RecorderKeyIn | None = None,
) -> schemas.Credentials:
    """A service account for the room's recorder: ingest (spaces, participants, tracks, live
    chunks, finish) for this show only. It expires (``SPACECAST_RECORDER_KEY_DAYS``) and can be
    revoked. It cannot vouch for participants: joins and invite links are the room service's."""
    body = body or schemas.RecorderKeyIn()
    show = show_for(session, principal, show_id)
    most = get_settings().recorder_key_days
    days = min(body.expires_in_days or most, most)
    user = User(name=body.label or f"recorder of {show.title}", roles=["recorder"])
    session.add(user)
    session.flush()
    key, token = issue_key(
        session,
        user=user,
        label=body.label or "recorder",
        show_id=show.id,
        expires_at=utcnow() + timedelta(days=days),
        issued_by=principal.subject,
    )
    return _credentials(user, key, token)


@router.get("/shows/{show_id}/recorder-keys", response_model=list[schemas.KeyOut])
def list_recorder_keys(
    show_id: str, session: SessionDep, principal: ShowManager
) -> list[schemas.KeyOut]:
    """The show's recorder keys, revoked and expired ones included (never their tokens)."""
    show = show_for(session, principal, show_id)
    keys = session.scalars(
        select(ApiKey).where(ApiKey.show_id == show.id).order_by(ApiKey.created_at)
    )
    return [_key_out(key) for key in keys]


@router.delete("/shows/{show_id}/recorder-keys/{key_id}", status_code=204)
def revoke_recorder_key(
    show_id: str, key_id: str, session: SessionDep, principal: ShowManager
) -> None:
    show = show_for(session, principal, show_id)
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.show_id == show.id))
    if key is None:
        raise NotFound(f"recorder key {key_id} not found")
    key.revoked_at = key.revoked_at or utcnow()
