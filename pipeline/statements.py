"""Statements of reasons and transparency figures (DSA articles 15, 17 and 24): the text a
restricted party reads, written from a template per complaint category, and the counts of
notices, decisions and appeals over a period. Values in, values out."""

from __future__ import annotations

import csv
import io
import statistics
import string
from dataclasses import dataclass
from datetime import datetime

CATEGORIES = (
    "harassment",
    "hate",
    "violence",
    "sexual",
    "self_harm",
    "privacy",
    "spam",
    "copyright",
    "misinformation",
    "other",
)

# What each restricting decision takes away, in the words of the statement.
RESTRICTIONS = {
    "remove_episode": "episode_removed",
    "remove_speaker": "speaker_removed",
    "remove_clip": "clip_removed",
    "emergency_takedown": "space_offline",
}

DEFAULT_GROUNDS = {
    "harassment": "the community rules on harassment and bullying",
    "hate": "the community rules on hateful conduct",
    "violence": "the community rules on violent speech and threats",
    "sexual": "the community rules on sexual content",
    "self_harm": "the community rules on suicide and self-harm",
    "privacy": "the community rules on private information",
    "spam": "the community rules on spam and platform manipulation",
    "copyright": "the rules on copyright and the rights holder's notice",
    "misinformation": "the community rules on harmful misinformation",
    "other": "the community rules",
}

# $-placeholders (string.Template): a template a moderator writes can only name these fields,
# never reach an attribute or an index of them.
DEFAULT_TEXT = (
    "We restricted $subject ($restriction) on $decided_at.\n"
    "Facts and circumstances: $facts\n"
    "Rule relied on: $ground\n"
    "Automated means: $automation\n"
    "You may appeal this decision until $appeal_until through the platform (POST "
    "/complaints/$complaint_id/appeals); another moderator than the one who decided reviews it. "
    "You may also use an out-of-court dispute settlement body or a court."
)

FIELDS = (
    "subject",
    "restriction",
    "decided_at",
    "facts",
    "ground",
    "automation",
    "appeal_until",
    "complaint_id",
    "category",
)


def check_template(text: str) -> None:
    """A template may use only the fields of ``FIELDS``; raises ValueError naming the others."""
    unknown = sorted(
        {
            named or braced
            for _, named, braced, _ in string.Template.pattern.findall(text)
            if (named or braced) and (named or braced) not in FIELDS
        }
    )
    if unknown:
        raise ValueError(
            f"unknown placeholders {', '.join('$' + u for u in unknown)}; "
            f"a template may use {', '.join('$' + f for f in FIELDS)}"
        )


def write_statement(template: str, **fields: str) -> str:
    """The statement's text: ``template`` with ``fields`` filled in (anything else stays)."""
    return string.Template(template).safe_substitute(**fields)


@dataclass(frozen=True)
class DecisionRecord:
    """One complaint, as the transparency report counts it."""

    is_notice: bool
    category: str
    created_at: datetime
    decision: str | None  # None while undecided
    decided_at: datetime | None
    emergency: bool = False


@dataclass(frozen=True)
class AppealRecord:
    created_at: datetime
    status: str  # open, upheld, reversed
    decided_at: datetime | None


def transparency(
    complaints: list[DecisionRecord],
    appeals: list[AppealRecord],
    since: datetime,
    until: datetime,
) -> dict:
    """Counts over [since, until): complaints and notices received (by category), decisions
    taken (by type and category), the median time from receipt to decision, appeals received
    and decided, and decisions reversed on appeal. An empty period counts nothing."""
    received = [c for c in complaints if since <= c.created_at < until]
    decided = [c for c in complaints if c.decided_at is not None and since <= c.decided_at < until]
    decisions: dict[str, dict[str, int]] = {}
    for c in decided:
        by_category = decisions.setdefault(c.decision or "", {})
        by_category[c.category] = by_category.get(c.category, 0) + 1
    hours = [
        (c.decided_at - c.created_at).total_seconds() / 3600
        for c in decided
        if c.decided_at is not None
    ]
    appealed = [a for a in appeals if since <= a.created_at < until]
    closed = [a for a in appeals if a.decided_at is not None and since <= a.decided_at < until]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "complaints": len(received),
        "notices": sum(c.is_notice for c in received),
        "by_category": _count(c.category for c in received),
        "decisions": {d: dict(sorted(by.items())) for d, by in sorted(decisions.items())},
        "emergency_takedowns": sum(c.emergency for c in received),
        "median_hours_to_decision": round(statistics.median(hours), 2) if hours else None,
        "appeals": len(appealed),
        "appeals_decided": len(closed),
        "reversals": sum(a.status == "reversed" for a in closed),
    }


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def transparency_csv(report: dict) -> str:
    """The report as rows of (measure, category, count), for spreadsheets."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["measure", "category", "value"])
    rows.writerow(["period", "", f"{report['since']}/{report['until']}"])
    for measure in ("complaints", "notices", "emergency_takedowns"):
        rows.writerow([measure, "", report[measure]])
    for category, count in report["by_category"].items():
        rows.writerow(["complaints", category, count])
    for decision, by in report["decisions"].items():
        for category, count in by.items():
            rows.writerow([f"decision:{decision}", category, count])
    median = report["median_hours_to_decision"]
    rows.writerow(["median_hours_to_decision", "", "" if median is None else median])
    for measure in ("appeals", "appeals_decided", "reversals"):
        rows.writerow([measure, "", report[measure]])
    return out.getvalue()
