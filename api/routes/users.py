"""Accounts and API keys: admins create, list and disable accounts and revoke any key; listeners
sign up; everyone manages their own keys; hosts make, list and revoke their shows' recorder
keys (which expire)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api import schemas
from api.access import show_for
from api.auth import Role
from api.deps import SessionDep
from api.limits import rate_limited
from api.roles import AccountHolder, Admin, AnyKey, Anyone, Host
from api.routes.complaints import statement_out
from api.views import credentials_out, key_out, user_out
from infra.models import ApiKey, User
from services import accounts, statements
from services.accounts import create_user, issue_key

router = APIRouter(tags=["accounts"])


@router.post("/users", status_code=201, response_model=schemas.Credentials)
def create_account(body: schemas.UserIn, session: SessionDep, _: Admin) -> schemas.Credentials:
    """Create a person's account with roles (or the room service's, role ``room``); the
    response holds its first API key, once."""
    user, key, token = create_user(session, body.name, list(body.roles))
    return credentials_out(user, key, token)


@router.get("/users", response_model=list[schemas.UserOut])
def list_accounts(session: SessionDep, _: Admin) -> list[schemas.UserOut]:
    """Every account, oldest first."""
    return [user_out(u) for u in accounts.all_accounts(session)]


@router.post("/users/{user_id}/disable", response_model=schemas.UserOut)
def disable_account(
    user_id: str,
    session: SessionDep,
    principal: Admin,
    body: schemas.DisableIn | None = None,
) -> schemas.UserOut:
    """Every key of the account stops working at once (recorder keys it owns included). With a
    ``reason``, a statement of reasons is written for the account's holder."""
    user = accounts.account(session, user_id)
    was_enabled = user.disabled_at is None
    disabled = accounts.disable(session, user, by_user_id=principal.user_id)
    if body is not None and was_enabled:
        statements.account_statement(
            session, user, admin=principal.subject, category=body.category, reason=body.reason
        )
    return user_out(disabled)


@router.get("/users/{user_id}/statements", response_model=list[schemas.StatementOut])
def account_statements(user_id: str, session: SessionDep, _: Admin) -> list[schemas.StatementOut]:
    """The statements of reasons of decisions that restricted the account, to hand over."""
    user = accounts.account(session, user_id)
    return [statement_out(s) for s in statements.statements_for(session, {f"user:{user.id}"}, None)]


@router.post("/users/{user_id}/enable", response_model=schemas.UserOut)
def enable_account(user_id: str, session: SessionDep, _: Admin) -> schemas.UserOut:
    return user_out(accounts.enable(accounts.account(session, user_id)))


@router.delete("/keys/{key_id}", status_code=204)
def revoke_any_key(key_id: str, session: SessionDep, _: Admin) -> None:
    """Revoke any key (an account's, a recorder's, a participant's): it stops working at once."""
    accounts.revoke(session.get(ApiKey, key_id), key_id)


@router.post(
    "/listeners",
    status_code=201,
    response_model=schemas.Credentials,
    dependencies=[Depends(rate_limited("signup", "signup_rate", noun="sign-ups"))],
)
def sign_up_listener(
    body: schemas.ListenerIn,
    session: SessionDep,
    _: Anyone,
) -> schemas.Credentials:
    """A listener account, for cutting clips and filing complaints."""
    user, key, token = create_user(session, body.name, ["listener"])
    return credentials_out(user, key, token)


@router.get("/users/me", response_model=schemas.WhoAmI)
def who_am_i(
    principal: AnyKey,
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
    principal: AccountHolder,
) -> schemas.KeyOut:
    user = session.get(User, principal.user_id)
    key, token = issue_key(session, user=user, label=body.label, issued_by=principal.subject)
    return key_out(key, token)


@router.delete("/users/me/keys/{key_id}", status_code=204)
def revoke_own_key(
    key_id: str,
    session: SessionDep,
    principal: AccountHolder,
) -> None:
    accounts.revoke(accounts.key_of(session, key_id, user_id=principal.user_id), key_id)


@router.post("/shows/{show_id}/recorder-keys", status_code=201, response_model=schemas.Credentials)
def create_recorder_key(
    show_id: str,
    session: SessionDep,
    principal: Host,
    body: schemas.RecorderKeyIn | None = None,
) -> schemas.Credentials:
    """A service account for the room's recorder: ingest (spaces, participants, tracks, live
    chunks, finish) for this show only. It expires (``SPACECAST_RECORDER_KEY_DAYS``) and can be
    revoked. It cannot vouch for participants: joins and invite links are the room service's."""
    body = body or schemas.RecorderKeyIn()
    user, key, token = accounts.recorder_key(
        session,
        show_for(session, principal, show_id),
        label=body.label,
        expires_in_days=body.expires_in_days,
        issued_by=principal.subject,
    )
    return credentials_out(user, key, token)


@router.get("/shows/{show_id}/recorder-keys", response_model=list[schemas.KeyOut])
def list_recorder_keys(show_id: str, session: SessionDep, principal: Host) -> list[schemas.KeyOut]:
    """The show's recorder keys, revoked and expired ones included (never their tokens)."""
    return [
        key_out(k) for k in accounts.recorder_keys(session, show_for(session, principal, show_id))
    ]


@router.delete("/shows/{show_id}/recorder-keys/{key_id}", status_code=204)
def revoke_recorder_key(show_id: str, key_id: str, session: SessionDep, principal: Host) -> None:
    show = show_for(session, principal, show_id)
    accounts.revoke(accounts.key_of(session, key_id, show_id=show.id), key_id)
