"""Abuse limits: sign-ups and uploads are rate limited per caller; request bodies are capped."""

from tests.api.conftest import World


def test_signups_from_one_address_are_rate_limited(world: World) -> None:
    statuses = [
        world.client.post("/listeners", json={"name": "Lee"}).status_code for _ in range(12)
    ]
    assert 429 in statuses
    assert statuses.count(201) <= 10
    refused = world.client.post("/listeners", json={"name": "Lee"})
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many sign-ups: at most 10 per hour; retry in ")
    assert int(refused.headers["Retry-After"]) > 0


def test_oversized_json_body_is_refused_before_it_is_read(world: World) -> None:
    body = '{"title": "x", "author": "y", "description": "' + "z" * (2 * 1024 * 1024) + '"}'
    response = world.client.post(
        "/shows",
        content=body,
        headers={**world.headers("host"), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "request body is larger than the limit of 1.0 MiB"


def test_unknown_and_malformed_keys_are_refused(world: World) -> None:
    for header in ("Bearer sc_not-a-real-key", "Basic dXNlcjpwYXNz", "Bearer "):
        response = world.client.get("/users/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_key_stops_working(world: World) -> None:
    made = world.client.post(
        "/users/me/keys", json={"label": "temp"}, headers=world.headers("listener")
    )
    token, key_id = made.json()["token"], made.json()["id"]
    assert (
        world.client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    world.client.delete(f"/users/me/keys/{key_id}", headers=world.headers("listener"))
    assert (
        world.client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_keys_are_stored_only_as_digests(world: World, api_env) -> None:
    import psycopg

    url = api_env["SPACECAST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        stored = {row[0] for row in conn.execute("select token_sha256 from api_keys")}
    assert world.keys["host"] not in stored
    import hashlib

    assert hashlib.sha256(world.keys["host"].encode()).hexdigest() in stored


def _chunked(total_bytes: int, block: bytes = b"z" * 65536):
    """A request body sent with Transfer-Encoding: chunked (no Content-Length)."""
    sent = 0
    while sent < total_bytes:
        yield block
        sent += len(block)


def test_oversized_chunked_json_body_is_refused_with_413(world: World, caplog) -> None:
    import logging

    caplog.set_level(logging.ERROR, logger="spacecast.api")
    response = world.client.post(
        "/shows",
        content=_chunked(2 * 1024 * 1024),
        headers={**world.headers("admin"), "content-type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": "request body is larger than the limit of 1.0 MiB"}
    assert not [r for r in caplog.records if "unhandled error" in r.getMessage()]


def test_oversized_chunked_track_upload_is_refused_with_413_and_nothing_stored(
    world: World, caplog
) -> None:
    import logging

    from infra.settings import get_settings
    from infra.storage import ObjectStore

    caplog.set_level(logging.ERROR, logger="spacecast.api")
    space = world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={"title": "Big", "participants": [{"id": "big", "name": "Big", "offset": 0,
                                               "consent": {"record": True, "publish": True}}]},
        headers=world.headers("host"),
    ).json()  # fmt: skip
    response = world.client.put(
        f"/spaces/{space['id']}/participants/big/track",
        content=_chunked(6 * 1024 * 1024),
        headers=world.headers("host"),
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413, response.text
    # The same message as a Content-Length over the limit (the track limit plus 64 KiB).
    assert response.json() == {"detail": "request body is larger than the limit of 4.1 MiB"}
    assert ObjectStore(get_settings()).list_keys(f"raw/{space['id']}/") == []
    assert not [r for r in caplog.records if "unhandled error" in r.getMessage()]
