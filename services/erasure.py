"""Erasure requests (GDPR article 17): a participant asks for their voice and words to be
erased; every consent they gave is withdrawn through the one consent path, a one-month clock
starts (extendable by two months, with the reason recorded), every object made from their voice
is listed with its erasure state, and the request closes only when a listing of the bucket
shows none of them left, apart from what a legal hold keeps (an open complaint or appeal about
the space), which the participant is told about, with its end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import (
    Clip,
    Episode,
    ErasureRequest,
    Participant,
    StageRun,
    TrackChunk,
    TranscriptSegment,
    utcnow,
)
from infra.storage import ObjectStore, review_transcript_key
from pipeline.consent import PURPOSES
from pipeline.retention import MAX_EXTENSION_MONTHS, erasure_due
from services.audit import audit
from services.consent import Answerer, answer, withdrawn_hold_ends
from services.errors import Conflict, Invalid, NotFound
from services.runs import keys_holding, subject_participant


@dataclass(frozen=True)
class Asset:
    """One thing made from the participant's voice or words, and whether it is still there."""

    kind: str  # raw_track, live_chunk, review_transcript, activity, transcript, mix, master,
    # episode_audio, episode_transcript, clip; search_lines and chapters (in the database)
    key: str  # the bucket object ("" for search lines, which live in the database)
    state: str  # present, erased, held
    held_until: datetime | None = None


def _known_assets(session: Session, participant: Participant) -> list[dict]:
    """Every object the database says holds the participant's voice or words now."""
    found: list[dict] = []
    space_id = participant.space_id
    track = participant.track
    if track is not None:
        found.append({"kind": "raw_track", "key": track.object_key})
        found.append(
            {
                "kind": "review_transcript",
                "key": review_transcript_key(space_id, participant.id, track.sha256),
            }
        )
    for chunk in session.scalars(
        select(TrackChunk).where(TrackChunk.participant_id == participant.id)
    ):
        found.append({"kind": "live_chunk", "key": chunk.object_key})
    # The episode before the stage runs: its audio is the master's output, named as such.
    episode = session.scalar(select(Episode).where(Episode.space_id == space_id))
    if episode is not None:
        snapshot = episode.consent_snapshot or {}
        if participant.id in snapshot.get("audible", []):
            for entry in (episode.media or {}).values():
                # The delivered file, and the master's own MP3 beside a chaptered copy.
                for key in (entry.get("key"), (entry.get("plain") or {}).get("key")):
                    if key:
                        found.append({"kind": "episode_audio", "key": key})
        if participant.id in snapshot.get("transcribed", []):
            found += [
                {"kind": "episode_transcript", "key": key}
                for key in (episode.transcripts or {}).values()
            ]
    for run in session.scalars(select(StageRun).where(StageRun.space_id == space_id)):
        if not run.result:
            continue
        if run.subject and subject_participant(run.subject) == participant.id:
            kind = "transcript" if run.stage == "transcribe" else run.stage
        elif run.stage in ("mix", "master") and participant.id in run.result.get("voices", []):
            kind = run.stage
        else:
            continue
        found += [{"kind": kind, "key": key} for key in sorted(keys_holding(run, participant.id))]
    for clip in session.scalars(select(Clip).where(Clip.space_id == space_id)):
        if participant.id in (clip.consent_snapshot or {}).get("clipped", []):
            found += [
                {"kind": "clip", "key": entry["key"]}
                for entry in (clip.media or {}).values()
                if entry.get("key")
            ]
    return found


def assets_of(session: Session, store: ObjectStore, request: ErasureRequest) -> list[Asset]:
    """Every object of the request (known when it was made, or since) with its state, read
    from a listing of the bucket; the participant's lines in search, from the database."""
    participant = session.get(Participant, request.participant_id)
    assert participant is not None
    seen: dict[str, str] = {}
    for entry in [*request.assets, *_known_assets(session, participant)]:
        seen.setdefault(entry["key"], entry["kind"])
    track = participant.track
    held_until = withdrawn_hold_ends(session, track) if track is not None else None
    held_kinds = ("raw_track", "live_chunk", "review_transcript") if held_until else ()
    listed: dict[str, set[str]] = {}
    assets = []
    for key, kind in sorted(seen.items(), key=lambda item: (item[1], item[0])):
        folder = key.rsplit("/", 1)[0] + "/"
        if folder not in listed:
            listed[folder] = set(store.list_keys(folder))
        if key not in listed[folder]:
            assets.append(Asset(kind, key, "erased"))
        elif kind in held_kinds:
            assets.append(Asset(kind, key, "held", held_until))
        else:
            assets.append(Asset(kind, key, "present"))
    lines = session.scalar(
        select(TranscriptSegment.id).where(TranscriptSegment.participant_id == participant.id)
    )
    assets.append(Asset("search_lines", "", "present" if lines else "erased"))
    # Chapters live in the database, titled from the words of the episode's transcribed
    # speakers: theirs are gone once the episode no longer holds those words.
    episode = session.scalar(select(Episode).where(Episode.space_id == participant.space_id))
    titled = bool(
        episode
        and episode.chapters
        and participant.id in (episode.consent_snapshot or {}).get("transcribed", [])
    )
    assets.append(Asset("chapters", "", "present" if titled else "erased"))
    return assets


def request_erasure(
    session: Session, store: ObjectStore, participant: Participant, *, key_id: str, via: str
) -> tuple[ErasureRequest, bool]:
    """Withdraw every purpose as the participant's own answer (deleting at once what that takes
    away) and open the request; the open one again when it exists. Returns (request, made)."""
    # Requests made at once queue on the participant's row: the second finds the first's.
    session.refresh(participant, with_for_update=True)
    existing = open_request_of(session, participant)
    if existing is not None:
        return existing, False
    assets = _known_assets(session, participant)  # before the withdrawal forgets them
    now = utcnow()
    request = ErasureRequest(
        participant_id=participant.id,
        space_id=participant.space_id,
        requested_at=now,
        due_at=erasure_due(now),
        assets=assets,
    )
    session.add(request)
    session.flush()
    answer(
        session,
        store,
        participant,
        dict.fromkeys(PURPOSES, False),
        by=Answerer.participant(participant, key_id, via),
        note=f"erasure request {request.id}",
    )
    return request, True


def open_request_of(session: Session, participant: Participant) -> ErasureRequest | None:
    return session.scalar(
        select(ErasureRequest).where(
            ErasureRequest.participant_id == participant.id, ErasureRequest.closed_at.is_(None)
        )
    )


def requests_of(session: Session, participant: Participant) -> list[ErasureRequest]:
    return list(
        session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.participant_id == participant.id)
            .order_by(ErasureRequest.requested_at.desc())
        )
    )


def erasure_request(session: Session, request_id: str) -> ErasureRequest:
    found = session.get(ErasureRequest, request_id)
    if found is None:
        raise NotFound(f"erasure request {request_id} not found")
    return found


def requests_by_due_date(session: Session, *, include_closed: bool = False) -> list[ErasureRequest]:
    query = select(ErasureRequest).order_by(ErasureRequest.due_at, ErasureRequest.id)
    if not include_closed:
        query = query.where(ErasureRequest.closed_at.is_(None))
    return list(session.scalars(query))


def extend(
    session: Session, request: ErasureRequest, *, months: int, reason: str, by: str
) -> ErasureRequest:
    """Extend the deadline (article 12(3): by two months at most in all), recording why."""
    session.refresh(request, with_for_update=True)  # extensions at once add up, within the cap
    if request.closed_at is not None:
        raise Conflict(f"erasure request {request.id} is closed")
    if request.extended_months + months > MAX_EXTENSION_MONTHS:
        raise Invalid(
            f"erasure request {request.id} can be extended by {MAX_EXTENSION_MONTHS} months in "
            f"all; it already is by {request.extended_months}"
        )
    request.extended_months += months
    request.extension_reason = reason
    request.due_at = erasure_due(request.requested_at, request.extended_months)
    audit(
        session,
        actor=by,
        action="extend_erasure",
        reason=reason,
        space_id=request.space_id,
        request_id=request.id,
        due_at=request.due_at.isoformat(),
    )
    session.commit()
    return request


def close(
    session: Session, store: ObjectStore, request: ErasureRequest, *, by: str
) -> ErasureRequest:
    """Close the request once the bucket listing shows no object of the voice left (a legal
    hold's excepted and named); otherwise refuse, naming what is left. Audited; commits."""
    session.refresh(request, with_for_update=True)  # closed at once: the second sees it closed
    if request.closed_at is not None:
        raise Conflict(f"erasure request {request.id} is already closed")
    assets = assets_of(session, store, request)
    left = [a for a in assets if a.state == "present"]
    if left:
        named = ", ".join(f"{a.kind} {a.key}".strip() for a in left[:10])
        raise Conflict(f"erasure request {request.id}: {len(left)} still there: {named}")
    held = [a for a in assets if a.state == "held"]
    request.closed_at, request.closed_by = utcnow(), by
    request.proof = {
        "listed_at": request.closed_at.isoformat(),
        "erased": [a.key or a.kind for a in assets if a.state == "erased"],
        "held": [
            {"key": a.key, "until": a.held_until.isoformat() if a.held_until else None}
            for a in held
        ],
    }
    audit(
        session,
        actor=by,
        action="close_erasure",
        reason=f"erasure request of participant {request.participant_id}",
        space_id=request.space_id,
        request_id=request.id,
        erased=len(request.proof["erased"]),
        held=len(held),
    )
    session.commit()
    return request
