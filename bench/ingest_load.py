"""Live ingest under load: ``--participants`` recorders, each with its own recorder key, send
``--chunk-s`` chunks in real time for ``--seconds`` into one real deployment (API, worker,
PostgreSQL, Redis, the S3 server), their starts spread over a chunk's length as a room's devices
are. Then each track is assembled, read back from the S3 server, decoded, and every acknowledged
chunk compared byte for byte with what was sent.

    nice -n 15 .venv/bin/python -m bench.ingest_load --participants 48 --seconds 300

Reports p50/p99/max acknowledgement latency of the chunk PUTs (each attempt timed on its own, a
retried 5xx still counted), counts by status, the byte-exact check, the assembly calls, and the
CPU seconds of the API, worker and S3 server (and per 1000 chunk requests). Bounded: every
recorder stops after ``--seconds`` of audio, every request has a timeout, and the run gives up
``--max-wall-s`` (a service behind real time is measured on what it acknowledged by then).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psycopg

from bench.load import (
    RequestLog,
    TimedTransport,
    cpu_by_role,
    load_average,
    load_stack,
    percentile,
)
from bench.monitor import ProcessMonitor
from infra.settings import Settings
from infra.stack import ServiceStack
from pipeline.chunks import BYTES_PER_SAMPLE, RATE_HZ
from spacecast.recorder import Recorder

SPEECH = (
    "Good evening and welcome back to the neighbourhood hour. Tonight we talk about the new "
    "bus routes, the library's late opening, and the bakery that gives away yesterday's bread."
)


def _say(line: str) -> None:
    print(f"ingest-load: {line}", file=sys.stderr, flush=True)


def speech_pcm(work: Path) -> np.ndarray:
    """A few seconds of espeak-ng speech at 48 kHz mono, made once: the loop every recorder
    sends (with a tone of its own mixed in, so no two participants send the same bytes)."""
    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True, capture_output=True)
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-f", "s16le", "-ac", "1", "-ar", "48000", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32)


def chunk_bytes(base: np.ndarray, participant: int, start: int, samples: int) -> bytes:
    """Participant ``participant``'s audio from sample ``start``: the speech loop plus a tone of
    their own; the same call gives the same bytes (the check regenerates what was sent)."""
    index = np.arange(start, start + samples)
    tone = 1500 * np.sin(2 * math.pi * (170 + 13 * participant) * index / RATE_HZ)
    mixed = base[index % len(base)] // 2 + tone.astype(np.int32)
    return np.clip(mixed, -32768, 32767).astype("<i2").tobytes()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _kind(request: httpx.Request) -> str:
    if request.method == "PUT" and "/chunks/" in request.url.path:
        return "put_chunk"
    if request.url.path.endswith("/track/assemble"):
        return "assemble"
    return f"{request.method.lower()}_other"


class Participant:
    def __init__(self, index: int, space_id: str, handle: str, key: str) -> None:
        self.index, self.space_id, self.handle, self.key = index, space_id, handle, key
        self.acks: list[dict] = []
        self.sent: list[tuple[int, int, str]] = []  # (seq, start_sample, sha256) as sent
        self.behind_s: list[float] = []  # acknowledged this long after its audio was spoken
        self.sha256 = ""
        self.error: str | None = None


def _record(
    p: Participant,
    stack: ServiceStack,
    log: RequestLog,
    base: np.ndarray,
    seconds: float,
    chunk_s: float,
    start_at: float,
    stop: threading.Event,
) -> None:
    """One recorder in real time: chunk k is sent once its last sample was spoken, and the
    next once it was acknowledged; ``stop`` ends it after the chunk in flight."""
    size = int(chunk_s * RATE_HZ)
    total = int(seconds * RATE_HZ)
    transport = TimedTransport(log, _kind)
    headers = {"Authorization": f"Bearer {p.key}"}
    digest = hashlib.sha256()
    try:
        with httpx.Client(
            base_url=stack.base_url, transport=transport, headers=headers, timeout=30
        ) as client:
            recorder = Recorder(client, p.space_id, p.handle, give_up_after_s=60)
            seq, start = 0, 0
            while start < total and not stop.is_set():
                samples = min(size, total - start)
                data = chunk_bytes(base, p.index, start, samples)
                due = start_at + (start + samples) / RATE_HZ
                stop.wait(max(0.0, due - time.monotonic()))
                sha = hashlib.sha256(data).hexdigest()
                p.acks.append(recorder.send_chunk(seq, start, data))
                p.behind_s.append(time.monotonic() - due)
                p.sent.append((seq, start, sha))
                digest.update(data)
                seq, start = seq + 1, start + samples
            p.sha256 = digest.hexdigest()
    except Exception as exc:  # reported, and the check counts what was not acknowledged
        p.error = f"{type(exc).__name__}: {exc}"


def _assemble(p: Participant, stack: ServiceStack, log: RequestLog) -> None:
    if p.error or not p.sent:
        return
    headers = {"Authorization": f"Bearer {p.key}"}
    try:
        with httpx.Client(
            base_url=stack.base_url, transport=TimedTransport(log, _kind), headers=headers
        ) as client:
            Recorder(client, p.space_id, p.handle, give_up_after_s=120).finish(
                len(p.sent), p.sha256
            )
    except Exception as exc:
        p.error = f"assembling: {type(exc).__name__}: {exc}"


def _decode(data: bytes) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "-"],
        input=data,
        check=True,
        capture_output=True,
        timeout=300,
    ).stdout


def check_tracks(
    stack: ServiceStack, participants: list[Participant], base: np.ndarray, chunk_s: float
) -> dict:
    """Read every assembled track back from the S3 server and compare each acknowledged chunk
    with the bytes sent at its place: byte-exact, or counted as wrong or missing."""
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    store = stack.store()
    size = int(chunk_s * RATE_HZ)
    exact = wrong = missing = 0
    ack_mismatch = 0
    problems: list[str] = []
    with psycopg.connect(url) as conn:
        for p in participants:
            for (seq, start, sha), ack in zip(p.sent, p.acks, strict=True):
                if (ack["seq"], ack["start_sample"], ack["sha256"]) != (seq, start, sha):
                    ack_mismatch += 1
            row = conn.execute(
                "SELECT t.object_key FROM tracks t "
                "JOIN participants pa ON pa.id = t.participant_id "
                "WHERE pa.space_id = %s AND pa.handle = %s AND t.chunks_sha256 IS NOT NULL",
                (p.space_id, p.handle),
            ).fetchone()
            if row is None:
                missing += len(p.acks)
                problems.append(f"{p.handle}: no assembled track ({p.error})")
                continue
            pcm = _decode(store.get_bytes(row[0]))
            for seq, start, _sha in p.sent:
                samples = min(size, len(p.sent) * size - start)
                sent = chunk_bytes(base, p.index, start, samples)
                got = pcm[start * BYTES_PER_SAMPLE : (start + samples) * BYTES_PER_SAMPLE]
                if len(got) < len(sent):
                    missing += 1
                    problems.append(f"{p.handle}: chunk {seq} missing from the track")
                elif got != sent:
                    wrong += 1
                    problems.append(f"{p.handle}: chunk {seq} differs in the track")
                else:
                    exact += 1
    acknowledged = sum(len(p.acks) for p in participants)
    return {
        "acknowledged_chunks": acknowledged,
        "byte_exact": exact,
        "wrong": wrong,
        "missing": missing,
        "ack_mismatch": ack_mismatch,
        "all_exact": acknowledged > 0 and exact == acknowledged and not ack_mismatch,
        "problems": problems[:20],
    }


def run(
    participants: int,
    seconds: float,
    chunk_s: float,
    rooms: int,
    live_work: bool,
    max_wall_s: float,
    out: Path,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ingest-load-", dir=out))
    max_participants = Settings().max_participants
    rooms = max(rooms, math.ceil(participants / max_participants))
    base = speech_pcm(work)
    s3, stack = load_stack(work, SPACECAST_LIVE_WORK="true" if live_work else "false")
    report: dict = {
        "config": {
            "participants": participants,
            "seconds": seconds,
            "chunk_s": chunk_s,
            "rooms": rooms,
            "live_work": live_work,
            "max_wall_s": max_wall_s,
        },
        "load_average_before": load_average(),
    }
    try:
        stack.start()
        assert stack.api is not None and s3.process is not None
        people: list[Participant] = []
        with stack.client() as host:
            show = (
                host.post("/shows", json={"title": "Load", "author": "Bench"})
                .raise_for_status()
                .json()
            )
            for room in range(rooms):
                handles = [f"p{i:03d}" for i in range(participants) if i % rooms == room]
                body = {
                    "title": f"Ingest load room {room}",
                    "participants": [
                        {
                            "id": h,
                            "name": h.upper(),
                            "offset": 0.0,
                            "consent": {"record": True, "publish": True},
                        }
                        for h in handles
                    ],
                }
                space = host.post(f"/shows/{show['id']}/spaces", json=body)
                space_id = space.raise_for_status().json()["id"]
                for h in handles:
                    made = host.post(f"/shows/{show['id']}/recorder-keys", json={"label": h})
                    key = made.raise_for_status().json()["key"]["token"]
                    people.append(Participant(int(h[1:]), space_id, h, key))
        log = RequestLog()
        roots = {"api": stack.api.pid, "worker": stack.workers[0].pid, "s3": s3.process.pid}
        monitor = ProcessMonitor(roots, interval_s=0.5).start()
        began = time.monotonic()
        _say(f"{participants} recorders x {seconds:g} s of {chunk_s:g}-s chunks, {rooms} room(s)")
        # Starts spread over one chunk, as a room's devices are not in step.
        step = chunk_s / len(people)
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=_record,
                args=(p, stack, log, base, seconds, chunk_s, began + n * step, stop),
                daemon=True,
            )
            for n, p in enumerate(people)
        ]
        for t in threads:
            t.start()
        deadline = began + max_wall_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        stop.set()  # a service that fell behind real time: what was sent by now is checked
        for t in threads:
            t.join(120)
        monitor.stop()
        streamed_s = time.monotonic() - began
        if any(t.is_alive() for t in threads):
            raise TimeoutError(f"recorders still sending {streamed_s:.0f} s after the start")
        puts = log.summary("put_chunk")
        behind = [b for p in people for b in p.behind_s]
        planned = len(people) * math.ceil(seconds / chunk_s)
        report["ingest"] = {
            "wall_s": round(streamed_s, 1),
            **puts,
            "rate_per_s": round(puts["requests"] / streamed_s, 1),
            "chunks_planned": planned,
            "chunks_acknowledged": sum(len(p.acks) for p in people),
            "stopped_at_deadline": planned - sum(len(p.acks) for p in people),
            "behind_real_time_s": {
                "p50": _round(percentile(behind, 0.5)),
                "p99": _round(percentile(behind, 0.99)),
                "max": _round(max(behind, default=None)),
            },
            "cpu": cpu_by_role(monitor, puts["requests"]),
            "machine": monitor.other_cpu_s(),
            "load_average_after": load_average(),
            "recorder_errors": [f"{p.handle}: {p.error}" for p in people if p.error][:10],
        }
        _say(f"streamed: {json.dumps(report['ingest'])}")
        assembling = time.monotonic()
        threads = [threading.Thread(target=_assemble, args=(p, stack, log)) for p in people]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report["assemble"] = {
            "wall_s": round(time.monotonic() - assembling, 1),
            **log.summary("assemble"),
        }
        report["check"] = check_tracks(stack, people, base, chunk_s)
        report["all_requests"] = log.summary()
        _say(f"check: {json.dumps(report['check'])}")
    finally:
        stack.stop()
        s3.stop()
        subprocess.run(["rm", "-rf", str(work / "s3"), str(work / "scratch")], check=False)
    return report


def markdown(report: dict) -> str:
    c, i, a, k = report["config"], report["ingest"], report["assemble"], report["check"]
    cpu = i["cpu"]
    return (
        "\n".join(
            [
                f"## Live ingest: {c['participants']} recorders x {c['seconds']:g} s of "
                f"{c['chunk_s']:g}-s chunks in real time, {c['rooms']} room(s), live work "
                f"{'on' if c['live_work'] else 'off'}",
                "",
                f"{i['requests']} chunk PUTs in {i['wall_s']} s ({i['rate_per_s']}/s): p50 "
                f"{i['p50_ms']} ms, p99 {i['p99_ms']} ms, max {i['max_ms']} ms; by status "
                f"{i['by_status']}; 5xx {i['server_errors']}, transport errors "
                f"{i['transport_errors']}. Acknowledged {i['chunks_acknowledged']} of "
                f"{i['chunks_planned']} chunks ({i['stopped_at_deadline']} not sent: the "
                f"recorders were stopped after {c['max_wall_s']:g} s); a chunk acknowledged "
                f"behind real time by p50 {i['behind_real_time_s']['p50']} s, p99 "
                f"{i['behind_real_time_s']['p99']} s, max {i['behind_real_time_s']['max']} s.",
                "",
                f"Byte-exact: {k['byte_exact']} of {k['acknowledged_chunks']} acknowledged "
                f"chunks read back from the S3 server in the assembled tracks (wrong "
                f"{k['wrong']}, missing {k['missing']}). Assembly: {a['requests']} calls, "
                f"p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms, by status {a['by_status']}.",
                "",
                "| process | CPU s while streaming | CPU s per 1000 chunk PUTs |",
                "|---|---:|---:|",
                *[
                    f"| {role} | {v['cpu_s']} | {v['cpu_s_per_1000_requests']} |"
                    for role, v in cpu.items()
                ],
                "",
                f"Load average before {report['load_average_before']}, after "
                f"{i['load_average_after']}; machine busy {i['machine']['machine_busy_s']} CPU s "
                f"({i['machine']['outside_watched_s']} s outside the deployment).",
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=300.0, help="of audio per recorder")
    parser.add_argument("--chunk-s", type=float, default=1.0)
    parser.add_argument("--rooms", type=int, default=1, help="more when a room's limit says so")
    parser.add_argument("--no-live-work", action="store_true", help="SPACECAST_LIVE_WORK=false")
    parser.add_argument(
        "--max-wall-s",
        type=float,
        help="stop the recorders after this long (default: --seconds + 120): a service that "
        "falls behind real time is measured on what it acknowledged by then",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args(argv)
    report = run(
        args.participants,
        args.seconds,
        args.chunk_s,
        args.rooms,
        not args.no_live_work,
        args.max_wall_s or args.seconds + 120,
        args.out,
    )
    name = f"ingest-load-{args.participants}x{args.seconds:g}s"
    (args.out / f"{name}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (args.out / f"{name}.md").write_text(text)
    print(text)
    failed = (
        report["all_requests"]["server_errors"]
        or report["all_requests"]["transport_errors"]
        or report["ingest"]["stopped_at_deadline"]
    )
    return 0 if report["check"]["all_exact"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
