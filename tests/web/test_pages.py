"""The web pages in Debian's chromium against the running service: a host publishes a held
space and watches its progress, a listener plays an episode with the transcript following and cuts
and shares a clip, a clip over a speaker who refuses clips is blocked in the page, and a
moderator reviews a complaint from the reported moment to a decision in the audit trail."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.browsing import check_and_snap, signed_in, wait_for

pytestmark = pytest.mark.slow


def test_sign_in_explains_a_wrong_key_and_returns_to_the_page_asked_for(
    browser, site, artifacts
) -> None:
    base = site["stack"].base_url
    page = signed_in(browser, base, None)
    page.goto("/host")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("API key").fill("sc_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "does not work" in alert.inner_text()
    check_and_snap(page, artifacts, "login-error")
    page.get_by_label("API key").fill(site["stack"].host_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/host$"))
    assert page.get_by_role("heading", name="Your shows").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("navigation").get_by_role("link", name="Sign in").is_visible()
    assert page.goto("/host").url.startswith(f"{base}/login?next=")
    listener = signed_in(browser, base, site["listener"])
    response = listener.goto("/host")
    assert response.status == 403
    assert "this endpoint is for" in listener.get_by_role("alert").inner_text()
    page.context.close()
    listener.context.close()


def test_host_publishes_a_held_space_and_watches_it_processed(browser, site, artifacts) -> None:
    page = signed_in(browser, site["stack"].base_url, site["stack"].host_key)
    page.goto("/host")
    row = page.locator("tr", has_text="Quick chat about the market")
    assert "held" in row.inner_text() and "Missing: Dan" in row.inner_text()
    check_and_snap(page, artifacts, "host-dashboard")
    row.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/host/spaces/"))
    publish = page.locator("#publish")
    assert publish.is_enabled() and publish.inner_text() == "Publish without Dan"
    assert "still missing: Dan" in page.locator("#publish-reason").inner_text()
    consent = page.locator("#consent tr", has_text="Chioma").inner_text()
    assert consent.count("yes") == 3 and "✘ no" in consent  # record, publish, transcribe; clips no
    assert "not answered" in page.locator("#consent tr", has_text="Dan").inner_text()
    check_and_snap(page, artifacts, "host-space-held")

    publish.click()
    # The page follows the stages until the space is published.
    seen_processing = False
    deadline = time.monotonic() + 240
    while page.locator("#status").inner_text() != "published":
        assert time.monotonic() < deadline, page.locator("#stages").inner_text()
        if page.locator("#status").inner_text() == "processing":
            seen_processing = True
            assert not page.locator("#publish").is_enabled()
            assert "Still processing" in page.locator("#publish-reason").inner_text()
            if page.locator("#stages progress").count():
                check_and_snap(page, artifacts, "host-space-processing")
        page.wait_for_timeout(300)
    assert seen_processing
    bars = page.locator("#stages progress")
    assert bars.count() >= 5
    assert all(float(v) == 1.0 for v in bars.evaluate_all("els => els.map(e => e.value)"))
    stages = page.locator("#stages").inner_text()
    for stage in ("activity", "transcribe", "mix", "master", "publish"):
        assert stage in stages
    assert not page.locator("#publish").is_enabled()
    assert page.locator("#publish-reason").inner_text() == "This space is published."
    assert page.locator("#episode-link").is_visible()
    check_and_snap(page, artifacts, "host-space-published")
    page.context.close()


def test_listener_plays_an_episode_and_the_transcript_follows(
    browser, site, published, artifacts
) -> None:
    episode = published["episode"]
    page = signed_in(browser, site["stack"].base_url, None)
    page.goto(f"/s/{site['show_id']}")
    assert page.locator("#subscribe").get_attribute("href") == episode["feed_url"]
    check_and_snap(page, artifacts, "show")
    page.get_by_role("link", name=episode["title"]).click()
    page.wait_for_url(re.compile(rf"/e/{episode['id']}$"))
    for fmt in ("JSON", "SRT", "VTT"):
        assert page.get_by_role("link", name=fmt, exact=True).get_attribute("download") is not None
    lines = page.locator("#transcript .line")
    assert lines.count() >= 4
    speakers = set(page.locator("#transcript .speaker").all_inner_texts())
    assert speakers == {"Alice", "Chioma"}  # Dan was not published
    check_and_snap(page, artifacts, "episode")

    # The real audio element plays (muted, faster): the highlighted line moves on with it.
    page.evaluate(
        "() => { const a = document.getElementById('player'); a.muted = true;"
        " a.playbackRate = 2; return a.play(); }"
    )
    active = "() => [...document.querySelectorAll('#transcript .line')]"
    active += ".findIndex(l => l.classList.contains('active'))"
    wait_for(page, f"({active})() === 0")
    wait_for(page, f"({active})() >= 2", timeout_ms=30_000)
    position = page.evaluate("document.getElementById('player').currentTime")
    starts = [float(s) for s in lines.evaluate_all("els => els.map(e => e.dataset.start)")]
    lit = page.evaluate(active)
    assert starts[lit] <= position + 0.5 and position > 1.0
    page.evaluate("document.getElementById('player').pause()")
    check_and_snap(page, artifacts, "episode-playing")

    # From the keyboard: a transcript line is a button; Enter plays from there.
    last = lines.count() - 1
    lines.nth(last).focus()
    page.keyboard.press("Enter")
    wait_for(page, f"({active})() === {last}")
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(
        starts[last], abs=0.6
    )
    page.context.close()


def _tick(page, speaker: str) -> dict:
    """Tick the first transcript line of ``speaker`` in the clip maker; return its times."""
    line = page.locator(".pick-line", has_text=speaker).first
    box = line.get_by_role("checkbox")
    box.check()
    return {
        "start": float(box.get_attribute("data-start")),
        "end": float(box.get_attribute("data-end")),
    }


def test_listener_cuts_and_shares_a_clip(browser, site, published, artifacts) -> None:
    stack, episode = site["stack"], published["episode"]
    page = signed_in(browser, stack.base_url, site["listener"])
    page.goto(f"/e/{episode['id']}")
    page.get_by_role("link", name="Cut a clip").click()
    page.wait_for_url(re.compile(r"/cut$"))
    wait_for(page, "document.getElementById('wave-status').textContent.startsWith('Drag')")

    # Bad input is explained, nothing is submitted.
    page.get_by_label("Start (seconds)").fill("9")
    page.get_by_label("End (seconds)").fill("4")
    expect(page.locator("#duration")).to_contain_text("must come after the start")
    expect(page.locator("#make")).to_be_disabled()

    alice = _tick(page, "Alice")
    expect(page.locator("#verdict")).to_have_text("Everyone heard allows clips.")
    expect(page.locator("#speakers")).to_have_text("Heard: Alice")
    expect(page.locator("#make")).to_be_enabled()
    assert re.search(r"\d+\.\d s$", page.locator("#duration").inner_text())
    page.get_by_label("Title").fill("Winter market")
    check_and_snap(page, artifacts, "clip-maker-allowed")
    page.locator("#make").click()
    wait_for(
        page,
        "document.getElementById('result-status').textContent.startsWith('Your clip is ready')",
        timeout_ms=90_000,
    )
    share_url = page.get_by_label("Share link").input_value()
    clip_id = page.locator("#result-link").get_attribute("data-clip")
    assert share_url == f"{stack.base_url}/c/{clip_id}"
    check_and_snap(page, artifacts, "clip-maker-done")

    # The clip exists through the API and its media is in the bucket.
    clip = httpx.get(f"{stack.base_url}/clips/{clip_id}").raise_for_status().json()
    assert clip["status"] == "ready" and clip["title"] == "Winter market"
    assert clip["speakers"] == ["Alice"] and clip["made_by"] == "listener"
    assert clip["start_s"] == pytest.approx(max(alice["start"] - 0.2, 0.0), abs=0.05)
    assert clip["end_s"] == pytest.approx(alice["end"] + 0.2, abs=0.05)
    keys = stack.store().list_keys(f"clips/{site['space_id']}/{clip_id}/")
    assert any(key.endswith(".mp3") for key in keys), keys

    # The share page plays it, shows its words and leads to the moment in the episode.
    page.goto(share_url)
    assert page.locator("h1").inner_text() == "Winter market"
    assert page.locator("#player").get_attribute("src") == clip["audio_url"]
    assert "Alice:" in page.get_by_role("region", name="Transcript").inner_text()
    check_and_snap(page, artifacts, "clip")
    page.get_by_role("link", name="Hear it in context").click()
    page.wait_for_url(re.compile(rf"/e/{episode['id']}#t="))
    wait_for(page, "document.getElementById('player').readyState >= 1")
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(
        clip["start_s"], abs=0.2
    )
    assert page.locator("#clips").get_by_role("link", name="Winter market").is_visible()
    page.context.close()


def test_clip_over_a_speaker_who_refuses_clips_is_blocked_naming_them(
    browser, site, published, artifacts
) -> None:
    episode = published["episode"]
    page = signed_in(browser, site["stack"].base_url, site["listener"])
    page.goto(f"/e/{episode['id']}/cut")
    _tick(page, "Chioma")
    expect(page.locator("#verdict")).to_contain_text("Chioma")
    verdict = page.locator("#verdict").inner_text()
    assert "Chioma" in verdict and "clips" in verdict, verdict
    assert "Chioma" in page.locator("#speakers").inner_text()
    assert page.locator("#make").is_disabled()
    assert page.locator("#check").get_attribute("class") == "check blocked"
    check_and_snap(page, artifacts, "clip-maker-blocked")
    # The same gate refuses the cut itself.
    with site["stack"].client(key=site["listener"]) as listener:
        listed = listener.get(f"/episodes/{episode['id']}/clips").json()
        assert all("Chioma" not in c["speakers"] for c in listed)
    page.context.close()


def test_moderator_reviews_a_complaint_from_the_reported_moment_to_a_decision(
    browser, site, published, artifacts
) -> None:
    stack, episode = site["stack"], published["episode"]
    with stack.client(key=None) as anyone:
        segments = anyone.get("/search", params={"q": "pretzels"}).raise_for_status().json()
    line = next(s for s in segments if s["speaker"] == "Chioma")

    # A listener reports Chioma's line from the episode page.
    reporter = signed_in(browser, stack.base_url, site["listener"])
    reporter.goto(f"/e/{episode['id']}")
    reporter.get_by_text("Report a problem").click()
    report = reporter.locator("#report-form")
    report.get_by_label("What is wrong").select_option("harassment")
    report.get_by_label("Who").select_option("Chioma")
    report.get_by_label("From").fill(f"{line['start_s']:.1f}")
    report.get_by_label("to", exact=True).fill(f"{line['end_s']:.1f}")
    report.get_by_label("What happened").fill("Rude about the fountain.")
    check_and_snap(reporter, artifacts, "episode-report")
    report.get_by_role("button", name="Send the report").click()
    expect(reporter.locator("#report-status")).to_contain_text("with the moderators")
    complaint_id = report.get_attribute("data-complaint")
    with stack.client(key=site["listener"]) as listener:
        mine = listener.get("/complaints").raise_for_status().json()
    complaint = next(c for c in mine if c["id"] == complaint_id)
    assert (
        complaint["target"] == "speaker" and complaint["speaker"] == "Chioma"
    )  # as the listener named her
    assert complaint["category"] == "harassment" and complaint["text"] == "Rude about the fountain."
    reporter.context.close()
    with stack.client(key=site["moderator"]) as moderator:
        deadline = time.monotonic() + 180
        while (review := moderator.get(f"/moderation/complaints/{complaint['id']}").json())[
            "transcript_status"
        ] != "ready":
            assert time.monotonic() < deadline
            time.sleep(1)
    window = review["window"]

    page = signed_in(browser, stack.base_url, site["moderator"])
    page.goto("/moderate")
    check_and_snap(page, artifacts, "moderation-queue")
    page.locator("#queue tr", has_text="harassment").get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/moderate/{complaint['id']}$"))

    # The player holds the reported window of Chioma's own track and starts at the moment.
    audio = page.locator("#evidence")
    src = audio.get_attribute("src")
    assert "source=speaker" in src and "participant=chioma" in src
    wait_for(page, "document.getElementById('evidence').readyState >= 1", timeout_ms=60_000)
    jump = complaint["start_s"] - window["start_s"]
    assert jump > 1.0
    assert page.evaluate("document.getElementById('evidence').currentTime") == pytest.approx(
        jump, abs=0.3
    )
    duration = page.evaluate("document.getElementById('evidence').duration")
    assert duration == pytest.approx(window["end_s"] - window["start_s"], abs=0.3)
    reported = page.locator("#review-transcript li.reported").all_inner_texts()
    assert any("Chioma" in x and "pretzels" in x.lower() for x in reported), reported
    assert "not published" in page.locator("#review-transcript").inner_text()  # Dan, for review
    assert re.fullmatch(r"\d+ d \d+ h \d+ min", page.locator("#expiry").inner_text())
    page.get_by_label("Search the whole space").fill("fountain")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-results li").first).to_contain_text("fountain", ignore_case=True)
    check_and_snap(page, artifacts, "moderation-review")

    # A decision without a reason is explained; with one it is recorded.
    page.get_by_label("Dismiss").check()
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("#decide-error")).to_contain_text("Give the reason")
    page.get_by_label("Reason (recorded in the audit trail)").fill("a disagreement, not abuse")
    page.get_by_role("button", name="Record the decision").click()
    wait_for(
        page, "document.getElementById('complaint-status').textContent.startsWith('dismissed')"
    )
    audit_row = page.locator("#audit tr", has_text="decide_dismiss")
    assert "a disagreement, not abuse" in audit_row.inner_text()
    assert "play_track" in page.locator("#audit").inner_text()
    check_and_snap(page, artifacts, "moderation-decided")
    with stack.client(key=site["moderator"]) as moderator:
        trail = moderator.get("/moderation/audit", params={"complaint_id": complaint["id"]}).json()
    decided = next(e for e in trail if e["action"] == "decide_dismiss")
    assert decided["reason"] == "a disagreement, not abuse" and decided["actor"].startswith("user:")
    page.context.close()


def test_pages_fit_a_phone(browser, site, published, artifacts) -> None:
    episode = published["episode"]
    page = signed_in(
        browser,
        site["stack"].base_url,
        site["listener"],
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    for name, path in [
        ("phone-show", f"/s/{site['show_id']}"),
        ("phone-episode", f"/e/{episode['id']}"),
        ("phone-clip-maker", f"/e/{episode['id']}/cut"),
    ]:
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
        assert page.locator("audio, img").first.bounding_box()["width"] <= 390
        check_and_snap(page, artifacts, name)
    page.context.close()
