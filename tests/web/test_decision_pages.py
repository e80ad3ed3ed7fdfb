"""The pages of a moderation decision and an erasure, in Debian's chromium: the host reads the
statement of reasons on their space's page and appeals from it; a participant erases their
voice from their consent page and sees what a complaint still holds; administrators see the
request on the erasure page by due date. Each page passes axe-core and its CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from infra.samples import build_sample_space, load_spec
from spacecast.demo import submit_sample, wait_until_done
from tests.web.browsing import check_and_snap, signed_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def decided(site, tmp_path_factory) -> dict:
    """A space of its own (its episode is removed), with a moderator's decision on a notice."""
    stack = site["stack"]
    folder = tmp_path_factory.mktemp("decided-space")
    spec = load_spec("quick_chat")
    # A title of its own: the other page tests find the site's space on the dashboard by title.
    spec["space"]["title"] = "Market chat, taken down"
    build_sample_space(spec, folder)
    with stack.client() as host:
        space_id = submit_sample(host, folder, finish={"missing": "exclude"})
        state = wait_until_done(host, space_id, timeout_s=300)
    assert state["status"] == "published", state
    with stack.client(key=site["listener"]) as listener:
        complaint = listener.post(
            "/complaints",
            json={"target": "episode", "episode_id": state["episode"]["id"], "category": "hate"},
        ).raise_for_status().json()  # fmt: skip
    with stack.client(key=site["moderator"]) as moderator:
        moderator.post(
            f"/moderation/complaints/{complaint['id']}/decision",
            json={"decision": "remove_episode", "reason": "slurs against a group at 0:12"},
        ).raise_for_status()
    return {"space_id": space_id, "complaint": complaint}


def test_host_reads_the_statement_of_reasons_and_appeals_from_the_space_page(
    browser, site, decided, artifacts
) -> None:
    stack = site["stack"]
    page = signed_in(browser, stack.base_url, stack.host_key)
    page.goto(f"/host/spaces/{decided['space_id']}")
    statement = page.locator("#decisions .statement")
    expect(statement).to_contain_text("episode removed")
    expect(statement).to_contain_text("slurs against a group at 0:12")
    expect(statement).to_contain_text("the community rules on hateful conduct")
    check_and_snap(page, artifacts, "space-decision")
    statement.get_by_label("why is this decision wrong?", exact=False).fill(
        "The words were a quote from the news, discussed critically."
    )
    statement.get_by_role("button", name="Send the appeal").click()
    expect(statement.locator(".appeal-status")).to_contain_text("another moderator")
    page.context.close()
    with stack.client(key=site["moderator"]) as moderator:
        appeals = moderator.get("/moderation/appeals").raise_for_status().json()
    mine = [a for a in appeals if a["complaint_id"] == decided["complaint"]["id"]]
    assert len(mine) == 1 and "quote from the news" in mine[0]["text"]


def test_participant_erases_their_voice_and_administrators_see_it_by_due_date(
    browser, site, decided, artifacts
) -> None:
    stack = site["stack"]
    with stack.client("room") as room:
        invite = room.post(f"/spaces/{decided['space_id']}/participants/dan/invite")
    link = invite.raise_for_status().json()["url"]
    page = signed_in(browser, stack.base_url, None)
    page.goto(link)
    page.wait_for_url("**/consent")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Erase my voice and words").click()
    expect(page.locator("#erasure")).to_contain_text("due by")
    # The open complaint about the room holds Dan's raw recording for the moderators.
    expect(page.locator("#erasure")).to_contain_text("holds your raw recording")
    check_and_snap(page, artifacts, "consent-erasure")
    page.context.close()

    admin = signed_in(browser, stack.base_url, stack.admin_key)
    admin.goto("/admin/erasures")
    row = admin.locator("#erasures tr", has_text="dan")
    expect(row).to_have_count(1)
    dues = admin.locator("#erasures tbody tr td:first-child").all_inner_texts()
    assert dues == sorted(dues)
    check_and_snap(admin, artifacts, "admin-erasures")
    admin.context.close()
