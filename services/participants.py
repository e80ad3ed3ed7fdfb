"""A participant's own key, and what they reach with it.

Nobody but the participant ever holds the secret a participant key is claimed with:

- **Join.** When someone joins the live room, the room service reports it with the SHA-256 of a
  secret the participant's own device generated (``device_challenge``); the device then claims
  its key with the secret itself. The room service relays only the hash, so neither it nor
  anyone who can call the API learns the secret. A join grant works while the room is live and
  for ``join_grant_s`` after the report.
- **Invite.** After the room, the room service (never a host) asks for an invite link and
  delivers it to the participant through its own channel; the link's secret is shown once, to
  the room service, and claimed once.

A grant is claimed once; a second claim is refused naming when the first happened, so a
participant learns if someone else used their link. Every key records who issued its grant;
the participant lists their keys and revokes any of them. Downloading one's raw track is
written to the audit log like a moderator's access.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.models import (
    ApiKey,
    Episode,
    Participant,
    ParticipantGrant,
    Space,
    Track,
    TranscriptSegment,
    utcnow,
)
from infra.settings import get_settings
from services.accounts import issue_key
from services.audit import audit
from services.errors import Conflict, Gone, NotFound
from services.publishing import transcripts_servable

_CHALLENGE = re.compile(r"^[0-9a-f]{64}$")
INVITE_PREFIX = "sci_"


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def report_join(
    session: Session, participant: Participant, *, device_challenge: str, issued_by: str
) -> ParticipantGrant:
    """The room service says the participant joined, relaying their device's challenge (the
    hex SHA-256 of the device's secret). Reporting the same challenge again is harmless."""
    space = participant.space
    if space.status != "recording":
        raise Conflict(
            f"space {space.id} is {space.status}: a join is reported only while the room is "
            "live; after the room, the room service sends the participant an invite link"
        )
    challenge = device_challenge.lower()
    if not _CHALLENGE.match(challenge):
        raise Conflict("device_challenge must be the hex SHA-256 of the device's secret")
    existing = session.scalar(
        select(ParticipantGrant).where(ParticipantGrant.secret_sha256 == challenge)
    )
    if existing is not None:
        if existing.participant_id != participant.id:
            raise Conflict("this device challenge was already reported for someone else")
        return existing
    now = utcnow()
    participant.joined_at = participant.joined_at or now
    grant = ParticipantGrant(
        space_id=space.id,
        participant_id=participant.id,
        kind="join",
        secret_sha256=challenge,
        issued_by=issued_by,
        issued_at=now,
        expires_at=now + timedelta(seconds=get_settings().join_grant_s),
    )
    session.add(grant)
    session.flush()
    return grant


def issue_invite(
    session: Session, participant: Participant, *, issued_by: str
) -> tuple[ParticipantGrant, str]:
    """An invite link's grant and its secret (shown once, to the room service that delivers
    it)."""
    secret = INVITE_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    grant = ParticipantGrant(
        space_id=participant.space_id,
        participant_id=participant.id,
        kind="invite",
        secret_sha256=secret_digest(secret),
        issued_by=issued_by,
        issued_at=now,
        expires_at=now + timedelta(days=get_settings().invite_days),
    )
    session.add(grant)
    session.flush()
    return grant, secret


@dataclass(frozen=True)
class Claimed:
    key: ApiKey
    token: str
    participant: Participant
    grant: ParticipantGrant


def claim(session: Session, secret: str) -> Claimed:
    """Exchange a join secret or an invite link's secret for the participant's own key."""
    grant = session.scalar(
        select(ParticipantGrant).where(ParticipantGrant.secret_sha256 == secret_digest(secret))
    )
    if grant is None:
        raise NotFound("no join or invite matches this secret; ask the room for a new invite")
    now = utcnow()
    what = "invite link" if grant.kind == "invite" else "join"
    if grant.claimed_at is not None:
        raise Gone(
            f"this {what} was already used on {grant.claimed_at:%Y-%m-%d at %H:%M UTC}; if that "
            "was not you, ask the room for a new invite and report it to the show's moderators"
        )
    if grant.expires_at <= now:
        raise Gone(f"this {what} expired on {grant.expires_at:%Y-%m-%d at %H:%M UTC}")
    participant = session.get(Participant, grant.participant_id)
    space = session.get(Space, grant.space_id)
    if participant is None or space is None:
        raise NotFound("no join or invite matches this secret")
    if grant.kind == "join" and space.status != "recording":
        raise Gone("the room has ended, so its join can no longer be used; ask for an invite")
    key, token = issue_key(
        session,
        user=None,
        label=grant.kind,
        participant_id=participant.id,
        expires_at=now + timedelta(days=get_settings().participant_key_days),
        issued_by=grant.issued_by,
        grant_id=grant.id,
    )
    grant.claimed_at, grant.key_id = now, key.id
    session.flush()
    return Claimed(key, token, participant, grant)


def key_origin(session: Session, key_id: str | None) -> str:
    """How a participant key was obtained: "join" or "invite" (its grant's kind)."""
    key = session.get(ApiKey, key_id) if key_id else None
    grant = session.get(ParticipantGrant, key.grant_id) if key and key.grant_id else None
    return grant.kind if grant else (key.label if key else "join")


def participant_keys(session: Session, participant: Participant) -> list[ApiKey]:
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.participant_id == participant.id)
            .order_by(ApiKey.created_at)
        )
    )


def revoke_participant_key(session: Session, participant: Participant, key_id: str) -> None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.participant_id == participant.id)
    )
    if key is None:
        raise NotFound(f"key {key_id} not found")
    key.revoked_at = key.revoked_at or utcnow()


def own_track(session: Session, participant: Participant, *, key_id: str | None) -> Track:
    """The participant's raw track, for their own download; the access is audited."""
    track = participant.track
    if track is None:
        raise NotFound("no recording of you is retained")
    audit(
        session,
        actor=f"participant:{participant.handle}",
        action="participant_track",
        reason="the participant downloaded their own raw track",
        space_id=participant.space_id,
        participant=participant.handle,
        key_id=key_id,
        sha256=track.sha256,
    )
    session.commit()
    return track


def own_transcript(
    session: Session, participant: Participant
) -> list[tuple[TranscriptSegment, Episode]]:
    """The participant's own lines in the published transcript (none if they did not consent
    to it, or the episode may not be heard now)."""
    episode = session.scalar(select(Episode).where(Episode.space_id == participant.space_id))
    if episode is None or not transcripts_servable(session, episode):
        return []
    rows = session.scalars(
        select(TranscriptSegment)
        .where(
            TranscriptSegment.episode_id == episode.id,
            TranscriptSegment.participant_id == participant.id,
        )
        .order_by(TranscriptSegment.start_s)
    )
    return [(row, episode) for row in rows]
