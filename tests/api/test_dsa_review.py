"""An attacker's look at notices, decisions, appeals, the emergency takedown and erasure
requests: the calls that must be refused, and the races that must not make two of a thing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from infra.db import session_scope
from infra.models import Appeal, Complaint, ErasureRequest, Participant, Space
from infra.settings import get_settings
from infra.storage import ObjectStore


def _takedown(world, reason: str = "a live threat read out in the room") -> tuple[str, str]:
    space_id = world.fresh_space_of("A")
    made = world.client.post(
        f"/moderation/spaces/{space_id}/takedown",
        json={"category": "violence", "reason": reason},
        headers=world.headers("admin"),
    )
    assert made.status_code == 201, made.text
    return space_id, made.json()["id"]


def test_the_admin_who_took_a_space_down_cannot_close_its_review_by_another_decision(world):
    space_id, complaint_id = _takedown(world)
    for decision in ("remove_speaker", "dismiss", "remove_episode"):
        answer = world.client.post(
            f"/moderation/complaints/{complaint_id}/decision",
            json={"decision": decision, "reason": "my own review", "speaker": "alice"},
            headers=world.headers("admin"),
        )
        assert answer.status_code == 403, (decision, answer.text)
    with session_scope(get_settings().database_url) as session:
        found = session.get(Complaint, complaint_id)
        assert (found.status, found.decided_by) == ("open", None)
        assert session.get(Participant, _alice(session, space_id)).removed_at is None


def test_an_emergency_takedown_is_confirmed_or_lifted_never_left_down_under_another_decision(
    world,
):
    space_id, complaint_id = _takedown(world)
    answer = world.client.post(
        f"/moderation/complaints/{complaint_id}/decision",
        json={"decision": "remove_speaker", "reason": "only her part", "speaker": "alice"},
        headers=world.headers("moderator"),
    )
    assert answer.status_code == 422, answer.text
    assert "remove_episode" in answer.json()["detail"] and "dismiss" in answer.json()["detail"]
    with session_scope(get_settings().database_url) as session:
        found = session.get(Complaint, complaint_id)
        assert (found.status, found.decision) == ("open", None)
        assert session.get(Space, space_id).status == "taken_down"


def _alice(session, space_id: str) -> str:
    return session.query(Participant).filter_by(space_id=space_id, handle="alice").one().id


def _at_once(calls: int, call) -> list:
    """``call`` run by ``calls`` threads released together, each with its own session."""
    start = threading.Barrier(calls)

    def one(_):
        start.wait(timeout=30)
        try:
            return call()
        except Exception as error:  # the losers of the race are refused
            return error

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(one, range(calls)))


def test_appeals_filed_at_once_make_one_open_appeal(world):
    from services import statements

    complaint_id = world.decided_complaint("listener", "A")
    subject = world.subject_of("listener")

    def appeal():
        with session_scope(get_settings().database_url) as session:
            found = session.get(Complaint, complaint_id)
            made = statements.file_appeal(
                session, found, subjects={subject}, appellant=subject, text="it was a quote"
            )
            return made.id

    results = _at_once(6, appeal)
    with session_scope(get_settings().database_url) as session:
        open_ = session.query(Appeal).filter_by(complaint_id=complaint_id, status="open").count()
    assert open_ == 1, results
    assert sum(isinstance(r, str) for r in results) == 1, results


def test_erasure_requests_made_at_once_open_one_request(world):
    from services import erasure

    store = ObjectStore(get_settings())
    with session_scope(get_settings().database_url) as session:
        someone = Participant(space_id=world.spaces["B"], handle="racer", name="Racer")
        session.add(someone)
        session.flush()
        participant_id = someone.id

    def request():
        with session_scope(get_settings().database_url) as session:
            made, _ = erasure.request_erasure(
                session,
                store,
                session.get(Participant, participant_id),
                key_id="k",
                via="api",
            )
            session.commit()
            return made.id

    results = _at_once(6, request)
    with session_scope(get_settings().database_url) as session:
        made = session.query(ErasureRequest).filter_by(participant_id=participant_id).count()
    assert made == 1, results
    assert len(set(results)) == 1, results


def test_a_moderator_cannot_review_an_appeal_they_filed_as_a_party(world):
    complaint_id = world.decided_complaint("moderator", "A")  # the moderator was the notifier
    filed = world.client.post(
        f"/complaints/{complaint_id}/appeals",
        json={"text": "the dismissal was wrong"},
        headers=world.headers("moderator"),
    )
    assert filed.status_code == 201, filed.text
    answer = world.client.post(
        f"/moderation/appeals/{filed.json()['id']}/decision",
        json={"decision": "reverse", "reason": "I agree with myself"},
        headers=world.headers("moderator"),
    )
    assert answer.status_code == 403, answer.text
    with session_scope(get_settings().database_url) as session:
        assert session.get(Appeal, filed.json()["id"]).status == "open"
        assert session.get(Complaint, complaint_id).status == "dismissed"


def test_a_complaint_and_an_appeal_decided_at_once_are_decided_once(world):
    from infra.models import AuditEntry
    from services import moderation, statements

    store = ObjectStore(get_settings())
    complaint_id, appeal_id = world.fresh_complaint("B"), world.fresh_appeal("B")

    def decide():
        with session_scope(get_settings().database_url) as session:
            moderation.decide(
                session,
                store,
                session.get(Complaint, complaint_id),
                decision="dismiss",
                reason="nothing said breaks a rule",
                speaker=None,
                moderator=world.subject_of("moderator"),
                is_admin=False,
            )

    def review():
        with session_scope(get_settings().database_url) as session:
            statements.decide_appeal(
                session,
                store,
                session.get(Appeal, appeal_id),
                decision="uphold",
                reason="the dismissal stands",
                moderator=world.subject_of("moderator"),
            )

    results = _at_once(6, decide) + _at_once(6, review)
    with session_scope(get_settings().database_url) as session:
        decided = session.query(AuditEntry).filter_by(
            complaint_id=complaint_id, action="decide_dismiss"
        )
        reviewed = session.query(AuditEntry).filter_by(action="appeal_upheld")
        assert decided.count() == 1, results
        assert [e.detail.get("appeal_id") for e in reviewed].count(appeal_id) == 1, results


def _speaker_and_complaints(world, count: int) -> tuple[str, list[str]]:
    """A new speaker in show B's live space, and ``count`` open complaints naming Alice."""
    with session_scope(get_settings().database_url) as session:
        bob = Participant(space_id=world.spaces["B"], handle=f"bob{id(session)}", name="Bob")
        session.add(bob)
        session.flush()
        bob_id = bob.id
    return bob_id, [world.fresh_complaint("B") for _ in range(count)]


def _remove(session, complaint_id: str, handle: str) -> None:
    from services import moderation

    moderation.decide(
        session,
        ObjectStore(get_settings()),
        session.get(Complaint, complaint_id),
        decision="remove_speaker",
        reason="threats against another speaker",
        speaker=handle,
        moderator="user:mod-one",
        is_admin=False,
    )


def test_the_statement_of_a_removed_speaker_goes_to_the_one_removed_not_the_one_named(world):
    from infra.models import Statement

    bob_id, (complaint_id,) = _speaker_and_complaints(world, 1)
    with session_scope(get_settings().database_url) as session:
        _remove(session, complaint_id, session.get(Participant, bob_id).handle)
        alice = _alice(session, world.spaces["B"])
        found = session.query(Statement).filter_by(complaint_id=complaint_id).one()
        assert f"participant:{bob_id}" in found.affected
        assert f"participant:{alice}" not in found.affected


def test_a_speaker_removed_on_two_complaints_stays_out_until_both_are_reversed(world):
    from services import statements

    bob_id, (first, second) = _speaker_and_complaints(world, 2)
    store = ObjectStore(get_settings())
    with session_scope(get_settings().database_url) as session:
        handle = session.get(Participant, bob_id).handle
        _remove(session, first, handle)
        _remove(session, second, handle)
    for complaint_id, still_out in ((second, True), (first, False)):
        with session_scope(get_settings().database_url) as session:
            found = Appeal(
                complaint_id=complaint_id,
                space_id=world.spaces["B"],
                appellant=f"participant:{bob_id}",
                text="I was quoting",
            )
            session.add(found)
            session.flush()
            statements.decide_appeal(
                session, store, found, decision="reverse", reason="a quote", moderator="user:m2"
            )
        with session_scope(get_settings().database_url) as session:
            assert (session.get(Participant, bob_id).removed_at is not None) is still_out


def test_reversing_one_removal_does_not_republish_an_episode_another_decision_keeps_down(world):
    from infra.models import Episode
    from services import moderation, statements

    store = ObjectStore(get_settings())
    space_id = world.fresh_space_of("A")
    with session_scope(get_settings().database_url) as session:
        first = Complaint(
            space_id=space_id, target="space", category="spam", text="ads", reporter="user:x"
        )
        session.add(first)
        session.flush()
        moderation.decide(
            session,
            store,
            first,
            decision="remove_episode",
            reason="one long advertisement",
            speaker=None,
            moderator="user:mod-one",
            is_admin=False,
        )
        first_id = first.id
    world.client.post(  # meanwhile an administrator takes the space offline, pending review
        f"/moderation/spaces/{space_id}/takedown",
        json={"category": "violence", "reason": "a threat in the room"},
        headers=world.headers("admin"),
    ).raise_for_status()
    with session_scope(get_settings().database_url) as session:
        found = Appeal(complaint_id=first_id, space_id=space_id, appellant="user:x", text="not ads")
        session.add(found)
        session.flush()
        statements.decide_appeal(
            session, store, found, decision="reverse", reason="not ads", moderator="user:m2"
        )
    with session_scope(get_settings().database_url) as session:
        episode = session.query(Episode).filter_by(space_id=space_id).one()
        assert episode.removed_at is not None
        assert session.get(Space, space_id).status == "taken_down"
    assert world.client.get(f"/episodes/{episode.id}").status_code == 410


def test_an_erasure_request_closed_or_extended_at_once_is_closed_once_and_extended_in_all(world):
    from infra.models import AuditEntry
    from services import erasure

    store = ObjectStore(get_settings())
    closing, extending = world.fresh_erasure("B"), world.fresh_erasure("B")

    def close():
        with session_scope(get_settings().database_url) as session:
            erasure.close(session, store, session.get(ErasureRequest, closing), by="user:admin")

    def extend():
        with session_scope(get_settings().database_url) as session:
            found = session.get(ErasureRequest, extending)
            erasure.extend(session, found, months=1, reason="many recordings", by="user:admin")

    results = _at_once(4, close) + _at_once(4, extend)
    with session_scope(get_settings().database_url) as session:
        closed = session.query(AuditEntry).filter_by(action="close_erasure").all()
        assert [e.detail.get("request_id") for e in closed].count(closing) == 1, results
        extended = session.query(AuditEntry).filter_by(action="extend_erasure").all()
        assert [e.detail.get("request_id") for e in extended].count(extending) == 2, results
        assert session.get(ErasureRequest, extending).extended_months == 2, results


def test_the_episode_page_shows_the_generated_show_notes(world):
    from infra.models import Episode

    episode_id = world.fresh_episode("A")
    with session_scope(get_settings().database_url) as session:
        found = session.get(Episode, episode_id)
        found.notes = {"speakers": [["Alice", 95.0]], "quotes": [["Alice", 3.0, "Hello all"]]}
    page = world.client.get(f"/e/{episode_id}")
    assert page.status_code == 200, page.text[-300:]
    assert "Speakers: Alice (2 min)." in page.text
    assert "Hello all" in page.text
