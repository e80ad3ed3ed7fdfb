"""Accounts and API keys: admins create users, listeners sign up, everyone manages their keys,
hosts make recorder keys for their shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select

from api import schemas
from api.access import show_for
from api.auth import Principal, Role, allow
from api.deps import SessionDep
from api.limits import rate_limited
from infra.accounts import create_user, issue_key
from infra.models import ApiKey, User, utcnow

router = APIRouter(tags=["accounts"])


def _credentials(user: User, key: ApiKey, token: str) -> schemas.Credentials:
    return schemas.Credentials(
        user=schemas.UserOut(
            id=user.id, name=user.name, roles=user.roles, created_at=user.created_at
        ),
        key=schemas.KeyOut(id=key.id, label=key.label, created_at=key.created_at, token=token),
    )


@router.post("/users", status_code=201, response_model=schemas.Credentials)
def create_account(
    body: schemas.UserIn,
    session: SessionDep,
    _: Annotated[Principal, Depends(allow(Role.ADMIN, objects="any account"))],
) -> schemas.Credentials:
    """Create a person's account with roles; the response holds its first API key, once."""
    user, key, token = create_user(session, body.name, list(body.roles))
    return _credentials(user, key, token)


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


_ACCOUNT_HOLDERS = (Role.ADMIN, Role.HOST, Role.MODERATOR, Role.LISTENER)


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
    key, token = issue_key(session, user=user, label=body.label)
    return schemas.KeyOut(id=key.id, label=key.label, created_at=key.created_at, token=token)


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
        raise HTTPException(404, f"key {key_id} not found")
    key.revoked_at = key.revoked_at or utcnow()


@router.post("/shows/{show_id}/recorder-keys", status_code=201, response_model=schemas.Credentials)
def create_recorder_key(
    show_id: str,
    body: schemas.KeyIn,
    session: SessionDep,
    principal: Annotated[Principal, Depends(allow(Role.HOST, Role.ADMIN, objects="own shows"))],
) -> schemas.Credentials:
    """A service account for the room's recorder: ingest (spaces, participants, tracks, consent
    answers, finish) for this show only."""
    show = show_for(session, principal, show_id)
    user = User(name=body.label or f"recorder of {show.title}", roles=["recorder"])
    session.add(user)
    session.flush()
    key, token = issue_key(session, user=user, label=body.label or "recorder", show_id=show.id)
    return _credentials(user, key, token)
