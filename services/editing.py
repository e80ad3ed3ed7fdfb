"""Episode versions: the host's edit lists, each checked against the episode's room and voices,
published (and reverted) through the one re-render path, previewed without rendering; and the
edit list the stages render for a space.

Version 0 is the room as recorded (no operations). Versions are never changed once made; the
episode names the version the flow renders (``Episode.edit_version``), so a consent change
re-renders the latest published version.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import Episode, EpisodeVersion, Participant, Space, TranscriptSegment, utcnow
from infra.settings import Settings
from infra.storage import ObjectStore
from pipeline.edits import (
    Bed,
    EditPlan,
    Mute,
    Operation,
    RoomTimeline,
    ShortenSilences,
    operations_from_data,
    operations_to_data,
    remap_marks,
    resolve,
    validate,
)
from pipeline.errors import SpacecastError
from pipeline.master import Treatment
from pipeline.preview import AROUND_S, render_cut_preview, seam_plan
from pipeline.states import SpaceStatus
from services.errors import Conflict, Invalid, NotFound
from services.host_audio import audio_lengths, audio_named
from services.publishing import episode_timeline, overlaps, removed_ranges, render_again
from services.runs import done_results

MAX_VERSIONS = 200  # per episode
NOTE_MAX_CHARS = 500


def room_timeline(
    voices: list[Participant], *, key: str = "handle", host_audio: dict[str, float] | None = None
) -> RoomTimeline:
    """The stretch of the room an unedited episode of ``voices`` holds (their tracks from the
    first one's start to the last one's end) and its speakers, named by handle (what hosts
    write) or by participant id (what the stages use); ``host_audio``: the show's own audio
    (id -> duration_s), the only audio an edit list may add."""
    with_track = [p for p in voices if p.track is not None]
    if not with_track:
        raise Conflict("the episode has no published speaker's track to edit")
    return RoomTimeline(
        start_s=min(p.offset_s for p in with_track),
        end_s=max(p.offset_s + p.track.duration_s for p in with_track),
        speakers={getattr(p, key): p.name for p in with_track},
        host_audio=host_audio or {},
    )


def _voices(space: Space, episode: Episode) -> list[Participant]:
    audible = set(episode.consent_snapshot.get("audible", []))
    return [p for p in space.participants if p.id in audible]


def _timeline(session: Session, space: Space, episode: Episode) -> RoomTimeline:
    return room_timeline(_voices(space, episode), host_audio=audio_lengths(session, space.show_id))


def versions(session: Session, episode: Episode) -> list[EpisodeVersion]:
    return list(
        session.scalars(
            select(EpisodeVersion)
            .where(EpisodeVersion.episode_id == episode.id)
            .order_by(EpisodeVersion.number)
        )
    )


def version_of(session: Session, episode: Episode, number: int) -> EpisodeVersion | None:
    """The version ``number`` of the episode (None for 0, the room as recorded)."""
    if number == 0:
        return None
    found = session.scalar(
        select(EpisodeVersion).where(
            EpisodeVersion.episode_id == episode.id, EpisodeVersion.number == number
        )
    )
    if found is None:
        raise NotFound(f"version {number} of episode {episode.id} not found")
    return found


def create_version(
    session: Session, episode: Episode, operations: object, *, note: str, actor: str
) -> EpisodeVersion:
    """A new version from the host's edit list, refused naming the offending operation when it
    does not fit the episode's room and published voices. Not published until asked."""
    if episode.removed_at is not None:
        raise Conflict(f"episode {episode.id} was taken down: nothing of it is edited")
    if len(note) > NOTE_MAX_CHARS:
        raise Invalid(f"note: at most {NOTE_MAX_CHARS} characters")
    ops = operations_from_data(operations)
    space = session.get(Space, episode.space_id)
    validate(ops, _timeline(session, space, episode))
    number = (
        session.scalar(
            select(func.max(EpisodeVersion.number)).where(EpisodeVersion.episode_id == episode.id)
        )
        or 0
    ) + 1
    if number > MAX_VERSIONS:
        raise Conflict(f"episode {episode.id} has {MAX_VERSIONS} versions, the most it may have")
    version = EpisodeVersion(
        episode_id=episode.id,
        number=number,
        operations=operations_to_data(ops),
        note=note,
        created_by=actor,
    )
    session.add(version)
    session.flush()
    return version


def publish_version(session: Session, episode: Episode, number: int) -> bool:
    """Make version ``number`` the one the episode renders and render it: the same path a
    consent change takes (``render_again``), so the new rendering replaces the episode under
    its guid and the replaced media are deleted as it lands. The version is checked again
    against the voices published now (a mute of someone withdrawn since is refused)."""
    if episode.removed_at is not None:
        raise Conflict(f"episode {episode.id} was taken down: nothing of it is published")
    version = version_of(session, episode, number)
    space = session.get(Space, episode.space_id)
    if version is not None:
        ops = operations_from_data(version.operations)
        audio_named(session, space.show_id, ops, hold=True)  # not deleted while it is published
        validate(ops, _timeline(session, space, episode))
        version.published_at = utcnow()
    if episode.edit_version == number == episode.rendered_version:
        session.commit()  # already the episode: nothing to render again
        return False
    if episode.host_chapters and episode.edit_version != number:
        # The host's chapters mark moments of the room: they move with the new version's cuts.
        before = preview(session, episode, episode.edit_version).plan
        after = preview(session, episode, number).plan
        episode.host_chapters = remap_marks(episode.host_chapters, before, after)
    episode.edit_version = number
    return render_again(session, space)


def revert(session: Session, episode: Episode, number: int, *, actor: str) -> EpisodeVersion:
    """Go back to version ``number``: a new version with its operations, published."""
    earlier = version_of(session, episode, number)
    version = create_version(
        session,
        episode,
        earlier.operations if earlier is not None else [],
        note=f"revert to version {number}",
        actor=actor,
    )
    publish_version(session, episode, version.number)
    return version


@dataclass(frozen=True)
class Preview:
    """What a version would make of the episode, from speech activity alone (nothing rendered)."""

    number: int
    plan: EditPlan
    unedited_s: float
    cuts: list[dict]  # each removed stretch: room time, and where in the edited episode it was

    def as_dict(self) -> dict:
        return {
            "version": self.number,
            "duration_s": round(self.plan.duration_s, 3),
            "unedited_duration_s": round(self.unedited_s, 3),
            "saved_s": round(self.unedited_s - self.plan.duration_s, 3),
            "silence_saved_s": round(self.plan.silence_saved_s, 3),
            "kept": [[round(a, 3), round(b, 3)] for a, b in self.plan.kept],
            "cuts": self.cuts,
            "mutes": operations_to_data(self.plan.mutes),
        }


def preview(session: Session, episode: Episode, number: int) -> Preview:
    space = session.get(Space, episode.space_id)
    version = version_of(session, episode, number)
    voices = _voices(space, episode)
    timeline = _timeline(session, space, episode)
    ops = operations_from_data(version.operations if version is not None else [])
    plan = resolve(ops, timeline, speech=_speech(session, space.id, [p.id for p in voices]))
    cuts = [
        {
            "room_start_s": round(a, 3),
            "room_end_s": round(b, 3),
            "at_s": round(plan.episode_time(a - 1e-6) or 0.0, 3),
        }
        for a, b in plan.removed
    ]
    return Preview(number, plan, timeline.end_s - timeline.start_s, cuts)


def cut_preview(
    session: Session,
    store: ObjectStore,
    settings: Settings,
    episode: Episode,
    number: int,
    cut: int,
) -> bytes:
    """The seconds around cut ``cut`` (from 1) of version ``number`` as an MP3, at the published
    episode's gain and limiter; only those seconds of the mix are read (over a ranged read of
    the bucket object) and rendered. Refused while the episode is being made again (the mix on
    hand may hold a voice withdrawn since) and over a range a moderator took down."""
    if episode.removed_at is not None:
        raise Conflict(f"episode {episode.id} was taken down: nothing of it is previewed")
    space = session.get(Space, episode.space_id)
    mix = done_results(session, space.id).mix
    audible = set(episode.consent_snapshot.get("audible", []))
    if space.status != SpaceStatus.PUBLISHED or mix is None or not set(mix.voices) <= audible:
        raise Conflict(
            f"episode {episode.id} is being made again; preview its cuts when it is published"
        )
    plan = preview(session, episode, number).plan
    around = seam_plan(plan, cut - 1)
    if overlaps(around.kept[0][0], around.kept[-1][1], removed_ranges(session, space.id)):
        raise Conflict(f"cut {cut}: the seconds around it hold a range a moderator took down")
    delivered = episode.media.get("mp3", {})
    treatment = Treatment(
        float(delivered.get("gain_db", 0.0)),
        float(delivered.get("limiter_ceiling_dbtp", -2.0)),
        bool(delivered.get("limiter_oversampled", False)),
    )
    with tempfile.TemporaryDirectory(prefix="spacecast-preview-", dir=settings.work_dir) as tmp:
        out = Path(tmp) / "cut.mp3"
        render_cut_preview(
            store.presigned_get(mix.key, expires_s=120),
            mix.timeline_start_s,
            plan,
            cut - 1,
            out,
            treatment=treatment,
            timeout_s=settings.preview_timeout_s,
            around_s=AROUND_S,
        )
        return out.read_bytes()


def _speech(session: Session, space_id: str, voices: list[str]) -> list[tuple[float, float]]:
    activity = done_results(session, space_id).activity
    return [w for pid in voices if pid in activity for w in activity[pid].windows()]


def moment_in_versions(
    session: Session, space_id: str, start_s: float | None, end_s: float | None
) -> dict | None:
    """For a moderator: where a reported room-time moment is in the episode as published now
    (None: cut from it), and which of the versions ever published held it whole (0, the room as
    recorded, was published first). None when the space has no episode or the report no time."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space_id))
    if episode is None or start_s is None or end_s is None:
        return None
    held = episode_timeline(episode).episode_range(start_s, end_s)
    numbers = [0] + [v.number for v in versions(session, episode) if v.published_at is not None]
    holding = []
    for number in numbers:
        try:
            plan = preview(session, episode, number).plan
        except SpacecastError:  # no published track left to resolve against
            continue
        if plan.episode_range(start_s, end_s) is not None:
            holding.append(number)
    return {
        "episode_id": episode.id,
        "version": episode.rendered_version,
        "at_s": round(held[0], 3) if held else None,
        "held_by_versions": holding,
    }


def transcript_lines(session: Session, episode: Episode) -> list[dict]:
    """The published transcript's lines with the room-time range a cut of each takes: from its
    first word to its last as Whisper timed them, tightened to its speaker's own speech
    activity (Whisper often starts a stretch's first word up to its 400 ms padding early, and
    a line's end can run into the pause), so cutting a line does not reach into whoever speaks
    next."""
    space = session.get(Space, episode.space_id)
    on_episode = episode_timeline(episode)
    handles = {p.id: p.handle for p in space.participants}
    activity = done_results(session, space.id).activity
    rows = session.scalars(
        select(TranscriptSegment)
        .where(TranscriptSegment.episode_id == episode.id)
        .order_by(TranscriptSegment.start_s)
    )
    lines = []
    for row in rows:
        start, end = on_episode.room_time(row.start_s), on_episode.room_time(row.end_s)
        windows = activity[row.participant_id].windows() if row.participant_id in activity else []
        heard = [(a, b) for a, b in windows if a < end and start < b]
        if heard:
            start, end = max(start, heard[0][0]), min(end, heard[-1][1])
        lines.append(
            {
                "start_s": row.start_s,
                "speaker": row.speaker,
                "handle": handles.get(row.participant_id, ""),
                "text": row.text,
                "room_start_s": start,
                "room_end_s": max(end, start + 0.1),
            }
        )
    return lines


# What the stages render.


def chosen_operations(session: Session, space: Space) -> tuple[int, tuple[Operation, ...]]:
    """The version the space's episode renders and its operations, mutes naming participant
    ids (the stages' names); (0, ()) for an episode never edited."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    if episode is None or episode.edit_version == 0:
        return 0, ()
    version = version_of(session, episode, episode.edit_version)
    by_handle = {p.handle: p.id for p in space.participants}
    ops = []
    for op in operations_from_data(version.operations):
        if isinstance(op, Mute):
            op = Mute(by_handle.get(op.speaker_id, op.speaker_id), op.start_s, op.end_s)
        ops.append(op)
    return episode.edit_version, tuple(ops)


def needs_speech(ops: tuple[Operation, ...]) -> bool:
    """Shortening silences and ducking a bed follow when the published voices speak."""
    return any(isinstance(op, ShortenSilences | Bed) for op in ops)


def render_plan(
    ops: tuple[Operation, ...],
    audible: list[Participant],
    speech: list[tuple[float, float]] = (),
    host_audio: dict[str, float] | None = None,
) -> EditPlan | None:
    """The edit plan of ``ops`` over the voices published now (None: nothing edited). A mute of
    someone no longer published is dropped: their voice is not in the mix. ``host_audio``: the
    lengths of the show's audio ``ops`` name."""
    if not ops:
        return None
    return resolve(ops, room_timeline(audible, key="id", host_audio=host_audio), speech=speech)
