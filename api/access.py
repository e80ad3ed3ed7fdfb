"""Object-level authorization: which shows, spaces and episodes a principal may reach.

A host reaches only the shows they own and those shows' spaces; a recorder key only its one show;
an admin everything. Anything else is answered 404, the same as an object that does not exist,
so ids cannot be probed.
"""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.orm import Session, joinedload

from api.auth import Principal, Role
from infra.models import Episode, Show, Space
from services.errors import Gone, NotFound
from services.publishing import episode_servable


def _not_found(kind: str, object_id: str) -> HTTPException:
    return NotFound(f"{kind} {object_id} not found")


def may_manage_show(principal: Principal, show: Show, *, ingest: bool = False) -> bool:
    if principal.is_admin:
        return True
    if (
        principal.has(Role.HOST)
        and principal.user_id is not None
        and show.owner_id == principal.user_id
    ):
        return True
    if ingest and principal.has(Role.ROOM):
        return True  # the platform's room service records every show's rooms
    return ingest and principal.has(Role.RECORDER) and principal.show_id == show.id


def show_for(session: Session, principal: Principal, show_id: str, *, ingest: bool = False) -> Show:
    """The show, if the principal manages it (``ingest``: a recorder of the show also may)."""
    show = session.get(Show, show_id)
    if show is None or not may_manage_show(principal, show, ingest=ingest):
        raise _not_found("show", show_id)
    return show


def space_for(
    session: Session, principal: Principal, space_id: str, *, ingest: bool = False
) -> Space:
    # The show comes in the same statement: every live chunk asks this.
    space = session.get(Space, space_id, options=[joinedload(Space.show)])
    if space is None or not may_manage_show(principal, space.show, ingest=ingest):
        raise _not_found("space", space_id)
    return space


def public_show(session: Session, show_id: str) -> Show:
    show = session.get(Show, show_id)
    if show is None:
        raise _not_found("show", show_id)
    return show


def published_episode(session: Session, episode_id: str) -> Episode:
    """An episode anyone may hear. One whose consent snapshot is no longer valid (a speaker
    withdrew) is gone (410) until it is rendered again without them."""
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise _not_found("episode", episode_id)
    if episode.removed_at is not None:
        raise Gone(f"episode {episode_id} was taken down")
    if not episode_servable(session, episode):
        raise Gone(
            f"episode {episode_id} was withdrawn: a speaker withdrew consent; it is being "
            "made again without them",
        )
    return episode


def managed_episode(session: Session, principal: Principal, episode_id: str) -> Episode:
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise _not_found("episode", episode_id)
    show = session.get(Show, episode.show_id)
    if show is None or not may_manage_show(principal, show):
        raise _not_found("episode", episode_id)
    return episode
