"""What the fault tests need beyond the stack: a Redis and a RabbitMQ node of their own (the
machine's shared ones serve other test runs and must never be restarted), ways to inject faults,
checks of what survived, and the table of measurements they write."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import podcastparser
import psycopg

from infra.s3server import free_port
from infra.stack import PG_ADMIN, ServiceStack
from pipeline.chunks import RATE_HZ

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SPACECAST_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _wait_port(port: int, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


class OwnRedis:
    """A Redis server of this test on a free port, with its append-only file written on every
    command (what a deployment that must not lose queued messages runs), so a restart keeps
    the queues; or, with ``append_only=False``, none (a restart loses every message)."""

    def __init__(self, folder: Path, *, append_only: bool = True) -> None:
        self.folder = folder
        self.append_only = append_only
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.folder), "--save", "", "--appendonly", "yes" if self.append_only else "no",
             "--appendfsync", "always",
             "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        _wait_port(self.port, 20, "redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # redis flushes its append-only file on SIGTERM
            self.process.wait(timeout=20)
        self.process = None


class OwnRabbitmq:
    """A second RabbitMQ node (its own name, ports, database and logs in a temporary folder)
    beside the machine's shared one; restarting it keeps durable queues and persistent
    messages, as a production node's restart does."""

    def __init__(self, folder: Path, **server: int) -> None:
        """``server``: settings of the ``rabbit`` application for this node (its advanced.config),
        such as ``consumer_timeout`` in ms."""
        self.folder = folder
        self.server = server
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"spacecast-faults-{os.getpid()}-{self.port}@localhost"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        (self.folder / "enabled_plugins").write_text("[].\n")
        settings = ", ".join(f"{{{k}, {v}}}" for k, v in self.server.items())
        (self.folder / "advanced.config").write_text(f"[{{rabbit, [{settings}]}}].\n")
        return {
            **os.environ,
            "HOME": str(self.folder),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_PID_FILE": str(self.folder / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "none"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.folder / "advanced.config"),
        }

    def start(self) -> OwnRabbitmq:
        self.folder.mkdir(parents=True, exist_ok=True)
        server = shutil.which("rabbitmq-server", path="/usr/lib/rabbitmq/bin") or "rabbitmq-server"
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [server], env=self._env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        _wait_port(self.port, 60, f"RabbitMQ node {self.node}")
        return self

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        """``rabbitmqctl`` on this node."""
        ctl = shutil.which("rabbitmqctl", path="/usr/lib/rabbitmq/bin") or "rabbitmqctl"
        return subprocess.run(
            [ctl, "-n", self.node, *args], env=self._env(), capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip

    def stop(self) -> None:
        if self.process is None:
            return
        ctl = shutil.which("rabbitmqctl", path="/usr/lib/rabbitmq/bin") or "rabbitmqctl"
        subprocess.run(
            [ctl, "-n", self.node, "stop"], env=self._env(), capture_output=True, timeout=60
        )
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def drop_database_connections(stack: ServiceStack) -> int:
    """Terminate every connection the stack's API and workers hold to PostgreSQL."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (stack.database,),
        ).fetchall()
    return len(rows)


def cut_upload_mid_chunk(stack: ServiceStack, key: str, url: str, data: bytes) -> None:
    """Send a chunk's headers and half its body, then drop the connection, as a recorder that
    crashes or loses its network mid-request does."""
    request = (
        f"PUT {url} HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(request + data[: len(data) // 2])
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_RDWR)


def stage_status(client: httpx.Client, space_id: str) -> list[dict]:
    return client.get(f"/spaces/{space_id}").raise_for_status().json()["stages"]


def wait_until(predicate, timeout_s: float, what: str, every_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(every_s)


def running_run(stack: ServiceStack, space_id: str, stage: str) -> dict | None:
    """A running run of ``stage``, read from the database directly (polled every few ms: the
    stages of a short space run for about a second)."""
    rows = _query(
        stack,
        "SELECT r.stage, coalesce(p.handle, ''), r.subject FROM stage_runs r "
        "LEFT JOIN participants p ON p.id = r.subject "
        "WHERE r.space_id = %s AND r.stage = %s AND r.status = 'running'",
        space_id,
        stage,
    )
    if not rows:
        return None
    return {"stage": rows[0][0], "participant": rows[0][1] or None, "subject": rows[0][2]}


def episodes_in_feed(client: httpx.Client, state: dict) -> int:
    url = state["episode"]["feed_url"]
    return len(podcastparser.parse(url, io.BytesIO(client.get(url).content))["episodes"])


def decoded_track(store, key: str, folder: Path) -> bytes:
    """A stored track decoded to 48 kHz mono s16le (what the chunks were)."""
    path = folder / key.replace("/", "_")
    store.get_file(key, path)
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", f"file:{path}", "-f", "s16le", "-ac", "1", "-ar",
         str(RATE_HZ), "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def acknowledged_seconds_lost(pcm: bytes, acknowledged: list[dict]) -> float:
    """Seconds of acknowledged chunks not found, byte for byte, at their place in the track."""
    lost = 0
    for chunk in acknowledged:
        start = chunk["start_sample"] * 2
        at = pcm[start : start + chunk["samples"] * 2]
        if hashlib.sha256(at).hexdigest() != chunk["sha256"]:
            lost += chunk["samples"]
    return lost / RATE_HZ


def orphaned_objects(stack: ServiceStack, space_id: str, state: dict) -> list[str]:
    """Objects of the space that nothing refers to: chunks left after assembly, raw objects
    without a track, intermediates or media of another rendering, unfinished multipart uploads."""
    store = stack.store()
    tracks = {
        row[0]
        for row in _query(
            stack,
            "SELECT t.object_key FROM tracks t JOIN participants p ON p.id = t.participant_id "
            "WHERE p.space_id = %s",
            space_id,
        )
    }
    results = _query(
        stack, "SELECT result FROM stage_runs WHERE space_id = %s AND status = 'done'", space_id
    )
    referenced = set(tracks)
    for (result,) in results:
        for value in _strings(result):
            referenced.add(value)
    media = {f["key"] for f in (_episode_media(stack, space_id) or [])}
    referenced |= media
    keys = [
        k for prefix in ("raw/", "work/", "media/") for k in store.list_keys(f"{prefix}{space_id}/")
    ]
    orphans = [k for k in keys if k not in referenced]
    orphans += [f"multipart:{k}" for k in store.pending_multipart_uploads()]
    return orphans


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _episode_media(stack: ServiceStack, space_id: str) -> list[dict]:
    rows = _query(stack, "SELECT media, transcripts FROM episodes WHERE space_id = %s", space_id)
    if not rows:
        return []
    media, transcripts = rows[0]
    return [*media.values(), *({"key": k} for k in transcripts.values())]


def _query(stack: ServiceStack, sql: str, *args) -> list[tuple]:
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def count_episodes(stack: ServiceStack, space_id: str) -> int:
    return _query(stack, "SELECT count(*) FROM episodes WHERE space_id = %s", space_id)[0][0]


@dataclass
class FaultResult:
    fault: str
    runs: int  # times the fault was injected
    episodes: int  # episodes produced for the space (goal 1)
    acknowledged_s: float  # acknowledged audio checked in the assembled tracks
    acknowledged_s_lost: float  # goal 0
    recover_s: float  # end of the fault -> the interrupted work finished
    published_after_s: float  # end of the fault -> episode published
    note: str = ""


_lock = threading.Lock()


def record_result(result: FaultResult) -> None:
    """Add a row to test-artifacts/faults.json and rewrite faults.md from it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "faults.json"
    # Two test processes may record at once (tests/infra/test_vault.py beside this suite).
    with _lock, open(ARTIFACTS / "faults.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(path.read_text()) if path.exists() else []
        rows = [r for r in rows if r["fault"] != result.fault] + [asdict(result)]
        path.write_text(json.dumps(rows, indent=2))
        lines = [
            "| fault | runs | episodes produced | acknowledged seconds lost | time to recover | "
            "fault end to published |",
            "|---|---|---|---|---|---|",
        ]
        for r in rows:
            lost = f"{r['acknowledged_s_lost']:.1f} of {r['acknowledged_s']:.1f} s"
            lines.append(
                f"| {r['fault']} | {r['runs']} | {r['episodes']} | {lost} | "
                f"{r['recover_s']:.1f} s | {r['published_after_s']:.1f} s |"
            )
        (ARTIFACTS / "faults.md").write_text("\n".join(lines) + "\n")
    print(f"\nfault: {asdict(result)}")


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="spacecast-faults-"))


class TcpProxy:
    """A TCP proxy on loopback between the service and one dependency, whose behaviour the
    test switches: ``pass``; ``reset`` (each connection that carries bytes is cut with a TCP
    reset after its first 1 KiB, mid-transfer); ``hang`` (a silent hang: a connection that
    meets it forwards nothing more and is never closed by the proxy, like a dropped route).
    While passing, ``latency_s`` delays every piece of data it forwards, each way, and
    ``rate_bps`` caps the bytes per second of all its connections together (a slow link)."""

    def __init__(self, upstream_port: int, *, listen: str = "127.0.0.1") -> None:
        """``listen``: the address it accepts on (a test host's link: tests/service/hosts.py)."""
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.latency_s = 0.0
        self.rate_bps = 0
        self.server = socket.create_server((listen, 0))
        self.port = self.server.getsockname()[1]
        self.resets = 0
        self._stop = threading.Event()
        self._link = threading.Lock()
        self._link_free_at = 0.0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            state = {"hung": False, "sent": 0}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, client, upstream, state),
                                 daemon=True).start()  # fmt: skip

    def _forward(self, dest: socket.socket, data: bytes) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
        rate = self.rate_bps  # read once: a test may lift the cap while a transfer is under way
        if not rate:
            dest.sendall(data)
            return
        for at in range(0, len(data), 4096):
            piece = data[at : at + 4096]
            with self._link:  # the link's next free moment, shared by every connection
                start = max(time.monotonic(), self._link_free_at)
                self._link_free_at = start + len(piece) / rate
                until = self._link_free_at
            time.sleep(max(0.0, until - time.monotonic()))
            dest.sendall(piece)

    def _pump(self, source, dest, client, upstream, state) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.mode == "hang" or state["hung"]:
                    state["hung"] = True
                    while not self._stop.is_set():  # silent: no bytes, no close
                        time.sleep(0.2)
                    return
                if self.mode == "reset" and state["sent"] + len(data) > 1024:
                    dest.sendall(data[: max(0, 1024 - state["sent"])])
                    self.resets += 1
                    for sock in (client, upstream):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        sock.close()
                    return
                state["sent"] += len(data)
                self._forward(dest, data)
        except OSError:
            pass
        finally:
            if not state["hung"]:
                for sock in (client, upstream):
                    sock.close()

    def stop(self) -> None:
        self._stop.set()
        self.server.close()
