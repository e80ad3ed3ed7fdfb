"""When each version of a document served at request time (a feed, an episode's chapters) was
first served: the ``Last-Modified`` that conditional GETs compare, right whatever changed it (an
episode, a consent answer, a clip, a setting), because it follows the document's own hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.models import ServedVersion


def _next_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def last_modified(session: Session, key: str, etag: str) -> datetime | None:
    """When the version of ``key`` with ``etag`` replaced the one before, at a whole second later
    than every earlier version's (so a client holding an earlier one is never told it is
    current); None while that second has not passed (HTTP dates have no fractions: until then
    an earlier version could carry the same date), then conditional GETs use the ETag alone.
    Commits when the version is new."""
    now = datetime.now(UTC)
    row = session.get(ServedVersion, key)
    if row is None or row.etag != etag:
        since = _next_second(now)
        if row is not None:
            since = max(since, _aware(row.since) + timedelta(seconds=1))
            row.etag, row.since = etag, since
        else:
            row = ServedVersion(key=key, etag=etag, since=since)
            session.add(row)
        try:
            session.commit()
        except IntegrityError:  # another process recorded it first: theirs stands
            session.rollback()
            row = session.get(ServedVersion, key)
            if row is None or row.etag != etag:
                return None
    since = _aware(row.since)
    return since if now >= since else None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite forgets the zone
