"""The host's editor page in Debian's chromium, on its own deployment (publishing an edit changes
the episode, so the shared site of the other page tests is left alone): tick a line and cut
it with the keyboard, save the version, see what it saves, publish it, and the published
transcript no longer has the line."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.samples import build_sample_space, load_spec
from spacecast.demo import submit_sample, wait_until_done
from tests.web.browsing import check_and_snap, signed_in, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def edit_site(make_stack, tmp_path_factory) -> dict:
    stack = make_stack("redis")
    spec = load_spec("quick_chat")
    for p in spec["participants"]:
        p["consent"] = {"record": True, "publish": True, "transcribe": True, "clip": True}
    folder = tmp_path_factory.mktemp("editor-space")
    build_sample_space(spec, folder)
    with stack.client() as host:
        space_id = submit_sample(host, folder, finish={"missing": "exclude"})
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "published", state
        lines = host.get(state["episode"]["transcripts"]["json"]).json()["segments"]
    return {"stack": stack, "space_id": space_id, "state": state, "lines": lines}


def test_host_cuts_a_line_and_publishes_the_version(browser, edit_site, artifacts) -> None:
    stack, state = edit_site["stack"], edit_site["state"]
    episode_id = state["episode"]["id"]
    page = signed_in(browser, stack.base_url, stack.host_key)
    page.goto(f"/host/spaces/{edit_site['space_id']}")
    page.get_by_role("link", name="Edit the episode").click()
    page.wait_for_url(f"**/host/episodes/{episode_id}/edit")
    check_and_snap(page, artifacts, "editor")

    line = page.locator(".pick-line").filter(has_text="fountain").first
    text = line.inner_text()
    box = line.get_by_role("checkbox")
    box.focus()
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    page.get_by_role("button", name="Cut the ticked lines").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#draft li")).to_have_count(1)
    expect(page.locator("#draft li")).to_contain_text("Cut")
    page.get_by_label("Note").fill("without the bakery")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#edit-status")).to_contain_text("Saved version 1: it saves")
    saved_s = float(page.locator("#edit-status").inner_text().split("saves ")[1].split(" s")[0])
    page.wait_for_selector("#versions li[data-number='1'] button.publish")
    check_and_snap(page, artifacts, "editor-saved")

    page.locator("#versions li[data-number='1'] button.preview").click()
    expect(page.locator("#preview-result")).to_contain_text("Version 1:")
    page.locator("#versions li[data-number='1'] button.publish").click()
    wait_for(
        page,
        "document.querySelector(\"#versions li[data-number='1'] strong\")?.textContent"
        " === 'published'",
        timeout_ms=240_000,
    )
    check_and_snap(page, artifacts, "editor-published")
    with stack.client() as host:
        after = host.get(f"/spaces/{edit_site['space_id']}").json()
        words = host.get(after["episode"]["transcripts"]["json"]).json()["segments"]
    assert not any("fountain" in s["body"].lower() for s in words), text
    # Every other line is still there, whole: the cut, snapped to the line's own speech, took
    # nothing of the next speaker (Whisper times his first word early).
    assert [s["body"] for s in words] == [
        s["body"] for s in edit_site["lines"] if "fountain" not in s["body"].lower()
    ]
    assert state["episode"]["duration_s"] - after["episode"]["duration_s"] == pytest.approx(
        saved_s, abs=0.1
    )
    page.context.close()
