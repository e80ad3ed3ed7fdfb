"""Statements of reasons from moderators' templates, and the transparency counts, at chosen
values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.statements import (
    DEFAULT_TEXT,
    AppealRecord,
    DecisionRecord,
    check_template,
    transparency,
    transparency_csv,
    write_statement,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_the_default_template_names_every_part_article_17_asks_for() -> None:
    text = write_statement(
        DEFAULT_TEXT,
        subject='the episode "Town hall"',
        restriction="episode removed",
        decided_at="2026-06-01 10:00 UTC",
        facts="a threat at 12:30",
        ground="rule 3 (violence)",
        automation="none",
        appeal_until="2026-12-01",
        complaint_id="c1",
        category="violence",
    )
    for part in ('the episode "Town hall"', "a threat at 12:30", "rule 3 (violence)", "none",
                 "2026-12-01", "/complaints/c1/appeals"):  # fmt: skip
        assert part in text


def test_a_template_reaches_only_its_fields() -> None:
    check_template("We removed $subject under $ground; appeal until ${appeal_until}.")
    with pytest.raises(ValueError, match=r"\$password"):
        check_template("We removed $subject; $password")
    # Format-string tricks are plain text here: nothing is looked up on the values.
    text = write_statement("{subject.__class__} $subject {0}", subject="a clip")
    assert text == "{subject.__class__} a clip {0}"


def test_transparency_counts_the_period_only() -> None:
    complaints = [
        DecisionRecord(True, "hate", T0, "remove_episode", T0 + 2 * HOUR),
        DecisionRecord(False, "hate", T0 + HOUR, "dismiss", T0 + 5 * HOUR),
        DecisionRecord(False, "spam", T0 + HOUR, None, None),
        DecisionRecord(True, "spam", T0 - 48 * HOUR, "remove_clip", T0 - 40 * HOUR),  # before
        DecisionRecord(False, "violence", T0, "emergency_takedown", T0, emergency=True),
        DecisionRecord(True, "hate", T0 + 30 * HOUR, "dismiss", T0 + 31 * HOUR),  # after
    ]
    appeals = [
        AppealRecord(T0 + 3 * HOUR, "reversed", T0 + 6 * HOUR),
        AppealRecord(T0 + 4 * HOUR, "open", None),
        AppealRecord(T0 + 32 * HOUR, "reversed", T0 + 33 * HOUR),  # after
    ]
    report = transparency(complaints, appeals, T0, T0 + 24 * HOUR)
    assert report["complaints"] == 4 and report["notices"] == 1
    assert report["by_category"] == {"hate": 2, "spam": 1, "violence": 1}
    assert report["decisions"] == {
        "dismiss": {"hate": 1},
        "emergency_takedown": {"violence": 1},
        "remove_episode": {"hate": 1},
    }
    assert report["median_hours_to_decision"] == 2.0  # of 0, 2 and 4 hours
    assert (report["appeals"], report["appeals_decided"], report["reversals"]) == (2, 1, 1)
    assert report["emergency_takedowns"] == 1
    rows = transparency_csv(report).splitlines()
    assert rows[0] == "measure,category,value" and "decision:dismiss,hate,1" in rows
