"""Live chunked ingest through the API: chunks sent twice and out of order, a gap (the speaker
left and came back), a corrupt chunk, overlaps and late chunks; the assembled track holds every
acknowledged sample at its declared place, and no chunk object is left behind."""

from __future__ import annotations

import hashlib
import random
import subprocess
import time
from datetime import timedelta

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


def test_a_late_chunk_is_placed_between_its_neighbours_in_a_long_track(world: World) -> None:
    """Forty 1 s chunks with 10 and 30 missing (a recorder that lost two): a late chunk 30 that
    would run into chunk 31, or start inside chunk 29, is refused naming that neighbour; one that
    fits its gap is acknowledged, wherever it is in the track."""
    space_id = _space(world, "farah")
    url = f"/spaces/{space_id}/participants/farah/chunks"
    for seq in range(40):
        if seq not in (10, 30):
            assert _put(world, url, seq, seq * RATE, _pcm(1.0, seq)).status_code == 201
    late = _pcm(1.0, 30)
    long = _put(world, url, 30, 30 * RATE + RATE // 2, late)  # ends half a second into 31
    assert long.status_code == 409, long.text
    assert "after chunk 31 starts at sample 1488000" in long.json()["detail"]
    early = _put(world, url, 30, 30 * RATE - RATE // 2, late)  # starts inside 29
    assert early.status_code == 409, early.text
    assert "before chunk 29 ends at sample 1440000" in early.json()["detail"]
    assert _put(world, url, 30, 30 * RATE, late).status_code == 201
    assert _put(world, url, 10, 10 * RATE, _pcm(1.0, 10)).status_code == 201
    listing = world.client.get(url, headers=world.headers("recorder")).json()
    assert [c["seq"] for c in listing["chunks"]] == list(range(40))


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


def test_a_chunk_whose_body_is_still_arriving_holds_no_database_connection(world: World) -> None:
    """A recorder on a slow link takes a while to send its chunk; meanwhile the request holds
    no pooled connection. The key's lookup once kept its session's connection for the whole
    request while the route opened sessions of its own: 48 recorders at once held the API's 15
    connections, each waiting for a second one, and every chunk failed with 500 after 30 s."""
    import asyncio

    import httpx

    from infra.db import get_engine
    from infra.settings import get_settings

    pool = get_engine(get_settings().database_url).pool
    space_id = _space(world, "lin")
    data = _pcm(1.0, seed=5)
    sha = hashlib.sha256(data).hexdigest()
    url = f"/spaces/{space_id}/participants/lin/chunks/0?start_sample=0&sha256={sha}"
    held: list[int] = []

    async def body():
        held.append(pool.checkedout())  # the route is reading the body now
        yield data

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=world.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            headers = {**world.headers("recorder"), "content-length": str(len(data))}
            return await client.put(url, content=body(), headers=headers)

    response = asyncio.run(send())
    assert response.status_code == 201, response.text
    assert held == [0]


def test_a_chunk_for_a_participant_the_key_does_not_reach_is_refused_before_its_body_is_read(
    world: World,
) -> None:
    """404 for another show's space, an unknown space or an unknown participant, named, and
    not a byte of the body pulled (the consent check itself waits for the body, in the
    transaction that stores the chunk)."""
    import asyncio

    import httpx

    own = _space(world, "kim")
    data = _pcm(0.5, seed=9)
    wrong = "0" * 64  # a body check would answer 422
    pulled: list[int] = []

    async def body():
        pulled.append(1)
        yield data

    async def send(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=world.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            headers = {**world.headers("recorder"), "content-length": str(len(data))}
            url = f"{path}/chunks/0?start_sample=0&sha256={wrong}"
            return await client.put(url, content=body(), headers=headers)

    for path, named in (
        (f"/spaces/{world.spaces['B']}/participants/alice", "not found"),
        ("/spaces/nosuchspace/participants/alice", "not found"),
        (f"/spaces/{own}/participants/nobody", "'nobody' is not registered"),
    ):
        response = asyncio.run(send(path))
        assert response.status_code == 404, (path, response.text)
        assert named in response.json()["detail"], response.text
    assert pulled == []


def test_a_withdrawal_while_a_chunk_is_arriving_refuses_that_chunk_and_stores_nothing(
    world: World,
) -> None:
    """Whether the participant may send is read in the transaction that stores the chunk, not
    once before its body: the host records a withdrawal of both recording and publication
    while the chunk's body is still arriving, and the chunk is refused, nothing of it kept."""
    import asyncio

    import httpx

    from infra.settings import get_settings
    from infra.storage import ObjectStore

    space_id = _space(world, "mona")
    url = f"/spaces/{space_id}/participants/mona/chunks"
    assert _put(world, url, 0, 0, _pcm(1.0, 8)).status_code == 201
    data = _pcm(1.0, seed=9)
    sha = hashlib.sha256(data).hexdigest()
    consent = f"/spaces/{space_id}/participants/mona/consent"
    answered: list[int] = []

    async def body():
        yield data[:4000]
        done = await asyncio.to_thread(
            world.client.post,
            consent,
            json={"answers": {"record": False, "publish": False}},
            headers=world.headers("host"),
        )
        answered.append(done.status_code)
        yield data[4000:]

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=world.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            headers = {**world.headers("recorder"), "content-length": str(len(data))}
            return await client.put(
                f"{url}/1?start_sample={RATE}&sha256={sha}", content=body(), headers=headers
            )

    response = asyncio.run(send())
    assert answered and answered[0] < 300
    assert response.status_code == 409, response.text
    assert "neither to being recorded nor to publication" in response.json()["detail"]
    assert world.client.get(url, headers=world.headers("recorder")).json()["chunks"] == []
    assert ObjectStore(get_settings()).list_keys(f"raw/{space_id}/") == []


def test_assembling_a_track_holds_no_database_connection_while_it_streams(world: World) -> None:
    """Assembly streams each chunk from the bucket through ffmpeg, for as long as the track
    takes; meanwhile no pooled connection is held (48 recorders finishing together once held
    the API's 15, and the other requests failed with 500 after 30 s). The store is the real one,
    watched as each chunk is read."""
    from sqlalchemy import select

    from infra.db import get_engine, session_scope
    from infra.models import Participant
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services import ingest

    space_id = _space(world, "omar")
    url = f"/spaces/{space_id}/participants/omar/chunks"
    chunks = [_pcm(1.0, seed) for seed in range(3)]
    for seq, data in enumerate(chunks):
        assert _put(world, url, seq, seq * RATE, data).status_code == 201
    settings = get_settings()
    pool = get_engine(settings.database_url).pool
    held: list[int] = []

    class Watched(ObjectStore):
        def iter_object(self, key: str, block_bytes: int = 1024 * 1024):
            held.append(pool.checkedout())  # this chunk is being read for the assembly
            yield from super().iter_object(key, block_bytes)

    whole = hashlib.sha256(b"".join(chunks)).hexdigest()
    with session_scope(settings.database_url) as session:
        omar = session.scalars(
            select(Participant).where(
                Participant.space_id == space_id, Participant.handle == "omar"
            )
        ).one()
        assert ingest.finish_chunks(session, Watched(settings), settings, omar, 3, whole)
    assert held == [0, 0, 0]
    listed = world.client.get(url, headers=world.headers("recorder")).json()
    assert listed["assembled"] and listed["acknowledged_s"] == 3.0


def test_a_recorder_whose_clock_runs_fast_is_told_by_when_its_chunks_arrived(
    world: World,
) -> None:
    """110 chunks of 0.2 s, acknowledged through the API and assembled; their arrival times
    then set to those of a recorder 0.1 % fast streaming for nine minutes (a chunk every 5 s of
    its clock, each 20-150 ms late on the network): the service reads +1000 ppm, within three
    of the standard errors it reports (measured: 945-1031 ppm, 22-41 ppm; over an hour of 5 s
    chunks 995-1002 ppm, 3 ppm)."""
    from sqlalchemy import select

    from infra.db import session_scope
    from infra.models import Participant, Space, TrackChunk
    from infra.settings import get_settings
    from services.ingest import recorder_drift

    space_id = _space(world, "ezra")
    url = f"/spaces/{space_id}/participants/ezra/chunks"
    datas = [_pcm(0.2, seq) for seq in range(110)]
    for seq, data in enumerate(datas):
        assert _put(world, url, seq, seq * RATE * 5, data).status_code == 201
    whole = hashlib.sha256(b"".join(datas)).hexdigest()
    finished = world.client.post(
        url.replace("/chunks", "/track/assemble"),
        json={"chunks": 110, "sha256": whole},
        headers=world.headers("recorder"),
    )
    assert finished.status_code == 201, finished.text

    def drift_of(handle: str):
        with session_scope(get_settings().database_url) as session:
            space = session.get(Space, space_id)
            return recorder_drift(
                session, next(p for p in space.participants if p.handle == handle)
            )

    assert drift_of("ezra") is None  # all arrived within a second or two: no span to tell
    rng = random.Random(19)
    with session_scope(get_settings().database_url) as session:
        rows = session.scalars(
            select(TrackChunk).join(Participant).where(Participant.space_id == space_id)
        ).all()
        first = min(r.received_at for r in rows)
        for row in rows:
            end_s = (row.start_sample + row.samples) / RATE
            late_s = rng.uniform(0.02, 0.15)
            row.received_at = first + timedelta(seconds=end_s / 1.001 + late_s)
    estimate = drift_of("ezra")
    assert estimate is not None and estimate.needs_correction
    assert estimate.drift_ppm == pytest.approx(1000.0, abs=3 * estimate.uncertainty_ppm)
    assert estimate.uncertainty_ppm < 60
