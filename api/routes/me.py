"""Self-service for a participant, with their own key: their consent record and answers, the keys
issued for them (to revoke any), their raw track while it is retained (each download audited),
their own published transcript lines, and their erasure request."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from api import schemas
from api.auth import Principal
from api.deps import SessionDep, StoreDep
from api.limits import rate_limited
from api.roles import Participant as Me
from api.routes.consent import ledger_out
from api.routes.erasures import erasure_out
from api.streaming import stream_object
from api.views import consent_out, search_hit
from infra.models import Participant
from infra.settings import get_settings
from pipeline.consent import ConsentState
from services import erasure, participants
from services.consent import Answerer, answer, prompt, withdrawn_hold_ends
from services.errors import NotFound
from services.ledger import current_states

router = APIRouter(prefix="/me", tags=["participants"])


def _participant(session, principal: Principal) -> Participant:
    participant = session.get(Participant, principal.participant_id)
    if participant is None:
        raise NotFound("participation not found")
    return participant


def _participation_out(
    session, participant: Participant, principal: Principal
) -> schemas.ParticipationOut:
    space = participant.space
    state = current_states(session, space.id).get(participant.id, ConsentState())
    ledger = ledger_out(session, space, participant)
    track = participant.track
    held_until = withdrawn_hold_ends(session, track) if track is not None else None
    return schemas.ParticipationOut(
        space_id=space.id,
        space_title=space.title,
        participant=participant.handle,
        name=participant.name,
        notice=space.notice or get_settings().recording_notice,
        prompt=[schemas.PromptItem(**item) for item in prompt(state)],
        consent=consent_out(state),
        entries=ledger.entries,
        track_retained=track is not None,
        track_sha256=track.sha256 if track else None,
        track_held_until=held_until,
        keys=[
            schemas.ParticipantKeyOut(
                id=key.id,
                obtained_by=participants.key_origin(session, key.id),
                issued_by=key.issued_by,
                created_at=key.created_at,
                expires_at=key.expires_at,
                revoked_at=key.revoked_at,
                current=key.id == principal.key_id,
            )
            for key in participants.participant_keys(session, participant)
        ],
    )


def participation_of(session, principal: Principal) -> schemas.ParticipationOut:
    """The signed-in participant's record (the consent page shows it)."""
    return _participation_out(session, _participant(session, principal), principal)


@router.get("/participation", response_model=schemas.ParticipationOut)
def read_participation(session: SessionDep, principal: Me) -> schemas.ParticipationOut:
    """The notice, the questions, the current answers, every ledger entry and your keys."""
    return _participation_out(session, _participant(session, principal), principal)


@router.post(
    "/consent",
    response_model=schemas.ParticipationOut,
    dependencies=[Depends(rate_limited("consent", "consent_rate", noun="consent answers"))],
)
def answer_prompt(
    body: schemas.AnswersIn, session: SessionDep, store: StoreDep, principal: Me
) -> schemas.ParticipationOut:
    """Grant or withdraw, for each purpose. Your answer is yours: nobody else's report can
    change it. Withdrawing after publication takes you out of the episode, its transcripts,
    clips and feed at once; withdrawing ``record`` erases your raw track."""
    participant = _participant(session, principal)
    via = participants.key_origin(session, principal.key_id)
    answer(
        session,
        store,
        participant,
        body.answers.model_dump(),
        by=Answerer.participant(participant, principal.key_id or "", via),
        note=body.note,
    )
    return _participation_out(session, participant, principal)


@router.post(
    "/erasure",
    status_code=201,
    response_model=schemas.ErasureOut,
    dependencies=[Depends(rate_limited("consent", "consent_rate", noun="consent answers"))],
)
def request_erasure(
    response: Response, session: SessionDep, store: StoreDep, principal: Me
) -> schemas.ErasureOut:
    """Erase my voice and words: every consent is withdrawn at once (the episode, transcripts
    and clips are made again without you), and an erasure request is opened, due in a month.
    Asked again while it is open, the same request is answered (200)."""
    participant = _participant(session, principal)
    made, new = erasure.request_erasure(
        session,
        store,
        participant,
        key_id=principal.key_id or "",
        via=participants.key_origin(session, principal.key_id),
    )
    if not new:
        response.status_code = 200
    return erasure_out(session, store, made, with_keys=False)


@router.get("/erasures", response_model=list[schemas.ErasureOut])
def my_erasures(session: SessionDep, store: StoreDep, principal: Me) -> list[schemas.ErasureOut]:
    """Your erasure requests, newest first: what is erased, and what a legal hold keeps until
    when."""
    return [
        erasure_out(session, store, found, with_keys=False)
        for found in erasure.requests_of(session, _participant(session, principal))
    ]


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: str, session: SessionDep, principal: Me) -> None:
    """Revoke one of your keys (this one included): it stops working at once."""
    participants.revoke_participant_key(session, _participant(session, principal), key_id)


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
) -> Response:
    """Your own raw track, as uploaded, while it is retained. Every download is written to the
    audit log, like a moderator's access."""
    track = participants.own_track(
        session, _participant(session, principal), key_id=principal.key_id
    )
    return stream_object(
        store,
        track.object_key,
        request=request,
        cache_control="private, no-store",
        name="your track",
        extra_headers={"Content-Disposition": 'attachment; filename="my-track"'},
    )


@router.get("/transcript", response_model=list[schemas.SearchHit])
def my_transcript(session: SessionDep, principal: Me) -> list[schemas.SearchHit]:
    """Your own lines in the published transcript (none if you did not consent to it)."""
    lines = participants.own_transcript(session, _participant(session, principal))
    return [search_hit(row, episode) for row, episode in lines]
