"""Consent comes from the participant alone, and what it no longer allows is gone at once: the
attacks found against the API (a host acting in a participant's name, overriding their answer,
media outliving a withdrawal, takedowns leaving intermediates, complaints revealing who took
part, moderation bypassed through clips, soundbites renamed), each through the real API on
PostgreSQL and the real S3 server, with the bucket listed to prove what is gone."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from tests.api.conftest import World


@dataclass
class Room:
    space_id: str
    episode_id: str
    ids: dict[str, str]  # handle -> participant id
    keys: dict[str, list[str]]  # kind -> object keys (media, work, raw, clips)
    clip_id: str


def _put(store, key: str, data: bytes = b"audio " * 64) -> str:
    store.put_bytes(key, data, content_type="application/octet-stream")
    return key


SPEAKS = {"alice": [[1.0, 5.0]], "bruno": [[10.0, 20.0]]}  # speech activity, room timeline


def published_room(
    world: World, show: str = "A", *, recording: bool = False, bruno_clip: bool | None = True
) -> Room:
    """A space of show ``show`` with Alice and Bruno recorded and published: raw tracks, their
    speech activity, the mix, each speaker's transcript and the mastered files under work/ as
    the stages leave them, the published media, and a ready listener clip, every object real in
    the bucket. ``bruno_clip`` is Bruno's answer about clips (None: never answered)."""
    from infra.db import session_scope
    from infra.models import (
        Clip,
        Episode,
        Participant,
        Space,
        StageRun,
        Track,
        TranscriptSegment,
        User,
    )
    from infra.settings import get_settings
    from infra.storage import ObjectStore, media_key, raw_track_key, work_key
    from services.ledger import record_answers

    store = ObjectStore(get_settings())
    with session_scope(get_settings().database_url) as session:
        space = Space(
            show_id=world.shows[show],
            title="A room",
            status="recording" if recording else "published",
        )
        session.add(space)
        session.flush()
        ids: dict[str, str] = {}
        keys: dict[str, list[str]] = {"raw": [], "work": [], "media": [], "clips": []}
        for handle in ("alice", "bruno"):
            p = Participant(space_id=space.id, handle=handle, name=handle.title())
            session.add(p)
            session.flush()
            ids[handle] = p.id
            answers = {"record": True, "publish": True, "transcribe": True, "clip": True}
            if handle == "bruno":
                answers["clip"] = bruno_clip
            record_answers(session, p, answers, source="reported_by_host", actor="user:host")
            session.add(
                StageRun(
                    space_id=space.id,
                    stage="activity",
                    subject=p.id,
                    fingerprint="fp",
                    status="done",
                    result={"segments": SPEAKS[handle], "audio_s": 60.0, "speech_s": 4.0},
                )
            )
            raw = _put(store, raw_track_key(space.id, p.id, "t"))
            keys["raw"].append(raw)
            session.add(
                Track(
                    participant_id=p.id,
                    object_key=raw,
                    sha256=hashlib.sha256(b"audio " * 64).hexdigest(),
                    size_bytes=384,
                    format_name="ogg",
                    codec="opus",
                    sample_rate_hz=48000,
                    channels=1,
                    duration_s=60.0,
                )
            )
            transcript = _put(store, work_key(space.id, f"transcript-{p.id}-fp.json"), b"[]")
            keys["work"].append(transcript)
            session.add(
                StageRun(
                    space_id=space.id,
                    stage="transcribe",
                    subject=p.id,
                    fingerprint="fp",
                    status="done",
                    result={"key": transcript},
                )
            )
        voices = sorted(ids.values())
        mix = _put(store, work_key(space.id, "mix-fp.flac"))
        profile = _put(store, work_key(space.id, "loudness-fp.json"), b"[]")
        keys["work"] += [mix, profile]
        session.add(
            StageRun(
                space_id=space.id,
                stage="mix",
                fingerprint="fp",
                status="done",
                result={"key": mix, "profile_key": profile, "voices": voices,
                        "timeline_start_s": 0.0},
            )
        )  # fmt: skip
        media = {
            name: _put(store, media_key(space.id, "r1", name))
            for name in ("episode.mp3", "transcript.json", "transcript.vtt", "transcript.srt")
        }
        keys["media"] = list(media.values())
        mp3 = {"key": media["episode.mp3"], "size_bytes": 384, "mime_type": "audio/mpeg",
               "loudness": {}, "duration_s": 60.0}  # fmt: skip
        session.add(
            StageRun(
                space_id=space.id,
                stage="master",
                fingerprint="fp",
                status="done",
                result={"files": {"mp3": mp3}, "voices": voices},
            )
        )
        episode = Episode(
            space_id=space.id,
            show_id=world.shows[show],
            guid=f"guid-{space.id}",
            title="A room",
            description="d",
            render_id="r1",
            duration_s=60.0,
            media={"mp3": mp3},
            transcripts={f: media[f"transcript.{f}"] for f in ("json", "vtt", "srt")},
            persons=[{"name": "Alice", "role": "host"}, {"name": "Bruno", "role": "guest"}],
            consent_snapshot={"audible": voices, "transcribed": voices},
            report={"episode": {"timeline_start_s": 0.0}},
        )
        session.add(episode)
        session.flush()
        session.add_all(
            TranscriptSegment(
                episode_id=episode.id,
                participant_id=pid,
                speaker=handle.title(),
                start_s=1.0,
                end_s=3.0,
                text=f"{handle} talks about lanterns",
            )
            for handle, pid in ids.items()
        )
        listener = session.query(User).filter_by(name="listener").one()
        clip = Clip(
            episode_id=episode.id,
            space_id=space.id,
            creator_id=listener.id,
            made_by="listener",
            title="A moment",
            start_s=10.0,
            end_s=20.0,
            status="ready",
            speakers=[ids["bruno"]],
            consent_snapshot={"clipped": [ids["bruno"]]},
            render_id="cr",
            transcript=[],
        )
        session.add(clip)
        session.flush()
        clip_mp3 = _put(store, f"clips/{space.id}/{clip.id}/cr/clip.mp3")
        keys["clips"].append(clip_mp3)
        clip.media = {"mp3": {"key": clip_mp3}}
        return Room(space.id, episode.id, ids, keys, clip.id)


def bucket(room: Room) -> set[str]:
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    store = ObjectStore(get_settings())
    return {k for prefix in ("raw/", "work/", "media/", "clips/")
            for k in store.list_keys(f"{prefix}{room.space_id}/")}  # fmt: skip


def claim_key(world: World, space_id: str, handle: str) -> str:
    """Alice's own key, the way the room service and her device get it: an invite link."""
    link = world.client.post(
        f"/spaces/{space_id}/participants/{handle}/invite", headers=world.headers("room")
    )
    assert link.status_code == 201, link.text
    secret = link.json()["url"].split("#", 1)[1]
    claimed = world.client.post("/participants/claim", json={"secret": secret})
    assert claimed.status_code == 201, claimed.text
    return claimed.json()["participant_key"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# Consent must come from the participant alone


def test_a_host_can_neither_report_a_join_nor_obtain_a_participants_key(world: World) -> None:
    room = published_room(world, recording=True)
    url = f"/spaces/{room.space_id}/participants/bruno"
    challenge = {"device_challenge": hashlib.sha256(b"host-made").hexdigest()}
    for actor in ("host", "recorder"):
        assert (
            world.client.post(
                f"{url}/join", json=challenge, headers=world.headers(actor)
            ).status_code
            == 403
        )
        assert world.client.post(f"{url}/invite", headers=world.headers(actor)).status_code == 403
    # The room service reports the join with the hash of the device's secret: nothing in the
    # answer can act as Bruno, and the hash itself claims nothing.
    device_secret = secrets.token_urlsafe(32)
    challenge = {"device_challenge": hashlib.sha256(device_secret.encode()).hexdigest()}
    joined = world.client.post(f"{url}/join", json=challenge, headers=world.headers("room"))
    assert joined.status_code == 200, joined.text
    assert set(joined.json()) == {"notice", "prompt", "claim_url", "claim_expires_at"}
    stolen = world.client.post(
        "/participants/claim", json={"secret": challenge["device_challenge"]}
    )
    assert stolen.status_code == 404
    mine = world.client.post("/participants/claim", json={"secret": device_secret})
    assert mine.status_code == 201 and mine.json()["participant"] == "bruno"
    again = world.client.post("/participants/claim", json={"secret": device_secret})
    assert again.status_code == 410 and "already used on" in again.json()["detail"]


def test_a_join_works_only_while_the_room_is_live(world: World) -> None:
    room = published_room(world, recording=True)
    url = f"/spaces/{room.space_id}/participants/alice/join"
    secret = secrets.token_urlsafe(32)
    body = {"device_challenge": hashlib.sha256(secret.encode()).hexdigest()}
    assert world.client.post(url, json=body, headers=world.headers("room")).status_code == 200
    from infra.db import session_scope
    from infra.models import Space
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        session.get(Space, room.space_id).status = "published"  # the room ended
    late = world.client.post("/participants/claim", json={"secret": secret})
    assert late.status_code == 410 and "the room has ended" in late.json()["detail"]
    other = {"device_challenge": hashlib.sha256(b"later").hexdigest()}
    refused = world.client.post(url, json=other, headers=world.headers("room"))
    assert refused.status_code == 409 and "only while the room is live" in refused.json()["detail"]


def test_the_ledger_names_who_really_answered_and_how(world: World) -> None:
    room = published_room(world)
    alice = claim_key(world, room.space_id, "alice")
    url = f"/spaces/{room.space_id}/participants/alice/consent"
    assert world.client.post("/me/consent", json={"answers": {"clip": False}},
                             headers=bearer(alice)).status_code == 200  # fmt: skip
    world.client.post(url, json={"answers": {"transcribe": True}}, headers=world.headers("host"))
    world.client.post(url, json={"answers": {"transcribe": True}}, headers=world.headers("room"))
    entries = world.client.get(url, headers=world.headers("host")).json()["entries"]
    own = [e for e in entries if e["own"]]
    assert [(e["purpose"], e["source"], e["actor"]) for e in own] == [
        ("clip", "invite_link", "participant:alice")
    ]
    assert own[0]["key_id"]
    reported = [(e["source"], e["actor"].split(":")[0]) for e in entries[-2:]]
    assert reported == [("reported_by_host", "user"), ("reported_by_room", "room")]


def test_nobody_but_the_participant_changes_their_own_answer(world: World) -> None:
    room = published_room(world)
    bruno = claim_key(world, room.space_id, "bruno")
    world.client.post("/me/consent", json={"answers": {"publish": False}}, headers=bearer(bruno))
    url = f"/spaces/{room.space_id}/participants/bruno/consent"
    for actor in ("host", "recorder", "room", "admin"):
        forced = world.client.post(url, json={"answers": {"publish": True}},
                                   headers=world.headers(actor))  # fmt: skip
        assert forced.status_code == 409, (actor, forced.text)
        assert "Bruno answered publish themselves" in forced.json()["detail"]
    state = world.client.get(url, headers=world.headers("host")).json()["consent"]
    assert state["publish"] is False
    # A purpose he never answered himself may still be reported.
    ok = world.client.post(url, json={"answers": {"clip": True}}, headers=world.headers("host"))
    assert ok.status_code == 200


def test_downloading_ones_own_raw_track_is_audited(world: World) -> None:
    room = published_room(world)
    alice = claim_key(world, room.space_id, "alice")
    assert world.client.get("/me/track", headers=bearer(alice)).status_code == 200
    trail = world.client.get(
        "/moderation/audit", params={"space_id": room.space_id}, headers=world.headers("moderator")
    ).json()
    (entry,) = [e for e in trail if e["action"] == "participant_track"]
    assert entry["actor"] == "participant:alice" and entry["detail"]["key_id"]


def test_withdrawal_deletes_what_held_the_voice_at_once_with_no_render_to_follow(
    world: World,
) -> None:
    """No worker runs here: nothing is rendered again, and still the withdrawn voice is out of
    the bucket the moment the answer is recorded; a URL signed before it no longer works."""
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    room = published_room(world)
    store = ObjectStore(get_settings())
    signed = store.presigned_get(room.keys["media"][0], expires_s=900)
    assert httpx.get(signed).status_code == 200
    bruno = claim_key(world, room.space_id, "bruno")
    before = bucket(room)
    answered = world.client.post("/me/consent", json={"answers": {"publish": False}},
                                 headers=bearer(bruno))  # fmt: skip
    assert answered.status_code == 200
    after = bucket(room)
    gone = before - after
    assert set(room.keys["media"]) <= gone  # the episode's audio and transcripts
    assert {k for k in room.keys["work"] if "/mix-" in k or room.ids["bruno"] in k} <= gone
    assert set(room.keys["clips"]) <= gone  # his clip
    assert {k for k in room.keys["work"] if room.ids["alice"] in k} <= after  # her words stay
    assert set(room.keys["raw"]) <= after  # record consent still stands
    assert httpx.get(signed).status_code == 404
    assert world.client.get(f"/episodes/{room.episode_id}").status_code == 410
    assert world.client.get(f"/clips/{room.clip_id}").status_code == 410
    assert world.client.get("/search", params={"q": "lanterns"}).json() == [] or all(
        hit["episode_id"] != room.episode_id
        for hit in world.client.get("/search", params={"q": "lanterns"}).json()
    )


def test_taking_an_episode_down_deletes_everything_derived_from_the_room(world: World) -> None:
    room = published_room(world)
    assert world.client.delete(f"/episodes/{room.episode_id}",
                               headers=world.headers("host")).status_code == 204  # fmt: skip
    left = bucket(room)
    assert not {k for k in left if k.startswith(("work/", "media/"))}
    assert set(room.keys["raw"]) <= left  # the vault keeps its own 30 days for moderators
    space = world.client.get(f"/spaces/{room.space_id}", headers=world.headers("host")).json()
    assert space["status"] == "taken_down"
    # A consent change afterwards renders nothing again.
    bruno = claim_key(world, room.space_id, "bruno")
    world.client.post("/me/consent", json={"answers": {"clip": False}}, headers=bearer(bruno))
    space = world.client.get(f"/spaces/{room.space_id}", headers=world.headers("host")).json()
    assert space["status"] == "taken_down"


def test_a_complaint_answers_alike_for_an_unpublished_speaker_and_a_name_nobody_has(
    world: World,
) -> None:
    room = published_room(world)
    bruno = claim_key(world, room.space_id, "bruno")
    world.client.post("/me/consent", json={"answers": {"publish": False}}, headers=bearer(bruno))
    # Alice alone is published now; restore a servable episode for the listener to report.
    from infra.db import session_scope
    from infra.models import Episode
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        episode = session.get(Episode, room.episode_id)
        episode.media = {"mp3": {"key": "k", "size_bytes": 1, "mime_type": "audio/mpeg",
                                 "loudness": {}}}  # fmt: skip
        episode.consent_snapshot = {"audible": [room.ids["alice"]], "transcribed": []}
    answers = []
    for name in ("Bruno", "Nobody Here"):
        body = {"target": "speaker", "episode_id": room.episode_id, "speaker": name,
                "category": "harassment", "text": "x"}  # fmt: skip
        response = world.client.post("/complaints", json=body, headers=world.headers("listener"))
        assert response.status_code == 201, response.text
        shown = response.json()
        answers.append({k: v for k, v in shown.items() if k not in ("id", "created_at", "speaker")})
        assert shown["speaker"] == name  # what the listener typed, nothing more
    assert answers[0] == answers[1]


def test_a_complaint_holds_a_withdrawn_track_for_moderators_only_and_not_for_ever(
    world: World,
) -> None:
    from infra.db import session_scope
    from infra.models import Complaint, Track, utcnow
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services.retention import sweep

    room = published_room(world)
    with session_scope(get_settings().database_url) as session:
        session.add(Complaint(space_id=room.space_id, target="space", category="spam", text="",
                              reporter="user:someone"))  # fmt: skip
    bruno = claim_key(world, room.space_id, "bruno")
    world.client.post(
        "/me/consent", json={"answers": {"record": False, "publish": False}}, headers=bearer(bruno)
    )
    mine = world.client.get("/me/participation", headers=bearer(bruno)).json()
    assert mine["track_retained"] is True
    held_until = mine["track_held_until"]
    assert held_until is not None  # he is told it is kept, and until when
    settings = get_settings()
    store = ObjectStore(settings)
    policy = settings.retention_policy()
    sweep(store, settings.database_url, policy, utcnow() + timedelta(days=10))
    assert set(room.keys["raw"]) <= bucket(room)  # the complaint is still open: kept
    sweep(store, settings.database_url, policy, utcnow() + timedelta(days=31))
    left = bucket(room)
    assert room.keys["raw"][1] not in left  # bounded: erased although the complaint is open
    assert room.keys["raw"][0] in left  # Alice's is the vault's, held by the complaint
    with session_scope(settings.database_url) as session:
        assert session.query(Track).filter_by(participant_id=room.ids["bruno"]).count() == 0


def test_a_moderators_removal_cannot_be_undone_through_clips(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Clip, Complaint
    from infra.settings import get_settings

    room = published_room(world)
    with session_scope(get_settings().database_url) as session:
        session.get(Clip, room.clip_id).pinned = True
        complaint = Complaint(space_id=room.space_id, target="episode", category="hate",
                              episode_id=room.episode_id, text="", reporter="user:x")  # fmt: skip
        session.add(complaint)
        session.flush()
        complaint_id = complaint.id
    decided = world.client.post(
        f"/moderation/complaints/{complaint_id}/decision",
        json={"decision": "remove_episode", "reason": "hate speech throughout"},
        headers=world.headers("moderator"),
    )
    assert decided.status_code == 200, decided.text
    whole = {"start_s": 0.0, "end_s": 59.0}
    cut = world.client.post(f"/episodes/{room.episode_id}/clips", json=whole,
                            headers=world.headers("host"))  # fmt: skip
    assert cut.status_code == 410
    assert world.client.get(f"/clips/{room.clip_id}").status_code == 410  # pinned or not
    assert world.client.get(f"/c/{room.clip_id}").status_code == 410


def test_a_removed_clips_stretch_can_never_be_clipped_again(world: World) -> None:
    from infra.db import session_scope
    from infra.models import Complaint
    from infra.settings import get_settings

    room = published_room(world)
    with session_scope(get_settings().database_url) as session:
        complaint = Complaint(space_id=room.space_id, target="clip", category="privacy",
                              clip_id=room.clip_id, text="", reporter="user:x")  # fmt: skip
        session.add(complaint)
        session.flush()
        complaint_id = complaint.id
    world.client.post(
        f"/moderation/complaints/{complaint_id}/decision",
        json={"decision": "remove_clip", "reason": "shares an address"},
        headers=world.headers("moderator"),
    ).raise_for_status()
    again = world.client.post(f"/episodes/{room.episode_id}/clips",
                              json={"start_s": 12.0, "end_s": 25.0},
                              headers=world.headers("host"))  # fmt: skip
    assert again.status_code == 409 and "a moderator removed" in again.json()["detail"]
    elsewhere = world.client.post(f"/episodes/{room.episode_id}/clips/check",
                                  json={"start_s": 30.0, "end_s": 40.0},
                                  headers=world.headers("host"))  # fmt: skip
    assert elsewhere.json()["allowed"] is True


def test_only_the_host_renames_a_soundbite(world: World) -> None:
    room = published_room(world)
    url = f"/clips/{room.clip_id}"
    # Bruno's clip consent, then the host approves the clip for the feed.
    assert world.client.patch(url, json={"soundbite": True},
                              headers=world.headers("host")).status_code == 200  # fmt: skip
    renamed = world.client.patch(url, json={"title": "Buy cheap pills"},
                                 headers=world.headers("listener"))  # fmt: skip
    assert renamed.status_code == 403 and "only the host renames it" in renamed.json()["detail"]
    broken = world.client.patch(url, json={"title": "A\x0bB"}, headers=world.headers("host"))
    assert broken.status_code == 422 and "U+000B" in broken.json()["detail"]
    assert world.client.patch(url, json={"title": "The lanterns"},
                              headers=world.headers("host")).status_code == 200  # fmt: skip


# Keys and sessions


def test_recorder_keys_are_listed_expire_and_can_be_revoked(world: World) -> None:
    show = world.shows["A"]
    made = world.client.post(f"/shows/{show}/recorder-keys", headers=world.headers("host"))
    assert made.status_code == 201  # no body needed
    key = made.json()["key"]
    assert key["expires_at"] is not None
    listed = world.client.get(f"/shows/{show}/recorder-keys", headers=world.headers("host")).json()
    assert key["id"] in {k["id"] for k in listed} and all(k["token"] is None for k in listed)
    assert world.client.get("/users/me", headers=bearer(key["token"])).status_code == 200
    revoked = world.client.delete(f"/shows/{show}/recorder-keys/{key['id']}",
                                  headers=world.headers("host"))  # fmt: skip
    assert revoked.status_code == 204
    assert world.client.get("/users/me", headers=bearer(key["token"])).status_code == 401


def test_a_disabled_account_and_its_shows_recorder_keys_stop_at_once(world: World) -> None:
    made = world.client.post("/users", json={"name": "Hana", "roles": ["host"]},
                             headers=world.headers("admin")).json()  # fmt: skip
    hana, token = made["user"]["id"], made["key"]["token"]
    show = world.client.post("/shows", json={"title": "Hana's", "author": "Hana"},
                             headers=bearer(token)).json()  # fmt: skip
    recorder = world.client.post(f"/shows/{show['id']}/recorder-keys", headers=bearer(token))
    recorder_token = recorder.json()["key"]["token"]
    assert world.client.post(f"/users/{hana}/disable",
                             headers=world.headers("admin")).status_code == 200  # fmt: skip
    assert world.client.get("/users/me", headers=bearer(token)).status_code == 401
    assert world.client.get("/users/me", headers=bearer(recorder_token)).status_code == 401
    world.client.post(f"/users/{hana}/enable", headers=world.headers("admin"))
    assert world.client.get("/users/me", headers=bearer(token)).status_code == 200


def test_an_admin_revokes_any_key_and_participants_revoke_their_own(world: World) -> None:
    room = published_room(world)
    alice = claim_key(world, room.space_id, "alice")
    spare = claim_key(world, room.space_id, "alice")
    mine = world.client.get("/me/participation", headers=bearer(alice)).json()["keys"]
    assert len(mine) == 2 and all(k["obtained_by"] == "invite" for k in mine)
    assert all(k["issued_by"].startswith("user:") for k in mine)  # who issued the invite
    assert all(k["expires_at"] for k in mine)
    other = next(k["id"] for k in mine if not k["current"])
    assert world.client.delete(f"/me/keys/{other}", headers=bearer(alice)).status_code == 204
    assert world.client.get("/me/participation", headers=bearer(spare)).status_code == 401
    current = next(k["id"] for k in mine if k["current"])
    assert (
        world.client.delete(f"/keys/{current}", headers=world.headers("admin")).status_code == 204
    )
    assert world.client.get("/me/participation", headers=bearer(alice)).status_code == 401


def test_two_authorization_headers_are_refused(world: World) -> None:
    response = world.client.get(
        "/users/me",
        headers=[
            ("authorization", f"Bearer {world.keys['listener']}"),
            ("authorization", f"Bearer {world.keys['admin']}"),
        ],
    )
    assert response.status_code == 400 and "one Authorization header" in response.json()["detail"]


def test_pages_forbid_inline_script_and_framing(world: World) -> None:
    page = world.client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "strict-transport-security" not in page.headers


def test_an_https_public_url_brings_hsts_and_secure_cookies(world: World, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from infra.settings import get_settings

    monkeypatch.setattr(get_settings(), "public_base_url", "https://podcasts.example.org")
    client = TestClient(create_app(), base_url="http://10.0.0.7:8000")  # TLS ends at the proxy
    page = client.get("/login")
    assert page.headers["strict-transport-security"].startswith("max-age=")
    signed_in = client.post("/login", data={"key": world.keys["listener"], "next": "/"},
                            headers={"origin": "https://podcasts.example.org"},
                            follow_redirects=False)  # fmt: skip
    assert signed_in.status_code == 303 and "Secure" in signed_in.headers["set-cookie"]


def test_withdrawable_media_is_kept_by_no_shared_cache(world: World) -> None:
    url = f"/media/episodes/{world.episodes['A']}/{world.renders['A']}/episode.mp3"
    response = world.client.get(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "private, no-store"


# Hostile input: a clear 4xx, never a 500


@pytest.mark.parametrize("char", ["\x0b", "\x1b", "\x00", "\ufffe", "\u202e", "\ud800"])
def test_text_that_would_break_a_feed_or_a_page_is_refused_naming_the_character(
    world: World, char: str
) -> None:
    for body in ({"title": f"Night{char}show", "author": "Ana"},
                 {"title": "Night show", "author": f"Ana{char}"}):  # fmt: skip
        response = world.client.post(
            "/shows",
            content=json.dumps(body),  # ASCII escapes, so a lone surrogate can be sent at all
            headers={**world.headers("host"), "content-type": "application/json"},
        )
        assert response.status_code == 422, (repr(char), response.text)
        assert f"U+{ord(char):04X}" in response.json()["detail"]


def test_a_category_apple_does_not_know_is_refused(world: World) -> None:
    body = {"title": "T", "author": "A", "category": 'Arts"]/x'}
    response = world.client.post("/shows", json=body, headers=world.headers("host"))
    assert response.status_code == 422 and "not an Apple Podcasts category" in response.text
    body["category"] = "Arts > Design"
    assert world.client.post("/shows", json=body, headers=world.headers("host")).status_code == 201


def test_a_feed_of_text_stored_before_the_rule_is_still_well_formed(world: World) -> None:
    import feedparser

    from infra.db import session_scope
    from infra.models import Show
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        show = session.get(Show, world.shows["A"])
        saved = show.title, show.category
        show.title, show.category = "Old\x0b\x1btitle\ufffe", 'Bad "cat"'
    try:
        response = world.client.get(f"/shows/{world.shows['A']}/feed.xml")
        assert response.status_code == 200
        parsed = feedparser.parse(response.content)
        assert not parsed.bozo and parsed.feed.title == "Oldtitle"
    finally:
        with session_scope(get_settings().database_url) as session:
            (
                session.get(Show, world.shows["A"]).title,
                session.get(Show, world.shows["A"]).category,
            ) = saved


@pytest.mark.parametrize(
    "url", ["/search?q=ab%00cd", "/shows/ab%00cd", "/episodes/x%00y", "/clips/%E2%80%AEabc"]
)
def test_a_control_character_in_the_url_is_a_400_not_a_database_error(
    world: World, url: str
) -> None:
    response = world.client.get(url)
    assert response.status_code == 400 and "the URL's" in response.json()["detail"]


def test_participants_beyond_the_cap_are_refused_one_by_one_too(world: World, monkeypatch) -> None:
    from infra.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_participants", 3)
    created = world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={"title": "Big room", "participants": [
            {"id": f"p{n}", "name": f"P{n}", "offset": 0} for n in range(2)]},
        headers=world.headers("host"),
    ).json()  # fmt: skip
    url = f"/spaces/{created['id']}/participants"
    third = world.client.post(url, json={"id": "p2", "name": "P2", "offset": 0},
                              headers=world.headers("host"))  # fmt: skip
    assert third.status_code == 201
    fourth = world.client.post(url, json={"id": "p3", "name": "P3", "offset": 0},
                               headers=world.headers("host"))  # fmt: skip
    assert fourth.status_code == 409 and "the most a space may have" in fourth.json()["detail"]


def test_consent_answers_are_rate_limited(world: World, monkeypatch) -> None:
    from infra.settings import get_settings

    monkeypatch.setattr(get_settings(), "consent_rate", "3/hour")
    room = published_room(world)
    alice = claim_key(world, room.space_id, "alice")
    statuses = [
        world.client.post("/me/consent", json={"answers": {"clip": n % 2 == 0}},
                          headers=bearer(alice)).status_code
        for n in range(4)
    ]  # fmt: skip
    assert statuses == [200, 200, 200, 429]


def test_the_invite_link_opens_the_participants_own_consent_page(world: World) -> None:
    from fastapi.testclient import TestClient

    room = published_room(world)
    link = world.client.post(f"/spaces/{room.space_id}/participants/bruno/invite",
                             headers=world.headers("room")).json()["url"]  # fmt: skip
    path, secret = link.split("testserver", 1)[1].split("#", 1)
    device = TestClient(world.client.app)
    assert path == "/consent" and device.get(path).status_code == 200
    claimed = device.post("/participants/claim", json={"secret": secret, "session": True},
                          headers={"x-spacecast-page": "1"})  # fmt: skip
    assert claimed.status_code == 201 and claimed.json()["participant_key"] is None
    page = device.get("/consent")
    assert page.status_code == 200
    assert "May your voice be published" in page.text and "<bdi>Bruno</bdi>" in page.text
    saved = device.post("/me/consent", json={"answers": {"publish": False}},
                        headers={"x-spacecast-page": "1"})  # fmt: skip
    assert saved.status_code == 200 and saved.json()["consent"]["publish"] is False


# What each purpose keeps (docs/consent.md has the table)


def test_withdrawing_only_record_keeps_the_published_voice_but_not_the_moderators_copy(
    world: World,
) -> None:
    from infra.db import session_scope
    from infra.models import utcnow
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services.moderation import retained_tracks
    from services.retention import sweep

    room = published_room(world)
    bruno = claim_key(world, room.space_id, "bruno")
    answered = world.client.post(
        "/me/consent", json={"answers": {"record": False}}, headers=bearer(bruno)
    )
    assert answered.status_code == 200
    assert world.client.get(f"/episodes/{room.episode_id}").status_code == 200  # still heard
    assert set(room.keys["raw"]) <= bucket(room)  # his track stays: the stem of his voice
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        vault = {p.handle for p, _ in retained_tracks(session, room.space_id)}
    assert vault == {"alice"}  # moderators no longer reach Bruno's recording
    # Past the 30 days, the vault goes; the stems of published voices stay with the episode.
    store = ObjectStore(settings)
    review = f"raw/{room.space_id}/review/transcript-x.json"
    store.put_bytes(review, b"[]", content_type="application/json")
    sweep(store, settings.database_url, settings.retention_policy(), utcnow() + timedelta(days=31))
    left = bucket(room)
    assert set(room.keys["raw"]) <= left and review not in left
    with session_scope(settings.database_url) as session:
        assert retained_tracks(session, room.space_id) == []  # the vault is closed


def test_after_the_vault_sweep_a_withdrawal_renders_again_from_the_stems(world: World) -> None:
    from infra.models import utcnow
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services.retention import sweep

    room = published_room(world)
    settings = get_settings()
    store = ObjectStore(settings)
    sweep(store, settings.database_url, settings.retention_policy(), utcnow() + timedelta(days=31))
    assert set(room.keys["raw"]) <= bucket(room)
    bruno = claim_key(world, room.space_id, "bruno")
    world.client.post("/me/consent", json={"answers": {"publish": False}}, headers=bearer(bruno))
    left = bucket(room)
    assert room.keys["raw"][1] not in left  # his stem goes with his publication
    assert room.keys["raw"][0] in left  # Alice's stays: the episode is made again from it
    space = world.client.get(f"/spaces/{room.space_id}", headers=world.headers("host")).json()
    assert space["status"] == "processing"  # rendered again, not taken down


def test_a_track_is_refused_only_when_neither_recording_nor_publication_is_granted(
    world: World, short_opus
) -> None:
    created = world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={
            "title": "Who may be kept",
            "participants": [
                {"id": "pub", "name": "Pub", "offset": 0, "consent": {"publish": True}},
                {"id": "rec", "name": "Rec", "offset": 0, "consent": {"record": True}},
                {"id": "none", "name": "None", "offset": 0, "consent": {"record": False}},
            ],
        },
        headers=world.headers("host"),
    ).json()
    url = f"/spaces/{created['id']}/participants"
    audio = short_opus.read_bytes()
    statuses = {
        handle: world.client.put(
            f"{url}/{handle}/track", content=audio, headers=world.headers("host")
        ).status_code
        for handle in ("pub", "rec", "none")
    }
    assert statuses == {"pub": 201, "rec": 201, "none": 409}


def test_withdrawing_only_transcribe_takes_the_words_and_leaves_the_voice(world: World) -> None:
    room = published_room(world)
    bruno = claim_key(world, room.space_id, "bruno")
    transcripts = [k for k in room.keys["media"] if "/transcript." in k]
    world.client.post(
        "/me/consent", json={"answers": {"transcribe": False}}, headers=bearer(bruno)
    ).raise_for_status()
    left = bucket(room)
    assert not set(transcripts) & left  # the words are gone from the bucket at once
    audio = [k for k in room.keys["media"] if k.endswith("episode.mp3")]
    assert set(audio) <= left  # the voice is still published: its audio stays
    episode = world.client.get(f"/episodes/{room.episode_id}")
    assert episode.status_code == 200 and episode.json()["transcripts"] == {}
    hits = world.client.get("/search", params={"q": "lanterns"}).json()
    assert all(hit["episode_id"] != room.episode_id for hit in hits)


def test_withdrawing_record_of_a_voice_never_published_erases_the_raw_track(world: World) -> None:
    from infra.db import session_scope
    from infra.settings import get_settings
    from services.moderation import retained_tracks

    room = published_room(world)
    bruno = claim_key(world, room.space_id, "bruno")
    bruno_raw = room.keys["raw"][1]
    world.client.post(
        "/me/consent", json={"answers": {"publish": False}}, headers=bearer(bruno)
    ).raise_for_status()
    assert bruno_raw in bucket(room)  # out of the episode, still the moderators' 30-day copy
    world.client.post(
        "/me/consent", json={"answers": {"record": False}}, headers=bearer(bruno)
    ).raise_for_status()
    left = bucket(room)
    assert bruno_raw not in left  # neither published nor recorded: nothing keeps it
    assert room.keys["raw"][0] in left  # Alice's is untouched
    with session_scope(get_settings().database_url) as session:
        assert {p.handle for p, _ in retained_tracks(session, room.space_id)} == {"alice"}


def test_a_space_swept_before_stems_were_kept_is_taken_down_when_a_voice_is_withdrawn(
    world: World,
) -> None:
    """Spaces swept by earlier versions lost every raw track, stems included: a withdrawal
    cannot render them again, so the episode is taken down rather than served with the voice."""
    from infra.db import session_scope
    from infra.models import Track, utcnow
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services import flow
    from services.retention import sweep

    room = published_room(world)
    settings = get_settings()
    store = ObjectStore(settings)
    sweep(store, settings.database_url, settings.retention_policy(), utcnow() + timedelta(days=31))
    with session_scope(settings.database_url) as session:  # what the earlier sweep left
        for track in session.query(Track).filter(Track.object_key.in_(room.keys["raw"])):
            session.delete(track)
    for key in room.keys["raw"]:
        store.delete(key)
    bruno = claim_key(world, room.space_id, "bruno")
    world.client.post(
        "/me/consent", json={"answers": {"publish": False}}, headers=bearer(bruno)
    ).raise_for_status()
    assert flow.advance(room.space_id) == []  # nothing can be rendered again
    space = world.client.get(f"/spaces/{room.space_id}", headers=world.headers("host")).json()
    assert space["status"] == "taken_down", space
    gone = world.client.get(f"/episodes/{room.episode_id}")
    assert gone.status_code == 410 and "taken down" in gone.json()["detail"]
    assert not {k for k in bucket(room) if k.startswith("media/")}
