"""Who may call an endpoint, declared once: each route takes one of these as a parameter. The
objects each reaches are checked in the route through ``api.access`` (an object out of reach is
404); the authorization-matrix test reads these declarations back."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.auth import Principal, Role, allow

Anyone = Annotated[
    Principal, Depends(allow(Role.PUBLIC, objects="what is published; public pages; sign-up"))
]
Admin = Annotated[Principal, Depends(allow(Role.ADMIN, objects="everything"))]
Host = Annotated[
    Principal,
    Depends(
        allow(Role.HOST, Role.ADMIN, objects="own shows, their spaces, episodes and recorder keys")
    ),
]
Ingest = Annotated[
    Principal,
    Depends(
        allow(
            Role.HOST,
            Role.ADMIN,
            Role.RECORDER,
            Role.ROOM,
            objects="own shows' spaces; a recorder key: its show's spaces; the room service: all",
        )
    ),
]
# Only the platform's room service and operators vouch for who takes part in a room.
Vouching = Annotated[
    Principal,
    Depends(allow(Role.ROOM, Role.ADMIN, objects="every show's spaces")),
]
Cutter = Annotated[
    Principal,
    Depends(
        allow(
            Role.HOST,
            Role.ADMIN,
            Role.LISTENER,
            objects="listeners: published episodes and their own clips; hosts: own shows' "
            "episodes and clips",
        )
    ),
]
Reporter = Annotated[
    Principal,
    Depends(
        allow(
            Role.LISTENER,
            Role.HOST,
            Role.MODERATOR,
            Role.ADMIN,
            Role.PARTICIPANT,
            objects="published episodes and live clips; a participant's own space; a host's own "
            "spaces; the caller's own complaints",
        )
    ),
]
Moderator = Annotated[
    Principal,
    Depends(
        allow(
            Role.MODERATOR,
            Role.ADMIN,
            objects="every complaint, and the vault of a reported space through its complaint",
        )
    ),
]
Participant = Annotated[
    Principal, Depends(allow(Role.PARTICIPANT, objects="their own participation"))
]
# Prometheus's key reads the figures and nothing else; an operator's admin key may too.
Monitor = Annotated[
    Principal,
    Depends(allow(Role.MONITOR, Role.ADMIN, objects="the deployment's metrics (no user data)")),
]
AccountHolder = Annotated[
    Principal,
    Depends(
        allow(
            Role.ADMIN,
            Role.HOST,
            Role.MODERATOR,
            Role.LISTENER,
            Role.ROOM,
            objects="the caller's own account and keys",
        )
    ),
]
AnyKey = Annotated[
    Principal,
    Depends(
        allow(
            Role.ADMIN,
            Role.HOST,
            Role.MODERATOR,
            Role.LISTENER,
            Role.ROOM,
            Role.RECORDER,
            Role.PARTICIPANT,
            Role.MONITOR,
            objects="the caller",
        )
    ),
]
