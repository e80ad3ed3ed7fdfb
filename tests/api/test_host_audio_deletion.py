"""Deleting a show's own audio: the row and every byte of its object go, unless the episode as
published (or being made) plays it; a version that only names it is refused by name later."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import World
from tests.api.test_hostile_edits import _upload, _with_a_track


def _stored(show_id: str, audio_id: str) -> tuple[bool, bytes | None]:
    """Whether the database has the audio's row, and the bytes the bucket holds at its key."""
    from infra.db import session_scope
    from infra.models import HostAudio
    from infra.settings import get_settings
    from infra.storage import ObjectStore, host_audio_key

    settings = get_settings()
    with session_scope(settings.database_url) as session:
        row = session.get(HostAudio, audio_id) is not None
    store, key = ObjectStore(settings), host_audio_key(show_id, audio_id)
    return row, store.get_bytes(key) if store.exists(key) else None


def test_host_audio_played_by_the_published_version_is_kept_and_unpublished_use_is_refused_later(
    world: World, short_opus: Path
) -> None:
    from infra.settings import get_settings
    from infra.storage import ObjectStore, host_audio_key

    episode = _with_a_track(world, "A", short_opus)
    show = world.shows["A"]
    body = short_opus.read_bytes()
    intro = _upload(world, "host", "A", "kept intro", body).json()["id"]
    outro = _upload(world, "host", "A", "spare outro", body).json()["id"]
    versions = f"/episodes/{episode}/versions"
    host = world.headers("host")
    played = world.client.post(
        versions, json={"operations": [{"op": "intro", "audio_id": intro}]}, headers=host
    )
    named = world.client.post(
        versions, json={"operations": [{"op": "outro", "audio_id": outro}]}, headers=host
    )
    assert played.status_code == named.status_code == 201, (played.text, named.text)
    published = world.client.post(f"{versions}/{played.json()['number']}/publish", headers=host)
    assert published.status_code == 202, published.text

    # Played by the episode as published: refused, naming the version; nothing of it goes.
    refused = world.client.delete(f"/shows/{show}/audio/{intro}", headers=host)
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert f"version {played.json()['number']} of episode {episode}" in detail, detail
    assert "'kept intro'" in detail, detail
    assert _stored(show, intro) == (True, body)

    # Named only by a version not published: deleted, row and bytes.
    store = ObjectStore(get_settings())
    key = host_audio_key(show, outro)
    assert _stored(show, outro) == (True, body)
    deleted = world.client.delete(f"/shows/{show}/audio/{outro}", headers=host)
    assert deleted.status_code == 204, deleted.text
    assert _stored(show, outro) == (False, None)
    assert store.remains([key]) == {}  # no version, no unfinished upload either
    listed = world.client.get(f"/shows/{show}/audio", headers=host).json()
    assert outro not in {a["id"] for a in listed} and intro in {a["id"] for a in listed}

    # Gone: a second delete says so; publishing the version that named it is refused by name.
    again = world.client.delete(f"/shows/{show}/audio/{outro}", headers=host)
    assert again.status_code == 404 and outro in again.json()["detail"], again.text
    late = world.client.post(f"{versions}/{named.json()['number']}/publish", headers=host)
    assert late.status_code == 422, late.text
    assert "outro" in late.json()["detail"] and outro in late.json()["detail"], late.text
    chosen = world.client.get(versions, headers=host).json()["edit_version"]
    assert chosen == played.json()["number"]

    # Once the episode is published without it (the room as recorded), it may go.
    back = world.client.post(f"{versions}/0/publish", headers=host)
    assert back.status_code == 202, back.text
    gone = world.client.delete(f"/shows/{show}/audio/{intro}", headers=host)
    assert gone.status_code == 204, gone.text
    assert _stored(show, intro) == (False, None)
    assert store.remains([host_audio_key(show, intro)]) == {}
