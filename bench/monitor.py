"""Per-process resource accounting for a running deployment, read from /proc: every process in
the trees of the given roots (API, workers and their ffmpeg children, the S3 server) is sampled
several times a second for its peak resident memory (VmHWM, the kernel's own high-water mark)
and its CPU time (utime + stime)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessRecord:
    pid: int
    role: str  # the root it belongs to: "api", "worker", "s3"
    command: str
    first_seen_s: float
    last_seen_s: float
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0  # while watched: a process already running at the start counts from there
    cpu_at_start_s: float = 0.0

    def as_dict(self) -> dict:
        return {
            "pid": self.pid,
            "role": self.role,
            "kind": process_kind(self.command),
            "command": self.command[:200],
            "alive_s": round(self.last_seen_s - self.first_seen_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "cpu_s": round(self.cpu_s, 2),
        }


def process_kind(command: str) -> str:
    """What an ffmpeg or Python process of the deployment is doing, from its command line."""
    if command.startswith("ffmpeg"):
        if "amix" in command:
            return "ffmpeg mix"
        if "loudnorm" in command:
            return "ffmpeg loudnorm"
        if "alimiter" in command:
            return "ffmpeg master"
        if "ebur128" in command:
            return "ffmpeg measure"
        if "s16le" in command and "16000" in command:
            return "ffmpeg decode 16 kHz"
        return "ffmpeg other"
    if "rclone" in command:
        return "s3 server"
    if " api" in command:
        return "api"
    if "worker" in command or "dramatiq" in command or "multiprocessing" in command:
        return "worker"
    return command.split(" ", 1)[0].rsplit("/", 1)[-1]


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(parent pid, start time in ticks, CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22.
    return int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


def machine_cpu_s() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine since boot, every core summed."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / _TICKS_PER_S, steal / _TICKS_PER_S


def _peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


@dataclass
class ProcessMonitor:
    """Samples the process trees of ``roots`` (role -> pid) every ``interval_s`` in a thread."""

    roots: dict[str, int]
    interval_s: float = 0.1
    records: dict[tuple[int, int], ProcessRecord] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ProcessMonitor:
        self.machine_start = machine_cpu_s()
        self._thread = threading.Thread(target=self._run, name="process-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        self.machine_end = machine_cpu_s()

    def other_cpu_s(self) -> dict:
        """CPU the machine spent meanwhile outside the watched processes (other load, and the
        shared services: PostgreSQL, Redis), and CPU stolen by the hypervisor."""
        busy = self.machine_end[0] - self.machine_start[0]
        ours = sum(r.cpu_s for r in self.snapshot())
        return {
            "machine_busy_s": round(busy, 1),
            "outside_watched_s": round(busy - ours, 1),
            "stolen_s": round(self.machine_end[1] - self.machine_start[1], 1),
        }

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        first = not self.records
        now = time.monotonic()
        parents: dict[int, int] = {}
        stats: dict[int, tuple[int, int, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat is not None:
                    stats[int(entry)] = stat
                    parents[int(entry)] = stat[0]
        role_of = {pid: role for role, pid in self.roots.items()}
        with self._lock:
            for pid, (ppid, start_ticks, cpu_s) in stats.items():
                role, walker = role_of.get(pid), ppid
                while role is None and walker > 1:
                    role = role_of.get(walker)
                    walker = parents.get(walker, 0)
                if role is None:
                    continue
                key = (pid, start_ticks)
                record = self.records.get(key)
                if record is None:
                    record = ProcessRecord(pid, role, _command(pid), now, now)
                    record.cpu_at_start_s = cpu_s if first else 0.0
                    self.records[key] = record
                record.last_seen_s = now
                record.cpu_s = max(record.cpu_s, cpu_s - record.cpu_at_start_s)
                command = _command(pid)
                if command and command != record.command:
                    # Seen between fork and exec, it was still a copy of its parent: its memory
                    # then was the parent's, and exec started it afresh.
                    record.command, record.peak_rss_mb = command, 0.0
                record.peak_rss_mb = max(record.peak_rss_mb, _peak_rss_mb(pid))

    def snapshot(self) -> list[ProcessRecord]:
        with self._lock:
            return [ProcessRecord(**vars(r)) for r in self.records.values()]
