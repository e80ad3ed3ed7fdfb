"""Kill anything, lose nothing: each fault injected for real while a space is recorded live or
processed. For each: exactly one episode, every acknowledged chunk byte for byte at its place in
the assembled tracks, no orphaned objects. Measurements go to test-artifacts/faults.{json,md}.

The shared Redis and RabbitMQ of the machine are never restarted: the broker tests start a
Redis server and a RabbitMQ node of their own, and the S3 test its own S3 server.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis as redis_client

from infra.s3server import LocalS3Server
from infra.samples import build_sample_space, load_spec
from pipeline.chunks import pcm_chunks
from spacecast.demo import create_space, submit_sample, wait_until_done
from spacecast.recorder import Recorder
from tests.service.faults import (
    FaultResult,
    OwnRabbitmq,
    OwnRedis,
    TcpProxy,
    _query,
    acknowledged_seconds_lost,
    count_episodes,
    cut_upload_mid_chunk,
    decoded_track,
    drop_database_connections,
    episodes_in_feed,
    orphaned_objects,
    record_result,
    running_run,
    stage_status,
    wait_until,
)
from tests.service.stack import BROKERS, ServiceStack
from workers.stage import ACTOR_NAMES as STAGE_ACTORS

pytestmark = pytest.mark.slow

# Retries back off up to 5 s here instead of 5 minutes, so a test's recovery is bounded. With
# the shorter backoff, 8 retries (the default) span about 30 s, as long as the S3 outage: a stage
# could give up just before S3 returns. 30 retries span one to two minutes (jitter), longer than
# any outage here, as the default 8 at the default backoff (about 8 minutes) outlast a restart.
FAST_RETRIES = {
    "SPACECAST_RETRY_MAX_BACKOFF_MS": "5000",
    "SPACECAST_RETRY_MIN_BACKOFF_MS": "500",
    "SPACECAST_STAGE_RETRIES": "30",
    # A running stage renews its hold every 2 s; one silent for 6 s is taken over.
    "SPACECAST_STAGE_LEASE_S": "2",
}


@pytest.fixture(scope="module")
def short_space(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """quick_chat (about 25 s, three speakers, Dan recorded but not published): short, so the
    suite stays bounded in time."""
    spec = load_spec("quick_chat")
    spec["participants"][2]["consent"] = {"record": True, "publish": False}
    folder = tmp_path_factory.mktemp("quick-chat-faults")
    build_sample_space(spec, folder)
    return folder


@pytest.fixture
def own_stack(s3_server: LocalS3Server, tmp_path: Path):
    """Stacks started by the test itself (their own broker or S3 server); stopped after it."""
    stacks: list[ServiceStack] = []

    def _make(broker: str = "redis", *, s3: LocalS3Server | None = None, **kwargs) -> ServiceStack:
        stack = ServiceStack(
            broker, s3 or s3_server, tmp_path / f"stack-{len(stacks)}", **{**FAST_RETRIES, **kwargs}
        )
        stacks.append(stack)
        return stack.start()

    yield _make
    for stack in stacks:
        stack.stop(drop_queues=stack.broker_url.split("?")[0] in _SHARED)


_SHARED = {"redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672/%2F"}


def _live_space(client: httpx.Client, sample_dir: Path) -> tuple[str, dict]:
    """The sample's show, space and participants, with no audio yet (the room just opened)."""
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    show = client.post("/shows", json=manifest["show"]).raise_for_status().json()
    body = {
        "title": manifest["space"]["title"],
        "language": manifest["space"]["language"],
        "participants": [
            {k: p[k] for k in ("id", "name", "role", "offset", "consent")}
            for p in manifest["participants"]
        ],
    }
    space = client.post(f"/shows/{show['id']}/spaces", json=body).raise_for_status().json()
    tracks = {
        p["id"]: sample_dir / p["track"] for p in manifest["participants"] if p["consent"]["record"]
    }
    return space["id"], tracks


def _record_all(client, space_id, tracks, *, speed=None, give_up_after_s=300.0) -> dict:
    """Every participant's recorder streaming at once, as in a live room; returns their reports."""
    reports: dict = {}
    errors: list[BaseException] = []

    def _one(handle: str, path: Path) -> None:
        try:
            recorder = Recorder(client, space_id, handle, give_up_after_s=give_up_after_s)
            reports[handle] = recorder.stream(path, chunk_s=5.0, speed=speed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=_one, args=item) for item in tracks.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return reports


def _check_tracks(stack: ServiceStack, space_id: str, acknowledged: dict, tmp_path: Path):
    """(acknowledged seconds, seconds lost) over every participant's assembled track."""
    store = stack.store()
    total = lost = 0.0
    with stack.client() as client:
        for handle, chunks in acknowledged.items():
            listing = client.get(f"/spaces/{space_id}/participants/{handle}/chunks").json()
            assert listing["assembled"], handle
            keys = [k for k in store.list_keys(f"raw/{space_id}/") if "/chunks/" not in k]
            pcm = None
            for key in keys:
                candidate = decoded_track(store, key, tmp_path)
                if hashlib.sha256(store.get_bytes(key)).hexdigest() == listing["track"]["sha256"]:
                    pcm = candidate
            assert pcm is not None, handle
            end = max(c["start_sample"] + c["samples"] for c in chunks)
            assert len(pcm) // 2 == end, (handle, len(pcm) // 2, end)  # sample count, no drift
            total += sum(c["samples"] for c in chunks) / 48_000
            lost += acknowledged_seconds_lost(pcm, chunks)
    return total, lost


def _done(client: httpx.Client, space_id: str) -> set:
    return {
        (s["stage"], s["participant"]) for s in stage_status(client, space_id)
        if s["status"] == "done"
    }  # fmt: skip


def _mid_pipeline(client: httpx.Client, space_id: str) -> bool:
    """The space is processing and has stages still to do: a fault now lands mid-pipeline."""
    state = client.get(f"/spaces/{space_id}").json()
    undone = [s for s in state["stages"] if s["status"] != "done"]
    return state["status"] == "processing" and bool(undone)


def _status(client: httpx.Client, space_id: str) -> bool:
    """True once the space is no longer processing (it may finish during a short fault)."""
    return client.get(f"/spaces/{space_id}").json()["status"] != "processing"


def _assert_one_episode_and_no_orphans(stack, client, space_id, state) -> int:
    assert state["status"] == "published", state["error"]
    assert count_episodes(stack, space_id) == 1
    assert episodes_in_feed(client, state) == 1
    assert orphaned_objects(stack, space_id, state) == []
    return 1


def test_live_ingest_survives_bad_chunks_dropped_db_connections_and_a_redis_restart(
    own_stack, short_space: Path, tmp_path: Path
) -> None:
    redis = OwnRedis(tmp_path / "redis").start()
    try:
        _live_ingest_faults(own_stack("redis", broker_url=redis.url), redis, short_space, tmp_path)
    finally:
        redis.stop()


def _live_ingest_faults(stack, redis: OwnRedis, short_space: Path, tmp_path: Path) -> None:
    with stack.client() as client:
        space_id, tracks = _live_space(client, short_space)
        # Chioma's recorder sends every chunk twice, in shuffled order.
        chioma = list(pcm_chunks(tracks.pop("chioma"), chunk_s=5.0, timeout_s=120, label="c"))
        sends = [(seq, pos, data) for seq, (pos, data) in enumerate(chioma)] * 2
        random.Random(3).shuffle(sends)
        url = f"/spaces/{space_id}/participants/chioma/chunks"
        codes = []
        for seq, pos, data in sends:
            sha = hashlib.sha256(data).hexdigest()
            response = client.put(
                f"{url}/{seq}", params={"start_sample": pos, "sha256": sha}, content=data
            )
            codes.append(response.status_code)
        assert sorted(codes) == [200] * len(chioma) + [201] * len(chioma)
        whole = hashlib.sha256(b"".join(d for _, d in chioma)).hexdigest()
        assembled = client.post(
            f"/spaces/{space_id}/participants/chioma/track/assemble",
            json={"chunks": len(chioma), "sha256": whole},
        )
        assert assembled.status_code == 201, assembled.text

        # Dan's recorder dies in the middle of chunk 3, then a bit flips in chunk 4; it
        # restarts and resumes from what the API acknowledged.
        dan = list(pcm_chunks(tracks.pop("dan"), chunk_s=2.0, timeout_s=120, label="d"))
        burl = f"/spaces/{space_id}/participants/dan/chunks"
        for seq, (pos, data) in enumerate(dan[:3]):
            sha = hashlib.sha256(data).hexdigest()
            client.put(f"{burl}/{seq}", params={"start_sample": pos, "sha256": sha}, content=data)
        pos, data = dan[3]
        sha = hashlib.sha256(data).hexdigest()
        cut_at = time.monotonic()
        cut_upload_mid_chunk(
            stack, stack.host_key, f"{burl}/3?start_sample={pos}&sha256={sha}", data
        )
        pos4, data4 = dan[4]
        flipped = bytearray(data4)
        flipped[100] ^= 0x01
        refused = client.put(
            f"{burl}/4",
            params={"start_sample": pos4, "sha256": hashlib.sha256(data4).hexdigest()},
            content=bytes(flipped),
        )
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("chunk 4 of dan: sha256 mismatch")
        listing = client.get(burl).json()
        assert [c["seq"] for c in listing["chunks"]] == [0, 1, 2] and listing["next_seq"] == 3

        resumed = Recorder(client, space_id, "dan").stream(
            short_space / "dan.flac", chunk_s=2.0, speed=None
        )
        resumed_s = time.monotonic() - cut_at
        assert resumed.skipped == 3 and resumed.sent == len(dan) - 3

        # Alice's room recorder is the command line client, at four times real time.
        cli = subprocess.run(
            [sys.executable, "-m", "spacecast", "record", str(tracks.pop("alice")),
             "--api", stack.base_url, "--key", stack.host_key, "--space", space_id,
             "--participant", "alice", "--speed", "4", "--chunk-s", "5"],
            env=stack.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["track"]["chunk_count"] >= 3
        alice = client.get(f"/spaces/{space_id}/participants/alice/chunks").json()["chunks"]

        # Processing, while every database connection of the API and workers is dropped
        # over and over.
        client.post(f"/spaces/{space_id}/finish").raise_for_status()
        drops = mid_stage_drops = 0
        while drops < 6:
            time.sleep(1.0)
            mid_stage_drops += _mid_pipeline(client, space_id)
            drop_database_connections(stack)
            drops += 1
        assert mid_stage_drops >= 3, f"only {mid_stage_drops} of 6 drops hit the running pipeline"
        fault_end = time.monotonic()
        done_before = _done(client, space_id)
        # Then the broker restarts (its append-only file keeps the queued messages), while the
        # pipeline still has stages to do.
        assert _mid_pipeline(client, space_id), "the pipeline finished before Redis restarted"
        down = time.monotonic()
        redis.stop()
        time.sleep(2.0)
        redis.start()
        back = time.monotonic()
        wait_until(
            lambda: _done(client, space_id) - done_before or _status(client, space_id),
            300, "a stage finished after the restart", every_s=0.2,
        )  # fmt: skip
        redis_recover = time.monotonic() - back
        state = wait_until_done(client, space_id, timeout_s=300)
        published_after = time.monotonic() - fault_end
        redis_published_after = time.monotonic() - back
        episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
        stages = {(s["stage"], s["participant"]): s for s in stage_status(client, space_id)}
        assert all(s["status"] == "done" for s in stages.values()), stages

    acknowledged = {
        "alice": alice,
        "dan": resumed.acknowledged,
        "chioma": [
            {"start_sample": pos, "samples": len(d) // 2, "sha256": hashlib.sha256(d).hexdigest()}
            for pos, d in chioma
        ],
    }
    total, lost = _check_tracks(stack, space_id, acknowledged, tmp_path)
    assert lost == 0.0
    record_result(
        FaultResult("every chunk sent twice, out of order", 1, episodes, total, lost, 0.0,
                    published_after, "all duplicates answered 200, stored once")
    )  # fmt: skip
    record_result(
        FaultResult("upload cut mid-chunk, then resumed; corrupt chunk refused and resent", 1,
                    episodes, total, lost, resumed_s, published_after,
                    "time to recover: cut to the resumed recorder's track assembled")
    )  # fmt: skip
    record_result(
        FaultResult("PostgreSQL connections dropped during processing", drops, episodes, total,
                    lost, published_after, published_after,
                    "every second, 6 times; recover = last drop to published (a Redis "
                    "restart follows in the same run)")
    )  # fmt: skip
    record_result(
        FaultResult("Redis restarted mid-pipeline", 1, episodes, total, lost, redis_recover,
                    redis_published_after,
                    f"down {back - down:.1f} s; recover = broker back to the next stage done")
    )  # fmt: skip


def test_worker_killed_during_mixing_and_again_during_transcription(
    own_stack, short_space: Path
) -> None:
    stack = own_stack("rabbitmq")  # RabbitMQ hands a dead consumer's messages back at once
    recover: dict[str, float] = {}
    published_after: dict[str, float] = {}
    episodes: dict[str, int] = {}
    with stack.client() as client:
        for stage in ("mix", "transcribe"):
            # A space of its own for each kill: on a space this short, the transcriptions may
            # all be over before the mix starts, and the other way round.
            space_id = submit_sample(client, short_space)
            victim = wait_until(
                lambda stage=stage, space_id=space_id: running_run(stack, space_id, stage),
                180, f"{stage} running", every_s=0.01,
            )  # fmt: skip
            stack.kill_workers()  # kill -9 the whole worker process group, mid-stage
            stack.start_worker()
            restarted = time.monotonic()

            def done(victim=victim, space_id=space_id):
                for s in stage_status(client, space_id):
                    if (s["stage"], s["participant"]) == (victim["stage"], victim["participant"]):
                        return s if s["status"] == "done" else None
                return None

            finished = wait_until(done, 300, f"{stage} finished again", every_s=0.2)
            assert finished["attempts"] >= 2  # the killed attempt, then the redelivered one
            recover[stage] = time.monotonic() - restarted
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after[stage] = time.monotonic() - restarted
            episodes[stage] = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
    for stage, fault in (("mix", "mixing"), ("transcribe", "transcription")):
        record_result(
            FaultResult(f"kill -9 worker during {fault}", 1, episodes[stage], 0.0, 0.0,
                        recover[stage], published_after[stage],
                        "whole-file upload; recover = restart to the stage done")
        )  # fmt: skip


def test_rabbitmq_restarted_mid_pipeline(own_stack, short_space: Path, tmp_path: Path):
    broker = OwnRabbitmq(tmp_path / "rabbitmq").start()
    try:
        stack = own_stack("rabbitmq", broker_url=broker.url)
        with stack.client() as client:
            space_id, tracks = _live_space(client, short_space)
            reports = _record_all(client, space_id, tracks)
            client.post(f"/spaces/{space_id}/finish").raise_for_status()
            wait_until(lambda: stage_status(client, space_id), 120, "the pipeline started")
            assert _mid_pipeline(client, space_id), "the pipeline finished before the restart"
            down = time.monotonic()
            broker.stop()
            time.sleep(2.0)
            broker.start()
            back = time.monotonic()
            before = _done(client, space_id)
            wait_until(
                lambda: _done(client, space_id) - before or _status(client, space_id),
                300, "a stage finished after the restart", every_s=0.2,
            )  # fmt: skip
            recover = time.monotonic() - back
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - back
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
        acknowledged = {h: r.acknowledged for h, r in reports.items()}
        total, lost = _check_tracks(stack, space_id, acknowledged, tmp_path)
        assert lost == 0.0
    finally:
        broker.stop()
    record_result(
        FaultResult("RabbitMQ restarted mid-pipeline", 1, episodes, total, lost, recover,
                    published_after,
                    f"down {back - down:.1f} s; recover = broker back to the next stage done")
    )  # fmt: skip


def test_rabbitmq_confirms_each_send_and_stages_longer_than_its_consumer_timeout_run_once(
    own_stack, s3_server: LocalS3Server, short_space: Path, tmp_path: Path
) -> None:
    """Publisher confirms: a message RabbitMQ refuses (a queue at its length limit that rejects
    new messages) makes the send raise instead of being lost in silence.

    RabbitMQ closes a channel that holds a message unacknowledged past its consumer timeout
    (a server setting in 3.10: the per-queue ``x-consumer-timeout`` argument came in 3.12) and
    hands the message to another consumer. Here a node of the test's own times out after 2 s
    (checked every second), and the stages are made longer than that for real: S3 is reached
    through a 64 kB/s link (the TCP proxy's rate) while the tracks' speech activity is read. The
    redelivered messages find the stage held by its live attempt and start nothing: every stage
    runs once and the space is published once, instead of being started again and again."""
    broker = OwnRabbitmq(
        tmp_path / "rabbitmq", consumer_timeout=2000, channel_tick_interval=1000
    ).start()
    proxy = TcpProxy(s3_server.port)
    try:
        stack = own_stack(
            "rabbitmq", broker_url=broker.url,
            SPACECAST_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
        )  # fmt: skip
        with stack.client() as client:
            space_id, _ = create_space(client, short_space)  # uploaded at full speed
            proxy.rate_bps = 64_000
            slow = time.monotonic()
            client.post(f"/spaces/{space_id}/finish").raise_for_status()

            def activity_done() -> bool:
                runs = [s for s in stage_status(client, space_id) if s["stage"] == "activity"]
                return len(runs) == 3 and all(s["status"] == "done" for s in runs)

            wait_until(activity_done, 120, "speech activity of every track", every_s=0.2)
            slow_s = time.monotonic() - slow
            proxy.rate_bps = 0
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - slow
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
            attempts = {(s["stage"], s["participant"]): s["attempts"] for s in state["stages"]}
        log = (stack.logs / "worker-0.log").read_text(errors="replace")
        timeouts = log.count("delivery acknowledgement on channel")
        held = log.count("held by a live attempt")
        assert timeouts >= 1, "no stage outlasted the consumer timeout"
        assert held >= 1, "no message was delivered again"
        assert set(attempts.values()) == {1}, attempts  # nothing started twice

        broker.ctl("set_policy", "full", f"^{stack.prefix}control$",
                   '{"max-length": 0, "overflow": "reject-publish"}', "--apply-to", "queues")  # fmt: skip
        code = "from infra.queue import enqueue; enqueue('resume_stalled', within_s=1)"
        refused = subprocess.run(
            [sys.executable, "-c", code], env=stack.env, capture_output=True, text=True, timeout=60
        )
        assert refused.returncode != 0 and "NACKed" in refused.stderr, refused.stderr[-2000:]
    finally:
        proxy.rate_bps = 0
        broker.stop()
    record_result(
        FaultResult("stages longer than RabbitMQ's consumer timeout (2 s; S3 over a 64 kB/s "
                    "link)", timeouts, episodes, 0.0, 0.0, slow_s, published_after,
                    f"whole-file upload; {timeouts} channels closed by the timeout, {held} "
                    "deliveries found the stage held and started nothing; every stage ran "
                    "once; recover = link slowed to the speech activity of every track done")
    )  # fmt: skip


def test_s3_server_stopped_for_30_s_during_uploads_and_processing(
    own_stack, short_space: Path, tmp_path: Path
) -> None:
    s3 = LocalS3Server(tmp_path / "s3" / "data").start()
    try:
        # Fewer tries per S3 request (8 by default), so requests fail over to the queue's and
        # the recorder's retries sooner and the test stays short.
        stack = own_stack("redis", s3=s3, SPACECAST_S3_MAX_ATTEMPTS="3")
        with stack.client() as client:
            processing = submit_sample(client, short_space)  # processed during the outage
            live, tracks = _live_space(client, short_space)  # recorded during the outage
            wait_until(lambda: stage_status(client, processing), 120, "the pipeline started")
            reports: dict = {}
            recorder = threading.Thread(
                target=lambda: reports.update(_record_all(client, live, tracks, speed=1.0))
            )
            recorder.start()
            time.sleep(3.0)
            s3.stop()
            time.sleep(30.0)
            s3.start()
            back = time.monotonic()
            recorder.join(timeout=300)
            assert not recorder.is_alive() and set(reports) == set(tracks)
            assert sum(r.resent for r in reports.values()) > 0  # the outage was felt
            recover = time.monotonic() - back  # the recorders caught up and assembled
            state = wait_until_done(client, processing, timeout_s=300)
            published_after = time.monotonic() - back
            _assert_one_episode_and_no_orphans(stack, client, processing, state)
            assert orphaned_objects(stack, live, {}) == []  # no chunk left after assembly
            retried = [
                s for s in stage_status(client, processing) if s["attempts"] > 1
            ]  # stages the outage interrupted
        acknowledged = {h: r.acknowledged for h, r in reports.items()}
        total, lost = _check_tracks(stack, live, acknowledged, tmp_path)
        assert lost == 0.0
    finally:
        s3.stop()
    record_result(
        FaultResult("S3 server stopped 30 s during uploads and processing", 1, 1, total, lost,
                    recover, published_after,
                    f"recover = S3 back to the live tracks assembled; recorders retried "
                    f"{sum(r.resent for r in reports.values())} requests; {len(retried)} stages "
                    "of the space being processed ran again")
    )  # fmt: skip


def test_a_stage_that_runs_out_of_retries_is_a_dead_letter_that_can_be_retried(
    own_stack, short_space: Path, tmp_path: Path
) -> None:
    s3 = LocalS3Server(tmp_path / "s3" / "data").start()
    try:
        stack = own_stack(
            "redis", s3=s3, SPACECAST_STAGE_RETRIES="1", SPACECAST_S3_MAX_ATTEMPTS="1",
            SPACECAST_RETRY_MIN_BACKOFF_MS="200", SPACECAST_RETRY_MAX_BACKOFF_MS="500",
        )  # fmt: skip
        with stack.client() as client, stack.client("admin") as admin:
            space_id, _ = create_space(client, short_space)
            s3.stop()  # the stages cannot read the tracks: two attempts each, then they give up
            client.post(f"/spaces/{space_id}/finish").raise_for_status()
            wait_until_done(client, space_id, timeout_s=120, until=("failed",))

            def settled() -> dict | None:
                """The space once no stage is queued, running or retrying any more."""
                state = client.get(f"/spaces/{space_id}").raise_for_status().json()
                busy = {"queued", "running", "retrying"} & {s["status"] for s in state["stages"]}
                return None if busy else state

            failed = wait_until(settled, 120, "every stage settled")
            assert {s["status"] for s in failed["stages"]} == {"failed"}, failed["stages"]
            letters = admin.get("/dead-letters", params={"pending": True}).json()
            assert {d["space_id"] for d in letters} == {space_id}
            assert "detect_activity" in {d["actor"] for d in letters}, letters
            assert all("gave up after 2 attempts" in d["reason"] for d in letters), letters
            assert all("Could not connect" in d["reason"] for d in letters), letters
            assert "gave up after" in failed["error"]
            # Every stage either ran out of retries (a letter) or, delivered after the space had
            # failed, says it did not run; reopening the space runs them all again.
            for stage in failed["stages"]:
                if "not run: the space had failed" in (stage["error"] or ""):
                    continue
                assert "gave up after" in stage["error"], stage
                assert STAGE_ACTORS[stage["stage"]] in {d["actor"] for d in letters}, stage

            s3.start()
            back = time.monotonic()
            for letter in letters:
                retried = admin.post(f"/dead-letters/{letter['id']}/retry")
                assert retried.status_code == 202, retried.text
            assert admin.get("/dead-letters", params={"pending": True}).json() == []
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - back
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
    finally:
        s3.stop()
    record_result(
        FaultResult("retries exhausted (S3 away): dead letters retried through the API",
                    len(letters), episodes, 0.0, 0.0, published_after, published_after,
                    "recover = S3 back and letters retried to published")
    )  # fmt: skip


def test_a_start_message_the_broker_lost_is_sent_again_by_the_scheduler(
    own_stack, short_space: Path
) -> None:
    """The broker loses the message that starts the pipeline after the API committed the
    finish (here the stack's queues are deleted, as a Redis restarted without its append-only
    file loses them): the space would wait for ever. The scheduler's periodic nudge resumes it."""
    stack = own_stack("redis")
    stack.kill_workers()  # nobody takes the message before it is lost
    with stack.client() as client:
        space_id = submit_sample(client, short_space)
        stack._drop_queues()
        stack.start_worker()
        time.sleep(3.0)
        state = client.get(f"/spaces/{space_id}").raise_for_status().json()
        assert state["status"] == "processing" and state["stages"] == []  # stalled
        nudged = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "spacecast", "scheduler", "--once"],
            env=stack.env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        state = wait_until_done(client, space_id, timeout_s=300)
        published_after = time.monotonic() - nudged
        episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
    record_result(
        FaultResult("start message lost by the broker, resumed by the scheduler", 1, episodes,
                    0.0, 0.0, published_after, published_after,
                    "whole-file upload; recover = scheduler run to published")
    )  # fmt: skip


def test_redis_restarted_without_its_append_only_file_the_scheduler_sends_the_lost_stages(
    own_stack, short_space: Path, tmp_path: Path
) -> None:
    """Redis without an append-only file restarts mid-pipeline and comes back empty: the queued
    stages' messages are gone (one thread per worker, so it prefetches one message per queue and
    a second queued stage can only be in Redis). The scheduler, running every 2 s, finds the
    broker's marker gone and sends every queued or retrying stage again from PostgreSQL at once,
    instead of after the ten minutes a lost message otherwise waits."""
    redis = OwnRedis(tmp_path / "redis", append_only=False).start()
    try:
        stack = own_stack(
            "redis", broker_url=redis.url, worker_threads=1, SPACECAST_RESUME_INTERVAL_S="2"
        )
        stack.start_scheduler()
        with stack.client() as client:
            space_id = submit_sample(client, short_space)

            def queued_behind() -> bool:
                """Two stages of the audio queue queued: one at least is only in Redis."""
                return (
                    _query(
                        stack,
                        "SELECT count(*) FROM stage_runs WHERE space_id = %s AND status = 'queued' "
                        "AND stage IN ('activity', 'bleed', 'mix', 'master')",
                        space_id,
                    )[0][0]
                    >= 2
                )

            wait_until(queued_behind, 180, "two audio stages queued", every_s=0.01)
            redis.stop()
            redis.start()
            back = time.monotonic()
            left = redis_client.Redis.from_url(redis.url).keys(f"dramatiq:{stack.prefix}*")
            assert left == []  # every message is gone
            log = stack.logs / "worker-0.log"
            seen = len(log.read_bytes())
            # A lost message otherwise waits ten minutes (RESEND_QUEUED_AFTER): bounded well below.
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - back
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
        resent = [
            line for line in log.read_bytes()[seen:].decode(errors="replace").splitlines()
            if "the broker lost the messages it held" in line
        ]  # fmt: skip
        assert resent, "the scheduler never noticed the lost messages"
    finally:
        redis.stop()
    record_result(
        FaultResult("Redis restarted without its append-only file mid-pipeline (messages lost)",
                    1, episodes, 0.0, 0.0, published_after, published_after,
                    f"whole-file upload; scheduler every 2 s; {resent[0].split(': ', 1)[-1]}; "
                    "recover = Redis back (empty) to published")
    )  # fmt: skip


def test_a_paused_worker_that_wakes_after_another_took_its_stage_over_records_nothing(
    own_stack, short_space: Path
) -> None:
    """``kill -STOP`` a worker mid-transcription, past the broker's redelivery (RabbitMQ drops a
    connection that misses its heartbeats, 5 s here, and hands its messages to another worker),
    let a second worker take the stage over and publish, then ``kill -CONT``: the paused
    attempt finishes its work, finds that a newer attempt owns the run (its token) and records
    nothing; the newer result, the episode and the feed stay as they were."""
    stack = own_stack("rabbitmq", broker_url=f"{BROKERS['rabbitmq']}?heartbeat=5")
    paused = stack.workers[0]
    with stack.client() as client:
        space_id = submit_sample(client, short_space)
        victim = wait_until(
            lambda: running_run(stack, space_id, "transcribe"), 180, "a transcription running",
            every_s=0.01,
        )  # fmt: skip
        os.killpg(paused.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            taker = stack.start_worker()

            finished = wait_until(
                lambda: _transcription_done(client, space_id, victim["participant"]), 300,
                "the transcription taken over", every_s=0.2,
            )  # fmt: skip
            recover_s = time.monotonic() - stopped
            state = wait_until_done(client, space_id, timeout_s=300)
            published_s = time.monotonic() - stopped
            assert state["status"] == "published", state["error"]
            assert finished["attempts"] >= 2
            before = _run_row(stack, space_id, victim["participant"])
            assert os.getpgid(before["result"]["worker_pid"]) == taker.pid  # the second worker's
        finally:
            log = stack.logs / "worker-0.log"
            seen = len(log.read_bytes())
            os.killpg(paused.pid, signal.SIGCONT)
        woke = time.monotonic()

        ended = wait_until(
            lambda: _transcription_end(log, seen, victim["subject"]),
            180,
            "the paused attempt to wake and end",
            every_s=0.5,
        )
        stand_down_s = time.monotonic() - woke
        assert "superseded: a newer attempt owns this stage" in ended
        after = _run_row(stack, space_id, victim["participant"])
        assert after == before  # the late result overwrote nothing
        assert client.get(f"/spaces/{space_id}").json()["status"] == "published"
        episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
    record_result(
        FaultResult("worker paused (`kill -STOP`) mid-transcription past redelivery, resumed after "
                    "another worker took over", 1, episodes, 0.0, 0.0, recover_s, published_s,
                    f"whole-file upload; times from the pause; the woken attempt stood down "
                    f"{stand_down_s:.1f} s after `kill -CONT`, recording nothing")
    )  # fmt: skip


def test_a_worker_host_cut_off_mid_transcription_leaves_the_space_to_the_other_host(
    s3_server: LocalS3Server, short_space: Path, tmp_path: Path
) -> None:
    """A deployment over three hosts (network namespaces of their own, tests/service/hosts.py):
    the API on one, a worker on each of two; PostgreSQL, RabbitMQ and the S3 server on the
    machine, reached across the links. The first worker host takes a transcription and its link
    goes down mid-stage: its connections go silent. The second host finishes the space: one
    episode. When the link comes back, the cut-off host's attempt finds that a newer attempt
    owns the run and records nothing."""
    from tests.service.hosts import host_env, make_hosts

    keys = ("SPACECAST_DATABASE_URL", "SPACECAST_BROKER_URL", "SPACECAST_S3_ENDPOINT_URL")
    api_host, first, second = make_hosts(3)
    stack = ServiceStack(
        "rabbitmq", s3_server, tmp_path / "stack", broker_url=f"{BROKERS['rabbitmq']}?heartbeat=5",
        **FAST_RETRIES,
    )  # fmt: skip
    try:
        stack.api_host = api_host.ip
        stack.env["SPACECAST_PUBLIC_BASE_URL"] = stack.base_url
        stack.prepare()
        stack.api = stack._spawn(
            "api", "api", "--host", api_host.ip, "--port", str(stack.port),
            env=host_env(stack.env, api_host, keys), wrap=api_host.wrap,
        )  # fmt: skip
        stack.wait_for_api()
        cut_off = stack.start_worker(env=host_env(stack.env, first, keys), wrap=first.wrap)
        with stack.client() as client:
            space_id = submit_sample(client, short_space)
            victim = wait_until(
                lambda: running_run(stack, space_id, "transcribe"), 180,
                "a transcription running on the first host", every_s=0.01,
            )  # fmt: skip
            log = stack.logs / "worker-0.log"
            seen = len(log.read_bytes())  # the attempt may end while its link is down
            first.cut()
            cut_at = time.monotonic()
            taker = stack.start_worker(env=host_env(stack.env, second, keys), wrap=second.wrap)

            wait_until(
                lambda: _transcription_done(client, space_id, victim["participant"]), 300,
                "the transcription taken over", every_s=0.2,
            )  # fmt: skip
            recover_s = time.monotonic() - cut_at
            state = wait_until_done(client, space_id, timeout_s=300)
            published_s = time.monotonic() - cut_at
            assert state["status"] == "published", state["error"]
            before = _run_row(stack, space_id, victim["participant"])
            assert os.getpgid(before["result"]["worker_pid"]) == taker.pid  # the second host's
            first.mend()
            mended = time.monotonic()

            ended = wait_until(
                lambda: _transcription_end(log, seen, victim["subject"]),
                240,
                "the cut-off attempt to end",
                every_s=0.5,
            )
            stand_down_s = time.monotonic() - mended
            assert "superseded: a newer attempt owns this stage" in ended
            assert _run_row(stack, space_id, victim["participant"]) == before
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
        assert cut_off.poll() is None  # it was cut off, not crashed
    finally:
        stack.stop()
        for host in (api_host, first, second):
            host.remove()
    record_result(
        FaultResult("worker host cut off (its network link down) mid-transcription; API, two "
                    "worker hosts and the services on hosts of their own", 1, episodes, 0.0, 0.0,
                    recover_s, published_s,
                    f"whole-file upload; times from the cut; once the link was back the cut-off "
                    f"attempt stood down {stand_down_s:.1f} s later, recording nothing")
    )  # fmt: skip


def _transcription_done(client: httpx.Client, space_id: str, handle: str) -> dict | None:
    """The participant's transcription stage, once done."""
    for s in stage_status(client, space_id):
        if (s["stage"], s["participant"]) == ("transcribe", handle):
            return s if s["status"] == "done" else None
    return None


def _transcription_end(log: Path, seen: int, subject: str) -> str | None:
    """What a worker's transcription of participant ``subject`` logged in ``log`` after byte
    ``seen`` when its attempt ended, any way: superseded, done, or given up unrecorded."""
    lines = log.read_bytes()[seen:].decode(errors="replace").splitlines()
    ends = [line for line in lines if f"stage=transcribe participant={subject}]" in line and (
        "superseded" in line or line.endswith("] done") or "outcome not recorded:" in line)]  # fmt: skip
    return ends[0] if ends else None


def _run_row(stack: ServiceStack, space_id: str, handle: str) -> dict:
    (status, result, token, attempts, error) = _query(
        stack,
        "SELECT r.status, r.result, r.attempt_token, r.attempts, r.error FROM stage_runs r "
        "JOIN participants p ON p.id = r.subject "
        "WHERE r.space_id = %s AND r.stage = 'transcribe' AND p.handle = %s",
        space_id,
        handle,
    )[0]
    result = json.loads(result) if isinstance(result, str) else result
    return {"status": status, "result": result, "token": token, "attempts": attempts,
            "error": error}  # fmt: skip


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")


def _resize_tmpfs(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def test_a_full_scratch_disk_fails_stages_cleanly_and_they_run_again_once_there_is_room(
    own_stack, short_space: Path, tmp_path: Path
) -> None:
    """The workers' scratch directory is a small tmpfs, filled up (resized to 1 MiB: a track
    fits, its decoded audio does not, so ffmpeg runs out of room): the stages that need it fail
    with "the scratch disk was full", are
    retried rather than failed for good (an ffmpeg that runs out of room is the machine's
    trouble, not the input's), nothing is published meanwhile and nothing half-written stays
    behind; once there is room the space is published, once."""
    scratch = tmp_path / "scratch"
    _mount_tmpfs(scratch, "256m")
    try:
        stack = own_stack("redis", SPACECAST_WORK_DIR=str(scratch))
        stack.kill_workers()
        with stack.client() as client:
            space_id = submit_sample(client, short_space)  # uploads go through while there is room
            _resize_tmpfs(scratch, "1m")
            stack.start_worker()

            def full_errors() -> list[dict]:
                return [
                    s for s in stage_status(client, space_id)
                    if s.get("error") == "the scratch disk was full; the stage is retried"
                ]  # fmt: skip

            stalled = wait_until(full_errors, 240, "a stage meeting the full disk", every_s=0.3)
            time.sleep(2.0)  # a few more attempts against the full disk
            state = client.get(f"/spaces/{space_id}").json()
            assert state["status"] == "processing", state  # not failed for good
            assert count_episodes(stack, space_id) == 0
            _resize_tmpfs(scratch, "256m")
            freed = time.monotonic()
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - freed
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
            assert sorted(p.name for p in scratch.iterdir()) == []  # every attempt cleaned up
        stack.stop(drop_queues=True)
    finally:
        subprocess.run(["umount", "-l", str(scratch)], check=False)
    record_result(
        FaultResult("scratch disk full (a 1 MiB tmpfs) during processing, then resized", 1,
                    episodes, 0.0, 0.0, published_after, published_after,
                    f"whole-file upload; {len(stalled)} stage(s) retried with 'the scratch disk "
                    "was full' meanwhile, none failed for good; recover = room to published")
    )  # fmt: skip


def test_s3_behind_a_proxy_that_hangs_silently_then_resets_mid_transfer(
    own_stack, s3_server: LocalS3Server, short_space: Path
) -> None:
    """Between the service and S3, a TCP proxy: while a space is processed it first hangs
    silently (no bytes, no close) for 20 s, then cuts every connection with a reset after its
    first KiB for 10 s. Every S3 call is bounded (a 5 s read timeout, 3 tries), so no worker
    hangs: the stages say the object store was unavailable and are retried; once the proxy
    passes bytes again the space is published, once, with no partial or orphaned object."""

    def bounded() -> list[dict]:
        return [
            s for s in stage_status(client, space_id)
            if s.get("error") == "the object store was unavailable; the stage is retried"
        ]  # fmt: skip

    proxy = TcpProxy(s3_server.port)
    try:
        stack = own_stack(
            "redis",
            SPACECAST_S3_READ_TIMEOUT_S="5",
            SPACECAST_S3_MAX_ATTEMPTS="3",
            SPACECAST_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
        )
        stack.kill_workers()
        with stack.client() as client:
            space_id = submit_sample(client, short_space)
            proxy.mode = "hang"
            hung = time.monotonic()
            stack.start_worker()
            # A download tries 5 times (boto3's transfer), each GET 3 times, each read 5 s.
            first = wait_until(bounded, 300, "a stage bounded by the S3 timeout", every_s=0.3)
            bounded_after_s = time.monotonic() - hung
            wait_until(lambda: time.monotonic() - hung >= 20, 30, "20 s of hang")
            proxy.mode = "reset"
            time.sleep(10)
            proxy.mode = "pass"
            healed = time.monotonic()
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - healed
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
            assert first
    finally:
        proxy.mode = "pass"  # the fixture's teardown still reaches the bucket
    record_result(
        FaultResult("S3 behind a TCP proxy: a silent hang for 20 s, then resets mid-transfer for "
                    "10 s, during processing", 2, episodes, 0.0, 0.0, published_after,
                    published_after,
                    f"whole-file upload; the first stage said the object store was unavailable "
                    f"{bounded_after_s:.1f} s into the hang (5 s read timeout, 3 tries); "
                    f"{proxy.resets} connections reset; recover = proxy passing to published")
    )  # fmt: skip


def test_database_and_redis_behind_proxies_that_slow_cut_and_hang_their_connections(
    own_stack, short_space: Path, tmp_path: Path
) -> None:
    """Between the service and PostgreSQL, and between the service and Redis, a TCP proxy each,
    while a space is processed: 500 ms of latency on every piece of data (8 s, both), then every
    database connection reset after its first KiB (5 s), then a silent hang of the database
    (8 s: no bytes, no close).
    Every database wait is bounded (``SPACECAST_DATABASE_TIMEOUT_S=5``: the connection is
    closed and the work retried) and so is every Redis command (``SPACECAST_BROKER_TIMEOUT_S``),
    so no API or worker process hangs; once the proxies pass again the space is published once,
    with no orphaned object."""
    redis = OwnRedis(tmp_path / "redis").start()
    database, broker = TcpProxy(5432), TcpProxy(redis.port)
    proxies = (database, broker)
    try:
        stack = own_stack(
            "redis",
            broker_url=f"redis://127.0.0.1:{broker.port}/0",
            database_port=database.port,
            SPACECAST_DATABASE_TIMEOUT_S="5",
            SPACECAST_BROKER_TIMEOUT_S="5",
            SPACECAST_RESUME_INTERVAL_S="2",
        )
        # The deployment's scheduler: a stage whose attempt died while neither the database nor
        # the broker could take its outcome or its retry is sent again once its lease runs out.
        stack.start_scheduler()
        with stack.client() as client:
            space_id = submit_sample(client, short_space)
            wait_until(lambda: _done(client, space_id), 180, "a first stage done", every_s=0.2)
            assert _mid_pipeline(client, space_id)
            started = time.monotonic()
            for proxy in proxies:
                proxy.latency_s = 0.5
            time.sleep(8)
            for proxy in proxies:
                proxy.latency_s = 0.0
            # Resets and hangs on the database only: on Redis they can strand a message that
            # Dramatiq fetched and whose answer was lost until the ten-minute resend.
            database.mode = "reset"
            time.sleep(5)
            database.mode = "hang"
            time.sleep(8)
            for proxy in proxies:
                proxy.mode = "pass"
            healed = time.monotonic()
            state = wait_until_done(client, space_id, timeout_s=300)
            published_after = time.monotonic() - healed
            episodes = _assert_one_episode_and_no_orphans(stack, client, space_id, state)
        logs = "".join(p.read_text(errors="replace") for p in stack.logs.glob("*.log"))
        bounded = logs.count("PostgreSQL did not answer within 5 s")
        assert bounded >= 1, "no database wait met the hang"
        assert all(w.poll() is None for w in stack.workers)  # no worker died or hung for good
    finally:
        for proxy in proxies:
            proxy.mode, proxy.latency_s = "pass", 0.0
        redis.stop()
    record_result(
        FaultResult("PostgreSQL and Redis behind TCP proxies: 500 ms latency 8 s (both), then "
                    "resets mid-transfer 5 s and a silent hang 8 s (the database), during "
                    "processing", 3, episodes,
                    0.0, 0.0, published_after, time.monotonic() - started,
                    f"whole-file upload; {database.resets + broker.resets} connections reset; "
                    f"{bounded} database waits cut by the 5 s bound; recover = proxies passing "
                    "to published")
    )  # fmt: skip
