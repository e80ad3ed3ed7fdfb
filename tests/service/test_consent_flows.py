"""Consent through the running service (API, worker, PostgreSQL, Redis, S3): the host's choice
while someone has not answered, invite links, the bleed check with ducking, withdrawal after
publication (re-rendered, old objects deleted, guid kept) and a withdrawal racing the render."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx
import numpy as np
import podcastparser
import pytest

from infra.samples import build_sample_space, load_spec
from spacecast.demo import submit_sample, wait_until_done
from tests.audio import decode, rms_db, window
from tests.service.stack import ServiceStack

pytestmark = pytest.mark.slow

MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def quick_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Alice and Chioma consent; Dan agreed to be recorded but has not answered about publication,
    and Alice's microphone picks Dan up at -20 dB."""
    spec = load_spec("quick_chat")
    spec["participants"][0]["hears"] = {"dan": -20.0}
    folder = tmp_path_factory.mktemp("quick-chat")
    build_sample_space(spec, folder)
    return folder


def truth_of(folder: Path) -> list[dict]:
    return json.loads((folder / "truth.json").read_text())["utterances"]


def participant_client(stack: ServiceStack, token: str) -> httpx.Client:
    return stack.client(key=token)


def feed_items(client: httpx.Client, state: dict) -> list[dict]:
    show_id = state["show_id"]
    url = f"{client.base_url}shows/{show_id}/feed.xml".replace("//shows", "/shows")
    return podcastparser.parse(url, io.BytesIO(client.get(f"/shows/{show_id}/feed.xml").content))[
        "episodes"
    ]


def leakage_db(episode_mp3: Path, utterances: list[dict], speaker: str, shift_s: float) -> float:
    """Loudest of the speaker's utterances in the episode, relative to everyone else's speech."""
    audio = decode(episode_mp3)
    others = np.concatenate(
        [
            window(audio, u["start_s"] - shift_s, u["end_s"] - shift_s)
            for u in utterances
            if u["speaker_id"] != speaker
        ]
    )
    theirs = [
        window(audio, u["start_s"] - shift_s + 0.2, u["end_s"] - shift_s - 0.2)
        for u in utterances
        if u["speaker_id"] == speaker
    ]
    return max(rms_db(w) for w in theirs) - rms_db(others)


def download(client: httpx.Client, url: str, path: Path) -> Path:
    path.write_bytes(client.get(url).raise_for_status().content)
    return path


def test_held_until_the_missing_speaker_answers_through_an_invite_link(
    redis_stack, quick_chat
) -> None:
    with redis_stack.client() as host:
        space_id = submit_sample(host, quick_chat, finish={"missing": "hold"})
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "held"
        (missing,) = state["missing"]
        dan_speech = sum(
            u["end_s"] - u["start_s"] for u in truth_of(quick_chat) if u["speaker_id"] == "dan"
        )
        assert missing["participant"] == "dan"
        assert missing["speech_s"] == pytest.approx(dan_speech, rel=0.15)
        assert 0.2 < missing["share_of_speech"] < 0.45
        assert host.get(f"/spaces/{space_id}/episode").status_code == 404

    with participant_client(redis_stack, redis_stack.invite(space_id, "dan")) as dan:
        asked = dan.get("/me/participation").raise_for_status().json()
        assert asked["consent"]["publish"] is None
        assert {q["purpose"] for q in asked["prompt"]} == {
            "record",
            "publish",
            "transcribe",
            "clip",
        }
        dan.post(
            "/me/consent", json={"answers": {"publish": True, "transcribe": True, "clip": True}}
        ).raise_for_status()
    with redis_stack.client() as host:
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "published"
        assert [p["name"] for p in state["episode"]["persons"]] == ["Alice", "Chioma", "Dan"]
        words = host.get(state["episode"]["transcripts"]["json"]).json()["segments"]
        assert "Dan" in {s["speaker"] for s in words}
        ledger = host.get(f"/spaces/{space_id}/participants/dan/consent").json()
        assert [(e["purpose"], e["source"]) for e in ledger["entries"][-3:]] == [
            ("publish", "invite_link"), ("transcribe", "invite_link"), ("clip", "invite_link")
        ]  # fmt: skip


def test_host_publishes_without_the_silent_speaker_and_ducks_their_bleed(
    redis_stack, quick_chat, tmp_path
) -> None:
    with redis_stack.client() as host:
        space_id = submit_sample(host, quick_chat, finish={"missing": "hold"})
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "held"
        (finding,) = [f for f in state["bleed"] if f["heard_on_id"] == "alice"]
        assert finding["speaker_id"] == "dan" and finding["detected"] is True

        host.post(
            f"/spaces/{space_id}/decision", json={"missing": "exclude", "duck_excluded": True}
        ).raise_for_status()
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "published"
        episode = state["episode"]
        assert [p["name"] for p in episode["persons"]] == ["Alice", "Chioma"]
        report = host.get(f"/episodes/{episode['id']}/report").json()
        (excluded,) = report["excluded"]
        assert (excluded["participant_id"], excluded["status"]) == ("dan", "not answered")
        assert excluded["speech_s"] > 5
        assert report["bleed"]["ducked"] is True and report["bleed"]["ducked_windows"] == 2
        text = host.get(episode["transcripts"]["vtt"]).text
        assert "harmonica" not in text.lower() and "Dan" not in text
        mp3 = download(host, episode["audio"]["mp3"], tmp_path / "episode.mp3")
    shift = report["episode"]["timeline_start_s"]
    leakage = leakage_db(mp3, truth_of(quick_chat), "dan", shift)
    MEASURED["ducked_bleed_leakage_db"] = round(leakage, 1)
    assert leakage < -40.0


def test_withdrawal_after_publication_rerenders_keeps_the_guid_and_deletes_old_objects(
    redis_stack, quick_chat, tmp_path
) -> None:
    store = redis_stack.store()
    with redis_stack.client() as host:
        space_id = submit_sample(host, quick_chat, finish={"missing": "exclude"})
        first = wait_until_done(host, space_id, timeout_s=300)
        assert first["status"] == "published"
        chioma_key = redis_stack.invite(space_id, "chioma")
        (item,) = feed_items(host, first)
        old_media = store.list_keys(f"media/{space_id}/")
        old_work = store.list_keys(f"work/{space_id}/")
        assert host.get("/search", params={"q": "pretzels", "show_id": first["show_id"]}).json()

    with participant_client(redis_stack, chioma_key) as chioma:
        own = chioma.get("/me/transcript").json()
        assert own and {line["speaker"] for line in own} == {"Chioma"}
        track = chioma.get("/me/track")
        assert track.content == (quick_chat / "chioma.m4a").read_bytes()
        started = time.monotonic()
        chioma.post("/me/consent", json={"answers": {"publish": False}}).raise_for_status()

    with redis_stack.client() as host, httpx.Client() as anyone:
        # From the moment of withdrawal, the feed and the old media no longer carry her voice.
        while any(i["guid"] == item["guid"] for i in feed_items(host, first)):
            assert time.monotonic() - started < 5
        MEASURED["withdrawal_to_unserved_s"] = round(time.monotonic() - started, 3)
        assert anyone.get(item["enclosures"][0]["url"]).status_code == 410
        state = wait_until_done(host, space_id, timeout_s=300, until=("published", "failed"))
        MEASURED["withdrawal_to_republished_s"] = round(time.monotonic() - started, 1)
        assert state["status"] == "published"
        (again,) = feed_items(host, state)
        assert again["guid"] == item["guid"]
        assert again["enclosures"][0]["url"] != item["enclosures"][0]["url"]
        assert [p["name"] for p in again["persons"]] == ["Alice"]
        words = host.get(state["episode"]["transcripts"]["json"]).json()["segments"]
        assert {s["speaker"] for s in words} == {"Alice"}
        assert (
            host.get("/search", params={"q": "pretzels", "show_id": first["show_id"]}).json() == []
        )
        report = host.get(f"/episodes/{state['episode']['id']}/report").json()
        mp3 = download(host, state["episode"]["audio"]["mp3"], tmp_path / "after.mp3")

    for key in old_media:
        assert not store.exists(key), key
    # Her words and the mix that held her voice are gone from the intermediates too.
    work = set(store.list_keys(f"work/{space_id}/"))
    old_transcripts = {k for k in old_work if "/transcript-" in k}
    transcripts = {k for k in work if "/transcript-" in k}
    assert len(old_transcripts) == 2 and len(transcripts) == 1 and transcripts < old_transcripts
    assert not {k for k in old_work if "/mix-" in k} & work
    chioma = next(p for p in state["participants"] if p["id"] == "chioma")  # after withdrawing
    assert chioma["track"] is not None  # her raw track stays in the vault: record still granted
    raw_tracks = [k for k in store.list_keys(f"raw/{space_id}/") if "/review/" not in k]
    assert len(raw_tracks) == 3  # Alice's, Chioma's and Dan's, as uploaded
    leakage = leakage_db(mp3, truth_of(quick_chat), "chioma", report["episode"]["timeline_start_s"])
    MEASURED["withdrawn_speaker_leakage_db"] = round(leakage, 1)
    assert leakage < -40.0

    # A clip cut from the new rendering, over Alice and then Chioma, holds Alice alone.
    shift = report["episode"]["timeline_start_s"]
    alice, chioma_line = truth_of(quick_chat)[:2]
    assert (alice["speaker_id"], chioma_line["speaker_id"]) == ("alice", "chioma")
    start, end = alice["start_s"] - shift - 0.3, chioma_line["end_s"] - shift + 0.3
    with redis_stack.client(key=None) as anyone:
        listener_key = anyone.post("/listeners", json={"name": "Lee"}).json()["key"]["token"]
    with redis_stack.client(key=listener_key) as listener:
        made = listener.post(
            f"/episodes/{state['episode']['id']}/clips", json={"start_s": start, "end_s": end}
        )
        assert made.status_code == 202, made.text
        deadline = time.monotonic() + 60
        while (clip := listener.get(f"/clips/{made.json()['id']}").json())["status"] == "queued":
            assert time.monotonic() < deadline, clip
            time.sleep(0.1)
        assert clip["status"] == "ready", clip["error"]
        assert clip["speakers"] == ["Alice"]
        assert {line["speaker"] for line in clip["transcript"]} == {"Alice"}
        clip_audio = decode(download(listener, clip["audio_url"], tmp_path / "clip.mp3"))
    offset = alice["start_s"] - shift - start  # where Alice starts inside the clip
    heard = rms_db(window(clip_audio, offset, offset + alice["end_s"] - alice["start_s"]))
    chioma_at = chioma_line["start_s"] - alice["start_s"] + offset
    left = rms_db(window(clip_audio, chioma_at + 0.2, chioma_at + chioma_line["end_s"]
                         - chioma_line["start_s"] - 0.2))  # fmt: skip
    MEASURED["withdrawn_speaker_in_clip_db"] = round(left - heard, 1)
    assert left - heard < -40.0
    print(f"\nconsent measurements: {MEASURED}")


def test_a_withdrawal_during_rendering_wins(redis_stack, quick_chat) -> None:
    with redis_stack.client() as host:
        space_id = submit_sample(host, quick_chat, finish={"missing": "exclude"})
        chioma_key = redis_stack.invite(space_id, "chioma")
        deadline = time.monotonic() + 120
        while True:
            stages = host.get(f"/spaces/{space_id}").json()["stages"]
            if any(s["stage"] in ("mix", "master") and s["status"] == "running" for s in stages):
                break
            assert time.monotonic() < deadline, stages
            time.sleep(0.05)
    with participant_client(redis_stack, chioma_key) as chioma:
        chioma.post("/me/consent", json={"answers": {"publish": False}}).raise_for_status()
    with redis_stack.client() as host:
        deadline = time.monotonic() + 300
        observed = 0
        while True:
            state = host.get(f"/spaces/{space_id}").json()
            for item in feed_items(host, state):
                observed += 1
                assert "Chioma" not in [p["name"] for p in item["persons"]]
                transcript = host.get(item["transcript_url"])
                assert transcript.status_code == 200 and "Chioma" not in transcript.text
            if state["status"] == "published":
                break
            assert state["status"] in ("processing", "held"), state["error"]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert observed >= 1
        assert [p["name"] for p in state["episode"]["persons"]] == ["Alice"]


def test_withdrawing_then_granting_again_republishes_with_the_voice_back(
    redis_stack, quick_chat
) -> None:
    with redis_stack.client() as host:
        space_id = submit_sample(host, quick_chat, finish={"missing": "exclude"})
        first = wait_until_done(host, space_id, timeout_s=300)
        assert [p["name"] for p in first["episode"]["persons"]] == ["Alice", "Chioma"]
    chioma = participant_client(redis_stack, redis_stack.invite(space_id, "chioma"))
    with chioma, redis_stack.client() as host, redis_stack.client("admin") as admin:
        chioma.post("/me/consent", json={"answers": {"publish": False}}).raise_for_status()
        alone = wait_until_done(host, space_id, timeout_s=300, until=("published", "failed"))
        assert [p["name"] for p in alone["episode"]["persons"]] == ["Alice"]
        chioma.post("/me/consent", json={"answers": {"publish": True}}).raise_for_status()
        deadline = time.monotonic() + 300
        while True:
            state = host.get(f"/spaces/{space_id}").raise_for_status().json()
            assert state["status"] != "failed", state["error"]
            persons = [p["name"] for p in (state["episode"] or {}).get("persons", [])]
            if state["status"] == "published" and persons == ["Alice", "Chioma"]:
                break
            assert time.monotonic() < deadline, state["stages"]
            time.sleep(0.3)
        words = host.get(state["episode"]["transcripts"]["json"]).json()["segments"]
        assert {s["speaker"] for s in words} == {"Alice", "Chioma"}
        assert admin.get("/dead-letters", params={"space_id": space_id}).json() == []
        assert all(s["error"] is None for s in state["stages"])
