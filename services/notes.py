"""The host's own show notes for an episode: checked and kept on the episode; the feed and the
episode page publish them in place of the generated notes from the next request (no rendering:
notes are in no media file). Plain text: pages escape it and ``content:encoded`` carries it as
escaped HTML (``pipeline.notes.notes_html``), so markup a host types is shown, never run."""

from __future__ import annotations

from sqlalchemy.orm import Session

from infra.models import Episode
from pipeline.text import text_problem
from services.errors import Invalid, NotFound


def check_notes(text: str, max_chars: int) -> str:
    """The notes as stored (line endings made ``\\n``, surrounding blank space dropped), or
    :class:`Invalid` naming the problem: too long, a refused character."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > max_chars:
        raise Invalid(f"text: {len(text)} characters, at most {max_chars}")
    problem = text_problem(text, multiline=True)
    if problem:
        raise Invalid(f"text {problem}")
    return text


def set_host_notes(session: Session, episode: Episode, text: str | None, max_chars: int) -> None:
    """Keep the host's notes (None, or nothing but blank space: back to the generated notes)."""
    if episode.removed_at is not None:
        raise NotFound(f"episode {episode.id} not found")
    checked = None if text is None else check_notes(text, max_chars)
    episode.host_notes = checked or None
    session.flush()
