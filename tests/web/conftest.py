"""One real deployment (PostgreSQL, Redis, the S3 server, `spacecast api` and `spacecast worker`)
with one space held for a missing answer, shared by every browser test, and Debian's chromium
driven by Playwright. Screenshots of every page visited go to SPACECAST_ARTIFACTS (default
test-artifacts/) under web/."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.samples import build_sample_space, load_spec
from spacecast.demo import create_space, wait_until_done
from tests.service.conftest import (  # noqa: F401 - fixtures used here
    _stop_module_stacks,
    make_stack,
    s3_server,
)

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
    # Chapters of at least 10 s, so the 35-s room has some on its pages.
    stack = make_stack("redis", whole_session=True, SPACECAST_CHAPTER_MIN_S="10")
    spec = load_spec("quick_chat")
    consent = {"chioma": {"record": True, "publish": True, "clip": False}, "dan": {"record": True}}
    for participant in spec["participants"]:
        participant["consent"] = consent.get(participant["id"], participant["consent"])
    folder = tmp_path_factory.mktemp("web-space")
    build_sample_space(spec, folder)
    feeds = {}
    with stack.client() as host:
        # The show lists its rooms in its feed: the feed is read while the room is live and
        # while it is held (tests/web/test_host_text.py checks what apps saw).
        space_id, _ = create_space(host, folder)
        show_id = host.get(f"/spaces/{space_id}").raise_for_status().json()["show_id"]
        host.patch(f"/shows/{show_id}", json={"live_items": True, "season": 2}).raise_for_status()
        feeds["recording"] = host.get(f"/shows/{show_id}/feed.xml").raise_for_status().content
        host.post(f"/spaces/{space_id}/finish", json={"missing": "hold"}).raise_for_status()
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "held", state
        feeds["held"] = host.get(f"/shows/{show_id}/feed.xml").raise_for_status().content
    with stack.client(key=None) as anyone:
        listener = anyone.post("/listeners", json={"name": "Lee"}).raise_for_status().json()
    return {
        "stack": stack,
        "space_id": space_id,
        "show_id": state["show_id"],
        "listener": listener["key"]["token"],
        "moderator": stack.create_user("Mo", "moderator"),
        "feeds": feeds,
    }


@pytest.fixture(scope="session")
def _published_once() -> dict:
    """Where the published episode is kept between the modules that ask for it: the browser
    lives for one module, the episode for the whole session."""
    return {}


@pytest.fixture(scope="module")
def published(site, browser, artifacts, _published_once) -> dict:
    if "episode" not in _published_once:
        _published_once.update(_publish(site, browser, artifacts))
    return _published_once


def _publish(site, browser, artifacts) -> dict:
    """The space's episode, published by the host on the space's page (every page it passes is
    checked by check_and_snap): whichever test asks first, the host signs in, finds the held space, presses publish and the page follows the
    stages to the end. What the page showed on the way is kept under "seen" for
    tests/web/test_pages.py::test_host_publishes_a_held_space_and_watches_it_processed to check,
    so that test proves the same flow in any order of the tests."""
    from tests.web.browsing import check_and_snap, signed_in

    stack = site["stack"]
    seen: dict = {"processing": []}
    page = signed_in(browser, stack.base_url, stack.host_key)
    page.goto("/host")
    row = page.locator("tr", has_text="Quick chat about the market")
    seen["dashboard_row"] = row.inner_text()
    check_and_snap(page, artifacts, "host-dashboard")
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/host/spaces/"))
    publish = page.locator("#publish")
    seen["held"] = {
        "enabled": publish.is_enabled(),
        "button": publish.inner_text(),
        "reason": page.locator("#publish-reason").inner_text(),
        "chioma": page.locator("#consent tr", has_text="Chioma").inner_text(),
        "dan": page.locator("#consent tr", has_text="Dan").inner_text(),
    }
    check_and_snap(page, artifacts, "host-space-held")
    publish.click()
    deadline = time.monotonic() + 240
    # One read of the page per moment: the status, the button and its reason read separately
    # could straddle the page's update to "published".
    moment_js = """() => {
        const [status, button, reason] = ['#status', '#publish', '#publish-reason']
            .map((id) => document.querySelector(id));
        if (!status || !button || !reason) return {status: null};  // a document still loading
        return {status: status.innerText, enabled: !button.disabled, reason: reason.innerText};
    }"""
    while (moment := _read_moment(page, moment_js))["status"] != "published":
        assert time.monotonic() < deadline, page.locator("#stages").inner_text()
        if moment["status"] == "processing":
            seen["processing"].append({"enabled": moment["enabled"], "reason": moment["reason"]})
            if page.locator("#stages progress").count() and not seen.get("snapped"):
                check_and_snap(page, artifacts, "host-space-processing")
                seen["snapped"] = True
        page.wait_for_timeout(300)
    bars = page.locator("#stages progress")
    seen["published"] = {
        "bars": bars.evaluate_all("els => els.map(e => e.value)"),
        "stages": page.locator("#stages").inner_text(),
        "enabled": page.locator("#publish").is_enabled(),
        "reason": page.locator("#publish-reason").inner_text(),
        "episode_link": page.locator("#episode-link").is_visible(),
    }
    check_and_snap(page, artifacts, "host-space-published")
    seen["space_url"] = page.url
    page.context.close()
    with stack.client() as host:
        state = host.get(f"/spaces/{site['space_id']}").raise_for_status().json()
    assert state["status"] == "published", state
    return {"state": state, "episode": state["episode"], "seen": seen}


def _read_moment(page, moment_js: str) -> dict:
    """One read of the page (``moment_js``), asked again of the new document when the page
    navigated meanwhile (it reloads itself as the stages move on)."""
    from playwright.sync_api import Error

    while True:
        try:
            return page.evaluate(moment_js)
        except Error as error:
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
            page.wait_for_load_state()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One browser per module, closed when the module ends: Playwright's sync API keeps an
    asyncio loop running in the test process's thread while it is open, and any later test in
    that process (tests in two processes run other folders after this one) that calls
    asyncio.run would fail with "cannot be called from a running event loop"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
