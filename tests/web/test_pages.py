"""The web pages in Debian's chromium against the running service: a host publishes a held
space and watches its progress, a listener finds the episode on the show's page and subscribes,
plays it with the transcript following, reads the transcript in turns, shares a moment and opens
it at that second, uses the player's keys and comes back where they stopped, cuts and shares a
clip, a clip over a speaker who refuses clips is blocked in the page, and a moderator reviews a
complaint from the reported moment to a decision in the audit trail. axe-core checks every page
visited (see browsing.check_and_snap)."""

from __future__ import annotations

import re
import time
from itertools import pairwise
from xml.etree import ElementTree

import httpx
import pytest
from playwright.sync_api import expect

from pipeline.feed import PODCAST_NS
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


def test_host_publishes_a_held_space_and_watches_it_processed(
    browser, site, published, artifacts
) -> None:
    """What the host's pages showed while the `published` fixture published the held space on
    them (that flow runs once, for whichever browser test asks first)."""
    seen = published["seen"]
    row = seen["dashboard_row"]
    assert "held" in row and "Missing: Dan" in row, row
    held = seen["held"]
    assert held["enabled"] and held["button"] == "Publish without Dan", held
    assert "still missing: Dan" in held["reason"], held
    assert held["chioma"].count("yes") == 3 and "✘ no" in held["chioma"]  # clips no
    assert "not answered" in held["dan"], held
    # The page followed the stages: while processing, publishing again is refused and says why.
    assert seen["processing"], "the page never showed the space processing"
    for moment in seen["processing"]:
        assert not moment["enabled"] and "Still processing" in moment["reason"], moment
    done = seen["published"]
    assert len(done["bars"]) >= 5 and all(float(v) == 1.0 for v in done["bars"]), done
    for stage in ("activity", "transcribe", "mix", "master", "publish"):
        assert stage in done["stages"]
    assert not done["enabled"] and done["reason"] == "This space is published.", done
    assert done["episode_link"]
    # Once mixed, the page says how each published track sounds as recorded.
    page = signed_in(browser, site["stack"].base_url, site["stack"].host_key)
    page.goto(seen["space_url"])
    sound = page.locator("#track-health tr", has_text="Chioma").inner_text()
    assert "dBFS" in sound and ("nothing to fix" in sound or "noisy" in sound), sound
    assert "not measured" in sound, sound  # clock drift: an uploaded track has no chunk timing
    assert page.locator("#track-health tr", has_text="Dan").count() == 0  # not published
    check_and_snap(page, artifacts, "host-space-sound")
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


PLAYER = "document.getElementById('player')"


def test_listener_finds_episodes_on_the_show_page_and_subscribes(
    browser, site, published, artifacts
) -> None:
    stack, episode = site["stack"], published["episode"]
    page = signed_in(browser, stack.base_url, None)
    page.goto(f"/s/{site['show_id']}")
    item = page.locator("#episodes .episode", has_text=episode["title"])
    listed = item.inner_text()
    assert "With Alice, Chioma" in listed and episode["description"][:30] in listed
    assert f"{int(episode['duration_s'] // 60)}:{int(episode['duration_s'] % 60):02d}" in listed
    assert item.locator("time").get_attribute("datetime").startswith(episode["published_at"][:10])

    # Subscribing: the feed address, app links made from it, and a link by the show's guid.
    feed = httpx.get(episode["feed_url"]).raise_for_status().text
    guid = ElementTree.fromstring(feed).findtext(f"channel/{{{PODCAST_NS}}}guid")
    page.get_by_text("More ways to subscribe").click()
    assert (
        page.get_by_label("The feed address, for any podcast app").input_value()
        == (episode["feed_url"])
    )
    apps = page.locator("#apps a").evaluate_all("els => els.map(a => a.href)")
    assert "podcast://" + episode["feed_url"].split("://", 1)[1] in apps
    follow = page.get_by_label(re.compile("Share this show")).input_value()
    assert follow == f"{stack.base_url}/s/{site['show_id']}#fastfollow-podcast:{guid}"
    check_and_snap(page, artifacts, "show-subscribe")

    # Each episode plays from the show's page.
    page.evaluate("document.getElementById('show-player').muted = true")
    assert item.get_by_role("button", name=f"Play {episode['title']}").is_visible()
    play = item.locator("button.play")
    play.click()
    wait_for(page, "document.getElementById('show-player').currentTime > 0.5")
    expect(play).to_have_text(re.compile("^Pause"))
    assert page.locator("#now-title").inner_text() == episode["title"]
    check_and_snap(page, artifacts, "show-playing")
    play.click()
    wait_for(page, "document.getElementById('show-player').paused")
    expect(play).to_have_text(re.compile("^Play"))

    # One page of episodes: no page links, and no second page.
    assert page.get_by_role("navigation", name="Episode pages").count() == 0
    assert page.goto(f"/s/{site['show_id']}?page=2").status == 404
    page.context.close()


def test_listener_reads_turns_shares_a_moment_and_reopens_it_at_that_second(
    browser, site, published, artifacts
) -> None:
    base, episode = site["stack"].base_url, published["episode"]
    page = signed_in(browser, base, None)
    page.goto(f"/e/{episode['id']}")
    turns = page.locator("#transcript .turn").evaluate_all(
        """els => els.map((t) => ({
          names: t.querySelectorAll(".speaker").length,
          speaker: t.querySelector(".speaker").textContent,
          href: t.querySelector("a.time").getAttribute("href"),
          starts: [...t.querySelectorAll(".line")].map((l) => parseFloat(l.dataset.start)),
          texts: [...t.querySelectorAll(".line")].map((l) => l.textContent),
        }))"""
    )
    assert len(turns) >= 4
    assert all(t["names"] == 1 for t in turns)  # the speaker's name once per turn
    assert all(a["speaker"] != b["speaker"] for a, b in pairwise(turns))
    assert any(len(t["texts"]) > 1 for t in turns)  # "Welcome back. Today we plan..."
    for turn in turns:
        assert turn["href"] == f"#t={turn['starts'][0]:.1f}"
        assert all(re.search(r"[.!?]$", text) for text in turn["texts"]), turn  # whole sentences
    talk = page.locator("#speakers li").all_inner_texts()
    assert [t.split()[0] for t in talk] == ["Alice", "Chioma"]  # Dan was not published
    assert all(re.search(r"talks \d+:\d\d \(\d+ %\)", t) for t in talk), talk
    check_and_snap(page, artifacts, "episode-turns")

    # Playing on: the sentence heard is lit, inside its turn.
    page.evaluate(
        f"() => {{ const a = {PLAYER}; a.muted = true; a.playbackRate = 2; return a.play(); }}"
    )
    wait_for(page, f"{PLAYER}.currentTime > 6.5", timeout_ms=30_000)
    page.evaluate(f"{PLAYER}.pause()")
    assert page.locator("#transcript .turn.speaking .line.active").count() == 1
    page.get_by_role("button", name="Share this moment").click()
    link = page.get_by_label("Link to this moment").input_value()
    second = int(page.evaluate(f"{PLAYER}.currentTime"))
    assert link == f"{base}/e/{episode['id']}#t={second}"
    assert "ready to copy" in page.locator("#copy-status").inner_text()
    check_and_snap(page, artifacts, "episode-share")

    # Someone else opens the link: the episode is at that second, its sentence lit.
    other = signed_in(browser, base, None)
    other.goto(link)
    wait_for(other, f"{PLAYER}.readyState >= 1")
    assert other.evaluate(f"{PLAYER}.currentTime") == pytest.approx(second, abs=0.3)
    starts = [s for turn in turns for s in turn["starts"]]
    heard = max(i for i, s in enumerate(starts) if s <= second + 0.05)
    lit = other.locator("#transcript .line.active")
    assert float(lit.get_attribute("data-start")) == pytest.approx(starts[heard], abs=0.01)
    # A turn's time plays from its start and is the address to share.
    other.locator("#transcript a.time").nth(2).click()
    wait_for(other, f"Math.abs({PLAYER}.currentTime - {turns[2]['starts'][0]}) < 0.6")
    assert other.url.endswith(turns[2]["href"])
    other.evaluate(f"{PLAYER}.pause()")
    check_and_snap(other, artifacts, "episode-moment")
    other.context.close()
    page.context.close()


def test_player_keys_and_coming_back_where_the_listener_stopped(
    browser, site, published, artifacts
) -> None:
    episode = published["episode"]
    assert episode["duration_s"] > 31  # room for two steps of 15 s
    page = signed_in(browser, site["stack"].base_url, None)
    page.goto(f"/e/{episode['id']}")
    wait_for(page, f"{PLAYER}.readyState >= 1")
    page.evaluate(f"{PLAYER}.muted = true")

    kept = f"localStorage.getItem('spacecast:position:{episode['id']}')"

    def at(seconds: float) -> None:
        try:
            wait_for(page, f"Math.abs({PLAYER}.currentTime - {seconds}) < 0.3")
        except AssertionError as error:  # say where the player was, and what the page kept
            where = page.evaluate(f"[{PLAYER}.currentTime, {PLAYER}.readyState, {kept}]")
            raise AssertionError(f"{error}; currentTime, readyState, kept: {where}") from None

    page.keyboard.press("l")
    at(15)
    page.keyboard.press("ArrowRight")
    at(30)
    page.keyboard.press("j")
    at(15)
    page.get_by_role("button", name="Back 15 s").click()
    at(0)
    page.get_by_role("button", name="Forward 15 s").click()
    at(15)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("k")
    wait_for(page, f"!{PLAYER}.paused")
    page.keyboard.press("Space")
    wait_for(page, f"{PLAYER}.paused")
    stopped = page.evaluate(f"{PLAYER}.currentTime")
    # Typing in a field is never taken for a shortcut, and the shortcuts can be turned off.
    page.get_by_label("Keyboard shortcuts:").uncheck()
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("l")
    page.wait_for_timeout(300)
    assert page.evaluate(f"{PLAYER}.currentTime") == pytest.approx(stopped, abs=0.05)

    # Back later: the player is where the listener stopped, and says so.
    # The page keeps the position to the second (it saves a move of a second or more), so a
    # pause half a second after a save comes back at the saved second.
    # The page keeps a move at once and again on its media events (seeked, pause), which a
    # loaded machine delivers late.
    try:
        wait_for(page, f"{kept} !== null")
    except AssertionError as error:  # what the player was doing meanwhile
        state = page.evaluate(
            f"[{PLAYER}.currentTime, {PLAYER}.duration, {PLAYER}.paused, {PLAYER}.readyState, "
            f"{PLAYER}.networkState, {PLAYER}.error && {PLAYER}.error.code]"
        )
        raise AssertionError(
            f"{error}; currentTime, duration, paused, readyState, networkState, error: {state}"
        ) from None
    kept_s = float(page.evaluate(kept))
    assert kept_s == pytest.approx(stopped, abs=1.0)
    page.goto("/")
    page.goto(f"/e/{episode['id']}")
    wait_for(page, f"{PLAYER}.readyState >= 1")
    at(kept_s)
    resume = page.locator("#resume")
    expect(resume).to_be_visible()
    assert f"at 0:{int(kept_s):02d}" in resume.inner_text()
    assert not page.get_by_label("Keyboard shortcuts:").is_checked()  # remembered too
    check_and_snap(page, artifacts, "episode-resumed")
    page.get_by_role("button", name="Start from the beginning").click()
    at(0)
    expect(resume).to_be_hidden()
    page.context.close()


def _tick(page, speaker: str, *, min_s: float = 3.0) -> dict:
    """Tick the first transcript line (a sentence) of ``speaker`` in the clip maker that is long
    enough for a clip; return its times."""
    boxes = page.locator(".pick-line", has_text=speaker).get_by_role("checkbox")
    box = next(
        b
        for b in boxes.all()
        if float(b.get_attribute("data-end")) - float(b.get_attribute("data-start")) >= min_s
    )
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
    # The same gate refuses the cut itself: the range the page selected, sent anyway.
    start = float(page.get_by_label("Start (seconds)").input_value())
    end = float(page.get_by_label("End (seconds)").input_value())
    with site["stack"].client(key=site["listener"]) as listener:
        refused = listener.post(
            f"/episodes/{episode['id']}/clips", json={"start_s": start, "end_s": end}
        )
        assert refused.status_code == 409, refused.text
        assert "Chioma speaks in this range and has not consented" in refused.json()["detail"]
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
    # What opens on the pages fits too: the moment's link, the ways to subscribe.
    for name, path, opener in [
        ("phone-episode-share", f"/e/{episode['id']}", "Share this moment"),
        ("phone-show-subscribe", f"/s/{site['show_id']}", "More ways to subscribe"),
    ]:
        page.goto(path)
        page.get_by_text(opener).click()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, (path, overflow)
        box = page.locator("#share-url, #feed-url").first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        check_and_snap(page, artifacts, name)
    page.context.close()
