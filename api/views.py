"""Database rows turned into API response bodies."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import schemas
from infra.models import ApiKey, Episode, Participant, Show, Space, StageRun, User
from infra.settings import get_settings
from infra.urls import base_url, feed_url, media_url
from pipeline.consent import ConsentState, Participation, decide_publication
from pipeline.feed import podcast_guid
from pipeline.retention import Retention
from pipeline.states import SpaceStatus
from services.ledger import current_states
from services.publishing import episode_servable
from services.retention import retention_for
from services.runs import done_results, subject_participant

STAGE_ORDER = {"activity": 0, "transcribe": 1, "bleed": 2, "mix": 3, "master": 4, "publish": 5}


def show_out(show: Show, *, private: bool) -> schemas.ShowOut:
    """``private``: the caller manages the show and may see its contact e-mail."""
    return schemas.ShowOut(
        id=show.id,
        title=show.title,
        author=show.author,
        description=show.description,
        link=show.link,
        image_url=show.image_url,
        language=show.language,
        category=show.category,
        explicit=show.explicit,
        owner_email=show.owner_email if private else None,
        process_speakers=show.process_speakers,
        live_items=show.live_items,
        locked=show.locked,
        season=show.season,
        feed_url=feed_url(show.id),
        created_at=show.created_at,
    )


def consent_out(state: ConsentState) -> schemas.ConsentOut:
    return schemas.ConsentOut(**state.as_dict())


def participant_out(
    p: Participant,
    state: ConsentState | None = None,
    speech_s: float | None = None,
    health: dict | None = None,
    cleanup: dict | None = None,
) -> schemas.ParticipantOut:
    track = p.track
    return schemas.ParticipantOut(
        id=p.handle,
        name=p.name,
        role=p.role,
        offset=p.offset_s,
        end=p.end_s,
        language=p.language,
        joined_at=p.joined_at,
        consent=consent_out(state or ConsentState()),
        speech_s=speech_s,
        health=health,
        cleanup=cleanup,
        track=schemas.TrackOut(
            sha256=track.sha256,
            size_bytes=track.size_bytes,
            format_name=track.format_name,
            codec=track.codec,
            sample_rate_hz=track.sample_rate_hz,
            channels=track.channels,
            duration_s=track.duration_s,
            uploaded_at=track.uploaded_at,
            chunk_count=track.chunk_count,
            chunks_sha256=track.chunks_sha256,
        )
        if track
        else None,
    )


def user_out(user: User) -> schemas.UserOut:
    return schemas.UserOut(
        id=user.id,
        name=user.name,
        roles=user.roles,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


def key_out(key: ApiKey, token: str | None = None) -> schemas.KeyOut:
    return schemas.KeyOut(
        id=key.id,
        label=key.label,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        token=token,
    )


def credentials_out(user: User, key: ApiKey, token: str) -> schemas.Credentials:
    """A new account and its first key, the token shown this once."""
    return schemas.Credentials(user=user_out(user), key=key_out(key, token))


def episode_out(episode: Episode) -> schemas.EpisodeOut:
    return schemas.EpisodeOut(
        id=episode.id,
        space_id=episode.space_id,
        guid=episode.guid,
        title=episode.title,
        description=episode.description,
        published_at=episode.published_at,
        duration_s=episode.duration_s,
        audio={name: media_url(episode, f"episode.{name}") for name in episode.media},
        transcripts={fmt: media_url(episode, f"transcript.{fmt}") for fmt in episode.transcripts},
        loudness=episode.media["mp3"]["loudness"],
        persons=episode.persons,
        feed_url=feed_url(episode.show_id),
        chapters_url=media_url(episode, "chapters.json") if episode.chapters else None,
        chapters=episode.chapters,
    )


def retention_out(retention: Retention, space: Space) -> schemas.RetentionOut:
    """When the space's raw recordings expire and why they are kept (no complaint details)."""
    return schemas.RetentionOut(
        ended_at=retention.ended_at,
        expires_at=retention.expires_at,
        deletes_at=None if space.vault_deleted_at else retention.deletes_at,
        held=retention.held,
        held_until=retention.held_until,
        reason="deleted after the retention period" if space.vault_deleted_at else retention.reason,
        deleted_at=space.vault_deleted_at,
    )


def space_out(session: Session, space: Space) -> schemas.SpaceOut:
    handles = {p.id: p.handle for p in space.participants}
    runs = list(session.scalars(select(StageRun).where(StageRun.space_id == space.id)))
    states = current_states(session, space.id)
    results = done_results(session, space.id)
    speech = {pid: a.speech_s for pid, a in results.activity.items()}
    health = results.mix.health if results.mix else {}
    cleanup = results.mix.cleanup if results.mix else {}
    total_speech = sum(speech.values()) or None
    decision = decide_publication(
        [Participation(p.id, p.name, has_track=p.track is not None) for p in space.participants],
        states,
    )
    bleed = [
        {
            **f,
            "speaker_id": handles.get(f["speaker_id"]),
            "heard_on_id": handles.get(f["heard_on_id"]),
        }
        for f in (results.bleed.findings if results.bleed else [])
    ]
    runs.sort(key=lambda r: (STAGE_ORDER.get(r.stage, 9), r.subject))
    stages = [
        schemas.StageOut(
            stage=run.stage,
            participant=handles.get(subject_participant(run.subject)) if run.subject else None,
            status=run.status,
            progress=round(run.progress, 3),
            attempts=run.attempts,
            error=run.error,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
        for run in runs
    ]
    if space.status == SpaceStatus.PUBLISHED:
        progress = 1.0
    elif stages:
        progress = sum(s.progress for s in stages) / max(len(stages), 1)
    else:
        progress = 0.0
    episode = session.scalar(select(Episode).where(Episode.space_id == space.id))
    return schemas.SpaceOut(
        id=space.id,
        show_id=space.show_id,
        title=space.title,
        description=space.description,
        language=space.language,
        started_at=space.started_at,
        room_url=space.room_url,
        stream_url=space.stream_url,
        status=space.status,
        error=space.error,
        progress=round(progress, 3),
        notice=space.notice or get_settings().recording_notice,
        missing_policy=space.missing_policy,
        duck_excluded=space.duck_excluded,
        participants=[
            participant_out(
                p, states.get(p.id), speech.get(p.id), health.get(p.id), cleanup.get(p.id)
            )
            for p in space.participants
        ],
        excluded=[
            schemas.ExclusionOut(
                participant=handles[e.participant_id],
                name=e.name,
                excluded_from=e.excluded_from,
                status=e.status,
                reason=e.reason,
                speech_s=speech.get(e.participant_id),
            )
            for e in decision.exclusions
        ],
        missing=[
            schemas.MissingOut(
                participant=handles[e.participant_id],
                name=e.name,
                speech_s=speech.get(e.participant_id),
                share_of_speech=round(speech[e.participant_id] / total_speech, 3)
                if total_speech and e.participant_id in speech
                else None,
            )
            for e in decision.missing
        ],
        bleed=bleed,
        stages=stages,
        episode=episode_out(episode)
        if episode and episode_servable(session, episode, states)
        else None,
        recordings=retention_out(
            retention_for(session, space, get_settings().retention_policy()), space
        ),
    )


# What the listeners' pages show: turns of the transcript, who speaks how long, chapters, notes,
# pages of a show's episodes and the links podcast apps subscribe with.


@dataclass(frozen=True)
class Turn:
    """Consecutive transcript lines (sentences) of one speaker."""

    speaker: str
    start_s: float
    lines: tuple[Any, ...]


def transcript_turns(lines: Sequence[Any]) -> list[Turn]:
    """Lines in time order (anything with ``participant_id``, ``speaker`` and ``start_s``)
    grouped into turns: a turn ends where someone else speaks."""
    turns: list[list[Any]] = []
    for line in lines:
        if turns and turns[-1][0].participant_id == line.participant_id:
            turns[-1].append(line)
        else:
            turns.append([line])
    return [Turn(t[0].speaker, t[0].start_s, tuple(t)) for t in turns]


@dataclass(frozen=True)
class SpeakerTime:
    name: str
    role: str
    talk_s: float | None
    share: float | None  # of everyone's talk in the episode


def episode_speakers(episode: Episode) -> list[SpeakerTime]:
    """Who is heard in the episode and how long each speaks, as its rendering measured it
    (speech detected on their own track); the persons alone when the report has no tracks."""
    tracks = [t for t in (episode.report or {}).get("tracks", []) if t.get("published")]
    if not tracks:
        return [SpeakerTime(p["name"], p.get("role", ""), None, None) for p in episode.persons]
    total = sum(t.get("speech_s") or 0.0 for t in tracks)
    return [
        SpeakerTime(
            t["name"],
            t.get("role", ""),
            t.get("speech_s"),
            round(t["speech_s"] / total, 3) if total and t.get("speech_s") is not None else None,
        )
        for t in tracks
    ]


@dataclass(frozen=True)
class Chapter:
    start_s: float
    title: str
    url: str | None = None


def chapter_list(chapters: Sequence[Mapping] | None) -> list[Chapter]:
    """Chapters in time order, from ``start_s`` or Podcasting 2.0 ``startTime`` entries (those
    marked ``toc: false`` are not listed)."""
    listed = []
    for entry in chapters or ():
        start = entry.get("start_s", entry.get("startTime"))
        if start is None or entry.get("toc") is False:
            continue
        listed.append(Chapter(float(start), str(entry.get("title") or ""), entry.get("url")))
    return sorted(listed, key=lambda c: c.start_s)


def note_paragraphs(notes: str | None) -> list[str]:
    """Episode notes (plain text) as paragraphs, split at blank lines."""
    if not notes:
        return []
    return [p.strip() for p in notes.replace("\r\n", "\n").split("\n\n") if p.strip()]


EPISODES_PER_PAGE = 20


@dataclass(frozen=True)
class Page:
    items: list
    number: int
    count: int  # pages in all

    @property
    def newer(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def older(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


def page_of(items: Sequence, asked: str | None, per_page: int = EPISODES_PER_PAGE) -> Page:
    """Page ``asked`` (a query parameter; 1 when absent) of ``items``; a page that does not exist
    is 404, as an object out of reach is."""
    count = max(math.ceil(len(items) / per_page), 1)
    number = int(asked) if asked and asked.isdigit() else (1 if not asked else 0)
    if not 1 <= number <= count:
        raise HTTPException(404, f"there is no page {asked}: pages 1 to {count}")
    start = (number - 1) * per_page
    return Page(list(items[start : start + per_page]), number, count)


@dataclass(frozen=True)
class SubscribeLink:
    app: str
    url: str


def subscribe_links(feed: str, title: str) -> list[SubscribeLink]:
    """Links that open the feed in podcast apps, in the forms the apps document: the podcast://
    scheme (Apple Podcasts and most iOS and desktop apps), Pocket Casts, Overcast, AntennaPod."""
    bare = feed.split("://", 1)[-1]
    encoded, named = quote(feed, safe=""), quote(title, safe="")
    return [
        SubscribeLink("Apple Podcasts and other apps", f"podcast://{bare}"),
        SubscribeLink("Pocket Casts", f"pktc://subscribe/{bare}"),
        SubscribeLink("Overcast", f"overcast://x-callback-url/add?url={encoded}"),
        SubscribeLink(
            "AntennaPod", f"https://antennapod.org/deeplink/subscribe?url={encoded}&title={named}"
        ),
    ]


def show_page_url(show_id: str) -> str:
    return f"{base_url()}/s/{show_id}"


def fast_follow_url(show_id: str) -> str:
    """The show's page with its podcast:guid as a Podcasting 2.0 fast-follow link
    (``#fastfollow-podcast:GUID``), which apps and scanners that know it follow by the guid."""
    return f"{show_page_url(show_id)}#fastfollow-podcast:{podcast_guid(feed_url(show_id))}"


def episode_page_url(episode_id: str) -> str:
    return f"{base_url()}/e/{episode_id}"


def search_hit(row, episode: Episode) -> schemas.SearchHit:
    """A published transcript line, with a link to that moment of the episode."""
    return schemas.SearchHit(
        episode_id=episode.id,
        episode_title=episode.title,
        speaker=row.speaker,
        start_s=row.start_s,
        end_s=row.end_s,
        text=row.text,
        audio_url=f"{media_url(episode, 'episode.mp3')}#t={row.start_s:.1f}",
    )
