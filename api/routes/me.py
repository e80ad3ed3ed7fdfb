"""Self-service for a participant, with their own key: their consent record and answers, their raw
track while it is retained, and their own published transcript lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api import schemas
from api.access import servable
from api.auth import Principal, Role, allow
from api.deps import SessionDep, StoreDep
from api.ledger import answer, prompt
from api.routes.consent import ledger_out
from api.streaming import stream_object
from api.views import consent_out
from infra.consent import current_states
from infra.models import ApiKey, Episode, Participant, TranscriptSegment
from infra.settings import get_settings
from pipeline.consent import ConsentState

router = APIRouter(prefix="/me", tags=["participants"])

Me = Annotated[Principal, Depends(allow(Role.PARTICIPANT, objects="their own participation"))]


def _participant(session, principal: Principal) -> Participant:
    participant = session.get(Participant, principal.participant_id)
    if participant is None:
        raise HTTPException(404, "participation not found")
    return participant


def _participation_out(session, participant: Participant) -> schemas.ParticipationOut:
    space = participant.space
    state = current_states(session, space.id).get(participant.id, ConsentState())
    ledger = ledger_out(session, space, participant)
    return schemas.ParticipationOut(
        space_id=space.id,
        space_title=space.title,
        participant=participant.handle,
        name=participant.name,
        notice=space.notice or get_settings().recording_notice,
        prompt=[schemas.PromptItem(**item) for item in prompt(state)],
        consent=consent_out(state),
        entries=ledger.entries,
        track_retained=participant.track is not None,
        track_sha256=participant.track.sha256 if participant.track else None,
    )


@router.get("/participation", response_model=schemas.ParticipationOut)
def read_participation(session: SessionDep, principal: Me) -> schemas.ParticipationOut:
    """The notice, the questions, the current answers and every ledger entry."""
    return _participation_out(session, _participant(session, principal))


@router.post("/consent", response_model=schemas.ParticipationOut)
def answer_prompt(
    body: schemas.AnswersIn, session: SessionDep, store: StoreDep, principal: Me
) -> schemas.ParticipationOut:
    """Grant or withdraw, for each purpose. Withdrawing after publication takes the speaker out of
    the episode, its transcripts, clips and feed; withdrawing ``record`` erases the raw track."""
    from workers.actors import advance_space, sweep_clips

    participant = _participant(session, principal)
    key = session.get(ApiKey, principal.key_id)
    source = "host_invite_link" if key is not None and key.label == "invite" else "in_room_prompt"
    to_delete = answer(
        session,
        store,
        participant.space,
        participant,
        body.answers.model_dump(),
        source=source,
        actor=f"participant:{participant.handle}",
        note=body.note,
    )
    session.commit()
    for object_key in to_delete:
        store.delete(object_key)
    sweep_clips.send(participant.space.id)  # clips made from the old answers stop being served
    if participant.space.status == "processing":
        advance_space.send(participant.space.id)
    return _participation_out(session, participant)


@router.get(
    "/track",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "partial content (range request)"},
        416: {"model": schemas.ErrorOut},
    },
)
def download_track(
    request: Request, session: SessionDep, store: StoreDep, principal: Me
) -> StreamingResponse:
    """Your own raw track, as uploaded, while it is retained."""
    participant = _participant(session, principal)
    if participant.track is None:
        raise HTTPException(404, "no recording of you is retained")
    return stream_object(
        store,
        participant.track.object_key,
        range_header=request.headers.get("range"),
        cache_control="private, no-store",
        name="your track",
        extra_headers={"Content-Disposition": 'attachment; filename="my-track"'},
    )


@router.get("/transcript", response_model=list[schemas.SearchHit])
def my_transcript(session: SessionDep, principal: Me) -> list[schemas.SearchHit]:
    """Your own lines in the published transcript (none if you did not consent to it)."""
    from api.urls import media_url

    participant = _participant(session, principal)
    episode = session.scalar(select(Episode).where(Episode.space_id == participant.space_id))
    if episode is None or not servable(session, episode):
        return []
    rows = session.scalars(
        select(TranscriptSegment)
        .where(
            TranscriptSegment.episode_id == episode.id,
            TranscriptSegment.participant_id == participant.id,
        )
        .order_by(TranscriptSegment.start_s)
    )
    return [
        schemas.SearchHit(
            episode_id=episode.id,
            episode_title=episode.title,
            speaker=row.speaker,
            start_s=row.start_s,
            end_s=row.end_s,
            text=row.text,
            audio_url=f"{media_url(episode, 'episode.mp3')}#t={row.start_s:.1f}",
        )
        for row in rows
    ]
