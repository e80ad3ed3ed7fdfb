"""Retention of a space's raw recordings (the moderation vault): when they expire, which
complaints hold them, and whether a sweep may delete them at a given time.

A space's vault expires ``retention`` after the space ended. A complaint holds the whole vault
while it is open or escalated, and for ``appeal_window`` after it is decided; the vault is due
for deletion once it has expired and no hold is in force. A track whose owner withdrew record
consent is erased at once, unless a hold is in force: then it is kept for the moderators until
the hold ends, and never longer than ``withdrawn_hold`` after the withdrawal (the participant's
withdrawal outweighs an open case in the end). An erasure request is due a calendar month after
it is made, two more at most when extended. Time is always passed in, so the rules can be
checked at any instant without waiting.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

OPEN_STATUSES = ("open", "escalated")  # an appeal's "open" holds the same way


@dataclass(frozen=True)
class RetentionPolicy:
    retention: timedelta = timedelta(days=30)
    appeal_window: timedelta = timedelta(days=183)
    withdrawn_hold: timedelta = timedelta(days=30)


def withdrawn_track_erased_at(
    withdrawn_at: datetime, held_until: datetime | None, held: bool, policy: RetentionPolicy
) -> datetime:
    """When a track whose owner withdrew record consent at ``withdrawn_at`` is erased, given the
    holds in force (``held``; ``held_until`` None while a complaint is open)."""
    bound = withdrawn_at + policy.withdrawn_hold
    if not held:
        return withdrawn_at
    return bound if held_until is None else min(held_until, bound)


@dataclass(frozen=True)
class Hold:
    """What the retention rules need to know of one complaint about the space."""

    complaint_id: str
    status: str  # open, escalated, dismissed, actioned
    decided_at: datetime | None = None

    def held_until(self, policy: RetentionPolicy) -> datetime | None:
        """When the hold ends; ``None`` while the complaint is undecided (held indefinitely)."""
        if self.status in OPEN_STATUSES or self.decided_at is None:
            return None
        return self.decided_at + policy.appeal_window

    def in_force(self, now: datetime, policy: RetentionPolicy) -> bool:
        until = self.held_until(policy)
        return until is None or now < until


@dataclass(frozen=True)
class Retention:
    ended_at: datetime
    expires_at: datetime  # the end of the retention period, holds aside
    holds: tuple[str, ...]  # complaints whose hold is in force now
    held_until: datetime | None  # the latest end of a hold in force; None: open or none
    due: bool  # a sweep at ``now`` deletes the vault
    reason: str  # why it is kept, or why it goes, in words

    @property
    def held(self) -> bool:
        return bool(self.holds)

    @property
    def deletes_at(self) -> datetime | None:
        """When the vault is due, as far as is known now (``None``: held by an open complaint)."""
        if not self.holds:
            return self.expires_at
        if self.held_until is None:
            return None
        return max(self.expires_at, self.held_until)

    def as_dict(self) -> dict:
        deletes_at = self.deletes_at
        return {
            "ended_at": self.ended_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "deletes_at": deletes_at.isoformat() if deletes_at else None,
            "held": self.held,
            "held_until": self.held_until.isoformat() if self.held_until else None,
            "holds": list(self.holds),
            "reason": self.reason,
        }


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def retention_of(
    ended_at: datetime, holds: Sequence[Hold], now: datetime, policy: RetentionPolicy
) -> Retention:
    """The vault's retention at ``now`` for a space that ended at ``ended_at``."""
    expires_at = ended_at + policy.retention
    in_force = [h for h in holds if h.in_force(now, policy)]
    open_holds = [h for h in in_force if h.held_until(policy) is None]
    ends = [h.held_until(policy) for h in in_force if h.held_until(policy) is not None]
    held_until = None if open_holds or not ends else max(ends)  # type: ignore[type-var]
    days = policy.retention.days
    if open_holds:
        count = len(open_holds)
        reason = f"held: {count} complaint{'s' if count > 1 else ''} about this space under review"
    elif in_force:
        assert held_until is not None
        reason = (
            f"held until {_day(held_until)}: a decided complaint's appeal window "
            f"({policy.appeal_window.days} days) is still open"
        )
    elif now >= expires_at:
        reason = f"expired on {_day(expires_at)}, {days} days after the space ended"
    else:
        reason = f"retained until {_day(expires_at)}, {days} days after the space ended"
    return Retention(
        ended_at=ended_at,
        expires_at=expires_at,
        holds=tuple(h.complaint_id for h in in_force),
        held_until=held_until,
        due=now >= expires_at and not in_force,
        reason=reason,
    )


# GDPR article 12(3): a request is answered within one month, extendable by two more.
ERASURE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months later (the month's last day when the
    day does not exist: 31 January + 1 month is 28 or 29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def erasure_due(requested_at: datetime, extended_months: int = 0) -> datetime:
    return add_months(requested_at, ERASURE_MONTHS + extended_months)
