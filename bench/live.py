"""Live benchmark: the scenario's rooms streamed by recorders, chunk by chunk, at ``speed`` times
real time, through the real deployment; the host finishes each room when its recorders are done.

    .venv/bin/python -m bench.space --live --minutes 10 --speed 4 --rooms 4

Reports, per room, finished -> in the feed; the processing lag of the live work behind the
audio acknowledged (speech activity and transcription, sampled every two seconds; max and p95,
in seconds of audio and of wall time); CPU of the deployment per room-hour, and the CPU the
machine spent outside it meanwhile; per-process peak memory; loudness of the delivered files,
word error and attribution. ``speed`` N compresses the room N times: live work has N times less
wall time per second of audio, so a run that keeps up at N = 4 keeps up at N = 1 with room to
spare, and the lag in wall seconds is the figure a listener would see divided by N.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psycopg

from bench.monitor import ProcessMonitor
from bench.scenario import build_scenario
from bench.space import (
    _cleanup,
    _processes,
    _published_segments,
    _quality,
    _say,
    _script,
    _stage_runs,
    machine,
    wait_for_feed_item,
)
from infra.s3server import LocalS3Server
from infra.stack import ServiceStack
from pipeline.quality import speaker_attribution, timed_word_error_rate
from spacecast.recorder import Recorder

SAMPLE_S = 2.0


def _live_space(client: httpx.Client, manifest: dict, n: int) -> str:
    show = client.post("/shows", json=manifest["show"]).raise_for_status().json()
    body = {
        "title": f"{manifest['space']['title']} (live room {n})",
        "language": manifest["space"]["language"],
        "participants": [
            {k: p[k] for k in ("id", "name", "role", "offset", "consent")}
            for p in manifest["participants"]
        ],
    }
    return client.post(f"/shows/{show['id']}/spaces", json=body).raise_for_status().json()["id"]


class LagSampler:
    """Every :data:`SAMPLE_S`: how far each participant's live work is behind the audio
    acknowledged for them (activity final point, transcribed point), in seconds of audio."""

    def __init__(self, db: str, space_ids: list[str], log: Path) -> None:
        self.url = f"postgresql://postgres@127.0.0.1:5432/{db}"
        self.log = log  # every sample as a JSON line, readable while the run goes on
        self.space_ids = space_ids
        self.samples: list[tuple[float, float, float]] = []  # (t, activity lag, transcript lag)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LagSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(SAMPLE_S):
                rows = conn.execute(
                    "SELECT l.done_s, l.transcribed_s, l.final, "
                    "(SELECT max(c.start_sample + c.samples) FROM track_chunks c "
                    " WHERE c.participant_id = l.participant_id) / 48000.0 "
                    "FROM live_tracks l WHERE l.space_id = ANY(%s)",
                    (self.space_ids,),
                ).fetchall()
                live = [r for r in rows if not r[2] and r[3] is not None]
                if live:
                    sample = (
                        round(time.monotonic() - started, 1),
                        round(max(float(r[3]) - r[0] for r in live), 1),
                        round(max(float(r[3]) - r[1] for r in live), 1),
                    )
                    self.samples.append(sample)
                    with open(self.log, "a") as sink:
                        sink.write(json.dumps(sample) + "\n")

    def summary(self, speed: float) -> dict:
        def stats(values: list[float]) -> dict:
            if not values:
                return {"max_s": None, "p95_s": None}
            ordered = sorted(values)
            p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
            return {
                "max_s": round(ordered[-1], 1),
                "p95_s": round(p95, 1),
                "max_wall_s": round(ordered[-1] / speed, 1),
                "p95_wall_s": round(p95 / speed, 1),
            }

        return {
            "samples": len(self.samples),
            "activity_lag": stats([s[1] for s in self.samples]),
            "transcript_lag": stats([s[2] for s in self.samples]),
        }


def _room(
    stack: ServiceStack,
    manifest: dict,
    scenario: Path,
    space_id: str,
    speed: float,
    out: dict,
    work: Path,
) -> None:
    """Stream one room's recorders, finish it, wait for the feed, measure what was delivered."""
    tracks = {
        p["id"]: scenario / p["track"] for p in manifest["participants"] if p["consent"]["record"]
    }
    errors: list[BaseException] = []

    def _record(handle: str, path: Path) -> None:
        try:
            with stack.client() as client:
                Recorder(client, space_id, handle).stream(path, chunk_s=5.0, speed=speed)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=_record, args=item) for item in tracks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    with stack.client() as client:
        finished = time.monotonic()
        out["finished_at"] = time.time()
        client.post(f"/spaces/{space_id}/finish", json={}).raise_for_status()
        state = wait_for_feed_item(client, space_id, timeout_s=3600)
        out["finished_to_feed_s"] = round(time.monotonic() - finished, 2)
        _say(f"room {space_id[:8]}: in the feed {out['finished_to_feed_s']} s after finishing")
        episode = state["episode"]
        files = {}
        for name, url in episode["audio"].items():
            path = work / f"episode-{space_id[:8]}.{name}"
            with client.stream("GET", url) as response, open(path, "wb") as sink:
                for chunk in response.raise_for_status().iter_bytes(1 << 20):
                    sink.write(chunk)
            files[name] = _quality(path)
            path.unlink()
        out["delivered"] = files
        out["transcript"] = client.get(episode["transcripts"]["json"]).raise_for_status().json()


def run_live(minutes: float, workers: int, speed: float, rooms: int, out: Path) -> dict:
    scenario = build_scenario(minutes, out / f"scenario-{minutes:g}min").parent
    truth = json.loads((scenario / "truth.json").read_text())
    manifest = json.loads((scenario / "manifest.json").read_text())
    work = Path(tempfile.mkdtemp(prefix=f"live-{minutes:g}min-{rooms}r-", dir=out))
    s3 = LocalS3Server(work / "s3").start()
    stack = ServiceStack(
        "redis",
        s3,
        work / "logs",
        worker_processes=workers,
        worker_threads=1,
        SPACECAST_WHISPER_THREADS="1",
        SPACECAST_WORK_DIR=str(work / "scratch"),
        SPACECAST_CACHE_DIR=str(work / "cache"),
    )
    (work / "scratch").mkdir()
    report: dict = {
        "config": {"minutes": minutes, "workers": workers, "speed": speed, "rooms": rooms},
    }
    try:
        stack.start()
        assert stack.api is not None and s3.process is not None
        roots = {"api": stack.api.pid, "worker": stack.workers[0].pid, "s3": s3.process.pid}
        with stack.client() as client:
            space_ids = [_live_space(client, manifest, n) for n in range(rooms)]
        monitor = ProcessMonitor(roots).start()
        lag = LagSampler(stack.database, space_ids, out / "live-lag.jsonl").start()
        started = time.monotonic()
        results: dict[str, dict] = {sid: {} for sid in space_ids}
        failures: list[BaseException] = []

        def _one(sid: str) -> None:
            try:
                _room(stack, manifest, scenario, sid, speed, results[sid], work)
            except BaseException as exc:
                failures.append(exc)

        _say(f"{rooms} room(s) x {len(manifest['participants'])} recorders at {speed:g}x")
        threads = [threading.Thread(target=_one, args=(sid,)) for sid in space_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lag.stop()
        monitor.stop()
        if failures:
            raise failures[0]
        wall = time.monotonic() - started
        shift = -min(p["offset"] for p in manifest["participants"])
        script = _script(truth, shift)
        rooms_out = []
        for sid in space_ids:
            r = results[sid]
            segments = _published_segments(r.pop("transcript"), truth["speakers"])
            wer, errors, words = timed_word_error_rate(script, segments)
            runs = _stage_runs(stack, sid, r.pop("finished_at"))
            per_participant = [x for x in runs if x["stage"] in ("activity", "transcribe")]
            rooms_out.append(
                {
                    **r,
                    "wer": round(wer, 4),
                    "word_errors": errors,
                    "reference_words": words,
                    "speaker_attribution": round(speaker_attribution(segments, script), 4),
                    "adopted": sorted(
                        f"{x['stage']}:{x['subject']}"
                        for x in per_participant
                        if _adopted(stack, sid, x)
                    ),
                    "per_participant_runs": len(per_participant),
                    "stages": runs,
                }
            )
        processes = _processes(monitor, started)
        cpu = sum(p["cpu_s"] for p in processes)
        room_hours = rooms * minutes / 60
        report |= {
            "wall_s": round(wall, 1),
            "rooms": rooms_out,
            "lag": lag.summary(speed),
            "cpu_s_total": round(cpu, 1),
            "cpu_s_per_room_hour": round(cpu / room_hours, 1),
            "machine_load": monitor.other_cpu_s(),
            "peak_rss_mb": {
                kind: max(p["peak_rss_mb"] for p in processes if p["kind"] == kind)
                for kind in sorted({p["kind"] for p in processes if p["kind"]})
            },
            "live_cpu_s": _live_cpu(stack, space_ids),
        }
    finally:
        stack.stop()
        s3.stop()
    _cleanup(work)
    return report


def _adopted(stack: ServiceStack, space_id: str, run: dict) -> bool:
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT r.result->>'live_cpu_s' IS NOT NULL FROM stage_runs r LEFT JOIN participants p "
            "ON p.id = r.subject WHERE r.space_id = %s AND r.stage = %s "
            "AND coalesce(p.handle, '') = %s",
            # The API names a part of a track "alice part 1/2"; the run's participant is alice.
            (space_id, run["stage"], run["subject"].split(" part ")[0]),
        ).fetchone()
    return bool(row and row[0])


def _live_cpu(stack: ServiceStack, space_ids: list[str]) -> float:
    """The live steps' own CPU (the worker's Python and Whisper; their ffmpeg not counted)."""
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url) as conn:
        (total,) = conn.execute(
            "SELECT coalesce(sum(cpu_s), 0) FROM live_tracks WHERE space_id = ANY(%s)",
            (space_ids,),
        ).fetchone()
    return round(float(total), 1)


def markdown(report: dict) -> str:
    c, lag = report["config"], report["lag"]
    lines = [
        f"## Live: {c['rooms']} room(s) x 4 speakers x {c['minutes']:g} min at {c['speed']:g}x, "
        f"{c['workers']} worker processes",
        "",
        f"Wall {report['wall_s']} s; deployment CPU {report['cpu_s_total']} s "
        f"({report['cpu_s_per_room_hour']} s per room-hour; live steps {report['live_cpu_s']} s); "
        f"CPU the machine spent outside the deployment meanwhile: "
        f"{report['machine_load'].get('outside_watched_s')} s.",
        "",
        f"Lag of live work behind the acknowledged audio ({lag['samples']} samples): activity "
        f"max {lag['activity_lag']['max_s']} s / p95 {lag['activity_lag']['p95_s']} s of audio; "
        f"transcription max {lag['transcript_lag']['max_s']} s / p95 "
        f"{lag['transcript_lag']['p95_s']} s of audio "
        f"(max {lag['transcript_lag'].get('max_wall_s')} s of wall time).",
        "",
        "| room | finished to feed s | MP3 LUFS | MP3 dBTP | WER | attribution | adopted |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for n, r in enumerate(report["rooms"]):
        mp3 = r["delivered"]["mp3"]
        lines.append(
            f"| {n} | {r['finished_to_feed_s']} | {mp3['integrated_lufs']} | "
            f"{mp3['true_peak_dbtp']} | {r['wer']:.1%} | {r['speaker_attribution']:.1%} | "
            f"{len(r['adopted'])} of {r['per_participant_runs']} |"
        )
    lines += ["", "| process kind | peak RSS MB |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in report["peak_rss_mb"].items()]
    return "\n".join(lines) + "\n"


def main(minutes: float, workers: int, speed: float, rooms: int, out: Path) -> int:
    report = run_live(minutes, workers, speed, rooms, out)
    report["machine"] = machine()
    name = f"live-{minutes:g}min-{rooms}r-{speed:g}x"
    (out / f"{name}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (out / f"{name}.md").write_text(text)
    print(text)
    return 0
