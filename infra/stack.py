"""A real deployment on loopback for service tests and benchmarks: a PostgreSQL database of its
own, Redis or RabbitMQ with its own queue prefix, an S3 server, and `spacecast api` and
`spacecast worker` as their own processes."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from infra.s3server import LocalS3Server, free_port

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/%2F",
}
QUEUES = ("control", "audio", "transcribe", "clips", "live")


class ServiceStack:
    def __init__(
        self,
        broker: str,
        s3: LocalS3Server,
        logs: Path,
        *,
        worker_processes: int = 1,
        worker_threads: int = 2,
        broker_url: str | None = None,
        database_port: int = 5432,
        **settings: str,
    ) -> None:
        """``broker`` is "redis" or "rabbitmq"; ``broker_url`` points at another server of that
        kind than the machine's shared one (the fault tests restart their own);
        ``database_port`` reaches PostgreSQL through another port (a fault test's proxy)."""
        self.broker = broker
        self.broker_url = broker_url or BROKERS[broker]
        self.worker_processes = worker_processes
        self.worker_threads = worker_threads
        self.s3 = s3
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(4)
        self.database = f"spacecast_test_{self.token}"
        self.bucket = f"spacecast-{self.token}"
        self.port = free_port()
        self.api_host = (
            "127.0.0.1"  # where the API listens (another host's address: tests/service/hosts.py)
        )
        self.prefix = f"t{self.token}."
        self.env = {
            # A stack is configured by its own settings alone: the test process may hold another
            # deployment's (the API tests keep theirs in the environment for the whole session,
            # small upload limits among them), and a child must not inherit them.
            **{k: v for k, v in os.environ.items() if not k.startswith("SPACECAST_")},
            **s3.env(self.bucket),
            "SPACECAST_DATABASE_URL": (
                f"postgresql+psycopg://postgres@127.0.0.1:{database_port}/{self.database}"
            ),
            "SPACECAST_BROKER_URL": self.broker_url,
            "SPACECAST_QUEUE_PREFIX": self.prefix,
            "SPACECAST_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
            **settings,
        }
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.schedulers: list[subprocess.Popen] = []
        self.more_apis: list[subprocess.Popen] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.api_host}:{self.port}"

    def _spawn(
        self, name: str, *args: str, env: dict | None = None, wrap: tuple[str, ...] = ()
    ) -> subprocess.Popen:
        """``spacecast ARGS`` as its own process; ``wrap`` runs it through another command (a
        network namespace's ``ip netns exec``) with ``env`` instead of the stack's settings."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [*wrap, sys.executable, "-m", "spacecast", *args],
            env=env or self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a test can kill it whole
        )
        log.close()
        return process

    def start(self) -> ServiceStack:
        self.prepare()
        self.api = self._spawn("api", "api", "--port", str(self.port))
        self.start_worker()
        return self.wait_for_api()

    def prepare(self) -> ServiceStack:
        """The stack's database, its schema and its accounts; no process started yet."""
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:  # a test may restore a backup into it first
                conn.execute(f'CREATE DATABASE "{self.database}"')
        subprocess.run(
            [sys.executable, "-m", "spacecast", "migrate"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.host_key = self.create_user("Host", "host")
        self.admin_key = self.create_user("Admin", "admin")
        self.room_key = self.create_user("Room service", "room")
        return self

    def wait_for_api(self) -> ServiceStack:
        _wait_healthy(self.base_url, self.api, f"API did not start; see {self.logs / 'api.log'}")
        return self

    def create_user(self, name: str, *roles: str) -> str:
        """An account made with the CLI, as an operator would; returns its API key."""
        args = [arg for role in roles for arg in ("--role", role)]
        done = subprocess.run(
            [sys.executable, "-m", "spacecast", "users", "create", name, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout)["api_key"]

    def start_worker(self, **spawn) -> subprocess.Popen:
        """One more ``spacecast worker`` (``spawn``: ``env`` and ``wrap``, as ``_spawn`` takes)."""
        worker = self._spawn(
            f"worker-{len(self.workers)}",
            "worker",
            "--processes",
            str(self.worker_processes),
            "--threads",
            str(self.worker_threads),
            **spawn,
        )
        self.workers.append(worker)
        return worker

    def start_api(
        self, port: int, *, workers: int = 1, tree: Path | None = None, **settings: str
    ) -> subprocess.Popen:
        """One more ``spacecast api`` on the stack's database (``workers`` processes on
        ``port``, ``settings`` as SPACECAST_ variables), from another source tree if given
        (the same schema: a benchmark's baseline); returns once it answers."""
        env = {**self.env, **settings}
        if tree is not None:
            env["PYTHONPATH"] = str(tree)
        log = open(self.logs / f"api-{port}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [sys.executable, "-m", "spacecast", "api", "--port", str(port),
             "--workers", str(workers)] if workers > 1 else
            [sys.executable, "-m", "spacecast", "api", "--port", str(port)],
            env=env, cwd=tree, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.more_apis.append(process)
        _wait_healthy(
            f"http://127.0.0.1:{port}", process, f"API on port {port} did not start; see {log.name}"
        )
        return process

    def stop_process(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def start_scheduler(self) -> subprocess.Popen:
        """``spacecast scheduler``, as a deployment runs one (its intervals from the settings)."""
        self.schedulers.append(self._spawn(f"scheduler-{len(self.schedulers)}", "scheduler"))
        return self.schedulers[-1]

    def kill_workers(self) -> None:
        """kill -9 every worker process (the whole process group), as a crash would."""
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()

    def send(self, actor: str, *args: str) -> None:
        """Enqueue a message from a separate process, as any producer would."""
        code = f"import sys; from infra.queue import enqueue; enqueue({actor!r}, *sys.argv[1:])"
        subprocess.run([sys.executable, "-c", code, *args], env=self.env, check=True, timeout=60)

    def store(self):
        """The stack's bucket, seen from the test."""
        from infra.settings import Settings
        from infra.storage import ObjectStore

        prefix = "SPACECAST_"
        values = {
            k.removeprefix(prefix).lower(): v
            for k, v in self.env.items()
            if k.startswith(prefix + "S3_")
        }
        return ObjectStore(Settings(**values))

    def client(self, key: str | None = "host") -> httpx.Client:
        """A client with the host's key (``key="admin"``, another key, or None for anonymous)."""
        named = {"host": self.host_key, "admin": self.admin_key, "room": self.room_key}
        token = named.get(key, key) if key else None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.base_url, timeout=120, headers=headers)

    def join(self, space_id: str, handle: str) -> str:
        """A participant joins the live room as the real flow has it: their device makes a
        secret, the room service reports the join with its SHA-256, and the device claims its
        own key with the secret. Returns the participant's key."""
        secret = secrets.token_urlsafe(32)
        challenge = hashlib.sha256(secret.encode()).hexdigest()
        with self.client("room") as room:
            room.post(
                f"/spaces/{space_id}/participants/{handle}/join",
                json={"device_challenge": challenge},
            ).raise_for_status()
        with self.client(None) as device:
            claimed = device.post("/participants/claim", json={"secret": secret})
            return claimed.raise_for_status().json()["participant_key"]

    def invite(self, space_id: str, handle: str) -> str:
        """After the room: the room service asks for an invite link and the participant opens
        it; returns the participant's key."""
        with self.client("room") as room:
            url = room.post(f"/spaces/{space_id}/participants/{handle}/invite")
            secret = url.raise_for_status().json()["url"].split("#", 1)[1]
        with self.client(None) as device:
            claimed = device.post("/participants/claim", json={"secret": secret})
            return claimed.raise_for_status().json()["participant_key"]

    def wait_for(self, space_id: str, statuses: tuple[str, ...], timeout_s: float = 300) -> dict:
        deadline = time.monotonic() + timeout_s
        with self.client() as client:
            while True:
                state = client.get(f"/spaces/{space_id}").raise_for_status().json()
                if state["status"] in statuses:
                    return state
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"space {space_id} still {state['status']}: {state['stages']}"
                    )
                time.sleep(0.3)

    def stop(self, *, drop_queues: bool = True) -> None:
        for process in [*self.workers, *self.schedulers, *self.more_apis, self.api]:
            if process is not None:
                self.stop_process(process)
        if drop_queues:
            self._drop_queues()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _drop_queues(self) -> None:
        names = [f"{self.prefix}{q}{suffix}" for q in QUEUES for suffix in ("", ".DQ", ".XQ")]
        if self.broker == "redis":
            import redis

            client = redis.Redis.from_url(self.broker_url)
            keys = [
                k for pattern in (f"dramatiq:{self.prefix}*",) for k in client.scan_iter(pattern)
            ]
            if keys:
                client.delete(*keys)
        else:
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
            channel = connection.channel()
            for name in [*names, f"{self.prefix}broker-epoch"]:
                channel.queue_delete(queue=name)
            connection.close()


def _wait_healthy(base_url: str, process: subprocess.Popen, failure: str) -> None:
    """Wait until the API at ``base_url`` answers its health check (60 s at most)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(failure)
        time.sleep(0.2)
