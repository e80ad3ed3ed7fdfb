"""The clip gate: what a clip decision needs to know of a space (when each recorded speaker
talks, who is published, who bleeds into published microphones, the current consent, the
stretches a moderator removed) and the one check of a range against it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from infra.models import Clip, Episode, Space, TranscriptSegment
from infra.queue import enqueue
from infra.settings import get_settings
from pipeline.clips import Blocker, audible_in, clip_blockers
from pipeline.consent import ConsentState
from pipeline.states import ClipStatus
from pipeline.suggest import suggest_clips
from pipeline.transcript import Segment
from services.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from services.ledger import current_states
from services.publishing import clip_servable, episode_timeline, overlaps, removed_ranges
from services.runs import done_results, subject_participant


@dataclass(frozen=True)
class ClipContext:
    activity: dict[str, list[tuple[float, float]]]  # participant id -> speech, room timeline
    names: dict[str, str]
    handles: dict[str, str]
    published: list[str]  # participant ids audible in the current episode
    bleeding_unducked: list[str]  # excluded speakers heard through published microphones
    states: dict[str, ConsentState]
    # Room time of the mix's first sample: clips are cut from the mix, which stays on the room
    # timeline whatever the host's edits (the episode may start later: a trimmed head).
    timeline_start_s: float
    mix_key: str | None
    profile_key: str | None  # the mix's momentary loudness, every 100 ms
    removed: list[tuple[float, float]]  # stretches a moderator took down, room timeline
    # The word-timed transcript of each speaker whose words the episode publishes.
    transcript_keys: dict[str, str]

    def refuses(self, participant_id: str) -> bool:
        """Whether hearing this participant stops a clip (the gate's rule for one speaker)."""
        return bool(
            clip_blockers(
                [participant_id],
                self.names,
                self.published,
                self.states,
                self.bleeding_unducked,
            )
        )

    def blockers(self, room_start_s: float, room_end_s: float) -> tuple[list[str], list[Blocker]]:
        audible = audible_in(room_start_s, room_end_s, self.activity)
        found = clip_blockers(
            audible, self.names, self.published, self.states, self.bleeding_unducked
        )
        if overlaps(room_start_s, room_end_s, self.removed):
            found.append(
                Blocker(
                    "", "moderation", "a moderator removed part of this range after a complaint"
                )
            )
        return audible, found


def clip_context(session: Session, space: Space, episode: Episode) -> ClipContext:
    results = done_results(session, space.id)
    mix = results.mix
    ducked = bool(mix and mix.ducked_windows)
    return ClipContext(
        activity={pid: a.windows() for pid, a in results.activity.items()},
        names={p.id: p.name for p in space.participants},
        handles={p.id: p.handle for p in space.participants},
        published=list(episode.consent_snapshot.get("audible", [])),
        bleeding_unducked=[]
        if ducked or results.bleed is None
        else sorted(results.bleed.bleeding()),
        states=current_states(session, space.id),
        timeline_start_s=mix.timeline_start_s if mix else episode.timeline_start_s,
        mix_key=mix.key if mix else None,
        profile_key=mix.profile_key if mix else None,
        removed=removed_ranges(session, space.id),
        transcript_keys={
            subject: t.key
            for subject, t in results.transcription.items()
            if subject_participant(subject) in episode.consent_snapshot.get("transcribed", [])
        },
    )


# The clip gate and what hosts and listeners do with clips.


@dataclass(frozen=True)
class Cut:
    """A requested range, checked: the episode, the range on the episode timeline, who is
    audible in it and whatever stops it from becoming a clip."""

    episode: Episode
    space: Space
    as_host: bool
    start_s: float
    end_s: float
    room_start_s: float  # the range on the room timeline (where the clip is cut from the mix)
    room_end_s: float
    voices: list[str]  # participant ids heard in the range and published in the episode
    names: dict[str, str]
    range_error: str | None  # too short, too long or outside the episode (422)
    consent_error: str | None  # someone audible refuses clips, naming them (409)
    blocked_by: list[str]


def assess_cut(
    session: Session,
    episode: Episode,
    *,
    as_host: bool,
    start_s: float,
    end_s: float,
    timeline: str = "episode",
) -> Cut:
    """The one clip gate, shared by cutting a clip and checking a range before cutting:
    duration limits (hosts have no maximum), the range inside the episode, and who is audible
    in it from speech activity, their consent, bleed and ranges a moderator removed."""
    settings = get_settings()
    if as_host and episode.removed_at is not None:
        raise Gone(f"episode {episode.id} was taken down: nothing of it is cut")
    if as_host and not episode.media:
        raise Conflict(f"episode {episode.id} has no audio to cut (it is being made again)")
    on_episode = episode_timeline(episode)
    if timeline == "episode":
        start, end = start_s, end_s
        room_start = on_episode.room_time(start)
        room_end = on_episode.room_time(max(start, end - 1e-6)) + 1e-6
    else:
        room_start, room_end = start_s, end_s
        mapped = on_episode.episode_range(room_start, room_end)
        shift = episode.timeline_start_s
        start, end = mapped if mapped else (start_s - shift, end_s - shift)
    # An edited episode: a clip holds one kept stretch, so its audio (cut from the mix on the
    # room timeline) is exactly what the episode plays there.
    crosses = bool(episode.kept) and on_episode.episode_range(room_start, room_end) is None
    # The host's intro and outro are not the room: a clip is of the room alone.
    room_part = (on_episode.lead_s, on_episode.lead_s + on_episode.program_s)
    crosses = crosses or (
        bool(episode.kept) and not room_part[0] - 1e-6 <= start < end <= room_part[1] + 1e-6
    )
    range_error = None
    if end - start < settings.clip_min_s:
        range_error = f"a clip lasts at least {settings.clip_min_s:.0f} s"
    elif not as_host and end - start > settings.listener_clip_max_s:
        range_error = (
            f"listeners cut at most {settings.listener_clip_max_s:.0f} s; "
            f"this range is {end - start:.1f} s"
        )
    elif not 0 <= start < end <= episode.duration_s + 0.05:
        range_error = (
            f"the range {start:.1f}-{end:.1f} s is outside the episode "
            f"(0-{episode.duration_s:.1f} s)"
        )
    elif crosses:
        range_error = (
            f"the range {start_s:.1f}-{end_s:.1f} s ({timeline} time) is not one stretch of the "
            f"episode as edited (version {episode.rendered_version}): it crosses or was cut"
        )
    space = session.get(Space, episode.space_id)
    context = clip_context(session, space, episode)
    audible, blockers = context.blockers(room_start, room_end)
    consent_error = (
        f"cannot clip {start:.1f}-{end:.1f} s: " + "; ".join(b.reason for b in blockers)
        if blockers
        else None
    )
    return Cut(
        episode=episode,
        space=space,
        as_host=as_host,
        start_s=start,
        end_s=end,
        room_start_s=room_start,
        room_end_s=room_end,
        voices=[pid for pid in audible if pid in context.published],
        names=context.names,
        range_error=range_error,
        consent_error=consent_error,
        blocked_by=[b.name for b in blockers],
    )


def cut(session: Session, check: Cut, *, creator_id: str | None, title: str) -> Clip:
    """Make the checked range a clip (refused naming the problem) and queue its rendering."""
    if check.range_error:
        raise Invalid(check.range_error)
    if check.consent_error:
        raise Conflict(check.consent_error)
    clip = Clip(
        episode_id=check.episode.id,
        space_id=check.space.id,
        creator_id=creator_id,
        made_by="host" if check.as_host else "listener",
        title=title,
        start_s=check.room_start_s,
        end_s=check.room_end_s,
        speakers=check.voices,
        consent_snapshot={"clipped": check.voices},
    )
    session.add(clip)
    session.commit()
    enqueue("render_clip_audio", clip.id)
    return clip


def change(
    session: Session,
    clip: Clip,
    *,
    hosting: bool,
    title: str | None,
    pinned: bool | None,
    soundbite: bool | None,
) -> Clip:
    """Rename (the clip's maker or the host); pin, or list in the feed as a soundbite (the
    host). A soundbite's title is the host's: the host approved it for the feed."""
    if (pinned is not None or soundbite is not None) and not hosting:
        raise Forbidden("only the show's host pins clips or makes them soundbites")
    if title is not None and clip.soundbite and not hosting:
        raise Forbidden(
            "this clip is a soundbite the host approved for the feed: only the host renames it"
        )
    if title is not None:
        clip.title = title
    if pinned is not None:
        clip.pinned = pinned
    if soundbite is not None:
        clip.soundbite = soundbite
    session.flush()
    return clip


def visible(session: Session, clip: Clip, episode: Episode, *, may_change: bool) -> None:
    """Anyone sees a servable clip; its maker and host also see it while queued or failed.
    Raises Gone or NotFound otherwise."""
    if clip_servable(session, clip, episode):
        return
    if clip.status in (ClipStatus.WITHDRAWN, ClipStatus.EXPIRED, ClipStatus.REMOVED):
        raise Gone(f"clip {clip.id} was {clip.status}" + (f": {clip.error}" if clip.error else ""))
    if clip.status == ClipStatus.READY:
        raise Gone(f"clip {clip.id} is no longer available")
    if not may_change:
        raise NotFound(f"clip {clip.id} not found")


def find(session: Session, clip_id: str) -> tuple[Clip, Episode]:
    clip = session.get(Clip, clip_id)
    if clip is None or clip.status == ClipStatus.DELETED:
        raise NotFound(f"clip {clip_id} not found")
    return clip, session.get(Episode, clip.episode_id)


def servable_media(session: Session, clip: Clip, episode: Episode, kind: str, render_id: str):
    """The object of one of the clip's files, if the clip may be served."""
    if not clip_servable(session, clip, episode):
        raise Gone(f"clip {clip.id} is no longer available")
    entry = clip.media.get(kind)
    if entry is None or render_id != clip.render_id:
        raise NotFound(f"{kind} of clip {clip.id} not found")
    return entry["key"]


def count_replay(session: Session, clip: Clip) -> None:
    """The clip's audio was fetched from its start (seeking does not count)."""
    session.execute(update(Clip).where(Clip.id == clip.id).values(replays=Clip.replays + 1))


def request_audiogram(session: Session, clip: Clip, episode: Episode) -> None:
    if not clip_servable(session, clip, episode):
        raise Conflict(f"clip {clip.id} is {clip.status}, not ready")
    enqueue("render_clip_audiogram", clip.id)


def servable_clips(session: Session, episode: Episode) -> list[Clip]:
    """The episode's ready clips that may be heard: soundbites first, most replayed next."""
    clips = session.scalars(
        select(Clip).where(Clip.episode_id == episode.id, Clip.status == ClipStatus.READY)
    )
    shown = [c for c in clips if clip_servable(session, c, episode)]
    shown.sort(key=lambda c: (not c.soundbite, -c.replays, c.start_s))
    return shown


def suggestions(session: Session, episode: Episode) -> list:
    """Candidate clips, ranked (``pipeline.suggest``), never over anyone the gate would refuse."""
    space = session.get(Space, episode.space_id)
    context = clip_context(session, space, episode)
    on_episode = episode_timeline(episode)
    blocked = on_episode.episode_windows(
        [w for pid, windows in context.activity.items() if context.refuses(pid) for w in windows]
        + list(context.removed)
    ) + [(at - 0.01, at + 0.01) for at in on_episode.seams]  # a clip holds one kept stretch
    lines = [
        Segment(row.participant_id, row.speaker, row.start_s, row.end_s, row.text)
        for row in session.scalars(
            select(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id)
        )
    ]
    return suggest_clips(lines, blocked=blocked)
