"""End-to-end benchmark: a long four-speaker space through the real service, with the plain
alternative on the same mix for a ratio.

    .venv/bin/python -m bench.space                      # 4 x 60 min, 2 worker processes
    .venv/bin/python -m bench.space --minutes 5 --no-plain
    .venv/bin/python -m bench.space --scale              # 1, 2, 4 workers at 60 min; 2 at 120

The scenario (bench/scenario.py) is generated once and cached under ``--out``. Each run starts a
deployment on loopback as production runs it (PostgreSQL, Redis, an S3 server, ``spacecast api``
and ``spacecast worker`` processes), uploads the tracks through the HTTP API, finishes the space
and waits for the item in the show's feed. It reports, per stage, wall and CPU seconds and the
real-time factor; per process, peak resident memory and CPU; end to end, the seconds from
"finished" to the feed item; and the quality of what was delivered: loudness error and true peak
of the delivered files, word error rate against the script and speaker attribution. Results go
to ``--out`` as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psycopg

from bench.monitor import ProcessMonitor
from bench.plain import loudnorm_two_pass
from bench.scenario import build_scenario
from infra.s3server import LocalS3Server
from infra.stack import ServiceStack
from pipeline.loudness import measure_delivered
from pipeline.quality import ScriptLine, speaker_attribution, timed_word_error_rate
from pipeline.transcript import Segment
from spacecast.demo import create_space

TARGET_LUFS = -16.0


@dataclass(frozen=True)
class RunConfig:
    minutes: float = 60.0
    workers: int = 2  # worker processes, one thread each
    threads: int = 1
    whisper_threads: int = 1  # one faster-whisper thread per worker process
    broker: str = "redis"
    plain: bool = True
    transcribe_part_s: float | None = None  # None: the service's default

    @property
    def name(self) -> str:
        return f"space-{self.minutes:g}min-{self.workers}w"


def _say(line: str) -> None:
    print(f"bench: {line}", file=sys.stderr, flush=True)


def wait_for_feed_item(client: httpx.Client, space_id: str, timeout_s: float) -> dict:
    """Poll until the space is published and its item is in the show's feed; return the state."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        state = client.get(f"/spaces/{space_id}").raise_for_status().json()
        if state["status"] == "failed":
            raise RuntimeError(f"space failed: {state['error']}")
        if state["status"] == "published" and state.get("episode"):
            episode = state["episode"]
            feed = client.get(episode["feed_url"]).raise_for_status().text
            if episode["guid"] in feed:
                return state
        line = " ".join(f"{s['stage']}:{s['status'][:4]}" for s in state["stages"])
        if line != last:
            _say(f"{state['status']} {line}")
            last = line
        if time.monotonic() > deadline:
            raise TimeoutError(f"space {space_id} not in the feed after {timeout_s:.0f} s")
        time.sleep(0.5)  # resolution enough for minutes, light enough not to load the API


def _stage_runs(stack: ServiceStack, space_id: str, finished_at: float) -> list[dict]:
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT r.stage, p.handle, r.started_at, r.finished_at, r.attempts, r.result "
            "FROM stage_runs r "
            "LEFT JOIN participants p ON p.id = split_part(r.subject, ':', 1) "
            "WHERE r.space_id = %s ORDER BY r.started_at",
            (space_id,),
        ).fetchall()
    runs = []
    for stage, handle, started, ended, attempts, result in rows:
        result = result or {}
        part = result.get("part")  # [index, count, start s, end s] of a track in parts
        if handle and part:
            handle = f"{handle} part {part[0] + 1}/{part[1]}"
        wall = (ended - started).total_seconds()
        audio_s = {
            "activity": result.get("audio_s"),
            "transcribe": result.get("audio_s"),
            "mix": result.get("duration_s"),
            "master": (result.get("files", {}).get("mp3") or {}).get("duration_s"),
        }.get(stage)
        runs.append(
            {
                "stage": stage,
                "subject": handle or "",
                "start_s": round(started.timestamp() - finished_at, 2),
                "end_s": round(ended.timestamp() - finished_at, 2),
                "wall_s": round(wall, 2),
                "cpu_s": result.get("cpu_s"),
                "audio_s": audio_s,
                "rtf": round(audio_s / wall, 1) if audio_s and wall > 0 else None,
                "attempts": attempts,
                "worker_pid": result.get("worker_pid"),
                "worker_peak_rss_mb": result.get("worker_peak_rss_mb"),
                "ffmpeg_cpu_s": result.get("ffmpeg_cpu_s"),
                "ffmpeg_peak_rss_mb": result.get("ffmpeg_max_rss_mb"),
            }
        )
    return runs


def _script(truth: dict, shift_s: float) -> list[ScriptLine]:
    return [
        ScriptLine(u["speaker_id"], u["text"], u["start_s"] + shift_s, u["end_s"] + shift_s)
        for u in truth["utterances"]
    ]


def _published_segments(data: dict, names: dict[str, str]) -> list[Segment]:
    ids = {name: sid for sid, name in names.items()}
    return [
        Segment(ids.get(s["speaker"], s["speaker"]), s["speaker"], s["startTime"], s["endTime"],
                s["body"])
        for s in data["segments"]
    ]  # fmt: skip


def _quality(path: Path) -> dict:
    loudness, duration_s = measure_delivered(path, what=path.name)
    return {
        "integrated_lufs": round(loudness.integrated_lufs, 2),
        "loudness_error_lu": round(abs(loudness.integrated_lufs - TARGET_LUFS), 2),
        "true_peak_dbtp": round(loudness.true_peak_dbtp, 2),
        "duration_s": round(duration_s, 2),
        "size_bytes": path.stat().st_size,
    }


def _processes(monitor: ProcessMonitor, since_s: float) -> list[dict]:
    records = [r.as_dict() for r in monitor.snapshot() if r.last_seen_s >= since_s]
    return sorted(records, key=lambda r: (r["role"], r["kind"], -r["peak_rss_mb"]))


def run_service(config: RunConfig, out: Path) -> dict:
    """One run of the service on the scenario; the plain alternative too when asked."""
    scenario = build_scenario(config.minutes, out / f"scenario-{config.minutes:g}min").parent
    truth = json.loads((scenario / "truth.json").read_text())
    work = Path(tempfile.mkdtemp(prefix=f"{config.name}-", dir=out))
    s3 = LocalS3Server(work / "s3").start()
    stack = ServiceStack(
        config.broker,
        s3,
        work / "logs",
        worker_processes=config.workers,
        worker_threads=config.threads,
        SPACECAST_WHISPER_THREADS=str(config.whisper_threads),
        **(
            {"SPACECAST_TRANSCRIBE_PART_S": str(config.transcribe_part_s)}
            if config.transcribe_part_s is not None
            else {}
        ),
        SPACECAST_WORK_DIR=str(work / "scratch"),
        SPACECAST_CACHE_DIR=str(work / "cache"),
    )
    (work / "scratch").mkdir()
    report: dict = {"config": asdict(config), "scenario": _scenario_summary(truth)}
    try:
        stack.start()
        assert stack.api is not None and s3.process is not None
        roots = {"api": stack.api.pid, "worker": stack.workers[0].pid, "s3": s3.process.pid}
        with stack.client() as client:
            _say(f"uploading {len(truth['speakers'])} tracks of {config.minutes:g} min")
            space_id, _ = create_space(client, scenario)
            monitor = ProcessMonitor(roots).start()  # from "finished" on
            finished_mono, finished_at = time.monotonic(), time.time()
            client.post(f"/spaces/{space_id}/finish", json={}).raise_for_status()
            state = wait_for_feed_item(client, space_id, timeout_s=3600 * config.minutes / 30)
            end_to_end_s = time.monotonic() - finished_mono
            _say(f"in the feed {end_to_end_s:.1f} s after the space finished")
            monitor.stop()
            episode = state["episode"]
            files = {}
            for name, url in episode["audio"].items():
                path = work / f"episode.{name}"
                with client.stream("GET", url) as response, open(path, "wb") as sink:
                    for chunk in response.raise_for_status().iter_bytes(1 << 20):
                        sink.write(chunk)
                files[name] = _quality(path)
            transcript = client.get(episode["transcripts"]["json"]).raise_for_status().json()
            (work / "transcript.json").write_text(json.dumps(transcript, indent=1))
        runs = _stage_runs(stack, space_id, finished_at)
        mix_key = _mix_key(stack, space_id)
        mix_path = work / "mix.flac"
        if config.plain and mix_key:
            stack.store().get_file(mix_key, mix_path)
        shift = -min(p["offset"] for p in _manifest(scenario)["participants"])
        script = _script(truth, shift)
        segments = _published_segments(transcript, truth["speakers"])
        wer, errors, words = timed_word_error_rate(script, segments)
        processes = _processes(monitor, finished_mono)
        report |= {
            "end_to_end_s": round(end_to_end_s, 2),
            "stages": runs,
            "processes": processes,
            "summary": _summary(runs, processes),
            "machine_load": monitor.other_cpu_s(),
            "delivered": files,
            "transcript": {
                "segments": len(segments),
                "wer": round(wer, 4),
                "word_errors": errors,
                "reference_words": words,
                "speaker_attribution": round(speaker_attribution(segments, script), 4),
                "wer_by_speaker": {
                    sid: round(
                        timed_word_error_rate(
                            [x for x in script if x.speaker_id == sid],
                            [x for x in segments if x.speaker_id == sid],
                        )[0],
                        4,
                    )
                    for sid in truth["speakers"]
                },
            },
        }
    finally:
        stack.stop()
        s3.stop()
    if config.plain:
        # The service's figures first, so an interrupted plain run does not lose them.
        (out / f"{config.name}.service.json").write_text(json.dumps(report, indent=2))
        report["plain"] = run_plain(mix_path, script, work)
    _cleanup(work)
    return report


def _manifest(scenario: Path) -> dict:
    return json.loads((scenario / "manifest.json").read_text())


def _mix_key(stack: ServiceStack, space_id: str) -> str | None:
    url = f"postgresql://postgres@127.0.0.1:5432/{stack.database}"
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT result FROM stage_runs WHERE space_id = %s AND stage = 'mix'", (space_id,)
        ).fetchone()
    return row[0]["key"] if row else None


def _scenario_summary(truth: dict) -> dict:
    talk: dict[str, float] = {}
    for u in truth["utterances"]:
        talk[u["speaker_id"]] = talk.get(u["speaker_id"], 0.0) + u["end_s"] - u["start_s"]
    return {
        "speakers": len(truth["speakers"]),
        "track_s": truth.get("track_s"),
        "room_s": truth["duration_s"],
        "utterances": len(truth["utterances"]),
        "talk_share": {k: round(v / truth["track_s"], 3) for k, v in talk.items()},
    }


def _summary(runs: list[dict], processes: list[dict]) -> dict:
    def _wall(stage: str) -> float:
        spans = [(r["start_s"], r["end_s"]) for r in runs if r["stage"] == stage]
        return round(max(b for _, b in spans) - min(a for a, _ in spans), 2) if spans else 0.0

    by_stage: dict[str, dict] = {}
    for r in runs:
        entry = by_stage.setdefault(r["stage"], {"runs": 0, "wall_s": 0.0, "cpu_s": 0.0})
        entry["runs"] += 1
        entry["wall_s"] = round(entry["wall_s"] + r["wall_s"], 2)
        entry["cpu_s"] = round(entry["cpu_s"] + (r["cpu_s"] or 0.0), 2)
    workers = [p for p in processes if p["kind"] == "worker"]
    ffmpeg = [p for p in processes if p["kind"].startswith("ffmpeg")]
    return {
        "by_stage": by_stage,
        "audio_path_wall_s": round(
            max(r["end_s"] for r in runs if r["stage"] == "master")
            - min(r["start_s"] for r in runs if r["stage"] == "mix"),
            2,
        )
        if any(r["stage"] == "master" for r in runs)
        else None,
        "transcription_span_s": _wall("transcribe"),
        "cpu_s_total": round(sum(p["cpu_s"] for p in processes), 1),
        "peak_rss_mb": {
            "worker_max": max((p["peak_rss_mb"] for p in workers), default=0.0),
            "ffmpeg_max": max((p["peak_rss_mb"] for p in ffmpeg), default=0.0),
            "api": max((p["peak_rss_mb"] for p in processes if p["kind"] == "api"), default=0.0),
            "s3_server": max(
                (p["peak_rss_mb"] for p in processes if p["kind"] == "s3 server"), default=0.0
            ),
        },
    }


def run_plain(mix: Path, script: list[ScriptLine], work: Path) -> dict:
    """The plain alternative on the service's own mix."""
    _say("plain alternative: loudnorm two-pass")
    loudness = loudnorm_two_pass(mix, work)
    for name in loudness["files"]:
        loudness["files"][name] |= _quality(work / f"plain.{name}")
    _say("plain alternative: the whole mix through one faster-whisper process, no VAD")
    out = work / "plain-transcript.json"
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.plain", "transcribe", str(mix), str(out)]
    )
    monitor = ProcessMonitor({"plain": child.pid}).start()
    child.wait()
    monitor.stop()
    if child.returncode != 0:
        raise RuntimeError("plain transcription failed")
    wall = time.monotonic() - started
    data = json.loads(out.read_text())
    segments = [Segment("", "", s["start_s"], s["end_s"], s["text"]) for s in data["segments"]]
    wer, errors, words = timed_word_error_rate(script, segments)
    (record,) = [r for r in monitor.snapshot() if r.pid == child.pid]
    return {
        "loudness": loudness,
        "transcription": {
            "wall_s": round(wall, 2),
            "cpu_s": round(record.cpu_s, 2),
            "audio_s": data["audio_s"],
            "rtf": round(data["audio_s"] / wall, 1),
            "peak_rss_mb": round(record.peak_rss_mb, 1),
            "wer": round(wer, 4),
            "word_errors": errors,
            "reference_words": words,
        },
    }


def _cleanup(work: Path) -> None:
    """Keep the logs; drop the audio copies and the bucket."""
    for child in ("s3", "scratch", "cache"):
        subprocess.run(["rm", "-rf", str(work / child)], check=False)
    for path in work.glob("*.flac"):
        path.unlink()


def machine() -> dict:
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    import faster_whisper

    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024**2, 1),
        "ffmpeg": ffmpeg.splitlines()[0] if ffmpeg else "",
        "faster_whisper": faster_whisper.__version__,
        "model": os.environ.get("SPACECAST_WHISPER_MODEL", "tiny.en") + " int8",
        "python": platform.python_version(),
    }


def markdown(report: dict) -> str:
    """The report as Markdown tables."""
    s = report["summary"]
    lines = [
        f"## {report['config']['workers']} worker processes, "
        f"{report['scenario']['speakers']} x {report['config']['minutes']:g} min",
        "",
        f"Finished to feed item: **{report['end_to_end_s']:.1f} s**; decode + mix + loudness + "
        f"MP3/Opus: {s['audio_path_wall_s']} s; CPU of every process: {s['cpu_s_total']} s; "
        f"CPU spent meanwhile outside them (services, other load): "
        f"{report.get('machine_load', {}).get('outside_watched_s')} s.",
        "",
        "| stage | subject | start s | wall s | CPU s | RTF | worker peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["stages"]:
        lines.append(
            f"| {r['stage']} | {r['subject']} | {r['start_s']} | {r['wall_s']} | {r['cpu_s']} "
            f"| {r['rtf'] or ''} | {r['worker_peak_rss_mb']} |"
        )
    lines += ["", "| process | kind | peak RSS MB | CPU s | alive s |", "|---|---|---:|---:|---:|"]
    for p in report["processes"]:
        lines.append(
            f"| {p['role']} {p['pid']} | {p['kind']} | {p['peak_rss_mb']} | {p['cpu_s']} "
            f"| {p['alive_s']} |"
        )
    t = report["transcript"]
    lines += ["", "| delivered | LUFS | error LU | true peak dBTP |", "|---|---:|---:|---:|"]
    for name, f in report["delivered"].items():
        lines.append(
            f"| {name} | {f['integrated_lufs']} | {f['loudness_error_lu']} "
            f"| {f['true_peak_dbtp']} |"
        )
    lines += [
        "",
        f"Transcript: WER {t['wer']:.1%} ({t['word_errors']} / {t['reference_words']} words), "
        f"speaker attribution {t['speaker_attribution']:.1%}.",
    ]
    plain = report.get("plain")
    if plain:
        pt, pl = plain["transcription"], plain["loudness"]
        master_wall = s["by_stage"].get("master", {}).get("wall_s", 0.0)
        lines += [
            "",
            "Plain alternative on the same mix:",
            "",
            f"- loudnorm two-pass (first pass + one second pass per file): {pl['wall_s']} s wall, "
            f"{pl['cpu_s']} s CPU (service's master stage: {master_wall} s wall); MP3 "
            f"{pl['files']['mp3']['integrated_lufs']} LUFS, "
            f"{pl['files']['mp3']['true_peak_dbtp']} dBTP, mode {pl['files']['mp3']['mode']}",
            f"- whole mix, one process, no VAD: {pt['wall_s']} s wall, {pt['cpu_s']} s CPU, "
            f"RTF {pt['rtf']}, peak RSS {pt['peak_rss_mb']} MB, WER {pt['wer']:.1%}",
        ]
    return "\n".join(lines) + "\n"


# In the order they are run: the memory claim (120 min) before the worker counts.
SCALE = (
    RunConfig(60, 2, plain=False),
    RunConfig(120, 2, plain=False),
    RunConfig(60, 4, plain=False),
    RunConfig(60, 1, plain=False),
)


def scale_markdown(reports: list[dict]) -> str:
    lines = [
        "| workers | minutes | finished to feed s | audio path s | CPU s | worker peak RSS MB "
        "| ffmpeg peak RSS MB | WER | loudness error LU | true peak dBTP |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(reports, key=lambda r: (r["config"]["minutes"], r["config"]["workers"])):
        s, mp3 = r["summary"], r["delivered"]["mp3"]
        lines.append(
            f"| {r['config']['workers']} | {r['config']['minutes']:g} | {r['end_to_end_s']} "
            f"| {s['audio_path_wall_s']} | {s['cpu_s_total']} | {s['peak_rss_mb']['worker_max']} "
            f"| {s['peak_rss_mb']['ffmpeg_max']} | {r['transcript']['wer']:.1%} "
            f"| {mp3['loudness_error_lu']} | {mp3['true_peak_dbtp']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60.0, help="length of each track")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain alternative")
    parser.add_argument(
        "--transcribe-part-s",
        type=float,
        default=None,
        help="SPACECAST_TRANSCRIBE_PART_S for the run (default: the service's own, 600)",
    )
    parser.add_argument("--scale", action="store_true", help="run the scale table instead")
    parser.add_argument("--fresh", action="store_true", help="with --scale: measure every run")
    parser.add_argument("--out", default="bench/out", help="where results and caches go")
    parser.add_argument("--live", action="store_true", help="stream the rooms live (bench/live.py)")
    parser.add_argument("--speed", type=float, default=4.0, help="with --live: x real time")
    parser.add_argument("--rooms", type=int, default=1, help="with --live: rooms at once")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.live:
        from bench import live

        return live.main(args.minutes, args.workers, args.speed, args.rooms, out)
    if args.scale:
        reports = []
        for config in SCALE:
            path = out / f"{config.name}.json"
            if path.exists() and not args.fresh:
                _say(f"scale: reusing {path.name} (--fresh to measure again)")
                reports.append(json.loads(path.read_text()))
                continue
            _say(f"scale run: {config.name}")
            report = run_service(config, out)
            report["machine"] = machine()
            path.write_text(json.dumps(report, indent=2))
            reports.append(report)
        table = scale_markdown(reports)
        (out / "scale.md").write_text(table)
        print(table)
        return 0
    config = RunConfig(
        args.minutes,
        args.workers,
        broker=args.broker,
        plain=not args.no_plain,
        transcribe_part_s=args.transcribe_part_s,
    )
    report = run_service(config, out)
    report["machine"] = machine()
    (out / f"{config.name}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (out / f"{config.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
