"""Episode versions: the host's edit lists (``services.editing``), listed, made, previewed,
published and reverted. Host-only: the show's owner or an admin; anyone else is answered 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api import schemas
from api.access import managed_episode
from api.deps import SessionDep
from api.roles import Host
from infra.models import Episode, EpisodeVersion
from services import editing

router = APIRouter(tags=["versions"])

Number = Annotated[
    int, Path(ge=0, le=editing.MAX_VERSIONS, description="the version, 0: the room as recorded")
]


def version_out(episode: Episode, version: EpisodeVersion | None) -> schemas.VersionOut:
    number = version.number if version is not None else 0
    return schemas.VersionOut(
        number=number,
        operations=version.operations if version is not None else [],
        note=version.note if version is not None else "the room as recorded",
        created_by=version.created_by if version is not None else None,
        created_at=version.created_at if version is not None else None,
        published_at=version.published_at if version is not None else None,
        chosen=episode.edit_version == number,
        rendered=episode.rendered_version == number,
    )


@router.get("/episodes/{episode_id}/versions", response_model=schemas.VersionListOut)
def list_versions(episode_id: str, session: SessionDep, principal: Host) -> schemas.VersionListOut:
    episode = managed_episode(session, principal, episode_id)
    return schemas.VersionListOut(
        episode_id=episode.id,
        edit_version=episode.edit_version,
        rendered_version=episode.rendered_version,
        versions=[version_out(episode, None)]
        + [version_out(episode, v) for v in editing.versions(session, episode)],
    )


@router.post("/episodes/{episode_id}/versions", status_code=201, response_model=schemas.VersionOut)
def create_version(
    episode_id: str, body: schemas.VersionIn, session: SessionDep, principal: Host
) -> schemas.VersionOut:
    """A new version of the episode's edit list, checked against its room and published voices
    (an error names the offending operation). Publishing it is a separate step."""
    episode = managed_episode(session, principal, episode_id)
    version = editing.create_version(
        session, episode, body.operations, note=body.note, actor=principal.subject
    )
    session.commit()
    return version_out(episode, version)


@router.get("/episodes/{episode_id}/versions/{number}", response_model=schemas.VersionOut)
def read_version(
    episode_id: str, number: Number, session: SessionDep, principal: Host
) -> schemas.VersionOut:
    episode = managed_episode(session, principal, episode_id)
    return version_out(episode, editing.version_of(session, episode, number))


@router.get("/episodes/{episode_id}/versions/{number}/preview", response_model=schemas.PreviewOut)
def preview_version(
    episode_id: str, number: Number, session: SessionDep, principal: Host
) -> schemas.PreviewOut:
    """The edited duration, the time saved (and by shortening silences), and where each cut
    falls, computed from speech activity without rendering."""
    episode = managed_episode(session, principal, episode_id)
    return schemas.PreviewOut(**editing.preview(session, episode, number).as_dict())


@router.post(
    "/episodes/{episode_id}/versions/{number}/publish",
    status_code=202,
    response_model=schemas.VersionOut,
)
def publish_version(
    episode_id: str, number: Number, session: SessionDep, principal: Host
) -> schemas.VersionOut:
    """Render this version and make it the episode: same guid, new media URLs; the replaced
    version's media are deleted when the new rendering lands."""
    episode = managed_episode(session, principal, episode_id)
    editing.publish_version(session, episode, number)
    return version_out(episode, editing.version_of(session, episode, number))


@router.post(
    "/episodes/{episode_id}/versions/{number}/revert",
    status_code=202,
    response_model=schemas.VersionOut,
)
def revert_version(
    episode_id: str, number: Number, session: SessionDep, principal: Host
) -> schemas.VersionOut:
    """Go back to an earlier version: a new version with its operations, published."""
    episode = managed_episode(session, principal, episode_id)
    version = editing.revert(session, episode, number, actor=principal.subject)
    return version_out(episode, version)
