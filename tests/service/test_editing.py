"""Editing through the running service (real stages, S3 server, PostgreSQL, Redis): a host makes
a version of the episode's edit list, previews it, publishes it (same guid, new media, the
replaced media deleted, transcripts re-timed), reverts it; a withdrawal after an edit keeps the
edit; nobody else reaches any of it."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import podcastparser
import pytest

from infra.db import session_scope
from infra.samples import build_sample_space, load_spec
from services.runs import done_results
from spacecast.demo import submit_sample, wait_until_done
from tests.audio import decode, ebur128, max_normalized_correlation, rms_db, window

pytestmark = pytest.mark.slow
CHIOMA_FIRST = ("fountain", "pretzels")  # her first line, as tiny.en hears it
DAN_FIRST = ("harmonica",)


def everyone_consenting(folder: Path) -> list[dict]:
    """quick_chat with all three speakers consenting to everything, built in ``folder``; what
    each said and when."""
    spec = load_spec("quick_chat")
    for p in spec["participants"]:
        p["consent"] = {"record": True, "publish": True, "transcribe": True, "clip": True}
    build_sample_space(spec, folder)
    return json.loads((folder / "truth.json").read_text())["utterances"]


def published_room(host, folder: Path, *, timeout_s: float) -> dict:
    """:func:`everyone_consenting`'s room sent through ``host`` and published as recorded."""
    truth = everyone_consenting(folder)
    space_id = submit_sample(host, folder, finish={"missing": "exclude"})
    state = wait_until_done(host, space_id, timeout_s=timeout_s)
    assert state["status"] == "published", state
    return {"state": state, "space_id": space_id, "truth": truth, "folder": folder}


@pytest.fixture(scope="module")
def rooms(redis_stack, tmp_path_factory) -> dict:
    """Three copies of quick_chat with all three speakers published, as the service first
    published them, sent together so the workers make them side by side: "room" for the tests
    that leave it as recorded (errors, a preview, an edit that is reverted), "hosted" for the
    host's audio, "withdrawn" for the withdrawal and the sweep after it. No test sees another's
    edits, so any order of the tests holds."""
    folder = tmp_path_factory.mktemp("edit-room")
    truth = everyone_consenting(folder)
    made = {}
    with redis_stack.client() as host:
        for name in ("room", "hosted", "withdrawn"):
            made[name] = submit_sample(host, folder, finish={"missing": "exclude"})
        for name, space_id in made.items():
            state = wait_until_done(host, space_id, timeout_s=900)
            assert state["status"] == "published", (name, state)
            made[name] = {"state": state, "space_id": space_id, "truth": truth, "folder": folder}
    return made


@pytest.fixture(scope="module")
def room(rooms) -> dict:
    return rooms["room"]


def versions_of(client, episode_id: str) -> list[int]:
    return [v["number"] for v in client.get(f"/episodes/{episode_id}/versions").json()["versions"]]


def feed_item(client, show_id: str) -> dict:
    (item,) = podcastparser.parse(
        f"{client.base_url}shows/{show_id}/feed.xml",
        io.BytesIO(client.get(f"/shows/{show_id}/feed.xml").raise_for_status().content),
    )["episodes"]
    return item


def lines(client, state: dict) -> list[dict]:
    return client.get(state["episode"]["transcripts"]["json"]).raise_for_status().json()["segments"]


def audio(client, state: dict, path: Path) -> Path:
    path.write_bytes(client.get(state["episode"]["audio"]["mp3"]).raise_for_status().content)
    return path


def publish(client, space_id: str, episode_id: str, number: int) -> dict:
    done = client.post(f"/episodes/{episode_id}/versions/{number}/publish")
    assert done.status_code == 202, done.text
    return settle(client, space_id, episode_id)


def settle(client, space_id: str, episode_id: str) -> dict:
    deadline = time.monotonic() + 300
    while True:
        state = wait_until_done(client, space_id, timeout_s=300, until=("published", "failed"))
        listed = client.get(f"/episodes/{episode_id}/versions").json()
        if state["status"] == "failed" or listed["rendered_version"] == listed["edit_version"]:
            assert state["status"] == "published", state
            return state
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)


def clip(client, episode_id: str, start_s: float, end_s: float) -> dict:
    made = client.post(f"/episodes/{episode_id}/clips", json={"start_s": start_s, "end_s": end_s})
    assert made.status_code == 202, made.text
    deadline = time.monotonic() + 120
    while (found := client.get(f"/clips/{made.json()['id']}").json())["status"] == "queued":
        assert time.monotonic() < deadline, found
        time.sleep(0.2)
    assert found["status"] == "ready", found
    return found


def test_edit_list_errors_name_the_operation_and_only_the_host_reaches_versions(
    redis_stack, room
) -> None:
    episode_id = room["state"]["episode"]["id"]
    url = f"/episodes/{episode_id}/versions"
    with redis_stack.client() as host:
        stored = versions_of(host, episode_id)
        for operations, status, words in [
            ([{"op": "cut", "start_s": 5, "end_s": 9}, {"op": "cut", "start_s": 8, "end_s": 12}],
             422, "operation 2 (cut 8.00-12.00 s): overlaps operation 1 (cut 5.00-9.00 s)"),
            ([{"op": "cut", "start_s": 5, "end_s": 900}], 422, "outside the episode"),
            ([{"op": "mute", "speaker_id": "bruno", "start_s": 1, "end_s": 2}], 422,
             "unknown speaker"),
            ([{"op": "cut", "start_s": "5", "end_s": 9}], 422, "must be a number"),
            ([{"op": "cut", "start_s": 5, "end_s": 9}] * 501, 422, "500"),
        ]:  # fmt: skip
            refused = host.post(url, json={"operations": operations})
            assert refused.status_code == status, refused.text
            assert words in refused.json()["detail"], refused.text
        assert host.post(url, json={"operations": [], "note": "x" * 501}).status_code == 422
        assert host.get(f"{url}/70").status_code == 404
        assert host.post(f"{url}/70/publish").status_code == 404
        assert versions_of(host, episode_id) == stored  # nothing refused was stored
    other = redis_stack.create_user("Olga", "host")
    with redis_stack.client(key=other) as stranger, redis_stack.client(key=None) as anyone:
        for client in (stranger, anyone):
            assert client.get(url).status_code in (401, 404)
            assert client.post(url, json={"operations": []}).status_code in (401, 404)
            assert client.post(f"{url}/0/publish").status_code in (401, 404)
            assert client.get(f"{url}/0/preview").status_code in (401, 404)
        listener = anyone.post("/listeners", json={"name": "Lee"}).json()["key"]["token"]
    with redis_stack.client(key=listener) as lee:
        assert lee.get(url).status_code in (403, 404)
        assert lee.post(url, json={"operations": []}).status_code in (403, 404)


def test_cut_and_mute_published_then_reverted(redis_stack, room, tmp_path) -> None:
    state, truth, space_id = room["state"], room["truth"], room["space_id"]
    episode_id, show_id = state["episode"]["id"], state["show_id"]
    store = redis_stack.store()
    chioma, dan = truth[1], truth[2]
    a, b = chioma["start_s"] - 0.3, chioma["end_s"] + 0.3
    mute = (dan["start_s"] - 0.2, dan["end_s"] + 0.2)
    with redis_stack.client() as host:
        before_item = feed_item(host, show_id)
        before_lines = lines(host, state)
        before_audio = audio(host, state, tmp_path / "before.mp3")
        before_media = store.list_keys(f"media/{space_id}/")
        shift = host.get(f"/episodes/{episode_id}/report").json()["episode"]["timeline_start_s"]
        stored = versions_of(host, episode_id)  # a preview may have saved one already
        number = max(stored) + 1

        made = host.post(
            f"/episodes/{episode_id}/versions",
            json={
                "operations": [
                    {"op": "cut", "start_s": a, "end_s": b},
                    {"op": "mute", "speaker_id": "dan", "start_s": mute[0], "end_s": mute[1]},
                ],
                "note": "no bakery talk, no harmonica",
            },
        )
        assert made.status_code == 201, made.text
        assert made.json()["number"] == number and not made.json()["chosen"]
        preview = host.get(f"/episodes/{episode_id}/versions/{number}/preview").json()
        assert preview["saved_s"] == pytest.approx(b - a, abs=0.002)
        assert preview["cuts"][0]["at_s"] == pytest.approx(a - shift, abs=0.002)
        assert feed_item(host, show_id)["enclosures"] == before_item["enclosures"]  # not yet

        # Two clips: one over the words the cut takes, one over Alice after it.
        alice_after = truth[3]
        gone_clip = clip(host, episode_id, chioma["start_s"] - shift, chioma["end_s"] - shift)
        kept_clip = clip(
            host, episode_id, alice_after["start_s"] - shift, alice_after["end_s"] - shift
        )

        gone_clip_keys = store.list_keys(f"clips/{space_id}/{gone_clip['id']}/")
        assert gone_clip_keys

        started = time.monotonic()
        edited = publish(host, space_id, episode_id, number)
        edit_to_republished_s = time.monotonic() - started
        item = feed_item(host, show_id)
        after_lines = lines(host, edited)
        after_audio = audio(host, edited, tmp_path / "after.mp3")
        report = host.get(f"/episodes/{episode_id}/report").json()
        gone = host.get(f"/clips/{gone_clip['id']}")
        kept = host.get(f"/clips/{kept_clip['id']}").json()

    # A clip of words the edit took expires; one the edit kept is listed at its new moment.
    assert gone.status_code == 410, gone.text
    assert (
        f"expired: the host edited this moment out of the episode (version {number})" in gone.text
    )
    assert kept["status"] == "ready", kept
    assert kept["start_s"] == pytest.approx(kept_clip["start_s"] - (b - a), abs=0.001)
    assert kept["duration_s"] == pytest.approx(kept_clip["duration_s"], abs=0.001)
    for key in gone_clip_keys:
        assert not store.exists(key), key
    # The feed: same guid, a new enclosure of the right length, shorter by the cut.
    assert item["guid"] == before_item["guid"]
    (enclosure,) = item["enclosures"]
    assert enclosure["url"] != before_item["enclosures"][0]["url"]
    assert enclosure["file_size"] == after_audio.stat().st_size
    old_s = state["episode"]["duration_s"]
    new_s = edited["episode"]["duration_s"]
    assert old_s - new_s == pytest.approx(b - a, abs=0.05)
    assert item["total_time"] == round(new_s)
    assert report["edits"]["version"] == number
    # The replaced version's media are gone from the bucket.
    for key in before_media:
        assert not store.exists(key), key
    # Transcripts: the cut words and the muted speaker's words are in none of them; later lines
    # moved earlier by exactly the cut.
    for fmt in ("json", "vtt", "srt"):
        text = redis_stack.client().get(edited["episode"]["transcripts"][fmt]).text.lower()
        assert not any(w in text for w in CHIOMA_FIRST + DAN_FIRST), fmt
    assert all(any(w in line["body"].lower() for line in before_lines) for w in CHIOMA_FIRST)
    later_before = [
        (line["speaker"], line["body"], line["startTime"])
        for line in before_lines
        if line["startTime"] > b - shift
        and not (line["speaker"] == "Dan" and line["startTime"] < mute[1] - shift)
    ]
    later_after = [
        (line["speaker"], line["body"], line["startTime"])
        for line in after_lines
        if line["startTime"] > a - shift
    ]
    assert [x[:2] for x in later_after] == [x[:2] for x in later_before]
    for old, new in zip(later_before, later_after, strict=True):
        assert new[2] == pytest.approx(old[2] - (b - a), abs=0.02)
    # Dan under the mute: his own track against the edited episode, under -30 dB.
    own = decode(room["folder"] / "dan.flac")
    dan_join = 4.0
    heard = decode(after_audio)
    at = dan["start_s"] - shift - (b - a)
    correlation = max_normalized_correlation(
        window(own, dan["start_s"] - dan_join, dan["end_s"] - dan_join),
        window(heard, at, at + dan["end_s"] - dan["start_s"]),
    )
    assert correlation < 10 ** (-30 / 20)

    # Revert to the room as recorded: the first rendering's audio and feed entry again.
    with redis_stack.client() as host:
        reverted = host.post(f"/episodes/{episode_id}/versions/0/revert")
        assert reverted.status_code == 202, reverted.text
        assert reverted.json()["number"] == number + 1 and reverted.json()["operations"] == []
        back = settle(host, space_id, episode_id)
        again = feed_item(host, show_id)
        back_audio = audio(host, back, tmp_path / "back.mp3")
        listed = host.get(f"/episodes/{episode_id}/versions").json()
    assert again["guid"] == before_item["guid"]
    assert again["total_time"] == before_item["total_time"]
    assert back["episode"]["duration_s"] == pytest.approx(old_s, abs=0.001)
    assert (
        hashlib.sha256(decode(back_audio).tobytes()).hexdigest()
        == hashlib.sha256(decode(before_audio).tobytes()).hexdigest()
    )
    assert [v["number"] for v in listed["versions"]] == [*stored, number, number + 1]
    assert listed["edit_version"] == listed["rendered_version"] == number + 1
    print(f"\nediting measurements: edit_to_republished_s={edit_to_republished_s:.1f}")


def test_a_cut_preview_plays_the_seconds_around_the_cut_without_rendering_the_episode(
    redis_stack, room, tmp_path
) -> None:
    """About 8 s around one cut of an unpublished version, at the episode's level: its first
    4 s are the episode's 4 s before the cut, its last 4 s the episode's after it."""
    state, truth = room["state"], room["truth"]
    episode_id = state["episode"]["id"]
    chioma = truth[1]
    a, b = chioma["start_s"] - 0.3, chioma["end_s"] + 0.3
    url = f"/episodes/{episode_id}/versions"
    with redis_stack.client() as host:
        shift = host.get(f"/episodes/{episode_id}/report").json()["episode"]["timeline_start_s"]
        episode = decode(audio(host, host.get(f"/spaces/{room['space_id']}").json(),
                               tmp_path / "episode.mp3"))  # fmt: skip
        made = host.post(url, json={"operations": [{"op": "cut", "start_s": a, "end_s": b}]})
        number = made.json()["number"]
        started = time.monotonic()
        heard = host.get(f"{url}/{number}/cuts/1/audio")
        latency_s = time.monotonic() - started
        missing = host.get(f"{url}/{number}/cuts/2/audio")
        listed = host.get(url).json()
    other = redis_stack.create_user("Oona", "host")
    with redis_stack.client(key=other) as stranger:
        assert stranger.get(f"{url}/{number}/cuts/1/audio").status_code == 404
    assert heard.status_code == 200, heard.text
    assert heard.headers["content-type"] == "audio/mpeg"
    assert missing.status_code == 422 and "cut 2: the version has 1 cut" in missing.text
    assert listed["rendered_version"] != number  # nothing was published or rendered
    (tmp_path / "cut.mp3").write_bytes(heard.content)
    preview = decode(tmp_path / "cut.mp3")
    assert len(preview) / 16_000 == pytest.approx(8.0, abs=0.1)
    before = window(episode, a - shift - 3.5, a - shift - 0.5)
    after = window(episode, b - shift + 0.5, b - shift + 3.5)
    assert max_normalized_correlation(window(preview, 0.5, 3.5), before) > 0.9
    assert max_normalized_correlation(window(preview, 4.5, 7.5), after) > 0.9
    assert rms_db(window(preview, 0.5, 3.5)) == pytest.approx(rms_db(before), abs=1.0)
    assert latency_s < 5.0
    print(f"\ncut preview latency in the service: {latency_s:.2f} s")


def _tone(path: Path, freq: int, seconds: float, *codec: str) -> bytes:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:duration={seconds}:sample_rate=44100", "-ac", "2", *codec,
         str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


def test_the_hosts_intro_outro_and_bed_are_checked_owned_and_move_the_room_later(
    redis_stack, rooms, tmp_path
) -> None:
    """Host audio is probed like a track (hostile files refused, nothing stored), belongs to its
    show (another host's id is refused by name), and once published the episode is longer by
    the intro and outro, every line later by the intro, at the target loudness."""
    from tests.pipeline.hostile_media import m4a_with_forged_timestamps, silent_opus

    state, space_id = rooms["hosted"]["state"], rooms["hosted"]["space_id"]
    episode_id, show_id = state["episode"]["id"], state["show_id"]
    store = redis_stack.store()
    url = f"/shows/{show_id}/audio"
    other = redis_stack.create_user("Ines", "host")
    with redis_stack.client(key=other) as ines:
        theirs = ines.post("/shows", json={"title": "Ines's", "author": "Ines"}).json()["id"]
        foreign = ines.post(f"/shows/{theirs}/audio", params={"name": "jingle"},
                            content=_tone(tmp_path / "j.ogg", 500, 2.0, "-c:a", "libopus"))  # fmt: skip
        assert foreign.status_code == 201, foreign.text
        assert ines.post(url, params={"name": "x"}, content=b"RIFF").status_code == 404
        assert ines.get(url).status_code == 404
    with redis_stack.client() as host:
        before_keys = set(store.list_keys(f"shows/{show_id}/"))
        for content, words in [
            (b"not audio at all", "not an audio file"),
            (m4a_with_forged_timestamps(tmp_path / "f.m4a", seconds=60).read_bytes(),
             "corrupt or forged"),
            (silent_opus(tmp_path / "s.opus", seconds=3).read_bytes(), "silent"),
        ]:  # fmt: skip
            refused = host.post(url, params={"name": "bad"}, content=content)
            assert refused.status_code == 422, refused.text
            assert words in refused.json()["detail"], refused.text
        assert set(store.list_keys(f"shows/{show_id}/")) == before_keys  # nothing stored
        assert host.post(url, params={"name": "\x00"}, content=b"x").status_code in (400, 422)
        ids = {}
        for name, freq, seconds, codec in [
            ("intro", 440, 2.5, ("-c:a", "libopus")),
            ("outro", 660, 1.5, ("-c:a", "libmp3lame")),
            ("bed", 220, 4.0, ("-c:a", "flac")),
        ]:
            ext = {"libopus": "ogg", "libmp3lame": "mp3", "flac": "flac"}[codec[1]]
            made = host.post(url, params={"name": name},
                             content=_tone(tmp_path / f"{name}.{ext}", freq, seconds, *codec))  # fmt: skip
            assert made.status_code == 201, made.text
            assert made.json()["duration_s"] == pytest.approx(seconds, abs=0.06)  # MP3 padding
            ids[name] = made.json()
        assert [a["name"] for a in host.get(url).json()] == ["intro", "outro", "bed"]
        versions = f"/episodes/{episode_id}/versions"
        refused = host.post(versions, json={"operations": [
            {"op": "intro", "audio_id": foreign.json()["id"]}]})  # fmt: skip
        assert refused.status_code == 422, refused.text
        assert "operation 1 (intro " in refused.text and "unknown audio" in refused.text
        made = host.post(versions, json={"operations": [
            {"op": "intro", "audio_id": ids["intro"]["id"]},
            {"op": "outro", "audio_id": ids["outro"]["id"]},
            {"op": "bed", "audio_id": ids["bed"]["id"]},
        ]})  # fmt: skip
        assert made.status_code == 201, made.text
        before = host.get(f"/spaces/{space_id}").json()
        before_lines = lines(host, before)
        edited = publish(host, space_id, episode_id, made.json()["number"])
        after_lines = lines(host, edited)
        path = audio(host, edited, tmp_path / "hosted.mp3")
        report = host.get(f"/episodes/{episode_id}/report").json()
        item = feed_item(host, show_id)
    lead = ids["intro"]["duration_s"]
    assert report["edits"]["lead_s"] == pytest.approx(lead, abs=0.001)
    added = lead + ids["outro"]["duration_s"]
    assert edited["episode"]["duration_s"] - before["episode"]["duration_s"] == pytest.approx(
        added, abs=0.06
    )
    assert item["total_time"] == round(edited["episode"]["duration_s"])
    assert [x["body"] for x in after_lines] == [x["body"] for x in before_lines]
    for old, new in zip(before_lines, after_lines, strict=True):
        assert new["startTime"] == pytest.approx(old["startTime"] + lead, abs=0.02)
    lufs, peak = ebur128(path)
    assert lufs == pytest.approx(-16.0, abs=0.5) and peak <= -1.0
    # The host's objects live under the show, outside the room's vault.
    assert all(store.exists(f"shows/{show_id}/audio/{a['id']}") for a in ids.values())


@pytest.fixture(scope="module")
def withdrawn(redis_stack, rooms) -> dict:
    """The "withdrawn" room after the host published a cut and a mute of Chioma, and Chioma then
    withdrew her consent to publication; what the service did then is kept for the tests."""
    room = rooms["withdrawn"]
    state, truth, space_id = room["state"], room["truth"], room["space_id"]
    episode_id = state["episode"]["id"]
    alice_last = truth[6]
    a, b = alice_last["start_s"] + 0.3, alice_last["start_s"] + 1.3
    with redis_stack.client() as host:
        made = host.post(
            f"/episodes/{episode_id}/versions",
            json={
                "operations": [
                    {"op": "cut", "start_s": a, "end_s": b},
                    {"op": "mute", "speaker_id": "chioma", "start_s": 1.0, "end_s": 2.0},
                ]
            },
        ).json()
        edited = publish(host, space_id, episode_id, made["number"])
        chioma_key = redis_stack.invite(space_id, "chioma")
    with session_scope(redis_stack.env["SPACECAST_DATABASE_URL"]) as session:
        spliced = done_results(session, space_id).mix  # her mute, spliced into the first mix
    with redis_stack.client(key=chioma_key) as chioma:
        chioma.post("/me/consent", json={"answers": {"publish": False}}).raise_for_status()
    with redis_stack.client() as host:
        after = wait_until_done(host, space_id, timeout_s=300, until=("published", "failed"))
        assert after["status"] == "published", after
        return {
            **room,
            "cut": (a, b),
            "made": made,
            "edited": edited,
            "after": after,
            "report": host.get(f"/episodes/{episode_id}/report").json(),
            "spoken": {line["speaker"] for line in lines(host, after)},
            "listed": host.get(f"/episodes/{episode_id}/versions").json(),
            "spliced": spliced,
        }


def test_a_withdrawal_after_an_edit_republishes_the_edit_without_that_voice(
    redis_stack, withdrawn
) -> None:
    """Chioma withdraws after the host published a cut and a mute of her."""
    state, made, edited, after = (withdrawn[k] for k in ("state", "made", "edited", "after"))
    report, listed = withdrawn["report"], withdrawn["listed"]
    a, b = withdrawn["cut"]
    assert withdrawn["spoken"] == {"Alice", "Dan"}
    assert report["edits"]["version"] == made["number"]
    # The cut is still out; her mute went with her voice (nothing left to mute).
    assert report["edits"]["mutes"] == []
    assert after["episode"]["duration_s"] == pytest.approx(
        edited["episode"]["duration_s"], abs=0.05
    )
    assert state["episode"]["duration_s"] - after["episode"]["duration_s"] == pytest.approx(
        b - a, abs=0.05
    )
    assert listed["edit_version"] == listed["rendered_version"] == made["number"]
    # The mix with her mute was spliced from the first rendering's, kept beside it: both held
    # her voice, and both are gone from the bucket.
    spliced = withdrawn["spliced"]
    assert spliced.spliced_s is not None and spliced.base_keys[1] != spliced.key
    store = redis_stack.store()
    for key in (spliced.key, spliced.profile_key, *spliced.base_keys):
        assert not store.exists(key), key


def test_an_edit_at_day_45_after_the_vault_sweep_renders_from_the_kept_stems(
    redis_stack, withdrawn
) -> None:
    """After the withdrawal: the sweep at an injected "day 45" deletes the vault but keeps
    the stems of the voices still published (Alice's, Dan's), never Chioma's; an edit then
    renders instead of taking the episode down."""
    from datetime import timedelta

    from infra.settings import Settings
    from services.retention import sweep_space

    state, truth, space_id = withdrawn["state"], withdrawn["truth"], withdrawn["space_id"]
    episode_id = state["episode"]["id"]
    store = redis_stack.store()
    database_url = redis_stack.env["SPACECAST_DATABASE_URL"]
    policy = Settings(database_url=database_url).retention_policy()
    with redis_stack.client() as host:
        before = host.get(f"/spaces/{space_id}").json()
        duration_s = before["episode"]["duration_s"]
    day_45 = datetime.now(UTC) + timedelta(days=45)
    # This room's vault only: the module's other rooms keep theirs.
    assert sweep_space(store, database_url, space_id, policy, day_45)[0] == "swept"
    raw = store.list_keys(f"raw/{space_id}/")
    assert len([k for k in raw if "/review/" not in k]) == 2  # Alice's and Dan's stems
    alice, dan = truth[0], truth[5]  # Dan: "The lighthouse ferry will bring visitors..."
    a, b = alice["start_s"] + 0.5, alice["start_s"] + 1.5
    mark = truth[4]["start_s"]  # after the new cut, before the cut of the version published now
    with redis_stack.client() as host:
        marked = host.put(
            f"/episodes/{episode_id}/chapters",
            json={"chapters": [{"start_s": 0.0, "title": "Hello"}, {"start_s": mark,
                                                                    "title": "Ladders"}]},
        )  # fmt: skip
        assert marked.status_code == 202, marked.text
        settle(host, space_id, episode_id)
        before = host.get(f"/episodes/{episode_id}/versions").json()
    # A listener reports the second of Alice that the next version cuts.
    with redis_stack.client(key=None) as anyone:
        lee = anyone.post("/listeners", json={"name": "Lee"}).json()["key"]["token"]
    with redis_stack.client(key=lee) as listener:
        complaint = listener.post(
            "/complaints",
            json={"target": "range", "episode_id": episode_id, "category": "harassment",
                  "start_s": a + 0.1, "end_s": b - 0.1},  # room = episode time before the cut
        )  # fmt: skip
        assert complaint.status_code == 201, complaint.text
    with redis_stack.client() as host:
        made = host.post(
            f"/episodes/{episode_id}/versions",
            json={
                "operations": [
                    {"op": "cut", "start_s": a, "end_s": b},
                    # a mute changes the mix: it is made again, from the kept stems
                    {"op": "mute", "speaker_id": "dan", "start_s": dan["start_s"],
                     "end_s": dan["end_s"]},
                ]
            },
        )  # fmt: skip
        assert made.status_code == 201, made.text
        after = publish(host, space_id, episode_id, made.json()["number"])
        edits = host.get(f"/episodes/{episode_id}/report").json()["edits"]
        chapters = host.get(f"/episodes/{episode_id}/chapters").json()
        words = " ".join(line["body"] for line in lines(host, after)).lower()
    assert after["episode"]["duration_s"] == pytest.approx(duration_s + 1.0 - (b - a), abs=0.05)
    assert [m["op"] for m in edits["mutes"]] == ["mute"]
    assert "lighthouse" not in words and "market" in words
    # The host's chapter moved with the room: earlier by the new cut.
    assert [c["title"] for c in chapters["host_chapters"]] == ["Hello", "Ladders"]
    assert chapters["host_chapters"][1]["start_s"] == pytest.approx(mark - (b - a), abs=0.002)
    # The moderator sees which published versions held the reported moment; not this one.
    with redis_stack.client(key=redis_stack.create_user("Mo", "moderator")) as mo:
        review = mo.get(f"/moderation/complaints/{complaint.json()['id']}").json()
    published_before = [v["number"] for v in before["versions"] if v["number"] == 0
                        or v["published_at"]]  # fmt: skip
    assert review["episode_moment"] == {
        "episode_id": episode_id,
        "version": made.json()["number"],
        "at_s": None,
        "held_by_versions": published_before,
    }
    assert [c["start_s"] for c in chapters["chapters"]] == [
        c["start_s"] for c in chapters["host_chapters"]
    ]
