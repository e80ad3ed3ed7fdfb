"""Spaces: creating one with its participants, registering more while the room is live, and the
host's decisions: finishing the room (which starts the pipeline) and what to do about those who
have not answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from infra.models import Episode, Participant, Show, Space, TrackChunk
from infra.queue import enqueue
from infra.settings import get_settings
from pipeline.consent import Participation, decide_publication
from pipeline.errors import NothingToPublish
from pipeline.states import SpaceStatus
from services.consent import Answerer, may_keep_track, record_reported
from services.errors import Conflict, Invalid, NotFound
from services.ledger import current_states
from services.operations import reopen_failed
from services.publishing import episode_servable, render_again


@dataclass(frozen=True)
class ParticipantSpec:
    handle: str
    name: str
    role: str
    offset_s: float
    consent: Mapping[str, bool | None]  # the shorthand a host or the room reports
    language: str | None = None  # when not the space's language
    end_s: float | None = None  # room time of the track's last sample, as the room reports it


def participant(session: Session, space: Space, handle: str) -> Participant:
    # The track in the same statement: a live chunk reads it next (is it assembled?), and so
    # do most callers.
    found = session.scalar(
        select(Participant)
        .options(joinedload(Participant.track))
        .where(Participant.space_id == space.id, Participant.handle == handle)
    )
    if found is None:
        raise NotFound(f"participant {handle!r} is not registered in space {space.id}")
    return found


def require_recording(space: Space) -> None:
    if space.status != SpaceStatus.RECORDING:
        raise Conflict(
            f"space {space.id} is {space.status}; participants and tracks can no longer change"
        )


def register(session: Session, space: Space, spec: ParticipantSpec, by: Answerer) -> Participant:
    """Add a participant, with the answers the caller reports for them."""
    existing = session.scalar(
        select(Participant).where(
            Participant.space_id == space.id, Participant.handle == spec.handle
        )
    )
    if existing is not None:
        raise Conflict(f"participant {spec.handle!r} is already registered in this space")
    registered = session.scalar(
        select(func.count()).select_from(Participant).where(Participant.space_id == space.id)
    )
    if registered >= get_settings().max_participants:
        raise Conflict(
            f"space {space.id} already has {registered} participants, the most a space may have"
        )
    _check_span(spec.handle, spec.offset_s, spec.end_s)
    new = Participant(
        space_id=space.id,
        handle=spec.handle,
        name=spec.name.strip(),
        role=spec.role,
        offset_s=spec.offset_s,
        end_s=spec.end_s,
        language=spec.language,
    )
    session.add(new)
    session.flush()
    record_reported(session, new, spec.consent, by=by, shorthand=True)
    return new


def create(
    session: Session,
    show: Show,
    *,
    title: str,
    description: str | None,
    language: str,
    started_at: datetime | None,
    participants: Sequence[ParticipantSpec],
    by: Answerer,
    room_url: str | None = None,
    stream_url: str | None = None,
) -> Space:
    handles = [p.handle for p in participants]
    if len(handles) != len(set(handles)):
        raise Invalid("participants: every participant id must be unique")
    space = Space(
        show_id=show.id,
        title=title,
        description=description,
        language=language,
        started_at=started_at or datetime.now(UTC),
        room_url=room_url,
        stream_url=stream_url,
    )
    session.add(space)
    session.flush()
    for spec in participants:
        register(session, space, spec, by)
    session.refresh(space)
    return space


def _check_span(handle: str, offset_s: float, end_s: float | None) -> None:
    """A recording ends after it starts."""
    if end_s is not None and end_s <= offset_s:
        raise Invalid(
            f"participant {handle!r}: end ({end_s:g} s) must be after offset ({offset_s:g} s): "
            "both are room-time seconds, of the track's first sample and of its last"
        )


def update_participant(
    session: Session,
    space: Space,
    handle: str,
    *,
    name: str | None,
    role: str | None,
    offset_s: float | None,
    language: str | None = None,
    end_s: float | None = None,
) -> Participant:
    require_recording(space)
    found = participant(session, space, handle)
    _check_span(
        handle,
        found.offset_s if offset_s is None else offset_s,
        found.end_s if end_s is None else end_s,
    )
    if end_s is not None:
        found.end_s = end_s
    if language is not None:
        found.language = language
    if name is not None:
        found.name = name.strip()
    if role is not None:
        found.role = role
    if offset_s is not None:
        found.offset_s = offset_s
    session.flush()
    return found


def finish(session: Session, space: Space, *, missing: str, duck_excluded: bool) -> Space:
    """The room has ended: every participant whose track may be kept has one, so the pipeline
    is queued. ``missing`` is the host's choice for those who have not answered: ``hold``
    publication, or ``exclude`` them. A failed space can be finished again: every stage not
    done runs again."""
    if space.status not in (SpaceStatus.RECORDING, SpaceStatus.FAILED):
        raise Conflict(f"space {space.id} is already {space.status}")
    states = current_states(session, space.id)
    waiting = [p for p in space.participants if may_keep_track(states, p) and p.track is None]
    if waiting:
        chunked = set(
            session.scalars(
                select(TrackChunk.participant_id).where(TrackChunk.space_id == space.id)
            )
        )
        raise Conflict(
            "no track uploaded yet for: "
            + ", ".join(
                f"{p.handle} (chunks sent but not assembled: POST .../track/assemble)"
                if p.id in chunked
                else p.handle
                for p in waiting
            )
            + " (upload, then finish)"
        )
    decision = decide_publication(
        [Participation(p.id, p.name, has_track=p.track is not None) for p in space.participants],
        states,
    )
    if not decision.audible and not (decision.missing and missing == "hold"):
        raise NothingToPublish(
            "no participant consented to publication, so there is no episode to make"
        )
    space.missing_policy, space.duck_excluded = missing, duck_excluded
    if space.status == SpaceStatus.FAILED:
        reopen_failed(session, space)
    space.status, space.error = SpaceStatus.PROCESSING, None
    space.finished_at = space.finished_at or datetime.now(UTC)
    session.commit()
    enqueue("advance_space", space.id)
    return space


def decide(
    session: Session, space: Space, *, missing: str | None, duck_excluded: bool | None
) -> Space:
    """The host's choices after the room: publish without those who have not answered (or keep
    holding), and whether to duck the tracks an excluded speaker bleeds into."""
    if missing is not None:
        space.missing_policy = missing
    if duck_excluded is not None:
        space.duck_excluded = duck_excluded
    render_again(session, space)
    return space


def published_episode_of(session: Session, space: Space) -> Episode:
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    if episode is None or not episode_servable(session, episode):
        raise NotFound(f"space {space.id} has no published episode (status: {space.status})")
    return episode
