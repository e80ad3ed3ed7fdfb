"""Episode versions: the host's edit lists (``services.editing``), listed, made, previewed,
published and reverted. Host-only: the show's owner or an admin; anyone else is answered 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from api import schemas
from api.access import managed_episode
from api.deps import SessionDep, SettingsDep, StoreDep
from api.limits import rate_limited
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


@router.get(
    "/episodes/{episode_id}/versions/{number}/cuts/{cut}/audio",
    response_class=Response,
    responses={
        200: {"content": {"audio/mpeg": {}}, "description": "the seconds around the cut"},
        502: {"model": schemas.ErrorOut, "description": "ffmpeg could not render it (named)"},
    },
    dependencies=[Depends(rate_limited("cut_preview", "cut_preview_rate", noun="cut previews"))],
)
def preview_cut(
    episode_id: str,
    number: Number,
    cut: Annotated[int, Path(ge=1, le=10_000, description="the cut, from 1, as the preview lists")],
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    principal: Host,
) -> Response:
    """About 8 s around one cut (4 s of the room before it, the crossfade, 4 s after) as an MP3
    at the episode's level, rendered from the mix alone: the episode is not rendered."""
    episode = managed_episode(session, principal, episode_id)
    audio = editing.cut_preview(session, store, settings, episode, number, cut)
    return Response(audio, media_type="audio/mpeg", headers={"Cache-Control": "private, no-store"})


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
