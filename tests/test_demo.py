"""The README's first command: the embedded default publishes the sample space end to end."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import podcastparser
import pytest

from infra.s3server import free_port
from tests.audio import ebur128
from tests.infra.test_s3server import gone

pytestmark = pytest.mark.slow


def test_demo_publishes_the_sample_space_with_no_services_started_by_hand(tmp_path: Path) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}  # no SPACECAST_ settings
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacecast",
            "demo",
            "--once",
            "--port",
            str(free_port()),
            "--out",
            "published",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    out = tmp_path / "published"
    assert summary["copied_to"] == str(out)
    integrated, true_peak = ebur128(out / "episode.mp3")
    assert integrated == pytest.approx(-16.0, abs=0.5) and true_peak <= -1.0
    episodes = podcastparser.parse(summary["feed"], (out / "feed.xml").open("rb"))["episodes"]
    assert [p["name"] for p in episodes[0]["persons"]] == ["Alice", "Chioma"]
    assert "Bruno" not in (out / "transcript.vtt").read_text()
    report = json.loads((out / "report.json").read_text())
    assert [e["participant_id"] for e in report["excluded"]] == ["bruno"]


def _children(pid: int) -> dict[int, str]:
    """The direct children of ``pid``, by process id, with their command names."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1]
            if int(rest.split()[1]) == pid:
                found[int(entry.name)] = name
    return found


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the runs below, so the sample space is spoken only once."""
    return tmp_path_factory.mktemp("demo-stop")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopping_the_demo_stops_its_s3_server(demo_folder: Path, how: signal.Signals) -> None:
    port = free_port()
    log_path = demo_folder / f"demo-{how.name}.log"
    with log_path.open("w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "spacecast", "demo", "--port", str(port)],
            cwd=demo_folder,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(demo_folder)},
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 300  # speaking the sample space comes first
        rclone = None
        while rclone is None and demo.poll() is None and time.monotonic() < deadline:
            rclone = next((p for p, name in _children(demo.pid).items() if name == "rclone"), None)
            time.sleep(0.2)
        assert rclone is not None, log_path.read_text()[-2000:]
        # The API and the worker are at work too: the sample's tracks are being uploaded.
        while "demo: uploaded" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(demo.pid, how)
        returncode = demo.wait(timeout=30)
        stopped_at = time.monotonic()
        while not gone(rclone) and time.monotonic() - stopped_at < 5:
            time.sleep(0.05)
        assert gone(rclone), f"rclone {rclone} outlived the demo ({how.name})"
        if how == signal.SIGTERM:
            log_text = log_path.read_text()
            assert returncode == 130, log_text[-2000:]  # the same orderly exit as Ctrl-C
            assert "Traceback" not in log_text
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
