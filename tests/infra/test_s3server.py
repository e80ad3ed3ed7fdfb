"""The local S3 server keeps its secret off the command line and dies with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from infra.s3server import LocalS3Server


def _client(server: LocalS3Server, secret: str):
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
        ),
    )


def gone(pid: int) -> bool:
    """The process has ended (a zombie nobody reaped yet counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def test_the_secret_key_is_not_on_rclones_command_line_and_still_guards_it(
    tmp_path: Path,
) -> None:
    with LocalS3Server(tmp_path / "s3") as server:
        assert server.process is not None
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().decode()
        assert server.secret_key not in cmdline and server.access_key not in cmdline
        client = _client(server, server.secret_key)
        client.create_bucket(Bucket="spacecast")
        client.put_object(Bucket="spacecast", Key="a.txt", Body=b"hello")
        assert client.get_object(Bucket="spacecast", Key="a.txt")["Body"].read() == b"hello"
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            _client(server, "not-the-secret-key-at-all").list_objects_v2(Bucket="spacecast")


def test_rclone_dies_with_the_process_that_started_it_even_on_sigkill(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from infra.s3server import LocalS3Server\n"
        "server = LocalS3Server(Path(sys.argv[1])).start()\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "s3")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        rclone = int(parent.stdout.readline())
        assert not gone(rclone)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not gone(rclone) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone(rclone), "rclone outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
