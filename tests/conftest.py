"""Session fixtures: the bundled sample space spoken by espeak-ng, and its offline episode."""

from __future__ import annotations

import json
import os
from pathlib import Path

# The test process itself never talks to a real broker: in-process API tests enqueue on Dramatiq's
# stub broker. Service tests run `spacecast api` and `spacecast worker` with a real one.
os.environ["SPACECAST_BROKER_URL"] = "stub://"

import pytest

from infra.samples import build_sample_space, load_spec
from pipeline.master import MP3, OPUS
from pipeline.process import ProcessOptions, process_space
from pipeline.quality import ScriptLine

# Tests in these places start or talk to services (PostgreSQL, Redis, RabbitMQ, the S3 server, a
# deployment, the browser); everything else is the fast lane (`scripts/test.sh --fast`).
_SERVICE_PLACES = ("api", "service", "web", "infra", "docs", "bench")
_SERVICE_FILES = ("test_demo.py", "test_worker_command.py")


# With two test processes (`scripts/test.sh` runs pytest-xdist's `-n 2 --dist loadgroup`), each
# group runs whole in one process: a module of tests/service/ or tests/bench/ (its own deployment
# and rooms), every other folder together (its session fixtures: the API tests' app, the browser
# tests' deployment, the offline episode). Groups are handed out in file order.
_OWN_GROUP = ("service", "bench")


def _group(parts: tuple[str, ...]) -> str:
    if len(parts) == 1:
        return "top"
    return "/".join(parts) if parts[0] in _OWN_GROUP else parts[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        parts = item.path.relative_to(Path(__file__).parent).parts
        if parts[0] in _SERVICE_PLACES or parts[-1] in _SERVICE_FILES:
            item.add_marker(pytest.mark.services)
        item.add_marker(pytest.mark.xdist_group(_group(parts)))


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three speakers, staggered joins, Bruno without publish consent; about two minutes."""
    folder = tmp_path_factory.mktemp("town-square")
    build_sample_space(load_spec("town_square"), folder)
    return folder


@pytest.fixture(scope="session")
def truth(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "truth.json").read_text())


@pytest.fixture(scope="session")
def script(truth: dict) -> list[ScriptLine]:
    """The known utterances on the room timeline."""
    return [
        ScriptLine(u["speaker_id"], u["text"], u["start_s"], u["end_s"])
        for u in truth["utterances"]
    ]


@pytest.fixture(scope="session")
def offline_episode(
    sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    """The sample processed by the offline job, as `spacecast process --opus` does it."""
    out = tmp_path_factory.mktemp("offline-episode")
    report = process_space(sample_dir / "manifest.json", out, ProcessOptions(formats=(MP3, OPUS)))
    return out, report
