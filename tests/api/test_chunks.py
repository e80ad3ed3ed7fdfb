"""Live chunked ingest through the API: chunks sent twice and out of order, a gap (the speaker
left and came back), a corrupt chunk, overlaps and late chunks; the assembled track holds every
acknowledged sample at its declared place, and no chunk object is left behind."""

from __future__ import annotations

import hashlib
import random
import subprocess
import time

import numpy as np
import pytest

from tests.api.conftest import World

RATE = 48_000


def _pcm(seconds: float, seed: int) -> bytes:
    """A deterministic signal that never holds a run of zeros (so gaps are recognisable)."""
    rng = np.random.default_rng(seed)
    samples = rng.integers(1000, 20000, int(seconds * RATE), dtype=np.int16)
    return samples.astype("<i2").tobytes()


def _space(world: World, handle: str) -> str:
    body = {
        "title": "Live chunks",
        "participants": [
            {
                "id": handle,
                "name": handle.title(),
                "offset": 0.0,
                "consent": {"record": True, "publish": True},
            }
        ],
    }
    response = world.client.post(
        f"/shows/{world.shows['A']}/spaces", json=body, headers=world.headers("host")
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _put(world: World, url: str, seq: int, start: int, data: bytes, sha: str | None = None):
    sha = sha or hashlib.sha256(data).hexdigest()
    return world.client.put(
        f"{url}/{seq}?start_sample={start}&sha256={sha}",
        content=data,
        headers=world.headers("recorder"),
    )


def _decode_flac(data: bytes) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout


def test_chunks_sent_twice_out_of_order_with_a_gap_assemble_to_every_acknowledged_sample(
    world: World,
) -> None:
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    space_id = _space(world, "dana")
    url = f"/spaces/{space_id}/participants/dana/chunks"
    # Six 2-second chunks; Dana leaves after chunk 2 and is back 3.5 s later (a gap of silence).
    chunks = []
    position = 0
    for seq in range(6):
        data = _pcm(2.0, seq)
        if seq == 3:
            position += int(3.5 * RATE)
        chunks.append((seq, position, data))
        position += len(data) // 2
    order = [*chunks, *chunks]
    random.Random(7).shuffle(order)
    statuses = [_put(world, url, seq, start, data).status_code for seq, start, data in order]
    assert statuses.count(201) == 6 and statuses.count(200) == 6, statuses

    listing = world.client.get(url, headers=world.headers("recorder")).json()
    assert [c["seq"] for c in listing["chunks"]] == list(range(6))
    assert listing["next_seq"] == 6 and listing["next_start_sample"] == position
    assert listing["acknowledged_s"] == pytest.approx(12.0)

    whole = hashlib.sha256(b"".join(d for _, _, d in chunks)).hexdigest()
    finished = world.client.post(
        url.replace("/chunks", "/track/assemble"),
        json={"chunks": 6, "sha256": whole},
        headers=world.headers("recorder"),
    )
    assert finished.status_code == 201, finished.text
    track = finished.json()
    assert track["chunk_count"] == 6 and track["chunks_sha256"] == whole
    assert track["duration_s"] == pytest.approx(position / RATE, abs=1e-3)
    again = world.client.post(
        url.replace("/chunks", "/track/assemble"),
        json={"chunks": 6, "sha256": whole},
        headers=world.headers("recorder"),
    )
    assert again.status_code == 200 and again.json()["sha256"] == track["sha256"]

    store = ObjectStore(get_settings())
    keys = store.list_keys(f"raw/{space_id}/")
    assert len(keys) == 1 and "/chunks/" not in keys[0], keys  # the track, no chunk left
    assert store.pending_multipart_uploads(f"raw/{space_id}/") == []
    flac = store.get_bytes(keys[0])
    assert hashlib.sha256(flac).hexdigest() == track["sha256"]
    pcm = _decode_flac(flac)
    assert len(pcm) // 2 == position  # sample count: every chunk plus the gap, no drift
    for seq, start, data in chunks:
        at = pcm[start * 2 : start * 2 + len(data)]
        assert hashlib.sha256(at).hexdigest() == hashlib.sha256(data).hexdigest(), seq
    gap_start = chunks[2][1] + len(chunks[2][2]) // 2
    gap = np.frombuffer(pcm[gap_start * 2 : chunks[3][1] * 2], dtype="<i2")
    assert len(gap) == int(3.5 * RATE) and not gap.any()

    late = _put(world, url, 6, position, _pcm(1.0, 9))
    assert late.status_code == 409
    assert "already assembled from 6 chunks" in late.json()["detail"]


def test_bad_chunks_are_refused_with_the_reason_and_nothing_stored_is_lost(world: World) -> None:
    space_id = _space(world, "emeka")
    url = f"/spaces/{space_id}/participants/emeka/chunks"
    first, second = _pcm(2.0, 1), _pcm(2.0, 2)
    assert _put(world, url, 0, 0, first).status_code == 201

    corrupt = bytearray(second)
    corrupt[1000] ^= 0xFF  # a bit flipped on the way
    refused = _put(world, url, 1, RATE * 2, bytes(corrupt), sha=hashlib.sha256(second).hexdigest())
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert detail.startswith("chunk 1 of emeka: sha256 mismatch") and "resend it" in detail

    overlap = _put(world, url, 1, RATE, second)  # starts inside chunk 0
    assert overlap.status_code == 409 and "may not overlap" in overlap.json()["detail"]
    replaced = _put(world, url, 0, 0, second)
    assert replaced.status_code == 409 and "cannot be replaced" in replaced.json()["detail"]
    odd = _put(world, url, 1, RATE * 2, b"\x01\x02\x03")
    assert odd.status_code == 422 and "whole number of 16-bit samples" in odd.json()["detail"]

    listing = world.client.get(url, headers=world.headers("recorder")).json()
    assert [(c["seq"], c["sha256"]) for c in listing["chunks"]] == [
        (0, hashlib.sha256(first).hexdigest())
    ]
    early = world.client.post(
        url.replace("/chunks", "/track/assemble"),
        json={"chunks": 3, "sha256": "0" * 64},
        headers=world.headers("recorder"),
    )
    assert early.status_code == 409
    assert early.json()["detail"] == (
        "chunks of emeka not acknowledged yet: 1-2; send them, then assemble"
    )
    unfinished = world.client.post(f"/spaces/{space_id}/finish", headers=world.headers("host"))
    assert unfinished.status_code == 409 and "chunks sent but not assembled" in unfinished.text

    assert _put(world, url, 1, RATE * 2, second).status_code == 201  # resent: accepted
    wrong = world.client.post(
        url.replace("/chunks", "/track/assemble"),
        json={"chunks": 2, "sha256": "0" * 64},
        headers=world.headers("recorder"),
    )
    assert wrong.status_code == 409 and "the recorder declared" in wrong.json()["detail"]
    listing = world.client.get(url, headers=world.headers("recorder")).json()
    assert len(listing["chunks"]) == 2 and not listing["assembled"]


def test_recorder_places_a_rejoining_speaker_on_one_track_and_resumes_without_resending(
    world: World, short_opus
) -> None:
    from fastapi.testclient import TestClient

    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from pipeline.chunks import pcm_chunks
    from spacecast.recorder import Recorder

    space_id = _space(world, "femi")
    client = TestClient(world.client.app, headers=world.headers("recorder"))
    # Femi speaks, leaves, and is back 4 s into the track; the first run stops before the end.
    segments = [(short_opus, 0.0), (short_opus, 4.0)]
    first = Recorder(client, space_id, "femi").stream(
        segments[:1], chunk_s=0.5, speed=None, finish=False
    )
    resumed = Recorder(client, space_id, "femi").stream(segments, chunk_s=0.5, speed=None)
    assert first.sent > 0 and resumed.skipped == first.sent
    assert resumed.sent == resumed.chunks - first.sent

    pcm_once = b"".join(d for _, d in pcm_chunks(short_opus, chunk_s=0.5, timeout_s=60, label="f"))
    samples = len(pcm_once) // 2
    assert samples < 4 * RATE  # the two stretches do not overlap
    store = ObjectStore(get_settings())
    keys = store.list_keys(f"raw/{space_id}/")
    assert len(keys) == 1 and "/chunks/" not in keys[0]
    pcm = _decode_flac(store.get_bytes(keys[0]))
    assert len(pcm) // 2 == 4 * RATE + samples  # no drift: the rejoin lands at 4 s exactly
    assert pcm[: len(pcm_once)] == pcm_once and pcm[4 * RATE * 2 :] == pcm_once
    assert not np.frombuffer(pcm[len(pcm_once) : 4 * RATE * 2], dtype="<i2").any()
    assert resumed.track["chunks_sha256"] == hashlib.sha256(pcm_once * 2).hexdigest()


def test_withdrawing_record_keeps_the_chunks_of_a_published_voice_and_nothing_else(
    world: World,
) -> None:
    """``record`` is the moderators' copy: chunks of a voice still to be published stay (they
    are its stem); once publication is withdrawn too, they are erased and no more are taken."""
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    space_id = _space(world, "gita")
    url = f"/spaces/{space_id}/participants/gita/chunks"
    consent = f"/spaces/{space_id}/participants/gita/consent"
    assert _put(world, url, 0, 0, _pcm(1.0, 5)).status_code == 201
    store = ObjectStore(get_settings())
    assert len(store.list_keys(f"raw/{space_id}/")) == 1

    def answer(**answers: bool) -> None:
        done = world.client.post(consent, json={"answers": answers}, headers=world.headers("host"))
        assert done.status_code < 300, done.text

    answer(record=False)
    assert len(store.list_keys(f"raw/{space_id}/")) == 1
    assert _put(world, url, 1, RATE, _pcm(1.0, 6)).status_code == 201
    answer(publish=False)
    assert store.list_keys(f"raw/{space_id}/") == []
    assert world.client.get(url, headers=world.headers("recorder")).json()["chunks"] == []
    refused = _put(world, url, 2, 2 * RATE, _pcm(1.0, 7))
    assert refused.status_code == 409
    assert "neither to being recorded nor to publication" in refused.json()["detail"]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def test_assembling_an_absurd_chunk_count_is_refused_at_once_without_growing_memory(
    world: World,
) -> None:
    space_id = _space(world, "hana")
    url = f"/spaces/{space_id}/participants/hana/chunks"
    assemble = url.replace("/chunks", "/track/assemble")
    for seq in range(2):
        assert _put(world, url, seq, seq * RATE, _pcm(1.0, seq)).status_code == 201
    before = _rss_mb()
    started = time.monotonic()
    refused = world.client.post(
        assemble, json={"chunks": 20_000_000, "sha256": "0" * 64}, headers=world.headers("recorder")
    )
    elapsed = time.monotonic() - started
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (
        "chunks of hana not acknowledged yet: 2-19999999; send them, then assemble"
    )
    assert elapsed < 2.0
    assert _rss_mb() - before < 50
    # More chunks than samples in the longest track accepted (10 min here): no track has them.
    beyond = world.client.post(
        assemble, json={"chunks": 10**12, "sha256": "0" * 64}, headers=world.headers("recorder")
    )
    assert beyond.status_code == 422, beyond.text
    assert beyond.json()["detail"] == (
        "1000000000000 chunks declared for hana: a track may last at most 10.0 min "
        "(28800000 samples), and every chunk holds at least one sample"
    )
    listing = world.client.get(url, headers=world.headers("recorder")).json()
    assert [c["seq"] for c in listing["chunks"]] == [0, 1] and not listing["assembled"]


@pytest.mark.parametrize(
    "start_sample",
    [20 * 3600 * RATE, 2**63 - 1, 2**64, 600 * RATE - RATE // 2],
    ids=["20-hours", "int64-max", "past-int64", "ends-past-the-limit"],
)
def test_a_chunk_ending_past_the_longest_track_is_refused_and_not_stored(
    world: World, start_sample: int
) -> None:
    from infra.settings import get_settings
    from infra.storage import ObjectStore

    space_id = _space(world, f"ines-{start_sample % 997}")
    handle = f"ines-{start_sample % 997}"
    url = f"/spaces/{space_id}/participants/{handle}/chunks"
    refused = _put(world, url, 0, start_sample, _pcm(1.0, 3))
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == (
        f"chunk 0 of {handle}: it would end at sample {start_sample + RATE}, past the longest "
        "track accepted (10.0 min, 28800000 samples); nothing was stored"
    )
    assert world.client.get(url, headers=world.headers("recorder")).json()["chunks"] == []
    assert ObjectStore(get_settings()).list_keys(f"raw/{space_id}/") == []


def test_chunk_numbers_beyond_the_32_bit_range_are_refused(world: World) -> None:
    space_id = _space(world, "jude")
    url = f"/spaces/{space_id}/participants/jude/chunks"
    for seq in (2**31, 2**63, -1):
        refused = _put(world, url, seq, 0, _pcm(0.5, 4))
        assert refused.status_code == 422, (seq, refused.text)
        assert refused.json()["detail"].startswith("path.seq: Input should be "), refused.text
    assert _put(world, url, 2**31 - 1, 0, _pcm(0.5, 4)).status_code == 201
    listing = world.client.get(url, headers=world.headers("recorder")).json()
    assert [c["seq"] for c in listing["chunks"]] == [2**31 - 1]


def test_a_content_length_of_non_ascii_digits_is_not_a_server_error(world: World) -> None:
    from tests.api.raw_http import raw_request

    space_id = _space(world, "kofi")
    data = _pcm(0.5, 8)
    url = (
        f"/spaces/{space_id}/participants/kofi/chunks/0"
        f"?start_sample=0&sha256={hashlib.sha256(data).hexdigest()}"
    )
    auth = world.headers("recorder")["Authorization"].encode()
    # 0xB2 is a superscript two in Latin-1, as header bytes are read: str.isdigit() said yes
    # and int() failed. Not a length, so the body is measured as it arrives.
    status, body = raw_request(
        world.client.app,
        "PUT",
        url,
        [(b"authorization", auth), (b"content-length", b"\xb2")],
        data,
    )
    assert status == 201, body
