"""Moderation through the running service on real audio: a listener's complaint holds the
space's recordings; a moderator goes from the queue to the reported moment on the accused
speaker's own track and the mix, reads and searches the transcript of every retained track (a
speaker who refused publication included), removes the speaker's part, and every step is in the
audit log. Hosts see why their recordings are held; listeners and hosts cannot reach review."""

from __future__ import annotations

import json
import time

import pytest

from infra.samples import build_sample_space, load_spec
from spacecast.demo import submit_sample, wait_until_done
from tests.audio import decode, max_normalized_correlation, rms_db, window

pytestmark = pytest.mark.slow
RATE = 16_000


@pytest.fixture(scope="module")
def space(redis_stack, tmp_path_factory) -> dict:
    """quick_chat published without Dan (who refused publication but is recorded)."""
    folder = tmp_path_factory.mktemp("moderation-space")
    build_sample_space(load_spec("quick_chat"), folder)
    with redis_stack.client() as host:
        space_id = submit_sample(host, folder, finish={"missing": "exclude"})
        state = wait_until_done(host, space_id, timeout_s=300)
        assert state["status"] == "published"
        report = host.get(f"/episodes/{state['episode']['id']}/report").json()
    with redis_stack.client(key=None) as anyone:
        listener = anyone.post("/listeners", json={"name": "Lee"}).raise_for_status().json()
    truth = json.loads((folder / "truth.json").read_text())["utterances"]
    return {
        "state": state,
        "shift": report["episode"]["timeline_start_s"],
        "truth": truth,
        "folder": folder,
        "listener": listener["key"]["token"],
        "moderator": redis_stack.create_user("Mo", "moderator"),
    }


def wait_review(moderator, complaint_id: str) -> dict:
    deadline = time.monotonic() + 180
    while True:
        review = moderator.get(f"/moderation/complaints/{complaint_id}").raise_for_status().json()
        if review["transcript_status"] == "ready":
            return review
        assert time.monotonic() < deadline, review
        time.sleep(1)


def test_moderator_hears_and_reads_the_reported_moment(redis_stack, space, tmp_path) -> None:
    state, truth = space["state"], space["truth"]
    episode_id = state["episode"]["id"]
    line = next(u for u in truth if u["speaker_id"] == "chioma")  # "The bakery wants a stall..."
    start, end = line["start_s"] - space["shift"], line["end_s"] - space["shift"]
    with redis_stack.client(key=space["listener"]) as listener:
        filed = listener.post(
            "/complaints",
            json={
                "target": "speaker",
                "episode_id": episode_id,
                "speaker": "Chioma",
                "start_s": start,
                "end_s": end,
                "category": "harassment",
                "text": "She was rude about the fountain.",
            },
        )
        assert filed.status_code == 201, filed.text
        complaint = filed.json()
        assert (
            complaint["status"] == "open" and complaint["speaker"] == "Chioma"
        )  # as the listener named her
        assert abs(complaint["start_s"] - line["start_s"]) < 0.01  # stored on the room timeline
        assert listener.get("/moderation/queue").status_code == 403
        mine = listener.get("/complaints").json()
        assert [c["id"] for c in mine] == [complaint["id"]]
    with redis_stack.client() as host:
        assert host.get(f"/moderation/complaints/{complaint['id']}").status_code == 403
        recordings = host.get(f"/spaces/{state['id']}").json()["recordings"]
        assert recordings["held"] and recordings["deletes_at"] is None
        assert "under review" in recordings["reason"]

    with redis_stack.client(key=space["moderator"]) as moderator:
        queue = moderator.get("/moderation/queue").raise_for_status().json()
        assert complaint["id"] in [item["id"] for item in queue]
        review = wait_review(moderator, complaint["id"])
        assert review["accused"] == "chioma"
        win = review["window"]
        assert win["start_s"] <= line["start_s"] and win["end_s"] >= line["end_s"]
        # The transcript of every retained track around the moment, attributed.
        said: dict[tuple[str, bool], str] = {}
        for x in review["transcript"]:
            key = (x["participant"], x["published"])
            said[key] = said.get(key, "") + " " + x["text"].lower()
        assert "fountain" in said[("chioma", True)] and "pretzels" in said[("chioma", True)]
        # Dan refused publication, but his words around the moment are there for review, and
        # search reaches them.
        dans = [x for x in review["transcript"] if x["participant"] == "dan"]
        assert dans and not any(x["published"] for x in dans)
        word = max(dans[0]["text"].strip(".,!? ").split(), key=len).strip(".,!?")
        hits = moderator.get(
            f"/moderation/complaints/{complaint['id']}/search", params={"q": word}
        ).json()
        assert ("dan", False) in [(h["participant"], h["published"]) for h in hits]
        assert not moderator.get(
            f"/moderation/complaints/{complaint['id']}/search", params={"q": "zeppelin"}
        ).json()
        # The reported window on Chioma's own track is exactly her recording at that moment.
        track_url = next(t["audio_url"] for t in review["tracks"] if t["participant"] == "chioma")
        speaker_mp3 = tmp_path / "speaker.mp3"
        speaker_mp3.write_bytes(moderator.get(track_url).raise_for_status().content)
        heard = decode(speaker_mp3, rate_hz=RATE)
        assert abs(len(heard) / RATE - (win["end_s"] - win["start_s"])) < 0.1
        original = decode(space["folder"] / "chioma.m4a", rate_hz=RATE)
        offset = next(t["offset_s"] for t in review["tracks"] if t["participant"] == "chioma")
        a, b = line["start_s"] - win["start_s"], line["end_s"] - win["start_s"]
        ours = window(heard, a, b, RATE)
        theirs = window(original, a + win["start_s"] - offset, b + win["start_s"] - offset, RATE)
        assert max_normalized_correlation(ours, theirs, max_lag=1200) > 0.9
        # The mix carries the other speakers around the moment too (Alice speaks just before).
        mix_mp3 = tmp_path / "mix.mp3"
        mix_mp3.write_bytes(moderator.get(review["mix_url"]).raise_for_status().content)
        mixed = decode(mix_mp3, rate_hz=RATE)
        before = next(
            u for u in truth if u["end_s"] <= line["start_s"] and u["speaker_id"] == "alice"
        )
        assert before["start_s"] >= win["start_s"]  # the padding reaches back to Alice's line
        a, b = before["start_s"] - win["start_s"], before["end_s"] - win["start_s"]
        alice_in_mix = rms_db(window(mixed, a, b, RATE))
        assert alice_in_mix > -45
        assert rms_db(window(heard, a, b, RATE)) < alice_in_mix - 20  # not on Chioma's track

        decided = moderator.post(
            f"/moderation/complaints/{complaint['id']}/decision",
            json={"decision": "remove_speaker", "reason": "abusive remarks confirmed on her track"},
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "actioned"
        trail = moderator.get("/moderation/audit", params={"complaint_id": complaint["id"]}).json()
        actions = {entry["action"] for entry in trail}
        assert {"view_complaint", "search", "play_track", "play_mix"} <= actions
        assert "decide_remove_speaker" in actions
        assert all(entry["actor"].startswith("user:") for entry in trail)

    with redis_stack.client(key=space["listener"]) as listener:
        assert listener.get(f"/episodes/{episode_id}").status_code == 410  # at once
    with redis_stack.client() as host:
        republished = wait_until_done(host, state["id"], timeout_s=300)
        assert republished["status"] == "published"
        names = [p["name"] for p in republished["episode"]["persons"]]
        assert "Chioma" not in names and "Alice" in names
        removed = next(e for e in republished["excluded"] if e["participant"] == "chioma")
        assert removed["status"] == "removed"
        recordings = republished["recordings"]
        assert recordings["held"] and recordings["held_until"]  # the appeal window
