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


@pytest.fixture(scope="session")
def make_stack(s3_server: LocalS3Server, tmp_path_factory: pytest.TempPathFactory):
    stacks: list[ServiceStack] = []

    def _make(broker: str = "redis", **settings: str) -> ServiceStack:
        stack = ServiceStack(
            broker, s3_server, tmp_path_factory.mktemp(f"stack-{broker}"), **settings
        )
        stacks.append(stack)
        return stack.start()

    yield _make
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def redis_stack(make_stack) -> ServiceStack:
    return make_stack("redis")


@pytest.fixture
def sample_manifest(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "manifest.json").read_text())
