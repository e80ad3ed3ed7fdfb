"""A corpus of hostile and broken uploads, built here: each is refused with a message that names
the problem, nothing is stored, the participant's earlier track is untouched, no scratch file is
left behind, and nothing is fetched from the network."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.api.conftest import World
from tests.pipeline.hostile_media import silent_opus, vbr_mp3_without_xing


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def canary() -> dict:
    """A TCP listener on loopback that records any connection a playlist might make to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    seen = {"port": server.getsockname()[1], "connections": 0, "stop": False}

    def _accept() -> None:
        while not seen["stop"]:
            try:
                conn, _ = server.accept()
                seen["connections"] += 1
                conn.close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=_accept, daemon=True)
    thread.start()
    yield seen
    seen["stop"] = True
    thread.join(timeout=2)
    server.close()


def build_corpus(folder: Path, canary_port: int, stored_track: str) -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, a phrase the refusal must contain)."""
    good = folder / "good.opus"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=3", "-c:a", "libopus", str(good))
    mp4 = folder / "cut.m4a"  # moov atom at the end, so cutting the file loses it
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=5", "-c:a", "aac", str(mp4))
    png = folder / "cover.png"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=blue:s=32x32:d=1", "-frames:v", "1", "-update", "1", str(png)
    )
    long_silence = folder / "long.opus"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=mono:d=610",
        "-c:a",
        "libopus",
        "-b:a",
        "6k",
        str(long_silence),
    )
    flac = folder / "real.flac"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=300:sample_rate=8000:duration=0.5",
        "-c:a",
        "flac",
        str(flac),
    )
    forged = bytearray(flac.read_bytes())
    forged[21] |= 0x0F
    forged[22:26] = b"\xff\xff\xff\xff"
    hot_rate = (
        b"RIFF"
        + struct.pack("<I", 36 + 3840)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 384_000, 768_000, 2, 16)
        + b"data"
        + struct.pack("<I", 3840)
        + b"\x00\x01" * 1920
    )
    many = folder / "many.wav"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=duration=1",
        "-af",
        "pan=hexadecagonal|" + "|".join(f"c{i}=c0" for i in range(16)),
        str(many),
    )
    return {
        "zero-length": (b"", "empty"),
        "truncated-header": (good.read_bytes()[:120], "not an audio file"),
        "truncated-mp4": (mp4.read_bytes()[: len(mp4.read_bytes()) // 2], "not an audio file"),
        "image-named-as-audio": (png.read_bytes(), "not a container Spacecast accepts"),
        "text": (b"these are my notes, not a recording\n" * 40, "not an audio file"),
        "html": (b"<html><body><script>alert(1)</script></body></html>" * 20, "not an audio file"),
        "executable": (Path("/bin/true").read_bytes(), "not an audio file"),
        "random-bytes": (os.urandom(64 * 1024), "not an audio file"),
        "hls-playlist-to-url": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:{canary_port}/a.ts\n"
            "#EXT-X-ENDLIST\n".encode(),
            "not a container Spacecast accepts",
        ),
        "hls-playlist-to-local-file": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{good}\n#EXT-X-ENDLIST\n".encode(),
            "not a container Spacecast accepts",
        ),
        "concat-list": (
            f"ffconcat version 1.0\nfile {good}\nfile {stored_track}\n".encode(),
            "not a container Spacecast accepts",
        ),
        "huge-declared-duration": (bytes(forged), "header declares"),
        "over-duration-limit": (long_silence.read_bytes(), "over the limit"),
        "sample-rate-384khz": (hot_rate, "sample rate 384000 Hz"),
        "sixteen-channels": (many.read_bytes(), "16 channels"),
        "over-size-limit": (os.urandom(5 * 1024 * 1024), "larger than the limit"),
    }


def test_malicious_media_corpus_is_refused_and_nothing_is_affected(
    world: World, short_opus: Path, tmp_path: Path, canary: dict, api_env: dict
) -> None:
    client = world.client
    space = client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={"title": "Corpus", "participants": [{"id": "mal", "name": "Mal", "offset": 0,
                                                  "consent": {"record": True, "publish": True}}]},
        headers=world.headers("host"),
    ).json()  # fmt: skip
    url = f"/spaces/{space['id']}/participants/mal/track"
    good = client.put(url, content=short_opus.read_bytes(), headers=world.headers("host"))
    assert good.status_code == 201
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    store = ObjectStore(get_settings())
    stored = store.list_keys(f"raw/{space['id']}/")
    work = Path(api_env["SPACECAST_WORK_DIR"])
    before = set(work.iterdir())  # what other tests of the session left there (a worker's metrics)
    corpus = build_corpus(tmp_path, canary["port"], stored_track=str(short_opus))
    refused = []
    for name, (data, phrase) in corpus.items():
        response = client.put(url, content=data, headers=world.headers("host"))
        assert response.status_code in (413, 422), (name, response.status_code, response.text)
        detail = response.json()["detail"]
        assert phrase in detail, (name, detail)
        assert (
            "Traceback" not in detail and str(tmp_path) not in detail and str(work) not in detail
        ), name
        refused.append(name)
    assert store.list_keys(f"raw/{space['id']}/") == stored
    participant = client.get(f"/spaces/{space['id']}", headers=world.headers("host")).json()[
        "participants"
    ][0]
    assert participant["track"]["sha256"] == good.json()["sha256"]
    assert set(work.iterdir()) == before  # nothing of the refused uploads stays behind
    assert canary["connections"] == 0
    assert len(refused) == len(corpus) == 16


def _empty_space(world: World, title: str) -> tuple[str, str]:
    """A space whose one participant has no track yet; returns (space id, upload URL)."""
    space = world.client.post(
        f"/shows/{world.shows['A']}/spaces",
        json={"title": title, "participants": [{"id": "mal", "name": "Mal", "offset": 0,
                                                "consent": {"record": True, "publish": True}}]},
        headers=world.headers("host"),
    ).json()  # fmt: skip
    return space["id"], f"/spaces/{space['id']}/participants/mal/track"


def _refused_and_nothing_stored(world: World, space_id: str, url: str, data: bytes) -> str:
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    response = world.client.put(url, content=data, headers=world.headers("host"))
    assert response.status_code == 422, response.text
    assert ObjectStore(get_settings()).list_keys(f"raw/{space_id}/") == []
    participant = world.client.get(f"/spaces/{space_id}", headers=world.headers("host")).json()
    assert participant["participants"][0]["track"] is None
    return response.json()["detail"]


def test_vbr_mp3_whose_header_understates_its_length_is_refused(
    world: World, tmp_path: Path
) -> None:
    # 20 minutes against the test world's 10-minute limit; without a Xing header ffprobe
    # estimates 6.3 minutes from the bitrate of the first (loud) frames.
    mp3 = vbr_mp3_without_xing(tmp_path / "twenty-minutes.mp3", seconds=20 * 60)
    space_id, url = _empty_space(world, "VBR MP3")
    detail = _refused_and_nothing_stored(world, space_id, url, mp3.read_bytes())
    assert detail == (
        "track of mal: the audio lasts more than 10.0 min, over the limit of 10.0 min; "
        "its header claims 6.3 min"
    )


def test_hours_of_near_silent_opus_are_refused_without_decoding_them(
    world: World, tmp_path: Path
) -> None:
    # Seven hours in 1.3 MB (about 50 bytes a second). Its length is read from its packets,
    # which stops at the limit; decoding all seven hours inside the request took 20 s.
    opus = silent_opus(tmp_path / "seven-hours.opus", seconds=7 * 3600)
    assert opus.stat().st_size < 150 * 7 * 3600
    space_id, url = _empty_space(world, "DTX Opus")
    started = time.monotonic()
    detail = _refused_and_nothing_stored(world, space_id, url, opus.read_bytes())
    assert time.monotonic() - started < 2.0
    assert detail == (
        "track of mal: the audio lasts more than 10.0 min, over the limit of 10.0 min; "
        "its header claims 7.0 h"
    )
