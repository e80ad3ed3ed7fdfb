"""Moderation: complaints and the review queue, the evidence a moderator hears and reads, and
their decisions (each access and decision goes to the audit log, ``services.audit``)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.models import (
    Clip,
    Complaint,
    Episode,
    Participant,
    RemovedRange,
    Space,
    Track,
    utcnow,
)
from infra.queue import enqueue
from infra.settings import get_settings
from infra.storage import ObjectStore, review_transcript_key, sha256_file
from pipeline.consent import ConsentState
from pipeline.retention import OPEN_STATUSES
from pipeline.review import ReviewTrack, Window, render_excerpt
from pipeline.states import ClipStatus, ComplaintStatus
from pipeline.transcribe import speaker_language
from pipeline.transcript import Segment, segments_from_data
from services import statements
from services.audit import audit
from services.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from services.ledger import current_states
from services.publishing import (
    episode_timeline,
    render_again,
    take_down_clip,
    take_down_episode,
    withdraw_unconsented,
)


@dataclass(frozen=True)
class Notice:
    """What makes a complaint a formal notice (DSA article 16(2))."""

    name: str | None
    email: str | None
    location_url: str | None
    good_faith: bool

    def check(self, reasons: str) -> None:
        missing = [
            field
            for field, given in (
                ("notifier_name", self.name),
                ("notifier_email", self.email),
                ("location_url", self.location_url),
                ("text (the reasons)", reasons.strip()),
            )
            if not given
        ]
        if missing:
            raise Invalid(f"a notice needs {', '.join(missing)}")
        if not self.good_faith:
            raise Invalid("a notice needs good_faith: true (a statement of good faith)")


def review_queue(session: Session, *, limit: int = 100) -> list[tuple[Complaint, int]]:
    """Undecided complaints, most-reported space first, then oldest first; with each the number
    of undecided complaints about the same space."""
    reports = (
        select(Complaint.space_id, func.count().label("reports"))
        .where(Complaint.status.in_(OPEN_STATUSES))
        .group_by(Complaint.space_id)
        .subquery()
    )
    rows = session.execute(
        select(Complaint, reports.c.reports)
        .join(reports, reports.c.space_id == Complaint.space_id)
        .where(Complaint.status.in_(OPEN_STATUSES))
        .order_by(reports.c.reports.desc(), Complaint.created_at, Complaint.id)
        .limit(limit)
    )
    return [(complaint, count) for complaint, count in rows]


def complaint(session: Session, complaint_id: str) -> Complaint:
    found = session.get(Complaint, complaint_id)
    if found is None:
        raise NotFound(f"complaint {complaint_id} not found")
    return found


def undecided_reports(session: Session, space_id: str) -> int:
    return len(
        session.scalars(
            select(Complaint.id).where(
                Complaint.space_id == space_id, Complaint.status.in_(OPEN_STATUSES)
            )
        ).all()
    )


def retained_tracks(session: Session, space_id: str) -> list[tuple[Participant, Track]]:
    """The space's raw tracks a moderator may hear (the vault), in the order people joined:
    of those who consented to the 30-day recording, or whose withdrawal a complaint holds back;
    none once the vault is swept. A published voice's stem kept past that is not the vault."""
    space = session.get(Space, space_id)
    if space is None or space.vault_deleted_at is not None:
        return []
    states = current_states(session, space_id)
    rows = session.execute(
        select(Participant, Track)
        .join(Track, Track.participant_id == Participant.id)
        .where(Participant.space_id == space_id)
        .order_by(Participant.created_at)
    )
    return [
        (participant, track)
        for participant, track in rows
        if track.erase_requested_at is not None
        or states.get(participant.id, ConsentState()).allows("record")
    ]


def window_of(complaint: Complaint, tracks: list[tuple[Participant, Track]]) -> Window:
    """The reported moment padded by ``review_padding_s`` (the start of the room when the
    complaint names no moment)."""
    length = max((p.offset_s + t.duration_s for p, t in tracks), default=0.0)
    pad = get_settings().review_padding_s
    if complaint.start_s is None or complaint.end_s is None:
        return Window(0.0, min(length, 2 * pad)) if length else Window(0.0, 0.0)
    return Window.around(complaint.start_s, complaint.end_s, pad, length)


def review_segments(
    store: ObjectStore, space_id: str, tracks: list[tuple[Participant, Track]]
) -> tuple[list[Segment], bool]:
    """Every retained track's review transcript; ``False`` when some are still being made."""
    segments: list[Segment] = []
    complete = True
    for participant, track in tracks:
        key = review_transcript_key(space_id, participant.id, track.sha256)
        if not store.exists(key):
            complete = False
            continue
        segments.extend(segments_from_data(json.loads(store.get_bytes(key))))
    return segments, complete


def published_words(session: Session, space: Space) -> set[str]:
    """Whose words the space's episode publishes (moderators see which lines are public)."""
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    return set((episode.consent_snapshot if episode else {}).get("transcribed", []))


def evidence_audio(
    session: Session,
    store: ObjectStore,
    found: Complaint,
    *,
    moderator: str,
    source: str,
    participant: str | None,
    start_s: float | None,
    end_s: float | None,
) -> tuple[Path, Path]:
    """The reported window (or the one asked for, at most 600 s) as MP3: on one speaker's own
    track (``participant``, by default the reported speaker) or on the mix of every retained
    track. Audited; each track's checksum from ingest is verified first and a track that fails
    it is refused, never played. Returns (the MP3, its scratch folder to remove after)."""
    settings = get_settings()
    tracks = retained_tracks(session, found.space_id)
    if not tracks:
        raise Gone(f"the recordings of space {found.space_id} are no longer retained")
    window = window_of(found, tracks)
    if start_s is not None and end_s is not None:
        if end_s <= start_s or end_s - start_s > 600:
            raise Invalid("end_s must follow start_s, at most 600 s later")
        window = Window(start_s, end_s)
    if source == "speaker":
        wanted = participant or next(
            (p.handle for p, _ in tracks if p.id == found.participant_id), None
        )
        if wanted is None:
            raise Invalid("this complaint names no speaker: say which participant to hear")
        tracks = [(p, t) for p, t in tracks if p.handle == wanted]
        if not tracks:
            raise NotFound(f"no retained track of participant {wanted!r}")
    chosen = [(p.id, p.handle, p.offset_s, t.object_key, t.sha256) for p, t in tracks]
    audit(
        session,
        actor=moderator,
        action="play_mix" if source == "mix" else "play_track",
        reason=f"review of complaint {found.id}",
        space_id=found.space_id,
        complaint_id=found.id,
        participants=[handle for _, handle, *_ in chosen],
        start_s=round(window.start_s, 3),
        end_s=round(window.end_s, 3),
    )
    session.commit()
    scratch = Path(tempfile.mkdtemp(prefix="spacecast-review-", dir=settings.work_dir))
    try:
        inputs = []
        for participant_id, handle, offset_s, key, sha256 in chosen:
            path = store.get_file(key, scratch / f"track-{participant_id}")
            if sha256_file(path) != sha256:
                raise Conflict(
                    f"the retained track of {handle} fails its ingest checksum and is not "
                    "played; report it to an administrator"
                )
            inputs.append(ReviewTrack(path, offset_s))
        out = scratch / "review.mp3"
        render_excerpt(inputs, window, out, timeout_s=120)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return out, scratch


def decide(
    session: Session,
    store: ObjectStore,
    found: Complaint,
    *,
    decision: str,
    reason: str,
    speaker: str | None,
    moderator: str,
    is_admin: bool,
) -> Complaint:
    """Dismiss; remove the episode, the clip (and its stretch of the room, for every clip) or a
    speaker's part (rendered again without them, as when consent is withdrawn); or escalate to
    an administrator, who then decides. Audited; commits."""
    # Decisions taken at once queue on the complaint's row: the second sees it decided.
    session.refresh(found, with_for_update=True)
    if found.status not in OPEN_STATUSES:
        raise Conflict(f"complaint {found.id} was already decided ({found.status})")
    if found.status == ComplaintStatus.ESCALATED and not is_admin:
        raise Forbidden(f"complaint {found.id} is escalated: an administrator decides")
    space = session.get(Space, found.space_id)
    assert space is not None
    if found.emergency_at is not None:
        # Whoever took the space down does not review it, under any decision; and the review
        # ends the takedown one way or the other, never leaves the space down under another.
        if moderator == found.reporter:
            raise Forbidden("an emergency takedown is reviewed by someone other than who made it")
        if decision in ("dismiss", "remove_episode"):
            return _review_emergency(session, store, found, decision, reason, moderator)
        if decision != "escalate":
            raise Invalid(
                f"complaint {found.id} is an emergency takedown: confirm it (remove_episode), "
                "lift it (dismiss) or escalate it; file another complaint for anything else"
            )
    to_delete: list[str] = []
    render = False
    detail: dict = {}
    subject = ""
    if decision == "remove_episode":
        episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
        if episode is None or episode.removed_at is not None:
            raise Conflict(f"space {space.id} has no episode up to remove")
        to_delete += take_down_episode(
            session, store, episode, by="moderation", reason=f"removed by moderation: {reason}"
        )
        detail = {"episode_id": episode.id}
        subject = f'the episode "{episode.title}"'
    elif decision == "remove_clip":
        clip = session.get(Clip, found.clip_id) if found.clip_id else None
        if clip is None or clip.status == ClipStatus.DELETED:
            raise Conflict("this complaint names no clip that is still up")
        to_delete += take_down_clip(clip)
        # The stretch itself is removed: no other clip may hold it, now or later.
        session.add(
            RemovedRange(
                space_id=space.id,
                start_s=clip.start_s,
                end_s=clip.end_s,
                complaint_id=found.id,
                reason=reason,
            )
        )
        for other in session.scalars(
            select(Clip).where(
                Clip.space_id == space.id,
                Clip.status.in_((ClipStatus.READY, ClipStatus.QUEUED)),
            )
        ):
            if other.start_s < clip.end_s and clip.start_s < other.end_s:
                to_delete += take_down_clip(other)
        detail = {"clip_id": clip.id, "start_s": clip.start_s, "end_s": clip.end_s}
        subject = f'the clip "{clip.title}" and that stretch of the room'
    elif decision == "remove_speaker":
        removed = (
            session.scalar(
                select(Participant).where(
                    Participant.space_id == space.id, Participant.handle == speaker
                )
            )
            if speaker
            else session.get(Participant, found.participant_id)
            if found.participant_id
            else None
        )
        if removed is None:
            raise Invalid("say which speaker to remove (speaker: their handle)")
        removed.removed_at = removed.removed_at or utcnow()
        removed.removed_by_complaint = found.id
        found.participant_id = found.participant_id or removed.id
        session.flush()
        to_delete += withdraw_unconsented(session, space)  # their voice goes at once
        render = True
        detail = {"participant": removed.handle}
        subject = f'the voice and words of {removed.name} in "{space.title}"'
    found.decision = decision
    found.decision_reason = reason
    if decision == "escalate":
        found.status = ComplaintStatus.ESCALATED
    else:
        dismissed = decision == "dismiss"
        found.status = ComplaintStatus.DISMISSED if dismissed else ComplaintStatus.ACTIONED
        found.decided_by = moderator
        found.decided_at = utcnow()
    if subject:
        statements.state_reasons(
            session, found, decision=decision, subject=subject, facts=reason, decided_by=moderator
        )
    audit(
        session,
        actor=moderator,
        action=f"decide_{decision}",
        reason=reason,
        space_id=space.id,
        complaint_id=found.id,
        **detail,
    )
    if render:
        render_again(session, space, store=store, delete_keys=to_delete)
    else:
        session.commit()
        for key in to_delete:
            store.delete(key)
    return found


def _review_emergency(
    session: Session,
    store: ObjectStore,
    found: Complaint,
    decision: str,
    reason: str,
    moderator: str,
) -> Complaint:
    """A moderator's review of an administrator's emergency takedown: ``remove_episode``
    confirms it (a statement of reasons of the removal), ``dismiss`` lifts it (the episode is
    rendered again; ``decide`` has checked who reviews). Audited; commits."""
    found.decision, found.decision_reason = decision, reason
    found.decided_by, found.decided_at = moderator, utcnow()
    confirmed = decision == "remove_episode"
    found.status = ComplaintStatus.ACTIONED if confirmed else ComplaintStatus.DISMISSED
    audit(
        session,
        actor=moderator,
        action="confirm_emergency" if confirmed else "lift_emergency",
        reason=reason,
        space_id=found.space_id,
        complaint_id=found.id,
    )
    space = session.get(Space, found.space_id)
    assert space is not None
    if decision == "remove_episode":
        keys: list[str] = []
        episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
        if episode is not None and episode.removed_at is None:  # restored since: down again
            keys = take_down_episode(session, store, episode, by="moderation", reason=reason)
        statements.state_reasons(
            session,
            found,
            decision="remove_episode",
            subject=f'the episode of "{space.title}" (the emergency takedown, confirmed)',
            facts=reason,
            decided_by=moderator,
        )
        session.commit()
        for key in keys:
            store.delete(key)
    else:
        statements.undo_decision(
            session, store, found, by=moderator, reason=f"emergency takedown lifted: {reason}"
        )
    return found


def _named_speaker(session: Session, space: Space, name: str) -> Participant | None:
    """The participant a reporter named (handle or display name), for the moderators. The
    reporter is answered the same whether or not the name matches anyone: a complaint must not
    reveal who took part in a room without being published."""
    found = session.scalars(
        select(Participant).where(
            Participant.space_id == space.id,
            (Participant.handle == name) | (Participant.name == name),
        )
    ).all()
    return found[0] if len(found) == 1 else None


def file_complaint(
    session: Session,
    *,
    reporter: str,
    space: Space,
    episode: Episode | None,
    clip: Clip | None,
    target: str,
    speaker: str | None,
    start_s: float | None,
    end_s: float | None,
    category: str,
    text: str,
    notice: Notice | None = None,
) -> Complaint:
    """Record a complaint (times on the episode timeline when an episode is named, else the
    room's; stored on the room's) and ask for the review transcripts; the space's recordings are
    held from now on. A formal ``notice`` must say who gives it, where, why, and in good faith.
    Commits."""
    if notice is not None:
        notice.check(text)
    if target == "clip" and clip is None:
        raise Invalid("a complaint about a clip needs clip_id")
    if target == "episode" and episode is None:
        raise Invalid("a complaint about an episode needs episode_id")
    if target == "speaker" and not speaker:
        raise Invalid("a complaint about a speaker needs speaker (handle or name)")
    named = _named_speaker(session, space, speaker) if speaker else None
    start, end = start_s, end_s
    if clip is not None and start is None:
        start, end = clip.start_s, clip.end_s
    elif start is not None or end is not None:
        if start is None or end is None or end <= start:
            raise Invalid("start_s and end_s go together, with start_s before end_s")
        if episode is not None:  # episode time of the version the reporter heard
            on_episode = episode_timeline(episode)
            start, end = on_episode.room_time(start), on_episode.room_time(end)
    if target == "range" and start is None:
        raise Invalid("a complaint about a moment needs start_s and end_s")
    filed = Complaint(
        space_id=space.id,
        target=target,
        participant_id=named.id if named else None,
        speaker_text=speaker,
        episode_id=episode.id if episode else None,
        clip_id=clip.id if clip else None,
        start_s=start,
        end_s=end,
        category=category,
        text=text,
        reporter=reporter,
    )
    if notice is not None:
        filed.is_notice, filed.good_faith = True, notice.good_faith
        filed.notifier_name, filed.notifier_email = notice.name, notice.email
        filed.location_url = notice.location_url
    session.add(filed)
    session.commit()
    enqueue("prepare_review", space.id)
    return filed


def complaints_of(session: Session, reporter: str) -> list[Complaint]:
    return list(
        session.scalars(
            select(Complaint).where(Complaint.reporter == reporter).order_by(Complaint.created_at)
        )
    )


def review_todo(session: Session, space_id: str) -> list[tuple]:
    """What ``prepare_review`` transcribes for a reported space: each retained track (participant
    id, name, offset, object key, checksum, the language they speak); empty once swept."""
    space = session.get(Space, space_id)
    if space is None or space.vault_deleted_at is not None:
        return []
    return [
        (
            p.id,
            p.name,
            p.offset_s,
            t.object_key,
            t.sha256,
            speaker_language(p.language, space.language),
        )
        for p, t in retained_tracks(session, space_id)
    ]
