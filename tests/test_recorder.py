"""`spacecast record` paces chunks like a live room, and a resumed run skips what an earlier run
had acknowledged without waiting for it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from spacecast import recorder as recorder_module
from spacecast.recorder import Recorder


class Clock:
    """Time that passes only when the recorder sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class FakeSpace:
    """The chunk endpoints of one participant, acknowledging whatever arrives."""

    def __init__(self) -> None:
        self.chunks: dict[int, dict] = {}

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"chunks": list(self.chunks.values())})
        if request.method == "PUT":
            seq = int(request.url.path.rsplit("/", 1)[1])
            start = int(request.url.params["start_sample"])
            ack = {
                "seq": seq,
                "start_sample": start,
                "start_s": start / 48_000,
                "sha256": request.url.params["sha256"],
                "stored": True,
            }
            self.chunks[seq] = ack
            return httpx.Response(201, json=ack)
        return httpx.Response(201, json={"chunk_count": len(self.chunks)})


@pytest.fixture
def six_seconds(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=6", str(path)],
        check=True,
    )
    return path


def _stream(space: FakeSpace, clock: Clock, path: Path, **options):
    client = httpx.Client(
        base_url="http://spacecast.test", transport=httpx.MockTransport(space.handle)
    )
    started = clock.now
    report = Recorder(client, "space", "alice").stream(path, chunk_s=1.0, speed=1.0, **options)
    return report, clock.now - started


def test_a_resumed_recording_waits_only_for_the_chunks_it_sends(
    six_seconds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(
        recorder_module, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep)
    )
    space = FakeSpace()

    def crash_after_chunk_3(seq: int, ack: dict) -> None:
        if seq == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _stream(space, clock, six_seconds, on_chunk=crash_after_chunk_3)
    assert sorted(space.chunks) == [0, 1, 2, 3]
    assert clock.now == pytest.approx(4.0)  # paced in real time: 4 s of audio took 4 s

    resumed, waited = _stream(space, clock, six_seconds)
    assert (resumed.skipped, resumed.sent, resumed.chunks) == (4, 2, 6)
    # Only chunks 4 and 5 are paced: 2 s, not the 6 s of the whole file.
    assert waited == pytest.approx(2.0)


def test_a_fresh_recording_is_paced_like_the_room(
    six_seconds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(
        recorder_module, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep)
    )
    report, waited = _stream(FakeSpace(), clock, six_seconds)
    assert (report.sent, report.skipped) == (6, 0)
    assert waited == pytest.approx(6.0)
