"""Live work through the real deployment: while the recorders stream the room, the workers find
speech and transcribe closed stretches of it; at the end the stages adopt that work (the words are
the room's words) when nothing it assumed changed. A withdrawal while the room is live deletes
the withdrawn words' pieces from the bucket at once and keeps everything of them out of the
episode; a changed answer makes the stages do that participant's track as a whole track. A
recorder whose clock runs fast is put back in room time from when its chunks arrived."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest

from pipeline.chunks import RATE_HZ
from pipeline.quality import ScriptLine, timed_word_error_rate
from pipeline.transcript import Segment
from spacecast.demo import wait_until_done
from spacecast.recorder import Recorder
from tests.audio import decode

pytestmark = pytest.mark.slow


def _live_space(client: httpx.Client, sample_dir: Path) -> tuple[str, dict[str, Path]]:
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    show = client.post("/shows", json=manifest["show"]).raise_for_status().json()
    body = {
        "title": "Live work",
        "language": manifest["space"]["language"],
        "participants": [
            {k: p[k] for k in ("id", "name", "role", "offset", "consent")}
            for p in manifest["participants"]
        ],
    }
    space = client.post(f"/shows/{show['id']}/spaces", json=body).raise_for_status().json()
    tracks = {
        p["id"]: sample_dir / p["track"] for p in manifest["participants"] if p["consent"]["record"]
    }
    return space["id"], tracks


def _stream_all(client: httpx.Client, space_id: str, tracks: dict, *, finish: bool) -> None:
    errors: list[BaseException] = []

    def _one(handle: str, path: Path) -> None:
        try:
            Recorder(client, space_id, handle).stream(path, chunk_s=5.0, speed=None, finish=finish)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=_one, args=item) for item in tracks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors


def _live_rows(db: str, space_id: str) -> dict[str, dict]:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}") as conn:
        rows = conn.execute(
            "SELECT p.handle, l.done_s, l.transcribed_s, l.transcript_keys, l.final "
            "FROM live_tracks l JOIN participants p ON p.id = l.participant_id "
            "WHERE l.space_id = %s",
            (space_id,),
        ).fetchall()
    return {h: {"done_s": d, "transcribed_s": t, "keys": k, "final": f} for h, d, t, k, f in rows}


def _runs(db: str, space_id: str) -> dict[tuple[str, str], dict]:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}") as conn:
        rows = conn.execute(
            "SELECT r.stage, coalesce(p.handle, ''), r.result FROM stage_runs r "
            "LEFT JOIN participants p ON p.id = r.subject WHERE r.space_id = %s "
            "AND r.status = 'done'",
            (space_id,),
        ).fetchall()
    return {(stage, handle): result for stage, handle, result in rows}


def test_live_work_is_adopted_and_a_withdrawal_keeps_it_out(redis_stack, sample_dir, truth):
    store = redis_stack.store()
    db = redis_stack.database
    with redis_stack.client() as host:
        space_id, tracks = _live_space(host, sample_dir)
        _stream_all(host, space_id, tracks, finish=False)
        # While the room is live: speech found and closed speech transcribed, for each voice
        # whose words may be published (Bruno's may not: activity only).
        deadline = time.monotonic() + 180
        while True:
            rows = _live_rows(db, space_id)
            ready = {h for h, r in rows.items() if r["done_s"] > 30}
            if (
                {"alice", "bruno", "chioma"} <= ready
                and rows["alice"]["keys"]
                and rows["chioma"]["keys"]
            ):
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.5)
        assert not rows["bruno"]["keys"]
        chioma_pieces = rows["chioma"]["keys"]
        assert all(store.get_bytes(k) for k in chioma_pieces)
        # Chioma withdraws her words while the room is live: her pieces leave the bucket now.
        host.post(
            f"/spaces/{space_id}/participants/chioma/consent",
            json={"answers": {"transcribe": False}},
        ).raise_for_status()
        assert not [k for k in chioma_pieces if store.exists(k)]
        assert _live_rows(db, space_id)["chioma"]["keys"] == []
        # The room ends: the recorders assemble, the host finishes.
        _stream_all(host, space_id, tracks, finish=True)
        host.post(f"/spaces/{space_id}/finish", json={}).raise_for_status()
        state = wait_until_done(host, space_id, timeout_s=420)
        assert state["status"] == "published", state.get("error")
        transcript = host.get(state["episode"]["transcripts"]["json"]).raise_for_status().json()

    runs = _runs(db, space_id)
    # Alice's activity and words were made live and adopted; Bruno's activity too.
    assert "live_cpu_s" in runs[("activity", "alice")]
    assert "live_cpu_s" in runs[("activity", "bruno")]
    assert "live_cpu_s" in runs[("transcribe", "alice")]
    # Chioma's answers changed: her track is done as a whole track, and not transcribed.
    assert "live_cpu_s" not in runs[("activity", "chioma")]
    assert ("transcribe", "chioma") not in runs
    speakers = {s["speaker"] for s in transcript["segments"]}
    assert speakers == {"Alice"}
    # The adopted words are Alice's words.
    script = [
        ScriptLine(u["speaker_id"], u["text"], u["start_s"], u["end_s"])
        for u in truth["utterances"]
        if u["speaker_id"] == "alice"
    ]
    shift = state["episode"].get("timeline_start_s", 0.0) or 0.0
    segments = [
        Segment("alice", "Alice", s["startTime"] + shift, s["endTime"] + shift, s["body"])
        for s in transcript["segments"]
    ]
    wer, _, words = timed_word_error_rate(script, segments)
    assert words > 50 and wer < 0.35, wer


# A recorder whose clock runs 0.1 % fast: the room's audio labelled 47 952 Hz and resampled to
# 48 000 is exactly what it records (48 048 samples per room second), +1001.0 ppm.
_FAST_LABEL_HZ = 47_952
_FAST = 48_000 / _FAST_LABEL_HZ
_ROOM_S = 40.0
_MARKERS_S = (1.5, 38.0)  # room times of the two chirps, near the start and near the end


def _chirp() -> np.ndarray:
    """50 ms sweeping 600-4000 Hz: one sharp correlation peak, wherever the codec leaves it."""
    t = np.arange(int(0.05 * RATE_HZ)) / RATE_HZ
    return np.sin(2 * np.pi * (600 * t + (3400 / 0.05) * t**2 / 2)) * np.hanning(len(t))


def _drifted_recording(folder: Path) -> Path:
    """The room as one speaker made it (espeak-ng speech from 3 s to 36 s, a chirp alone in
    the quiet at each marker), then as the fast recorder wrote it (real ffmpeg re-timing)."""
    wav = folder / "speech.wav"
    text = "The library garden has tomatoes and sunflowers, and the bakery sells bread. " * 6
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
    voice = decode(wav, rate_hz=RATE_HZ)
    room = np.zeros(int(_ROOM_S * RATE_HZ))
    voice = voice[: int(33 * RATE_HZ)] / np.abs(voice).max() * 0.3
    room[3 * RATE_HZ : 3 * RATE_HZ + len(voice)] = voice
    for at_s in _MARKERS_S:
        i = int(at_s * RATE_HZ)
        room[i : i + len(_chirp())] = 0.5 * _chirp()
    room_path, recorded = folder / "room.flac", folder / "recorded.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE_HZ), "-ac", "1", "-i", "-",
         "-c:a", "flac", str(room_path)], input=room.astype(np.float32).tobytes(), check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(room_path), "-af",
         f"asetrate={_FAST_LABEL_HZ},aresample={RATE_HZ}", "-c:a", "flac", str(recorded)],
        check=True,
    )  # fmt: skip
    return recorded


def _marker_s(samples: np.ndarray, near_s: float) -> float:
    """Where the chirp nearest ``near_s`` starts (within 0.2 s), to the sample."""
    a = int((near_s - 0.2) * RATE_HZ)
    window = samples[a : a + int(0.4 * RATE_HZ) + len(_chirp())]
    corr = np.correlate(window, _chirp(), mode="valid")
    return (a + int(np.argmax(corr))) / RATE_HZ


def _finished_chirps(
    host: httpx.Client, space_id: str, tmp_path: Path
) -> tuple[dict, tuple[float, float]]:
    """Finish the space, wait for its episode, and find the two chirps in its MP3: (the
    space's state, their times). The room heard them 36.5 s apart; a recorder 0.1 % fast left
    uncorrected puts them 36.5 ms further apart. Measured between the two, so what delays the
    whole episode alike is left out (the MP3's encoder delay, which a file written to a pipe
    carries without a LAME tag: about 25 ms)."""
    host.post(f"/spaces/{space_id}/finish", json={}).raise_for_status()
    state = wait_until_done(host, space_id, timeout_s=240)
    assert state["status"] == "published", state.get("error")
    mp3 = tmp_path / "episode.mp3"
    mp3.write_bytes(host.get(state["episode"]["audio"]["mp3"]).raise_for_status().content)
    episode = decode(mp3, rate_hz=RATE_HZ)
    early, late = (_marker_s(episode, at_s) for at_s in _MARKERS_S)
    assert late - early == pytest.approx(_MARKERS_S[1] - _MARKERS_S[0], abs=0.003), (early, late)
    return state, (early, late)


def _arrive_as_a_fast_recorder_sent_them(db: str, space_id: str, handle: str) -> None:
    """Set when the service received each chunk to when a recorder 0.1 % fast, streaming live,
    would have had it there: its last sample recorded, plus a network delay of 10 ms and an
    exponential tail (mean 5 ms), three chunks held up 0.3-1 s. The service records arrival
    from its own wall clock only, and pacing real requests would put a busy core's latency
    (tens of ms) against a drift of 36.5 ms; the chunks themselves went through the API."""
    rng = random.Random(19)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}") as conn:
        rows = conn.execute(
            "SELECT c.id, c.start_sample + c.samples, c.received_at FROM track_chunks c "
            "JOIN participants p ON p.id = c.participant_id "
            "WHERE p.space_id = %s AND p.handle = %s ORDER BY c.seq",
            (space_id, handle),
        ).fetchall()
        first = min(received for _, _, received in rows)
        held = set(rng.sample(range(len(rows)), 3))
        for n, (chunk_id, end_sample, _) in enumerate(rows):
            delay_s = 0.010 + rng.expovariate(1 / 0.005) + (rng.uniform(0.3, 1.0) * (n in held))
            at = first + timedelta(seconds=end_sample / RATE_HZ / _FAST + delay_s)
            conn.execute("UPDATE track_chunks SET received_at = %s WHERE id = %s", (at, chunk_id))


def test_a_live_track_from_a_fast_clock_reaches_the_episode_in_room_time(
    redis_stack, tmp_path: Path
) -> None:
    """A recorder 0.1 % fast streams 40 s in half-second chunks; the stages read its drift from
    the chunks' arrival, resample the track into room time, and the chirp near the end of the
    delivered episode is where the room heard it against the one near the start (36.5 ms late
    uncorrected); the track's health reports the drift within its standard error."""
    recorded = _drifted_recording(tmp_path)
    with redis_stack.client() as host:
        show = host.post("/shows", json={"title": "Drift", "author": "Dana"}).raise_for_status()
        body = {
            "title": "A fast clock",
            "language": "en",
            "participants": [
                # Not transcribed: her words are not what this measures, and Whisper's time
                # would be most of the test's.
                {"id": "dana", "name": "Dana", "role": "host", "offset": 0.0,
                 "consent": {"record": True, "publish": True, "transcribe": False}},
            ],
        }  # fmt: skip
        space_id = host.post(f"/shows/{show.json()['id']}/spaces", json=body)
        space_id = space_id.raise_for_status().json()["id"]
        Recorder(host, space_id, "dana").stream(recorded, chunk_s=0.5, speed=None, finish=True)
        _arrive_as_a_fast_recorder_sent_them(redis_stack.database, space_id, "dana")
        state, (early, _) = _finished_chirps(host, space_id, tmp_path)
    assert early == pytest.approx(_MARKERS_S[0], abs=0.06)
    (dana,) = state["participants"]
    drift = dana["health"]["drift"]
    assert drift["method"] == "live_chunks" and drift["corrected"], drift
    # The arrivals are seeded, so this is one fixed reading (990.8 ppm, standard error 22.7).
    assert 0 < drift["uncertainty_ppm"] < 60, drift
    assert drift["drift_ppm"] == pytest.approx((_FAST - 1) * 1e6, abs=drift["uncertainty_ppm"])


def test_an_uploaded_track_from_a_fast_clock_is_put_in_room_time_by_the_end_the_room_reported(
    redis_stack, tmp_path: Path
) -> None:
    """The same fast recorder's track uploaded whole after the room, with the room time its
    recording ended (``end``, what the room service saw: 40 s): its length (40.04 s) against
    that span says +1001 ppm, the stages resample it, and the chirps of the delivered episode
    are as far apart as the room heard them."""
    recorded = _drifted_recording(tmp_path)
    with redis_stack.client() as host:
        show = host.post("/shows", json={"title": "Drift", "author": "Dana"}).raise_for_status()
        body = {
            "title": "A fast clock, uploaded",
            "language": "en",
            "participants": [
                {"id": "dana", "name": "Dana", "role": "host", "offset": 0.0, "end": _ROOM_S,
                 "consent": {"record": True, "publish": True, "transcribe": False}},
            ],
        }  # fmt: skip
        space = host.post(f"/shows/{show.json()['id']}/spaces", json=body).raise_for_status()
        space_id = space.json()["id"]
        assert space.json()["participants"][0]["end"] == _ROOM_S
        host.put(
            f"/spaces/{space_id}/participants/dana/track", content=recorded.read_bytes()
        ).raise_for_status()
        state, _ = _finished_chirps(host, space_id, tmp_path)
    (dana,) = state["participants"]
    drift = dana["health"]["drift"]
    assert drift["method"] == "length" and drift["corrected"], drift
    # One standard error: a millisecond at each end of 40 s.
    assert drift["uncertainty_ppm"] == pytest.approx(50.0, abs=0.1), drift
    # The stored length is to the millisecond (40.040 s of 40.04004): 1000.0 ppm read.
    assert drift["drift_ppm"] == pytest.approx((_FAST - 1) * 1e6, abs=drift["uncertainty_ppm"])
