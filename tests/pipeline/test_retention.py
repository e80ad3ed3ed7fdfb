"""The retention rules at chosen instants: 30 days after the space ends, held while a complaint
is open and for the appeal window (here 90 days) after its decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.retention import Hold, RetentionPolicy, retention_of

ENDED = datetime(2026, 1, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
POLICY = RetentionPolicy(appeal_window=90 * DAY)


def test_recordings_expire_thirty_days_after_the_space_ends() -> None:
    assert not retention_of(ENDED, [], ENDED + 29 * DAY, POLICY).due
    after = retention_of(ENDED, [], ENDED + 31 * DAY, POLICY)
    assert after.due and after.expires_at == ENDED + 30 * DAY
    assert "expired" in after.reason and not after.held


def test_an_open_complaint_holds_them_indefinitely() -> None:
    for status in ("open", "escalated"):
        held = retention_of(ENDED, [Hold("c1", status)], ENDED + 400 * DAY, POLICY)
        assert not held.due and held.held and held.deletes_at is None
        assert "under review" in held.reason and held.holds == ("c1",)


def test_a_decided_complaint_holds_them_for_the_appeal_window() -> None:
    decided = Hold("c1", "dismissed", ENDED + 10 * DAY)
    inside = retention_of(ENDED, [decided], ENDED + 99 * DAY, POLICY)
    assert not inside.due and inside.held_until == ENDED + 100 * DAY
    assert inside.deletes_at == ENDED + 100 * DAY
    released = retention_of(ENDED, [decided], ENDED + 10 * DAY + 91 * DAY, POLICY)
    assert released.due and not released.held


def test_a_hold_released_before_expiry_does_not_shorten_retention() -> None:
    early = Hold("c1", "actioned", ENDED - 200 * DAY)
    assert not retention_of(ENDED, [early], ENDED + 20 * DAY, POLICY).due


def test_the_latest_hold_decides() -> None:
    holds = [Hold("a", "dismissed", ENDED), Hold("b", "actioned", ENDED + 50 * DAY)]
    result = retention_of(ENDED, holds, ENDED + 95 * DAY, POLICY)
    assert result.holds == ("b",) and result.held_until == ENDED + 140 * DAY


def test_the_periods_are_configurable() -> None:
    policy = RetentionPolicy(retention=7 * DAY, appeal_window=14 * DAY)
    assert retention_of(ENDED, [], ENDED + 8 * DAY, policy).due
    assert not retention_of(ENDED, [Hold("a", "dismissed", ENDED)], ENDED + 13 * DAY, policy).due
