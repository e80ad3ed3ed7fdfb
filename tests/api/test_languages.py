"""A space's language and each participant's own, through the API: what the room speaks picks
the Whisper model, so a language Whisper does not know is refused at the door, naming it."""

from __future__ import annotations

from tests.api.conftest import World


def _create(world: World, body: dict):
    return world.client.post(
        f"/shows/{world.shows['A']}/spaces", json=body, headers=world.headers("host")
    )


def test_a_room_detects_its_language_and_a_guest_speaks_their_own(world: World) -> None:
    created = _create(
        world,
        {
            "title": "Soirée du quartier",
            "language": "auto",
            "participants": [
                {"id": "camille", "name": "Camille", "offset": 0},
                {"id": "dana", "name": "Dana", "offset": 3, "language": "en-GB"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    space = created.json()
    assert space["language"] == "auto"
    languages = {p["id"]: p["language"] for p in space["participants"]}
    assert languages == {"camille": None, "dana": "en-GB"}

    url = f"/spaces/{space['id']}/participants"
    added = world.client.post(
        url, json={"id": "louis", "name": "Louis", "offset": 5, "language": "fr"},
        headers=world.headers("host"),
    )  # fmt: skip
    assert added.status_code == 201 and added.json()["language"] == "fr"
    patched = world.client.patch(
        f"{url}/camille", json={"language": "pt-BR"}, headers=world.headers("host")
    )
    assert patched.status_code == 200 and patched.json()["language"] == "pt-BR"

    # A refused change keeps what was stored.
    refused = world.client.patch(
        f"{url}/camille", json={"language": "qq"}, headers=world.headers("host")
    )
    assert refused.status_code == 422
    assert "Whisper does not know 'qq'" in refused.text
    again = world.client.get(f"/spaces/{space['id']}", headers=world.headers("host")).json()
    assert {p["id"]: p["language"] for p in again["participants"]}["camille"] == "pt-BR"


def test_a_language_whisper_does_not_know_is_refused_naming_it(world: World) -> None:
    for body, where in [
        ({"title": "Room", "language": "xx"}, "language"),
        ({"title": "Room", "language": "fr<script>"}, "language"),
        ({"title": "Room", "language": "a" * 40}, "language"),
        ({"title": "Room", "participants": [
            {"id": "p", "name": "P", "offset": 0, "language": "zz-ZZ"}]}, "participants"),
    ]:  # fmt: skip
        response = _create(world, body)
        assert response.status_code == 422, (body, response.text)
        assert where in response.text
