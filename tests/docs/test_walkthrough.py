"""docs/api.md runs as written: every shell block, in order, in one bash shell beside a fresh demo,
with every output the page shows checked against what the commands printed."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.s3server import free_port
from tests.docs.walkthrough import Step, driver_script, output_matches, steps_of

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"
# What a newcomer's shell has: the system's tools, and no SPACECAST_ settings of ours.
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def _summary(demo: subprocess.Popen, log: Path, timeout_s: float) -> dict:
    """The JSON summary the demo prints once it has published the sample."""
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in demo.stdout], daemon=True).start()
    text, deadline = "", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            text += lines.get(timeout=1)
        except queue.Empty:
            assert demo.poll() is None, f"the demo exited: {log.read_text()[-3000:]}"
            continue
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            continue
    raise AssertionError(
        f"no summary from the demo in {timeout_s:.0f} s: {log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """``python -m spacecast demo`` in a folder of its own, as a newcomer starts it."""
    folder = tmp_path_factory.mktemp("walkthrough")
    # The checkout's virtualenv, where the page runs .venv/bin/spacecast from.
    (folder / ".venv").symlink_to(Path(sys.prefix))
    log = folder / "demo.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "spacecast", "demo", "--port", str(free_port())],
            cwd=folder,
            env={**ENV, "HOME": str(folder)},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        yield folder, _summary(process, log, timeout_s=300)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _describe(step: Step, number: int, folder: Path) -> str:
    out = (
        (folder / f"{number:03}.out").read_text() if (folder / f"{number:03}.out").exists() else ""
    )
    err = (
        (folder / f"{number:03}.err").read_text() if (folder / f"{number:03}.err").exists() else ""
    )
    shown = "\n".join(f"# -> {line}" for line in step.shown)
    return (
        f"docs/api.md line {step.line} (block {step.block}):\n{step.code}{shown}\n"
        f"--- printed:\n{out[-3000:]}--- stderr:\n{err[-3000:]}"
    )


def test_the_api_walkthrough_runs_as_written_and_prints_what_it_shows(
    demo: tuple[Path, dict],
) -> None:
    folder, summary = demo
    credentials = folder / ".spacecast" / "demo" / "credentials.env"
    assert Path(summary["credentials"]) == credentials.resolve()
    assert set(summary) >= {"show_id", "space_id", "episode_id", "feed", "key", "database_url"}

    steps = steps_of(PAGE.read_text())
    checked = [step for step in steps if step.shown]
    assert len(checked) >= 40, "the page shows fewer outputs than it did; did the parser break?"
    work = folder / ".walk"
    (folder / "walkthrough.sh").write_text(driver_script(steps, work))
    started = time.monotonic()
    run = subprocess.run(
        ["bash", "walkthrough.sh"],
        cwd=folder,
        env={**ENV, "HOME": str(folder)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    elapsed = time.monotonic() - started
    reached = (work / "current").read_text().strip()
    if reached != "done":
        number = int(reached)
        pytest.fail(
            f"exit status {run.returncode} after {elapsed:.0f} s at "
            + _describe(steps[number - 1], number, work)
            + run.stderr[-2000:]
        )
    assert run.returncode == 0, run.stderr[-3000:]
    wrong = []
    for number, step in enumerate(steps, 1):
        if not step.shown:
            continue
        printed = [
            line for line in (work / f"{number:03}.out").read_text().splitlines() if line.strip()
        ]
        if not output_matches(step.shown, printed):
            wrong.append(_describe(step, number, work))
    assert not wrong, f"{len(wrong)} outputs differ from the page:\n\n" + "\n\n".join(wrong)
    print(f"walk-through: {len(steps)} steps, {len(checked)} outputs checked, {elapsed:.0f} s")


def test_the_demo_tells_the_cli_which_database_it_uses(demo: tuple[Path, dict]) -> None:
    folder, summary = demo
    env_file = (folder / ".spacecast" / "demo" / "credentials.env").read_text()
    assert f"export SPACECAST_DATABASE_URL={summary['database_url']}\n" in env_file
    assert f"export DEMO_KEY={summary['key']['token']} " in env_file
    assert f"export API={summary['api']}\n" in env_file
    assert os.stat(folder / ".spacecast" / "demo" / "credentials.env").st_mode & 0o077 == 0
    assert summary["key"]["roles"] == ["admin", "host"]
