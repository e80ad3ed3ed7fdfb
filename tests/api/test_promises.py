"""Promises the docs make that had no test of their own: the clip gate refusing a speaker who
never answered about clips, the moderator's checksum check, escalated complaints, the sweeper
reached through the CLI, the scheduler and the API, live ingest answering 503 while the object
store is away, and a stage retry delivered after its space failed (the losing order, played
deterministically, then healed by retrying the dead letter). All through the real API on
PostgreSQL and the real S3 server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from tests.api.conftest import World, work_until_settled
from tests.api.test_consent_access import published_room


def _complaint(world: World, space_id: str, **fields) -> str:
    from infra.db import session_scope
    from infra.models import Complaint
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        complaint = Complaint(
            space_id=space_id, category="harassment", text="", reporter="user:x", **fields
        )
        session.add(complaint)
        session.flush()
        return complaint.id


def test_a_speaker_who_never_answered_about_clips_is_never_clipped(world: World) -> None:
    room = published_room(world, bruno_clip=None)
    url = f"/episodes/{room.episode_id}/clips"
    over_bruno = {"start_s": 11.0, "end_s": 19.0}
    refused = world.client.post(url, json=over_bruno, headers=world.headers("host"))
    assert refused.status_code == 409
    assert "Bruno speaks in this range and has not answered" in refused.json()["detail"]
    check = world.client.post(f"{url}/check", json=over_bruno, headers=world.headers("listener"))
    assert check.json()["blocked_by"] == ["Bruno"] and check.json()["allowed"] is False
    over_alice = world.client.post(
        url, json={"start_s": 1.0, "end_s": 5.0}, headers=world.headers("host")
    )
    assert over_alice.status_code == 202  # Alice agreed: her moment is cut


def test_a_retained_track_that_fails_its_checksum_is_never_played(world: World) -> None:
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    room = published_room(world)
    complaint = _complaint(world, room.space_id, target="speaker", participant_id=room.ids["bruno"])
    store = ObjectStore(get_settings())
    store.put_bytes(room.keys["raw"][1], b"tampered", content_type="audio/ogg")
    heard = world.client.get(
        f"/moderation/complaints/{complaint}/audio", headers=world.headers("moderator")
    )
    assert heard.status_code == 409
    assert "the retained track of bruno fails its ingest checksum" in heard.json()["detail"]


def test_an_escalated_complaint_is_decided_by_an_administrator_only(world: World) -> None:
    room = published_room(world)
    complaint = _complaint(world, room.space_id, target="space")
    url = f"/moderation/complaints/{complaint}/decision"
    escalated = world.client.post(
        url, json={"decision": "escalate", "reason": "needs a lawyer"},
        headers=world.headers("moderator"),
    )  # fmt: skip
    assert escalated.status_code == 200 and escalated.json()["status"] == "escalated"
    by_moderator = world.client.post(
        url, json={"decision": "dismiss", "reason": "fine"}, headers=world.headers("moderator")
    )
    assert by_moderator.status_code == 403 and "an administrator decides" in by_moderator.text
    by_admin = world.client.post(
        url, json={"decision": "dismiss", "reason": "fine after all"},
        headers=world.headers("admin"),
    )  # fmt: skip
    assert by_admin.status_code == 200 and by_admin.json()["status"] == "dismissed"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("SPACECAST_") or k in ("PATH",)}


def test_the_sweeper_runs_from_the_command_line_and_is_asked_for_through_the_api(
    world: World,
) -> None:
    import dramatiq

    from infra.queue import queue_name

    done = subprocess.run(
        [sys.executable, "-m", "spacecast", "sweep"],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["spaces_checked"] >= 0 and "objects_per_s" in report
    control = dramatiq.get_broker().queues[queue_name("control")]
    before = control.qsize()
    asked = world.client.post("/moderation/sweeps", headers=world.headers("admin"))
    assert asked.status_code == 202 and control.qsize() == before + 1
    message = json.loads(control.queue[-1]) if hasattr(control, "queue") else None
    assert message is None or message["actor_name"] == "sweep_vault"


def test_the_scheduler_sends_the_sweep_and_the_resume(world: World) -> None:
    """`spacecast scheduler --once` on a real Redis broker, with a queue prefix of its own."""
    import redis

    prefix = f"sched{hashlib.sha256(os.urandom(8)).hexdigest()[:8]}."
    env = {**os.environ, "SPACECAST_BROKER_URL": "redis://127.0.0.1:6379/0",
           "SPACECAST_QUEUE_PREFIX": prefix}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "spacecast", "scheduler", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        messages = client.hvals(f"dramatiq:{prefix}control.msgs")
        actors = sorted(json.loads(m)["actor_name"] for m in messages)
        assert actors == ["resume_stalled", "sweep_vault"]
    finally:
        for key in client.scan_iter(f"dramatiq:{prefix}*"):
            client.delete(key)


def test_live_ingest_answers_503_with_retry_after_while_the_object_store_is_away(
    world: World,
) -> None:
    from tests.api.conftest import s3_of_world

    created = world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={"title": "Outage", "participants": [
            {"id": "ana", "name": "Ana", "offset": 0, "consent": {"record": True}}]},
        headers=world.headers("recorder"),
    ).json()  # fmt: skip
    chunk = bytes(range(256)) * 375
    sha = hashlib.sha256(chunk).hexdigest()
    url = f"/spaces/{created['id']}/participants/ana/chunks/0?start_sample=0&sha256={sha}"
    from fastapi.testclient import TestClient

    s3 = s3_of_world()
    answering = TestClient(world.client.app, raise_server_exceptions=False)  # as a client sees
    s3.stop()
    try:
        refused = answering.put(url, content=chunk, headers=world.headers("recorder"))
    finally:
        s3.start()
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert "the object store is unavailable" in refused.json()["detail"]
    stored = world.client.put(url, content=chunk, headers=world.headers("recorder"))
    assert stored.status_code == 201  # nothing was acknowledged before: now it is


def test_a_stage_retry_delivered_after_its_space_failed_heals_when_the_letter_is_retried(
    world: World, short_opus
) -> None:
    """The losing order, played by calling the actors' code in it: Alice's speech activity runs
    out of retries (the space fails), then Bruno's retry is delivered. Bruno's run must say it
    did not run, and retrying Alice's dead letter must bring the space to published."""

    from infra.db import session_scope
    from infra.models import Participant, StageRun
    from infra.queue import queue_name
    from infra.settings import get_settings
    from pipeline.states import Stage
    from services import flow
    from services.operations import record_dead_letter
    from workers import app, stage

    body = {"title": "Losing order", "participants": [
        {"id": h, "name": h.title(), "offset": 0, "consent": {"record": True, "publish": True}}
        for h in ("alice", "bruno")]}  # fmt: skip
    space = world.client.post(
        f"/shows/{world.shows['A']}/spaces", json=body, headers=world.headers("host")
    ).json()["id"]
    for handle in ("alice", "bruno"):
        world.client.put(
            f"/spaces/{space}/participants/{handle}/track",
            content=short_opus.read_bytes(),
            headers=world.headers("host"),
        ).raise_for_status()
    world.client.post(f"/spaces/{space}/finish", headers=world.headers("host")).raise_for_status()
    settings = get_settings()
    flow.advance(space)  # what the finish's message does: both activities queued
    with session_scope(settings.database_url) as session:
        ids = {p.handle: p.id for p in session.query(Participant).filter_by(space_id=space)}
        bruno_run = session.query(StageRun).filter_by(space_id=space, subject=ids["bruno"]).one()
        bruno_run.status = "retrying"  # its first attempt met the object store away
    message = {"actor_name": "detect_activity", "args": [space, ids["alice"]]}
    flow.stage_gave_up(message, {"retries": 8})
    # Then the other messages of the space are delivered: Bruno's retry, the bleed check, the mix.
    assert stage.run(Stage.ACTIVITY, space, ids["bruno"]) == "nothing to do"
    for other in (Stage.BLEED, Stage.MIX):
        assert stage.run(other, space) == "nothing to do"
    state = world.client.get(f"/spaces/{space}", headers=world.headers("host")).json()
    assert state["status"] == "failed"
    assert {s["status"] for s in state["stages"]} == {"failed"}, state["stages"]
    bruno = next(s for s in state["stages"] if s["participant"] == "bruno")
    assert bruno["error"].startswith("not run: the space had failed")

    with session_scope(settings.database_url) as session:  # a worker died holding it
        session.query(StageRun).filter_by(
            space_id=space, subject=ids["bruno"]
        ).one().status = "running"
    broker = app.install()
    broker.flush_all()  # nothing else's messages: this test's worker runs this space alone
    # Alice's message as the dead-letter middleware records it once Retries gives up.
    message = {
        "queue_name": queue_name("audio"), "actor_name": "detect_activity",
        "args": [space, ids["alice"]], "kwargs": {}, "options": {"retries": 8},
        "message_id": f"losing-{space}", "message_timestamp": 0,
    }  # fmt: skip
    record_dead_letter(message, "gave up after 8 attempts: EndpointConnectionError")
    letters = world.client.get(
        "/dead-letters", params={"pending": True, "space_id": space}, headers=world.headers("admin")
    ).json()
    assert [(d["actor"], d["space_id"]) for d in letters] == [("detect_activity", space)]
    letter_id = letters[0]["id"]
    retried = world.client.post(f"/dead-letters/{letter_id}/retry", headers=world.headers("admin"))
    assert retried.status_code == 202
    with session_scope(settings.database_url) as session:  # reopening resets every run not done
        runs = session.query(StageRun).filter_by(space_id=space).all()
        assert {r.status for r in runs} == {"queued"}, [(r.stage, r.status) for r in runs]
        assert {r.subject for r in runs} >= set(ids.values())
    state = work_until_settled(world, broker, space)
    assert state["status"] == "published", state["error"]
    assert [p["name"] for p in state["episode"]["persons"]] == ["Alice", "Bruno"]


def test_a_stage_retired_while_it_runs_deletes_what_it_made_instead_of_recording_it(
    world: World,
) -> None:
    """The withdrawal/render race, made deterministic: the participant withdraws while the mix
    is being made (inside the stage's work); what the stage made holds their voice, so it is
    deleted, not recorded as done."""
    from infra.db import session_scope
    from infra.models import StageRun
    from infra.settings import get_settings
    from infra.storage import ObjectStore, work_key
    from services.runs import MixResult
    from tests.api.test_consent_access import bearer, claim_key
    from workers.runs import run_stage

    room = published_room(world)
    bruno = claim_key(world, room.space_id, "bruno")
    store = ObjectStore(get_settings())
    made = work_key(room.space_id, "mix-while-withdrawing.flac")

    def work(ctx) -> dict:
        ctx.store.put_bytes(made, b"both voices", content_type="audio/flac")
        withdrawn = world.client.post(
            "/me/consent", json={"answers": {"publish": False}}, headers=bearer(bruno)
        )
        assert withdrawn.status_code == 200
        return MixResult(key=made, voices=sorted(room.ids.values())).as_dict()

    outcome = run_stage(room.space_id, "mix", "", "a-new-fingerprint", work)
    assert outcome == "retired"
    assert not store.exists(made)
    with session_scope(get_settings().database_url) as session:
        run = session.query(StageRun).filter_by(space_id=room.space_id, stage="mix").one()
        assert run.status == "stale" and run.result is None


def test_a_run_that_says_nothing_past_the_bound_is_sent_again(world: World, short_opus) -> None:
    """A run left ``retrying`` or ``running`` with no message behind it (a retry the broker
    dropped, a worker gone without a trace) is sent again once it has said nothing for the
    longest retry backoff plus a margin; one that spoke recently is left to its worker."""
    from datetime import timedelta

    from infra.db import session_scope
    from infra.models import Participant, StageRun, utcnow
    from infra.settings import get_settings
    from services import flow

    body = {"title": "Silent runs", "participants": [
        {"id": h, "name": h.title(), "offset": 0, "consent": {"record": True, "publish": True}}
        for h in ("alice", "bruno", "chioma")]}  # fmt: skip
    space = world.client.post(
        f"/shows/{world.shows['A']}/spaces", json=body, headers=world.headers("host")
    ).json()["id"]
    for handle in ("alice", "bruno", "chioma"):
        world.client.put(
            f"/spaces/{space}/participants/{handle}/track",
            content=short_opus.read_bytes(),
            headers=world.headers("host"),
        ).raise_for_status()
    world.client.post(f"/spaces/{space}/finish", headers=world.headers("host")).raise_for_status()
    settings = get_settings()
    flow.advance(space)
    bound = timedelta(milliseconds=settings.retry_max_backoff_ms) + flow.STUCK_MARGIN
    now = utcnow()
    said = {  # how long ago each run last said something, and what it said
        "alice": ("retrying", bound + timedelta(seconds=5)),
        "bruno": ("running", bound + timedelta(seconds=5)),
        "chioma": ("retrying", bound - timedelta(minutes=1)),
    }
    with session_scope(settings.database_url) as session:
        ids = {p.handle: p.id for p in session.query(Participant).filter_by(space_id=space)}
        for handle, (status, ago) in said.items():
            run = session.query(StageRun).filter_by(space_id=space, subject=ids[handle]).one()
            run.status, run.updated_at = status, now - ago
    flow.advance(space)
    with session_scope(settings.database_url) as session:
        status = {
            handle: session.query(StageRun).filter_by(space_id=space, subject=ids[handle]).one()
            for handle in ids
        }
        assert status["alice"].status == "queued" and status["alice"].queued_at >= now
        assert status["bruno"].status == "queued" and status["bruno"].queued_at >= now
        assert status["chioma"].status == "retrying"  # spoke a minute inside the bound
