"""Erasure requests as administrators handle them: listed by due date, each with every object
made from the voice and its state; extended with a reason; closed only when the bucket listing
proves it (``services.erasure``). Participants make theirs under ``/me/erasure``."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from api import schemas
from api.deps import SessionDep, StoreDep
from api.roles import Admin
from infra.models import ErasureRequest, Participant, utcnow
from infra.storage import ObjectStore
from services import erasure

router = APIRouter(prefix="/erasures", tags=["erasure"])


def erasure_out(
    session: Session, store: ObjectStore, request: ErasureRequest, *, with_keys: bool
) -> schemas.ErasureOut:
    participant = session.get(Participant, request.participant_id)
    assets = erasure.assets_of(session, store, request)
    held = [a.held_until for a in assets if a.state == "held" and a.held_until]
    return schemas.ErasureOut(
        id=request.id,
        space_id=request.space_id,
        participant=participant.handle if participant else "",
        requested_at=request.requested_at,
        due_at=request.due_at,
        extended_months=request.extended_months,
        extension_reason=request.extension_reason,
        overdue=request.closed_at is None and utcnow() > request.due_at,
        closed_at=request.closed_at,
        held_until=max(held) if held else None,
        assets=[
            schemas.ErasureAssetOut(
                kind=a.kind,
                key=(a.key or None) if with_keys else None,
                state=a.state,
                held_until=a.held_until,
            )
            for a in assets
        ],
    )


@router.get("", response_model=list[schemas.ErasureOut])
def by_due_date(
    session: SessionDep, store: StoreDep, principal: Admin, closed: bool = False
) -> list[schemas.ErasureOut]:
    """Open erasure requests, the one due first first (``closed=true``: closed ones too)."""
    return [
        erasure_out(session, store, r, with_keys=True)
        for r in erasure.requests_by_due_date(session, include_closed=closed)
    ]


@router.get("/{request_id}", response_model=schemas.ErasureOut)
def read(
    request_id: str, session: SessionDep, store: StoreDep, principal: Admin
) -> schemas.ErasureOut:
    """One request, every object of the voice listed with its state now."""
    found = erasure.erasure_request(session, request_id)
    return erasure_out(session, store, found, with_keys=True)


@router.post("/{request_id}/extend", response_model=schemas.ErasureOut)
def extend(
    request_id: str,
    body: schemas.ErasureExtendIn,
    session: SessionDep,
    store: StoreDep,
    principal: Admin,
) -> schemas.ErasureOut:
    """Push the deadline back by one or two months (two at most in all), saying why."""
    found = erasure.extend(
        session,
        erasure.erasure_request(session, request_id),
        months=body.months,
        reason=body.reason,
        by=principal.subject,
    )
    return erasure_out(session, store, found, with_keys=True)


@router.post("/{request_id}/close", response_model=schemas.ErasureOut)
def close(
    request_id: str, session: SessionDep, store: StoreDep, principal: Admin
) -> schemas.ErasureOut:
    """Close the request: refused (409, naming them) while the bucket still holds objects of
    the voice that no legal hold keeps."""
    found = erasure.close(
        session, store, erasure.erasure_request(session, request_id), by=principal.subject
    )
    return erasure_out(session, store, found, with_keys=True)
