"""The host's own chapters: checked, kept on the episode and published by rendering it again (the
publish stage writes them into the chapters JSON, the feed and the MP3's ID3 tag). Untitled
chapters are titled from the consented transcript at every rendering, so they never hold words
someone withdrew; the titles a host writes are the host's own."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy.orm import Session

from infra.models import Episode, Space
from pipeline.chapters import MAX_TITLE_CHARS
from pipeline.text import text_problem
from services.errors import Invalid, NotFound
from services.publishing import render_again

MAX_CHAPTERS = 500
MIN_CHAPTER_S = 1.0  # two chapters this close are one chapter with a typo


def check_marks(marks: Sequence[tuple[float, str | None]], duration_s: float) -> list[dict]:
    """The host's chapters as stored ([{"start_s", "title"}]), or :class:`Invalid` naming the
    first problem: too many, a start outside the episode, the first not at its start, two out of
    order or closer than ``MIN_CHAPTER_S`` (overlapping), an empty or over-long title. An empty
    list means no chapters."""
    if len(marks) > MAX_CHAPTERS:
        raise Invalid(f"chapters: {len(marks)} chapters, at most {MAX_CHAPTERS}")
    checked: list[dict] = []
    for index, (start_s, title) in enumerate(marks):
        field = f"chapters[{index}]"
        if not math.isfinite(start_s) or not 0.0 <= start_s < duration_s:
            raise Invalid(
                f"{field}.start_s: {start_s} s is outside the episode (0 to {duration_s:.3f} s)"
            )
        if index == 0 and start_s != 0.0:
            raise Invalid(
                f"{field}.start_s: the first chapter starts at the episode's start (0), not at "
                f"{start_s} s"
            )
        if checked and start_s < checked[-1]["start_s"] + MIN_CHAPTER_S:
            before = checked[-1]["start_s"]
            raise Invalid(
                f"{field}.start_s: {start_s} s overlaps chapters[{index - 1}] (at {before} s); "
                f"chapters are in time order, at least {MIN_CHAPTER_S:g} s apart"
            )
        if title is not None:
            title = title.strip()
            if not title:
                raise Invalid(f"{field}.title is empty: give a title, or null to have one made")
            if len(title) > MAX_TITLE_CHARS:
                raise Invalid(f"{field}.title: {len(title)} characters, at most {MAX_TITLE_CHARS}")
            problem = text_problem(title)
            if problem:
                raise Invalid(f"{field}.title {problem}")
            if "<" in title or ">" in title:
                raise Invalid(f"{field}.title contains < or >")
        checked.append({"start_s": round(float(start_s), 3), "title": title})
    return checked


def set_host_chapters(
    session: Session, episode: Episode, marks: Sequence[tuple[float, str | None]] | None
) -> None:
    """Keep the host's chapters (None: go back to generated ones) and render the episode again
    to publish them; commits. Nothing published changes if they are refused."""
    space = session.get(Space, episode.space_id)
    if space is None or episode.removed_at is not None:
        raise NotFound(f"episode {episode.id} not found")
    episode.host_chapters = None if marks is None else check_marks(marks, episode.duration_s)
    render_again(session, space)


def chapters_pending(episode: Episode) -> bool:
    """The host changed the chapters and the rendering that publishes them has not landed."""
    if episode.host_chapters is None:
        return any(not c["generated"] for c in episode.chapters)
    published = [(c["start_s"], None if c["generated"] else c["title"]) for c in episode.chapters]
    wanted = [(m["start_s"], m["title"]) for m in episode.host_chapters]
    return published != wanted if len(wanted) >= 2 else bool(published)
