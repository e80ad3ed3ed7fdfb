"""A show's choice of leveling voices between speakers: on for a new show, off for a host who
wants the sound as recorded, changed for the next renderings by the show's host only."""

from __future__ import annotations

from tests.api.conftest import World


def test_a_host_turns_leveling_off_and_on_again(world: World) -> None:
    created = world.client.post(
        "/shows", json={"title": "Raw room", "author": "Alice", "process_speakers": False},
        headers=world.headers("host"),
    )  # fmt: skip
    assert created.status_code == 201, created.text
    show = created.json()
    assert show["process_speakers"] is False
    default = world.client.post(
        "/shows", json={"title": "Produced room", "author": "Alice"}, headers=world.headers("host")
    ).json()
    assert default["process_speakers"] is True

    url = f"/shows/{show['id']}"
    turned = world.client.patch(url, json={"process_speakers": True}, headers=world.headers("host"))
    assert turned.status_code == 200 and turned.json()["process_speakers"] is True
    # An empty change changes nothing; a value that is not a boolean is refused, naming it.
    same = world.client.patch(url, json={}, headers=world.headers("host"))
    assert same.status_code == 200 and same.json()["process_speakers"] is True
    refused = world.client.patch(
        url, json={"process_speakers": "no"}, headers=world.headers("host")
    )
    assert refused.status_code == 422 and "process_speakers" in refused.text
    unknown = world.client.patch(url, json={"title": "Renamed"}, headers=world.headers("host"))
    assert unknown.status_code == 422
    assert world.client.get(url).json()["process_speakers"] is True
    assert world.client.get(url).json()["title"] == "Raw room"
