"""The README's first command: the embedded default publishes the sample space end to end."""

import json
import subprocess
import sys
from pathlib import Path

import podcastparser
import pytest

from infra.s3server import free_port
from tests.audio import ebur128

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
