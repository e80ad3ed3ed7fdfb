"""Live work through the real deployment: while the recorders stream the room, the workers find
speech and transcribe closed stretches of it; at the end the stages adopt that work (the words are
the room's words) when nothing it assumed changed. A withdrawal while the room is live deletes
the withdrawn words' pieces from the bucket at once and keeps everything of them out of the
episode; a changed answer makes the stages do that participant's track as a whole track."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from pipeline.quality import ScriptLine, timed_word_error_rate
from pipeline.transcript import Segment
from spacecast.demo import wait_until_done
from spacecast.recorder import Recorder

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
