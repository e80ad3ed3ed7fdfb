"""Signing in to the web pages: the API key in an HttpOnly, SameSite=Strict cookie is the same
principal as the bearer key; changes made with the cookie need the page header from the same
origin; browsers asking for a page without signing in are sent to the login page."""

from __future__ import annotations

from typing import get_args

import pytest
from fastapi.testclient import TestClient

from api.routes.pages import REPORT_CATEGORIES
from api.schemas import ComplaintCategory
from api.web import safe_next
from infra.settings import get_settings
from tests.api.conftest import World, served


@pytest.fixture
def browser_like(world: World) -> TestClient:
    """A client of its own, so its cookies stay out of the shared one."""
    return TestClient(world.client.app)


def sign_in(client: TestClient, key: str, **headers: str):
    return client.post(
        "/login", data={"key": key, "next": "/host"}, headers=headers, follow_redirects=False
    )


def test_signing_in_sets_a_strict_http_only_cookie_for_the_same_principal(
    world: World, browser_like: TestClient
) -> None:
    response = sign_in(browser_like, world.keys["listener"])
    assert response.status_code == 303 and response.headers["location"] == "/host"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    me = browser_like.get("/users/me")
    assert me.status_code == 200 and me.json()["roles"] == ["listener"]
    assert browser_like.post("/logout").status_code == 403  # not from a page of this site
    browser_like.post("/logout", headers={"origin": "http://testserver"}, follow_redirects=False)
    assert browser_like.get("/users/me").status_code == 401


def test_a_wrong_key_is_explained_on_the_login_page(browser_like: TestClient) -> None:
    response = sign_in(browser_like, "sc_not-a-key")
    assert response.status_code == 200
    assert "That key does not work: API key unknown, revoked or expired" in response.text
    assert "set-cookie" not in response.headers


def test_cookie_changes_need_the_page_header_from_the_same_origin(
    world: World, browser_like: TestClient
) -> None:
    sign_in(browser_like, world.keys["listener"])
    url = f"/episodes/{world.episodes['A']}/clips/check"
    body = {"start_s": 5, "end_s": 15}
    forged = browser_like.post(url, json=body)
    assert forged.status_code == 403 and "x-spacecast-page" in forged.json()["detail"]
    assert browser_like.post(url, json=body, headers={"origin": "null"}).status_code == 403
    other_site = browser_like.post(
        url, json=body, headers={"x-spacecast-page": "1", "origin": "https://evil.example"}
    )
    assert other_site.status_code == 403
    for headers in ({"x-spacecast-page": "1"}, {"origin": "http://testserver"}):
        page = browser_like.post(url, json=body, headers=headers)
        assert page.status_code == 200, page.text
        assert page.json()["duration_s"] == 10.0
    # Reading needs no header; a bearer key never needs one.
    assert browser_like.get("/users/me").status_code == 200
    assert world.client.post(url, json=body, headers=world.headers("listener")).status_code == 200


def test_sign_in_from_another_site_is_refused(world: World, browser_like: TestClient) -> None:
    response = sign_in(browser_like, world.keys["listener"], origin="https://evil.example")
    assert response.status_code == 403
    assert "set-cookie" not in response.headers


def test_browsers_are_sent_to_sign_in_and_api_clients_get_json(
    world: World, browser_like: TestClient
) -> None:
    page = browser_like.get("/host?x=1", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fhost%3Fx%3D1"
    assert browser_like.get("/host").json()["detail"].startswith("this endpoint needs an API key")
    sign_in(browser_like, world.keys["listener"])
    refused = browser_like.get("/host", headers={"accept": "text/html"})
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert "this endpoint is for: admin, host" in refused.text


@pytest.mark.parametrize(
    ("asked", "followed"),
    [("/e/1", "/e/1"), ("//evil.example/x", "/"), ("https://evil.example", "/"), ("", "/"),
     ("/\\evil.example", "/")],
)  # fmt: skip
def test_only_paths_of_this_site_are_followed_after_signing_in(asked: str, followed: str) -> None:
    assert safe_next(asked) == followed


def test_wrong_keys_are_limited_per_address_and_never_lock_out_a_valid_key(world: World) -> None:
    guesser = TestClient(world.client.app, client=("203.0.113.7", 40000))
    statuses = [sign_in(guesser, f"sc_guess{n:04d}-x").status_code for n in range(22)]
    assert statuses[:20] == [200] * 20  # each a wrong key, explained on the page
    assert statuses[20:] == [429, 429]
    refused = sign_in(guesser, "sc_guess-last")
    assert refused.status_code == 429
    assert "too many failed sign-ins: at most 20 per minute" in refused.text
    # Someone with a valid key behind the same address (a shared NAT) still gets in.
    assert sign_in(guesser, world.keys["listener"]).status_code == 303


def test_wrong_keys_sharing_a_prefix_are_limited_whatever_address_sends_them(
    world: World,
) -> None:
    statuses = [
        sign_in(
            TestClient(world.client.app, client=(f"198.51.100.{n}", 40000)), f"sc_samepfx00-{n}"
        ).status_code
        for n in range(22)
    ]
    assert statuses[:20] == [200] * 20 and statuses[20:] == [429, 429]


def test_forwarded_for_headers_are_believed_only_from_configured_proxies(world: World) -> None:
    """Through uvicorn as `spacecast api` runs it: from 127.0.0.1, a new X-Forwarded-For on
    every try does not escape the limit (uvicorn's own default would believe it)."""
    import httpx

    from api.app import create_app
    from infra.settings import Settings

    assert Settings().proxy_options() == {"proxy_headers": False, "forwarded_allow_ips": None}
    with served(create_app()) as base, httpx.Client(base_url=base) as client:
        statuses = [
            client.post(
                "/login",
                data={"key": f"sc_spoof{n:04d}-x", "next": "/"},
                headers={"x-forwarded-for": f"192.0.2.{n}", "origin": base},
            ).status_code
            for n in range(22)
        ]
    assert statuses[:20] == [200] * 20 and statuses[20:] == [429, 429]


def test_behind_a_proxy_the_public_origin_counts_as_this_site(world: World) -> None:
    """The proxy reaches the app at an internal address; browsers send the public origin."""
    internal = TestClient(world.client.app, base_url="http://10.0.0.5:8000")
    public = get_settings().public_base_url.rstrip("/")
    assert sign_in(internal, world.keys["listener"], origin=public).status_code == 303
    url = f"/episodes/{world.episodes['A']}/clips/check"
    body = {"start_s": 5, "end_s": 15}
    assert internal.post(url, json=body, headers={"origin": public}).status_code == 200
    assert (
        internal.post(url, json=body, headers={"origin": "https://evil.example"}).status_code == 403
    )


def test_the_report_form_offers_every_complaint_category() -> None:
    assert [value for value, _ in REPORT_CATEGORIES] == list(get_args(ComplaintCategory))
