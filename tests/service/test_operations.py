"""Operating the service: /healthz and /readyz follow the real dependencies (a Redis of the
test's own stopped and started, the schema moved behind its migrations, a dependency that hangs),
and /metrics counts requests per route template and reports the deployment's figures as the
database and the broker hold them, to a monitor or admin key only."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.health import Readiness
from infra.s3server import free_port
from tests.service.faults import OwnRedis, _query, wait_until
from tests.service.stack import ServiceStack

READY_TIMEOUT_S = 1.5


@pytest.fixture
def own_redis(tmp_path: Path):
    redis = OwnRedis(tmp_path / "redis").start()
    yield redis
    redis.stop()


@pytest.fixture
def stack(s3_server, own_redis: OwnRedis, tmp_path: Path):
    stack = ServiceStack(
        "redis",
        s3_server,
        tmp_path / "stack",
        broker_url=own_redis.url,
        SPACECAST_READY_TIMEOUT_S=str(READY_TIMEOUT_S),
        SPACECAST_WORKER_METRICS_PORT=str(free_port()),
    )
    yield stack.start()
    stack.stop(drop_queues=False)


def _execute(stack: ServiceStack, sql: str, *args) -> None:
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql, args)


def _ready(stack: ServiceStack) -> tuple[int, dict, float]:
    started = time.monotonic()
    answer = httpx.get(f"{stack.base_url}/readyz", timeout=30)
    return answer.status_code, answer.json(), time.monotonic() - started


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_readyz_names_the_dependency_that_is_not_ready_and_healthz_stays_up(
    stack: ServiceStack, own_redis: OwnRedis
):
    status, body, _ = _ready(stack)
    assert status == 200, body
    assert body["not_ready"] == []
    assert set(body["checks"]) == {"database", "migrations", "broker", "object_store"}

    own_redis.stop()
    # A result is reused for up to a second, so the next probes may still say ready.
    status, body, elapsed_s = wait_until(
        lambda: (answer := _ready(stack))[0] == 503 and answer, 10, "readyz 503", every_s=0.2
    )
    assert body["not_ready"] == ["broker"]
    assert body["checks"]["broker"]["detail"].startswith("unreachable")
    assert elapsed_s < READY_TIMEOUT_S + 5  # bounded, with a margin for a busy machine
    assert httpx.get(f"{stack.base_url}/healthz", timeout=10).json() == {"status": "ok"}

    own_redis.start()
    wait_until(lambda: _ready(stack)[0] == 200, 30, "readyz after Redis came back", every_s=0.5)

    # A database behind this release's migrations (an upgrade that skipped spacecast migrate).
    (head,) = _query(stack, "SELECT version_num FROM alembic_version")[0]
    _execute(stack, "UPDATE alembic_version SET version_num = '0007'")
    try:
        status, body, _ = wait_until(
            lambda: (answer := _ready(stack))[0] == 503 and answer, 10, "readyz 503", every_s=0.2
        )
        assert body["not_ready"] == ["migrations"]
        assert body["checks"]["migrations"]["detail"] == (
            f"schema at revision 0007, expected {head}; run spacecast migrate"
        )
    finally:
        _execute(stack, "UPDATE alembic_version SET version_num = %s", head)
    wait_until(lambda: _ready(stack)[0] == 200, 10, "readyz 200 again", every_s=0.2)


def test_a_hanging_dependency_is_reported_within_the_time_limit_without_piling_up_threads():
    """A server that accepts connections and never answers (a silent hang): every readiness
    call answers within its limit, and a probe still stuck is not started again."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    threading.Thread(
        target=lambda: [accepted.append(listener.accept()[0]) for _ in range(50)], daemon=True
    ).start()
    calls = []

    def hangs() -> None:
        calls.append(1)
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.settimeout(60)  # far past the probe's limit; a backstop for the test
            connection.recv(1)  # only the server closing ends it

    readiness = Readiness({"hanging": hangs, "fine": lambda: None}, timeout_s=0.5)
    threads_before = threading.active_count()
    for _ in range(4):
        started = time.monotonic()
        results = {r.name: r for r in readiness.run()}
        assert time.monotonic() - started < 0.5 + 2
        assert not results["hanging"].ready
        assert results["hanging"].detail == "no answer within 0.5 s"
        assert results["fine"].ready
    assert len(calls) == 1  # still stuck: never started again
    assert threading.active_count() <= threads_before + 2
    for connection in accepted:
        connection.close()  # the hang ends: the next call starts the check again
    wait_until(
        lambda: readiness.run() and len(calls) == 2, 10, "the check started again", every_s=0.2
    )
    listener.close()
    wait_until(lambda: len(accepted) == 2, 10, "the second connection")
    for connection in accepted:
        connection.close()  # the second check ends too


def test_metrics_count_routes_by_template_for_monitor_keys_only(stack: ServiceStack):
    monitor_key = stack.create_user("Prometheus", "monitor")
    with httpx.Client(base_url=stack.base_url, timeout=30) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with stack.client("host") as host:
        assert host.get("/metrics").status_code == 403
        # Probes of ids that do not exist, and a path no route has.
        for n in range(3):
            assert host.get(f"/spaces/nope{n}").status_code == 404
        assert host.get("/no/such/path/x1").status_code == 404
        show = host.post("/shows", json={"title": "Metrics", "author": "Ops"}).json()
        space = host.post(
            f"/shows/{show['id']}/spaces",
            json={
                "title": "Counted",
                "participants": [{"id": "alice", "name": "Alice", "offset": 0}],
            },
        )
        assert space.status_code == 201, space.text
    with stack.client(monitor_key) as monitor:
        assert monitor.post("/users", json={"name": "x", "roles": ["host"]}).status_code == 403
        assert monitor.get("/dead-letters").status_code == 403
        answer = monitor.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(answer.text)
    requests = "spacecast_http_requests_total"
    assert _value(samples, requests, method="GET", route="/spaces/{space_id}", status="404") == 3
    assert _value(samples, requests, method="GET", route="unmatched", status="404") == 1
    assert _value(samples, requests, method="GET", route="/metrics", status="401") == 1
    assert not [key for key in samples if "nope" in str(key) or "x1" in str(key)]
    latency = "spacecast_http_request_duration_seconds_count"
    assert _value(samples, latency, method="POST", route="/shows/{show_id}/spaces") == 1

    # The deployment's figures are the database's.
    (recording,) = _query(stack, "SELECT count(*) FROM spaces WHERE status = 'recording'")[0]
    assert recording == 1
    assert _value(samples, "spacecast_spaces", status="recording") == 1
    assert _value(samples, "spacecast_scrape_source_up", source="database") == 1
    assert _value(samples, "spacecast_scrape_source_up", source="broker") == 1
    space_id = space.json()["id"]
    for n, (done, attempts) in enumerate([(True, 1), (False, 0), (False, 3)]):
        _execute(
            stack,
            "INSERT INTO deletions (space_id, object_key, reason, requested_at, deleted_at, "
            "attempts) VALUES (%s, %s, 'test', now(), CASE WHEN %s THEN now() END, %s)",
            space_id,
            f"raw/{space_id}/k{n}",
            done,
            attempts,
        )
    _execute(
        stack,
        "INSERT INTO dead_letters (id, message_id, queue_name, actor, args, message, reason, "
        "failed_at, retries) VALUES ('dl1', 'm1', 'q', 'mix_space', '[]', '{}', 'test', now(), 0)",
    )
    # Messages no worker takes: the workers are stopped.
    stack.kill_workers()
    for _ in range(2):
        stack.send("sweep_vault")
    with stack.client(monitor_key) as monitor:
        samples = _samples(monitor.get("/metrics").text)
    assert _value(samples, "spacecast_vault_deletions", state="done") == 1
    assert _value(samples, "spacecast_vault_deletions", state="pending") == 2
    assert _value(samples, "spacecast_vault_deletions", state="failing") == 1
    assert _value(samples, "spacecast_dead_letters", state="pending") == 1
    assert _value(samples, "spacecast_queue_messages", queue="control", state="ready") == 2
    assert _value(samples, "spacecast_queue_messages", queue="audio", state="ready") == 0


def test_workers_export_each_actors_messages_and_durations(stack: ServiceStack):
    port = int(stack.env["SPACECAST_WORKER_METRICS_PORT"])
    stack.send("sweep_vault")

    def swept() -> dict | None:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        except httpx.HTTPError:
            return None
        samples = _samples(text)
        labels = {"queue_name": f"{stack.prefix}control", "actor_name": "sweep_vault"}
        done = _value(samples, "dramatiq_messages_total", **labels)
        return samples if done else None

    samples = wait_until(swept, 120, "the worker's exporter counting sweep_vault", every_s=0.5)
    labels = {"queue_name": f"{stack.prefix}control", "actor_name": "sweep_vault"}
    assert _value(samples, "dramatiq_messages_total", **labels) == 1
    assert _value(samples, "dramatiq_message_duration_milliseconds_count", **labels) == 1
    assert not _value(samples, "dramatiq_message_errors_total", **labels)
    # Bound to the configured address only (loopback by default).
    with socket.socket() as probe:
        probe.settimeout(2)
        other = socket.gethostbyname(socket.gethostname())
        if not other.startswith("127."):
            assert probe.connect_ex((other, port)) != 0


def test_json_log_lines_carry_request_space_stage_and_message_ids(
    s3_server, own_redis: OwnRedis, tmp_path: Path
):
    stack = ServiceStack(
        "redis",
        s3_server,
        tmp_path / "stack",
        broker_url=own_redis.url,
        SPACECAST_LOG_FORMAT="json",
    ).start()
    try:
        with stack.client("host") as host:
            answer = host.get("/spaces/nope", headers={"X-Request-ID": "probe-42"})
            assert answer.status_code == 404
            assert answer.headers["x-request-id"] == "probe-42"
            forged = host.get("/spaces/nope", headers={"X-Request-ID": 'a b"}' + "x" * 80})
            assert forged.headers["x-request-id"] != 'a b"}' + "x" * 80
            assert len(forged.headers["x-request-id"]) == 32
            show = host.post("/shows", json={"title": "Logs", "author": "Ops"}).json()
            space = host.post(
                f"/shows/{show['id']}/spaces",
                json={
                    "title": "Logged",
                    "participants": [{"id": "alice", "name": "A", "offset": 0}],
                },
            ).json()
        # A mix that ran out of retries: the workers' owner of that fact logs it.
        _execute(
            stack,
            "INSERT INTO stage_runs (id, space_id, stage, subject, fingerprint, status, attempts, "
            "progress, queued_at, updated_at) VALUES ('r1', %s, 'mix', '', 'f', 'retrying', 3, 0, "
            "now(), now())",
            space["id"],
        )
        message = {"actor_name": "mix_space", "args": [space["id"]], "message_id": "m1"}
        code = (
            "import json, sys; from infra.queue import enqueue; "
            "enqueue('stage_gave_up', json.loads(sys.argv[1]), json.loads(sys.argv[2]))"
        )
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(message), json.dumps({"retries": 3})],
            env=stack.env,
            check=True,
            timeout=60,
        )

        def gave_up() -> list[dict]:
            lines = _json_lines(stack.logs / "worker-0.log")
            return [line for line in lines if line["message"] == "gave up after 3 retries"]

        (line,) = wait_until(gave_up, 60, "the worker's JSON line", every_s=0.3)
        assert line["level"] == "ERROR"
        assert line["space_id"] == space["id"] and line["stage"] == "mix"
        assert line["message_id"] and line["message_id"] != "m1"  # the stage_gave_up message's
        access = [
            line
            for line in _json_lines(stack.logs / "api.log")
            if line.get("request_id") == "probe-42"
        ]
        assert access and "GET /spaces/nope" in access[0]["message"]
    finally:
        stack.stop(drop_queues=False)


def _json_lines(path: Path) -> list[dict]:
    """Every line of a log, each of which must be one JSON object."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_flood_of_readiness_probes_asks_each_dependency_at_most_once_a_second():
    calls = []
    readiness = Readiness({"counted": lambda: calls.append(time.monotonic())}, timeout_s=1.0)
    started = time.monotonic()
    answered = 0
    while time.monotonic() - started < 2.5:
        assert all(r.ready for r in readiness.run())
        answered += 1
    assert answered > 50
    assert 2 <= len(calls) <= 4  # once a second, not once a call
