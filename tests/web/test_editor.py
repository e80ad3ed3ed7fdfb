"""The host's editor page in Debian's chromium, on its own deployment (publishing an edit changes
the episode, so the shared site of the other page tests is left alone): tick a line and cut
it with the keyboard, save the version, see what it saves, publish it, and the published
transcript no longer has the line."""

from __future__ import annotations

import subprocess

import pytest
from playwright.sync_api import expect

from tests.service.test_editing import publish, published_room
from tests.web.browsing import check_and_snap, signed_in, wait_for

pytestmark = pytest.mark.slow


def _tone(path):
    """Two seconds of 440 Hz as Opus, a host's jingle."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-c:a", "libopus", str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def edit_site(make_stack, tmp_path_factory) -> dict:
    stack = make_stack("redis")
    with stack.client() as host:
        room = published_room(host, tmp_path_factory.mktemp("editor-space"), timeout_s=300)
        state = room["state"]
        lines = host.get(state["episode"]["transcripts"]["json"]).json()["segments"]
    return {"stack": stack, "space_id": room["space_id"], "state": state, "lines": lines}


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
    # The cut can be heard before publishing: the seconds around it, which the page plays.
    listen = page.get_by_role("button", name="Listen around cut 1")
    listen.focus()
    page.keyboard.press("Enter")
    wait_for(
        page,
        "(() => { const a = document.querySelector('#cut-previews audio');"
        " return a && a.readyState >= 1 && a.duration > 7 && a.duration < 9.5; })()",
        timeout_ms=30_000,
    )
    page.locator("#versions li[data-number='1'] button.publish").click()
    wait_for(
        page,
        "document.querySelector(\"#versions li[data-number='1'] strong\")?.textContent"
        " === 'published'",
        timeout_ms=240_000,
    )
    check_and_snap(page, artifacts, "editor-published")
    # The show's own audio: uploaded from the page (checked like a track), added as an intro.
    tone = _tone(artifacts / "jingle.ogg")
    page.get_by_label("Upload audio of your own").set_input_files(str(tone))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#edit-status")).to_contain_text("Uploaded jingle.ogg")
    page.get_by_label("As").select_option("intro")
    page.get_by_role("button", name="Add to the version").click()
    expect(page.locator("#draft li")).to_contain_text("Intro: jingle.ogg (2.0 s)")
    check_and_snap(page, artifacts, "editor-host-audio")
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


def test_host_deletes_their_own_audio_and_the_page_names_the_version_that_keeps_one(
    browser, edit_site, artifacts, tmp_path
) -> None:
    """Its own space (the test above numbers its versions from 1): an intro the published
    version plays is refused with the API's words on the page, and stays; a spare one goes."""
    stack = edit_site["stack"]
    tone = _tone(tmp_path / "tone.ogg")
    with stack.client() as host:
        room = published_room(host, tmp_path / "room", timeout_s=300)
        state, space_id = room["state"], room["space_id"]
        show_id, episode_id = state["show_id"], state["episode"]["id"]
        ids = {}
        for name in ("played intro", "spare outro"):
            made = host.post(
                f"/shows/{show_id}/audio", params={"name": name}, content=tone.read_bytes()
            )
            assert made.status_code == 201, made.text
            ids[name] = made.json()["id"]
        made = host.post(
            f"/episodes/{episode_id}/versions",
            json={"operations": [{"op": "intro", "audio_id": ids["played intro"]}]},
        )
        assert made.status_code == 201, made.text
        number = made.json()["number"]
        publish(host, space_id, episode_id, number)

    page = signed_in(browser, stack.base_url, stack.host_key)
    page.goto(f"/host/episodes/{episode_id}/edit")
    pick = page.get_by_label("Audio", exact=True)
    pick.select_option(ids["played intro"])
    page.get_by_role("button", name="Delete this audio").click()
    error = page.locator("#edit-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"version {number} of episode {episode_id}")
    expect(error).to_contain_text("'played intro'")
    check_and_snap(page, artifacts, "editor-host-audio-kept")
    expect(pick.locator(f"option[value='{ids['played intro']}']")).to_have_count(1)

    pick.select_option(ids["spare outro"])
    page.get_by_role("button", name="Delete this audio").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#edit-status")).to_contain_text("Deleted spare outro")
    expect(error).to_be_hidden()
    expect(pick.locator(f"option[value='{ids['spare outro']}']")).to_have_count(0)
    page.context.close()
    with stack.client() as host:
        listed = {a["id"] for a in host.get(f"/shows/{show_id}/audio").json()}
        assert ids["played intro"] in listed and ids["spare outro"] not in listed
        again = host.delete(f"/shows/{show_id}/audio/{ids['spare outro']}")
        assert again.status_code == 404, again.text
