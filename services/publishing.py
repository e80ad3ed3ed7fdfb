"""What may be served, and taking away what no longer may.

The one home of the serving rule: an episode or a clip is served only while every voice and word
in it is still consented to, and no one took it down. When consent changes, what it no longer
allows is deleted at once (not when the next rendering lands): the episode's media and
transcripts, the intermediate mix and transcripts holding that voice or those words, and the
clips holding the voice; the stage runs that made them become stale, so they are made again
from the new answers. Taking an episode down deletes everything derived from the room with it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from infra.models import Clip, Episode, RemovedRange, Space, StageRun, TranscriptSegment, utcnow
from infra.queue import enqueue
from infra.storage import ObjectStore, work_key
from pipeline.chapters import chapters_from_data, to_chapters_json
from pipeline.consent import ConsentState, snapshot_allowed
from pipeline.edits import EditPlan
from pipeline.episode import episode_description, episode_guid
from pipeline.states import RENDERED, ClipStatus, RunStatus, SpaceStatus
from pipeline.transcript import Segment
from services.errors import Gone, NotFound
from services.ledger import current_states
from services.live import forget_withdrawn as forget_withdrawn_live
from services.runs import output_keys, subject_participant

States = Mapping[str, ConsentState]

TAKEN_DOWN = SpaceStatus.TAKEN_DOWN

log = logging.getLogger("spacecast.publishing")


def episode_servable(session: Session, episode: Episode, states: States | None = None) -> bool:
    """The episode's audio may be heard: it has media, was not taken down, and every voice in
    it is still consented to."""
    if not episode.media or episode.removed_at is not None:
        return False
    states = states if states is not None else current_states(session, episode.space_id)
    return snapshot_allowed(episode.consent_snapshot, states, parts=("audible",))


def transcripts_servable(session: Session, episode: Episode, states: States | None = None) -> bool:
    """The episode's transcripts (and its lines in search) may be read: its audio may be heard,
    it has transcripts, and every speaker whose words are in them still consents to that."""
    states = states if states is not None else current_states(session, episode.space_id)
    return (
        bool(episode.transcripts)
        and episode_servable(session, episode, states)
        and snapshot_allowed(episode.consent_snapshot, states, parts=("transcribed",))
    )


def chapters_servable(session: Session, episode: Episode, states: States | None = None) -> bool:
    """The episode's chapters (their titles are words of the transcript) may be read: the
    episode may be heard, it has chapters, and every speaker whose words they were made from
    still consents to that."""
    states = states if states is not None else current_states(session, episode.space_id)
    return (
        bool(episode.chapters)
        and episode_servable(session, episode, states)
        and snapshot_allowed(episode.consent_snapshot, states, parts=("transcribed",))
    )


def removed_ranges(session: Session, space_id: str) -> list[tuple[float, float]]:
    """Stretches of the room a moderator took down (room timeline)."""
    return [
        (row.start_s, row.end_s)
        for row in session.scalars(select(RemovedRange).where(RemovedRange.space_id == space_id))
    ]


def overlaps(start_s: float, end_s: float, ranges: Iterable[tuple[float, float]]) -> bool:
    return any(start_s < b and a < end_s for a, b in ranges)


def clip_servable(
    session: Session, clip: Clip, episode: Episode, states: States | None = None
) -> bool:
    """Ready; its episode is up, or the host took the episode down and pinned the clip (a
    moderator's removal takes every clip with it); no moderator removed the stretch it holds;
    and every voice in it still consents to clips."""
    if clip.status != "ready":
        return False
    if episode.removed_at is not None and (episode.removed_by == "moderation" or not clip.pinned):
        return False
    if overlaps(clip.start_s, clip.end_s, removed_ranges(session, clip.space_id)):
        return False
    states = states if states is not None else current_states(session, clip.space_id)
    return snapshot_allowed(clip.consent_snapshot, states)


def published_episodes(session: Session, show_id: str) -> list[tuple[Episode, Space]]:
    """The show's episodes that may be heard now, newest first."""
    rows = session.execute(
        select(Episode, Space)
        .join(Space, Space.id == Episode.space_id)
        .where(Episode.show_id == show_id)
        .order_by(Episode.published_at.desc())
    )
    return [(episode, space) for episode, space in rows if episode_servable(session, episode)]


def episode_keys(episode: Episode) -> list[str]:
    """The bucket objects of the episode's current rendering (audio, the master's MP3 beside
    the chaptered copy, and transcripts)."""
    keys = [entry["key"] for entry in episode.media.values()]
    keys += [entry["plain"]["key"] for entry in episode.media.values() if "plain" in entry]
    return keys + list(episode.transcripts.values())


def retire_runs(session: Session, runs: Iterable[StageRun]) -> list[str]:
    """Mark runs stale (made again when next needed) and return the objects they made, to be
    deleted once the transaction commits. A run marked done must never point at a deleted
    object."""
    keys: list[str] = []
    for run in runs:
        keys += sorted(output_keys(run))
        run.status, run.result, run.progress = RunStatus.STALE, None, 0.0
    return keys


def retire_objects(session: Session, space_id: str, keys: Iterable[str]) -> None:
    """Objects of the space are about to be deleted: every run that names one becomes stale."""
    doomed = set(keys)
    runs = session.scalars(select(StageRun).where(StageRun.space_id == space_id))
    retire_runs(session, [run for run in runs if output_keys(run) & doomed])


def _clear_episode(session: Session, episode: Episode) -> list[str]:
    keys = episode_keys(episode)
    episode.media, episode.transcripts, episode.chapters, episode.notes = {}, {}, [], {}
    session.execute(delete(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id))
    return keys


def _clear_transcripts(session: Session, episode: Episode) -> list[str]:
    """Someone's words may no longer be published, their voice still may: the audio stays, as
    the master made it (without the chapter titles in its ID3 tag); the chapters go with the
    transcripts they were made from."""
    keys = list(episode.transcripts.values())
    episode.transcripts, episode.chapters = {}, []
    episode.notes = {**(episode.notes or {}), "quotes": []}  # the speakers' words
    mp3 = episode.media.get("mp3", {})
    if "plain" in mp3:
        keys.append(mp3["key"])
        plain = {k: v for k, v in mp3.items() if k not in ("plain", "chapters")}
        episode.media = {**episode.media, "mp3": {**plain, **mp3["plain"]}}
    session.execute(delete(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id))
    return keys


def withdraw_unconsented(session: Session, space: Space) -> list[str]:
    """Take out of the bucket, now, everything of the space the current consent no longer
    allows; return the object keys to delete once the transaction commits."""
    states = current_states(session, space.id)

    def allows(pid: str, purpose: str) -> bool:
        return states.get(pid, ConsentState()).allows(purpose)

    keys: list[str] = []
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    published_voices = list((episode.consent_snapshot if episode else {}).get("audible", []))
    if episode is not None and episode.media and not episode_servable(session, episode, states):
        keys += _clear_episode(session, episode)
    elif (
        episode is not None
        and episode.transcripts
        and not snapshot_allowed(episode.consent_snapshot, states, parts=("transcribed",))
    ):
        keys += _clear_transcripts(session, episode)
    stale = []
    for run in session.scalars(select(StageRun).where(StageRun.space_id == space.id)):
        if not run.result:
            continue
        if run.stage == "transcribe":
            gone = not allows(subject_participant(run.subject), "transcribe")
        elif run.stage in ("mix", "master"):
            voices = run.result.get("voices", published_voices)
            gone = any(not allows(pid, "publish") for pid in voices)
        else:
            continue
        if gone:
            stale.append(run)
    keys += retire_runs(session, stale)
    keys += forget_withdrawn_live(session, space, states)
    for clip in session.scalars(select(Clip).where(Clip.space_id == space.id)):
        if clip.status == ClipStatus.READY and not snapshot_allowed(clip.consent_snapshot, states):
            keys += [entry["key"] for entry in clip.media.values() if entry.get("key")]
            clip.status, clip.media = ClipStatus.WITHDRAWN, {}
    return sorted(set(keys))


def take_down_episode(
    session: Session, store: ObjectStore, episode: Episode, *, by: str, reason: str
) -> list[str]:
    """Take the episode out of the feed and out of the bucket with everything derived from the
    room for it (media, transcripts, the mix and per-speaker transcripts under ``work/``); the
    space is no longer rendered. ``by`` is "host" (listeners' clips expire, pinned ones stay) or
    "moderation" (every clip goes). Returns object keys to delete once the transaction commits.
    """
    if episode.removed_at is not None:
        return []
    space = session.get(Space, episode.space_id)
    keys = _clear_episode(session, episode)
    episode.removed_at, episode.removed_by, episode.removal_reason = utcnow(), by, reason
    runs = session.scalars(select(StageRun).where(StageRun.space_id == episode.space_id))
    keys += retire_runs(session, [run for run in runs if run.result])
    keys += store.list_keys(work_key(episode.space_id, ""))  # anything no run names any more
    if space is not None:
        space.status, space.error = TAKEN_DOWN, reason
        if space.vault_deleted_at is not None:  # the stems were kept for this episode only
            for participant in space.participants:
                if participant.track is not None:
                    keys.append(participant.track.object_key)
                    session.delete(participant.track)
    for clip in session.scalars(select(Clip).where(Clip.episode_id == episode.id)):
        if clip.status in ("deleted", "expired", "withdrawn"):
            continue
        if by == "moderation" or not clip.pinned:
            keys += [entry["key"] for entry in clip.media.values() if entry.get("key")]
            clip.status = ClipStatus.REMOVED if by == "moderation" else ClipStatus.EXPIRED
            clip.media = {}
    return sorted(set(keys))


@dataclass(frozen=True)
class Rendering:
    """What the publish stage made of a space: the delivered audio files (with their keys), the
    transcripts' keys, the merged transcript, its chapters, and whose voices and words it
    holds."""

    render_id: str
    media: dict  # "mp3"/"opus" -> delivered file with its key
    transcripts: dict  # "json"/"vtt"/"srt" -> key
    segments: list[Segment]
    voices: list  # (participant id, name, role) of every audible speaker, in order
    snapshot: dict
    report: dict
    timeline_start_s: float
    chapters: list = field(default_factory=list)  # chapters_to_data; empty: none
    notes: dict = field(default_factory=dict)  # generated show notes (pipeline.notes)
    kept: list = ()  # room-time spans the host's edits kept (empty: the room unedited)
    lead_s: float = 0.0  # the host's intro: the room is heard from this episode second on
    version: int = 0  # the episode version rendered


def episode_timeline(episode: Episode) -> EditPlan:
    """How the episode's current rendering maps the room: the spans its edits kept, or the
    whole room from its first sample (room time minus ``timeline_start_s``)."""
    if episode.kept:
        return EditPlan(
            kept=tuple((float(a), float(b)) for a, b in episode.kept), lead_s=episode.lead_s or 0.0
        )
    return EditPlan(kept=((episode.timeline_start_s, float("inf")),))


def _expire_edited_clips(session: Session, episode: Episode, rendering: Rendering) -> list[str]:
    """A clip whose range the new rendering no longer holds whole (cut, trimmed, or a voice in
    it muted) expires with its media: it would point at words the episode no longer has."""
    if not rendering.kept:
        return []
    timeline = EditPlan(
        kept=tuple((float(a), float(b)) for a, b in rendering.kept), lead_s=rendering.lead_s
    )
    mutes = rendering.report.get("edits", {}).get("mutes", [])
    keys: list[str] = []
    live = (ClipStatus.READY, ClipStatus.QUEUED, ClipStatus.FAILED)
    for clip in session.scalars(select(Clip).where(Clip.episode_id == episode.id)):
        if clip.status not in live:
            continue
        muted = any(
            m["speaker_id"] in clip.speakers
            and clip.start_s < m["end_s"]
            and m["start_s"] < clip.end_s
            for m in mutes
        )
        if timeline.episode_range(clip.start_s, clip.end_s) is None or muted:
            keys += [entry["key"] for entry in clip.media.values() if entry.get("key")]
            clip.status, clip.media = ClipStatus.EXPIRED, {}
            clip.error = (
                f"the host edited this moment out of the episode (version {rendering.version})"
            )
    return keys


def publish_rendering(session: Session, space: Space, rendering: Rendering) -> list[str]:
    """Make ``rendering`` the space's episode: created the first time, then updated under the
    same guid with the new media URLs (the rendering id names them); search lines replaced.
    Returns the keys of media the episode no longer uses, to delete after commit. The one path
    every republication takes (a consent change, a moderator's removal)."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    old: set[str] = set()
    if episode is None:
        numbered = session.scalar(
            select(func.max(Episode.number)).where(Episode.show_id == space.show_id)
        )
        episode = Episode(
            space_id=space.id,
            show_id=space.show_id,
            guid=episode_guid(space.show_id, space.id),
            number=(numbered or 0) + 1,  # kept for good: a taken-down episode keeps its number
            season=space.show.season,
        )
        session.add(episode)
    else:
        old = set(episode_keys(episode))
    main = rendering.media["mp3"]
    episode.title = space.title
    episode.description = episode_description(
        space.description, f"{space.started_at:%Y-%m-%d}", [name for _, name, _ in rendering.voices]
    )
    episode.render_id = rendering.render_id
    episode.duration_s = main["duration_s"]
    episode.timeline_start_s = rendering.timeline_start_s
    episode.media = rendering.media
    episode.transcripts = rendering.transcripts
    episode.chapters = rendering.chapters
    episode.notes = rendering.notes
    episode.persons = [{"name": name, "role": role} for _, name, role in rendering.voices]
    episode.consent_snapshot = rendering.snapshot
    episode.report = rendering.report
    episode.kept = [list(span) for span in rendering.kept]
    episode.lead_s = rendering.lead_s
    episode.rendered_version = rendering.version
    old |= set(_expire_edited_clips(session, episode, rendering))
    session.flush()
    session.execute(delete(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id))
    session.add_all(
        TranscriptSegment(
            episode_id=episode.id,
            participant_id=s.speaker_id,
            speaker=s.speaker,
            start_s=s.start_s,
            end_s=s.end_s,
            text=s.text,
        )
        for s in rendering.segments
    )
    return sorted(old - set(episode_keys(episode)))


def withdraw_episode(session: Session, space: Space, snapshot: dict) -> list[str]:
    """Nobody may be heard any more: the episode keeps its guid but loses its media; returns
    their keys, to delete after commit."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    if episode is None:
        return []
    keys = _clear_episode(session, episode)
    episode.persons, episode.consent_snapshot = [], snapshot
    return keys


def clips_waiting(session: Session, space_id: str) -> list[str]:
    """Clips of the space still to be cut (queued while the episode was being made again)."""
    return list(
        session.scalars(
            select(Clip.id).where(Clip.space_id == space_id, Clip.status == ClipStatus.QUEUED)
        )
    )


def take_down_clip(clip: Clip) -> list[str]:
    """Remove the clip; return its media keys, to delete after commit."""
    keys = [entry["key"] for entry in (clip.media or {}).values() if entry.get("key")]
    clip.status, clip.media = ClipStatus.DELETED, {}
    return keys


def render_again(
    session: Session,
    space: Space,
    *,
    store: ObjectStore | None = None,
    delete_keys: Iterable[str] = (),
) -> bool:
    """The one way a changed decision (a consent answer, the host's choice, a moderator's
    removal) reaches the stages: a space already rendered goes back to processing, the change
    commits, the objects it no longer allows are deleted, and the flow is asked to advance; the
    fingerprints decide what is made again. False for a space not rendered (still recording,
    or taken down), whose change is committed all the same."""
    rendered = space.status in RENDERED
    if rendered:
        space.status, space.error = SpaceStatus.PROCESSING, None
    session.commit()
    if store is not None:
        delete_objects(store, delete_keys)
    if rendered:
        enqueue("advance_space", space.id)
    return rendered


def delete_objects(store: ObjectStore, keys: Iterable[str]) -> None:
    """Delete objects after the transaction that stopped referencing them committed (every
    version of them on a versioned bucket, and their unfinished multipart uploads), then check
    that nothing of them is left: what is left is logged as an error, for an operator."""
    keys = list(keys)
    for key in keys:
        store.delete(key)
    for prefix in sorted({key.rsplit("/", 1)[0] + "/" for key in keys}):
        store.abort_uploads(prefix, set(keys))
    left = store.remains(keys) if keys else {}
    if left:
        log.error("deleted objects still in the bucket: %s", left)


def find_lines(
    session: Session, q: str, *, show_id: str | None, limit: int
) -> list[tuple[TranscriptSegment, Episode]]:
    """Published transcript lines holding every word of ``q`` (newest episodes first), of
    episodes that may be heard now: only words that may be published are ever found."""
    words = [w for w in q.lower().split() if w][:10]
    escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
    condition = and_(
        *(func.lower(TranscriptSegment.text).like(f"%{w}%", escape="\\") for w in escaped)
    )
    query = (
        select(TranscriptSegment, Episode)
        .join(Episode, Episode.id == TranscriptSegment.episode_id)
        .where(condition)
        .order_by(Episode.published_at.desc(), TranscriptSegment.start_s)
    )
    if show_id:
        query = query.where(Episode.show_id == show_id)
    hits: list[tuple[TranscriptSegment, Episode]] = []
    allowed: dict[str, bool] = {}
    for row, episode in session.execute(query.limit(limit * 5)):
        if episode.id not in allowed:
            allowed[episode.id] = transcripts_servable(session, episode)
        if allowed[episode.id]:
            hits.append((row, episode))
        if len(hits) == limit:
            break
    return hits


def chapters_json_of(session: Session, episode: Episode, render_id: str) -> dict:
    """The JSON chapters document of the episode's current rendering. Chapters whose words were
    withdrawn are gone until the episode is made again."""
    if render_id != episode.render_id:
        raise NotFound(f"chapters.json of episode {episode.id} (rendering {render_id}) not found")
    states = current_states(session, episode.space_id)
    if not snapshot_allowed(episode.consent_snapshot, states, parts=("transcribed",)):
        raise Gone(f"the chapters of episode {episode.id} were withdrawn with its transcript")
    if not chapters_servable(session, episode, states):
        raise NotFound(f"episode {episode.id} has no chapters")
    return to_chapters_json(chapters_from_data(episode.chapters), title=episode.title)


def media_key_of(session: Session, episode: Episode, filename: str, render_id: str) -> str:
    """The object behind one of the episode's media URLs. Media of an earlier rendering is
    withdrawn, not served."""
    stem, _, extension = filename.partition(".")
    if stem == "episode":
        entry = episode.media.get(extension)
        key = entry["key"] if entry else None
    elif episode.transcripts and not snapshot_allowed(
        episode.consent_snapshot, current_states(session, episode.space_id), parts=("transcribed",)
    ):
        raise Gone(f"the transcript of episode {episode.id} was withdrawn")
    else:
        key = episode.transcripts.get(extension)
    if key is None or render_id != episode.render_id:
        raise NotFound(f"{filename} of episode {episode.id} (rendering {render_id}) not found")
    return key
