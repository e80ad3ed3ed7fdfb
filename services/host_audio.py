"""A show's own audio (intros, outros, music beds): uploaded by its host, probed and checked as
tracks are (``pipeline.probe``: never trusting a name or header), measured for loudness, stored
under the show, and found again by id for the show's edit lists only. A rejected upload stores
nothing. Deleted by its host unless the episode as published (or being made) plays it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import Episode, EpisodeVersion, HostAudio, Show, new_id
from infra.settings import Settings
from infra.storage import ObjectStore, host_audio_key
from pipeline.edits import Operation, measure_host_audio, operations_from_data
from pipeline.probe import probe_track
from pipeline.text import text_problem
from services.errors import Conflict, Invalid, NotFound
from services.ingest import MIME_BY_FORMAT
from services.publishing import delete_objects

MAX_PER_SHOW = 100


def accept_host_audio(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    show: Show,
    name: str,
    upload: Path,
    sha256: str,
    *,
    actor: str,
) -> HostAudio:
    """Probe (the track checks, with the host audio's limits), measure, store and record an
    upload as ``show``'s own audio; commits."""
    if not name or not name.strip() or len(name) > 200:
        raise Invalid("name: 1 to 200 characters")
    problem = text_problem(name)  # the project's one rule for text shown in pages and feeds
    if problem:
        raise Invalid(f"name {problem}")
    count = len(list(session.scalars(select(HostAudio.id).where(HostAudio.show_id == show.id))))
    if count >= MAX_PER_SHOW:
        raise Conflict(f"show {show.id} has {MAX_PER_SHOW} pieces of audio, the most it may have")
    label = f"host audio {name!r}"
    probe = probe_track(upload, label=label, limits=settings.host_audio_limits())
    loudness = measure_host_audio(upload, label=label, timeout_s=settings.stage_timeout_s)
    audio_id = new_id()
    key = host_audio_key(show.id, audio_id)
    store.put_file(
        key,
        upload,
        content_type=MIME_BY_FORMAT.get(probe.format_name, "application/octet-stream"),
        sha256=sha256,
    )
    audio = HostAudio(
        id=audio_id,
        show_id=show.id,
        name=name.strip(),
        object_key=key,
        sha256=sha256,
        **probe.stored(),
        integrated_lufs=round(loudness.integrated_lufs, 2),
        created_by=actor,
    )
    session.add(audio)
    try:
        session.commit()
    except Exception:
        store.delete(key)
        raise
    return audio


def show_audio(session: Session, show_id: str) -> list[HostAudio]:
    return list(
        session.scalars(
            select(HostAudio).where(HostAudio.show_id == show_id).order_by(HostAudio.uploaded_at)
        )
    )


def audio_lengths(session: Session, show_id: str) -> dict[str, float]:
    """The show's own audio an edit list may name (id -> duration_s): never another show's."""
    return {a.id: a.duration_s for a in show_audio(session, show_id)}


def _named_ids(ops: tuple[Operation, ...]) -> set[str]:
    return {op.audio_id for op in ops if hasattr(op, "audio_id")}


def audio_named(
    session: Session, show_id: str, ops: tuple[Operation, ...], *, hold: bool = False
) -> list[HostAudio]:
    """The show's audio that ``ops`` name (an id of another show's is not among them);
    ``hold``: kept from deletion until the transaction ends (a version being published)."""
    ids = _named_ids(ops)
    if not ids:
        return []
    query = select(HostAudio).where(HostAudio.show_id == show_id, HostAudio.id.in_(ids))
    return list(session.scalars(query.with_for_update(read=True) if hold else query))


def versions_playing(session: Session, show_id: str, audio_id: str) -> list[str]:
    """Where the show's episodes as published or being made (each episode's rendered and
    chosen versions, a taken-down episode's too: it may be reinstated) play ``audio_id``, as
    "version N of episode E"."""
    found = []
    for episode in session.scalars(select(Episode).where(Episode.show_id == show_id)):
        numbers = {episode.edit_version, episode.rendered_version} - {0}
        for version in session.scalars(
            select(EpisodeVersion)
            .where(EpisodeVersion.episode_id == episode.id, EpisodeVersion.number.in_(numbers))
            .order_by(EpisodeVersion.number)
        ):
            if audio_id in _named_ids(operations_from_data(version.operations)):
                found.append(f"version {version.number} of episode {episode.id}")
    return found


def delete_host_audio(session: Session, store: ObjectStore, show: Show, audio_id: str) -> None:
    """Delete ``show``'s audio ``audio_id``: its row, then (after commit) its object, every
    version of it. Refused while an episode as published or being made plays it, naming those
    versions: a published episode never loses its intro silently. Versions that only name it
    (unpublished, or replaced) stay, and are refused by name if published later. Commits."""
    audio = session.scalar(
        select(HostAudio)
        .where(HostAudio.show_id == show.id, HostAudio.id == audio_id)
        .with_for_update()  # a version naming it is not published while it goes
    )
    if audio is None:
        raise NotFound(f"host audio {audio_id} of show {show.id} not found")
    playing = versions_playing(session, show.id, audio.id)
    if playing:
        raise Conflict(
            f"host audio {audio.name!r} is played by {', '.join(playing)}: publish a version "
            "without it first"
        )
    key = audio.object_key
    session.delete(audio)
    session.commit()
    delete_objects(store, [key])
