"""Bad requests get a clear 4xx message, and nothing already stored is touched."""

from pathlib import Path

import pytest

from tests.service.stack import ServiceStack


@pytest.fixture
def space(redis_stack: ServiceStack) -> dict:
    with redis_stack.client() as client:
        show = (
            client.post("/shows", json={"title": "Errors", "author": "Alice"})
            .raise_for_status()
            .json()
        )
        body = {
            "title": "A room",
            "participants": [
                {"id": "alice", "name": "Alice", "role": "host", "offset": 0,
                 "consent": {"record": True, "publish": True}},
                {"id": "dan", "name": "Dan", "offset": 3, "consent": {"record": False, "publish": False}},
            ],
        }  # fmt: skip
        return client.post(f"/shows/{show['id']}/spaces", json=body).raise_for_status().json()


def test_upload_that_is_not_audio_is_refused_and_the_earlier_track_kept(
    redis_stack: ServiceStack, space: dict, sample_dir: Path
) -> None:
    url = f"/spaces/{space['id']}/participants/alice/track"
    with redis_stack.client() as client:
        good = client.put(url, content=(sample_dir / "alice.opus").read_bytes())
        assert good.status_code == 201
        keys = redis_stack.store().list_keys(f"raw/{space['id']}/")
        bad = client.put(url, content=b"<html>definitely not audio</html>" * 20)
        assert bad.status_code == 422
        assert bad.json()["detail"].startswith("track of alice: not an audio file")
        empty = client.put(url, content=b"")
        assert empty.status_code == 422 and "empty" in empty.json()["detail"]
        after = client.get(f"/spaces/{space['id']}").json()
    assert redis_stack.store().list_keys(f"raw/{space['id']}/") == keys
    (alice,) = [p for p in after["participants"] if p["id"] == "alice"]
    assert alice["track"]["sha256"] == good.json()["sha256"]


def test_replacing_a_track_deletes_the_replaced_object(
    redis_stack: ServiceStack, space: dict, sample_dir
) -> None:
    url = f"/spaces/{space['id']}/participants/alice/track"
    with redis_stack.client() as client:
        client.put(url, content=(sample_dir / "alice.opus").read_bytes()).raise_for_status()
        first = redis_stack.store().list_keys(f"raw/{space['id']}/")
        client.put(url, content=(sample_dir / "chioma.m4a").read_bytes()).raise_for_status()
    second = redis_stack.store().list_keys(f"raw/{space['id']}/")
    assert len(first) == len(second) == 1 and first != second


def test_track_of_a_participant_who_refused_recording_is_not_stored(
    redis_stack: ServiceStack, space: dict, sample_dir: Path
) -> None:
    with redis_stack.client() as client:
        refused = client.put(
            f"/spaces/{space['id']}/participants/dan/track",
            content=(sample_dir / "alice.opus").read_bytes(),
        )
    assert refused.status_code == 409
    assert "has consented neither to being recorded nor to publication" in refused.json()["detail"]
    assert redis_stack.store().list_keys(f"raw/{space['id']}/") == []


def test_finish_names_the_missing_tracks(redis_stack: ServiceStack, space: dict) -> None:
    with redis_stack.client() as client:
        response = client.post(f"/spaces/{space['id']}/finish")
        state = client.get(f"/spaces/{space['id']}").json()
    assert response.status_code == 409
    assert response.json()["detail"] == "no track uploaded yet for: alice (upload, then finish)"
    assert state["status"] == "recording"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "needle"),
    [
        ("get", "/spaces/nope", None, 404, "space nope not found"),
        ("get", "/shows/nope/feed.xml", None, 404, "show nope not found"),
        ("put", "/spaces/{space}/participants/zoe/track", b"x", 404, "participant 'zoe' is not registered"),
        ("post", "/spaces/{space}/participants", {"id": "../x", "name": "X", "offset": 0}, 422, "id"),
        ("post", "/spaces/{space}/participants", {"id": "x", "name": "X", "offset": -2}, 422, "offset"),
        ("post", "/spaces/{space}/participants",
         {"id": "alice", "name": "Alice again", "offset": 0}, 409, "already registered"),
        ("get", "/spaces/{space}/episode", None, 404, "has no published episode"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_clear_4xx(
    redis_stack, space, method, path, body, status, needle
) -> None:
    with redis_stack.client() as client:
        url = path.format(space=space["id"])
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body else {}
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status
    assert needle in str(response.json()["detail"])
    assert "Traceback" not in response.text and "/work/" not in response.text
