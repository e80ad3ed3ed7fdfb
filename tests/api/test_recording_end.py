"""Where a participant's recording ended on the room's clock (``end``, optional), through the
API: kept and shown, refused naming the field when it is not after the offset or not a number of
seconds, and a refused change leaves what was stored as it was."""

from __future__ import annotations

import pytest

from tests.api.conftest import World


def _create(world: World, participants: list[dict]):
    return world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={"title": "Ends", "participants": participants},
        headers=world.headers("host"),
    )


def _participant(world: World, space_id: str, handle: str) -> dict:
    space = world.client.get(f"/spaces/{space_id}", headers=world.headers("host")).json()
    return next(p for p in space["participants"] if p["id"] == handle)


def test_an_end_is_kept_and_changed(world: World) -> None:
    created = _create(world, [
        {"id": "ana", "name": "Ana", "offset": 2.5, "end": 3602.5},
        {"id": "ben", "name": "Ben", "offset": 0},
    ])  # fmt: skip
    assert created.status_code == 201, created.text
    ends = {p["id"]: p["end"] for p in created.json()["participants"]}
    assert ends == {"ana": 3602.5, "ben": None}
    space_id = created.json()["id"]
    url = f"/spaces/{space_id}/participants"
    patched = world.client.patch(f"{url}/ben", json={"end": 1800.0}, headers=world.headers("host"))
    assert patched.status_code == 200 and patched.json()["end"] == 1800.0
    # A later offset is checked against the end already stored.
    moved = world.client.patch(f"{url}/ben", json={"offset": 10}, headers=world.headers("host"))
    assert moved.status_code == 200 and moved.json()["end"] == 1800.0
    added = world.client.post(
        url, json={"id": "cai", "name": "Cai", "offset": 60, "end": 120},
        headers=world.headers("host"),
    )  # fmt: skip
    assert added.status_code == 201 and added.json()["end"] == 120


@pytest.mark.parametrize(
    ("participant", "named"),
    [
        ({"offset": 10, "end": 10}, "end (10 s) must be after offset (10 s)"),
        ({"offset": 10, "end": 4}, "end (4 s) must be after offset (10 s)"),
        ({"offset": 0, "end": 0}, "end"),
        ({"offset": 0, "end": -1}, "end"),
        ({"offset": 0, "end": 1e12}, "end"),
        ({"offset": 0, "end": "soon"}, "end"),
    ],
)
def test_an_end_not_after_the_offset_is_refused_naming_it(
    world: World, participant: dict, named: str
) -> None:
    refused = _create(world, [{"id": "ana", "name": "Ana", **participant}])
    assert refused.status_code == 422, refused.text
    assert named in refused.text


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_an_end_that_is_no_number_of_seconds_is_refused(world: World, literal: str) -> None:
    """JSON has no NaN or infinity, but a parser that takes them would: sent raw."""
    body = (
        '{"title": "Ends", "participants": [{"id": "ana", "name": "Ana", "offset": 0, '
        f'"end": {literal}}}]}}'
    )
    refused = world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        content=body,
        headers={**world.headers("host"), "Content-Type": "application/json"},
    )
    assert refused.status_code == 422, refused.text
    assert "end" in refused.text


def test_a_refused_change_of_end_or_offset_leaves_both_as_they_were(world: World) -> None:
    created = _create(world, [{"id": "ana", "name": "Ana", "offset": 5, "end": 65}])
    space_id = created.json()["id"]
    url = f"/spaces/{space_id}/participants/ana"
    for change, named in (
        ({"end": 5}, "end (5 s) must be after offset (5 s)"),
        ({"offset": 70}, "end (65 s) must be after offset (70 s)"),
        ({"offset": 70, "end": 60}, "end (60 s) must be after offset (70 s)"),
    ):
        refused = world.client.patch(url, json=change, headers=world.headers("host"))
        assert refused.status_code == 422 and named in refused.text, (change, refused.text)
        kept = _participant(world, space_id, "ana")
        assert (kept["offset"], kept["end"]) == (5, 65), change
