"""The sample space through the HTTP API and real workers, on PostgreSQL, Redis or RabbitMQ and an
S3 server: the same episode as the offline job, and the raw tracks kept in the bucket."""

import hashlib
import io
import json
import time
from pathlib import Path

import httpx
import podcastparser
import pytest

from spacecast.demo import publish_sample
from tests.audio import ebur128

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_api_and_worker_publish_the_same_episode_as_the_offline_job(
    broker, make_stack, sample_dir: Path, offline_episode, tmp_path: Path
) -> None:
    stack = make_stack(broker)
    with stack.client() as client:
        state = publish_sample(client, sample_dir, timeout_s=300)
        assert state["status"] == "published", state["error"]
        episode = state["episode"]

        mp3 = tmp_path / "episode.mp3"
        mp3.write_bytes(client.get(episode["audio"]["mp3"]).raise_for_status().content)
        integrated, true_peak = ebur128(mp3)
        assert integrated == pytest.approx(-16.0, abs=0.5)
        assert true_peak <= -1.0

        # Same words, same speakers, same times as `spacecast process` on the same files.
        served = client.get(episode["transcripts"]["json"]).raise_for_status().json()["segments"]
        offline_dir, offline_report = offline_episode
        offline = json.loads((offline_dir / "transcript.json").read_text())["segments"]
        assert [(s["speaker"], s["body"]) for s in served] == [
            (s["speaker"], s["body"]) for s in offline
        ]
        assert [s["startTime"] for s in served] == pytest.approx(
            [s["startTime"] for s in offline], abs=0.05
        )
        assert integrated == pytest.approx(
            offline_report["episode"]["loudness"]["integrated_lufs"], abs=0.2
        )
        vtt = client.get(episode["transcripts"]["vtt"]).raise_for_status()
        assert vtt.headers["content-type"].startswith("text/vtt")
        assert "Bruno" not in vtt.text

        # The feed, as a podcast client reads it, and the enclosure it points to.
        feed = client.get(episode["feed_url"]).raise_for_status()
        parsed = podcastparser.parse(episode["feed_url"], io.BytesIO(feed.content))
        (item,) = parsed["episodes"]
        (enclosure,) = item["enclosures"]
        assert enclosure["url"] == episode["audio"]["mp3"]
        assert enclosure["file_size"] == mp3.stat().st_size
        assert [p["name"] for p in item["persons"]] == ["Alice", "Chioma"]
        assert item["transcript_url"] in episode["transcripts"].values()
        partial = client.get(enclosure["url"], headers={"Range": "bytes=100-1099"})
        assert partial.status_code == 206
        assert partial.content == mp3.read_bytes()[100:1100]

    # Every recorded participant's raw track is in the bucket, byte for byte, Bruno's included.
    store = stack.store()
    raw = store.list_keys(f"raw/{state['id']}/")
    assert len(raw) == 3
    local = {
        hashlib.sha256((sample_dir / p["track"]).read_bytes()).hexdigest()
        for p in json.loads((sample_dir / "manifest.json").read_text())["participants"]
    }
    assert {hashlib.sha256(store.get_bytes(key)).hexdigest() for key in raw} == local
    assert {store.recorded_sha256(key) for key in raw} == local


REDELIVERED = ("mix", "master", "publish")


def _skips(stack, space_id: str, stage: str) -> int:
    """How often the stage found its work already done, as the workers' logs say."""
    line = f"space={space_id} stage={stage}] already done for these inputs; skipping"
    return sum(path.read_text(errors="replace").count(line) for path in stack.logs.glob("worker-*"))


def test_stages_run_twice_change_nothing(make_stack, sample_dir: Path) -> None:
    stack = make_stack("redis")
    with stack.client() as client:
        state = publish_sample(client, sample_dir, timeout_s=300)
        assert state["status"] == "published"
        before_keys = sorted(stack.store().list_keys())
        participants = {p["id"]: p for p in state["participants"]}
        skipped_before = {stage: _skips(stack, state["id"], stage) for stage in REDELIVERED}
        # Redeliver every stage, as at-least-once delivery may.
        for actor in ("mix_space", "master_space", "publish_space"):
            stack.send(actor, state["id"])
        stack.send("advance_space", state["id"])
        # Wait until each redelivered stage was taken and found its work done.
        deadline = time.monotonic() + 120
        while any(_skips(stack, state["id"], s) <= skipped_before[s] for s in REDELIVERED):
            assert time.monotonic() < deadline, "the redelivered stages were not processed"
            time.sleep(0.2)
        time_limit = httpx.Timeout(60)
        again = stack.wait_for(state["id"], ("published",))
        after = client.get(f"/spaces/{state['id']}", timeout=time_limit).json()
    assert sorted(stack.store().list_keys()) == before_keys
    assert again["episode"]["guid"] == state["episode"]["guid"]
    assert again["episode"]["audio"] == state["episode"]["audio"]
    assert all(stage["attempts"] == 1 for stage in after["stages"]), after["stages"]
    assert len(participants) == 3
