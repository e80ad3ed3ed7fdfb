"""A worker killed in the middle of a stage: its message comes back and the space still publishes,
once."""

import io
import time
from pathlib import Path

import podcastparser
import pytest

from spacecast.demo import submit_sample, wait_until_done

pytestmark = pytest.mark.slow


def test_killed_worker_mid_transcription_resumes_and_publishes_once(
    make_stack, sample_dir: Path
) -> None:
    stack = make_stack("rabbitmq")
    with stack.client() as client:
        space_id = submit_sample(client, sample_dir)
        deadline = time.monotonic() + 120
        while True:
            stages = client.get(f"/spaces/{space_id}").json()["stages"]
            running = [s for s in stages if s["stage"] == "transcribe" and s["status"] == "running"]
            if running:
                break
            assert time.monotonic() < deadline, stages
            time.sleep(0.1)
        stack.kill_workers()  # kill -9, mid-stage
        killed = running[0]["participant"]
        time.sleep(1.0)
        state = client.get(f"/spaces/{space_id}").json()
        assert state["status"] == "processing"

        stack.start_worker()
        state = wait_until_done(client, space_id, timeout_s=300)
        assert state["status"] == "published", state["error"]
        stage = next(
            s for s in state["stages"] if s["stage"] == "transcribe" and s["participant"] == killed
        )
        assert stage["attempts"] >= 2  # the killed attempt, then the redelivered one

        feed = client.get(state["episode"]["feed_url"]).content
        episodes = podcastparser.parse(state["episode"]["feed_url"], io.BytesIO(feed))["episodes"]
        assert len(episodes) == 1
    media = stack.store().list_keys(f"media/{space_id}/")
    assert sorted(key.rsplit("/", 1)[1] for key in media) == [
        "episode.mp3",
        "episode.opus",
        "transcript.json",
        "transcript.srt",
        "transcript.vtt",
    ]
