"""One real deployment (PostgreSQL, Redis, the S3 server, `spacecast api` and `spacecast worker`)
with one space held for a missing answer, shared by every browser test, and Debian's chromium
driven by Playwright. Screenshots of every page visited go to SPACECAST_ARTIFACTS (default
test-artifacts/) under web/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.samples import build_sample_space, load_spec
from spacecast.demo import submit_sample, wait_until_done
from tests.service.conftest import make_stack, s3_server  # noqa: F401 - fixtures used here

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("SPACECAST_ARTIFACTS", ROOT / "test-artifacts")) / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def site(make_stack, tmp_path_factory) -> dict:  # noqa: F811 - the imported fixture
    """quick_chat where Chioma refuses clips and Dan has not answered about publication, finished
    with "hold": the space waits for the host. A listener and a moderator have accounts."""
    stack = make_stack("redis")
    spec = load_spec("quick_chat")
    consent = {"chioma": {"record": True, "publish": True, "clip": False}, "dan": {"record": True}}
    for participant in spec["participants"]:
        participant["consent"] = consent.get(participant["id"], participant["consent"])
    folder = tmp_path_factory.mktemp("web-space")
    build_sample_space(spec, folder)
    with stack.client() as host:
        space_id = submit_sample(host, folder, finish={"missing": "hold"})
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "held", state
    with stack.client(key=None) as anyone:
        listener = anyone.post("/listeners", json={"name": "Lee"}).raise_for_status().json()
    return {
        "stack": stack,
        "space_id": space_id,
        "show_id": state["show_id"],
        "listener": listener["key"]["token"],
        "moderator": stack.create_user("Mo", "moderator"),
    }


@pytest.fixture(scope="session")
def published(site) -> dict:
    """The space's episode; published through the host's page by the first test, or here through
    the API when that test did not run."""
    stack = site["stack"]
    with stack.client() as host:
        state = host.get(f"/spaces/{site['space_id']}").raise_for_status().json()
        if state["status"] == "held":
            host.post(
                f"/spaces/{site['space_id']}/decision", json={"missing": "exclude"}
            ).raise_for_status()
        state = wait_until_done(
            host, site["space_id"], timeout_s=300, until=("published", "failed")
        )
        assert state["status"] == "published", state
    return {"state": state, "episode": state["episode"]}


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
