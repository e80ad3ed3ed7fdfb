from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.s3server import LocalS3Server
from tests.service.stack import ServiceStack


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    server = LocalS3Server(tmp_path_factory.mktemp("s3") / "data").start()
    yield server
    server.stop()


# Stacks started for one test module, stopped when the module ends: left running, each would
# hold its worker's models (about 600 MB) and poll its broker while every later module runs.
_MODULE_STACKS: list[ServiceStack] = []


@pytest.fixture(scope="session")
def make_stack(s3_server: LocalS3Server, tmp_path_factory: pytest.TempPathFactory):
    """``make_stack(broker, **settings)`` starts a deployment that lives until the end of the
    test module; ``whole_session=True`` keeps it for the whole session (a session fixture's)."""
    stacks: list[ServiceStack] = []

    def _make(broker: str = "redis", *, whole_session: bool = False, **settings: str):
        stack = ServiceStack(
            broker, s3_server, tmp_path_factory.mktemp(f"stack-{broker}"), **settings
        )
        (stacks if whole_session else _MODULE_STACKS).append(stack)
        return stack.start()

    yield _make
    for stack in stacks + _MODULE_STACKS:
        stack.stop()


@pytest.fixture(scope="module", autouse=True)
def _stop_module_stacks() -> Iterator[None]:
    yield
    while _MODULE_STACKS:
        _MODULE_STACKS.pop().stop()


@pytest.fixture(scope="module")
def redis_stack(make_stack) -> ServiceStack:
    return make_stack("redis")


@pytest.fixture
def sample_manifest(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "manifest.json").read_text())
