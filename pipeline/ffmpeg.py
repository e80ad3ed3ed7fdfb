"""The one place Spacecast runs ffmpeg and ffprobe: safe input arguments, time limits, progress
and resource accounting, and stderr kept for error messages and measurements.

Inputs from users are opened only through :func:`input_args`, which allows local files and the
audio containers Spacecast accepts, nothing else: no network protocols, no playlists (HLS), no
concat lists, whatever the file's name or content claims.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.errors import FFmpegFailed, TimeLimitExceeded

FFMPEG_BIN = "ffmpeg"
FFPROBE_BIN = "ffprobe"

# Demuxer names as ffmpeg matches them against -format_whitelist: "matroska" covers WebM,
# "mov" covers MP4/M4A, "ogg" covers Opus and Vorbis.
ALLOWED_DEMUXERS = "ogg,matroska,wav,w64,mp3,flac,mov,aac"
PROBE_TIMEOUT_S = 60.0
_STDERR_TAIL_LINES = 4000


@dataclass(frozen=True)
class FFmpegRun:
    """What one ffmpeg process did: its stderr tail and what it cost."""

    stderr: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float


def input_args(path: str | os.PathLike[str]) -> list[str]:
    """Arguments that open ``path`` as a local audio file and nothing else."""
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ALLOWED_DEMUXERS,
        "-i",
        f"file:{os.fspath(path)}",
    ]


def output_path(path: str | os.PathLike[str]) -> str:
    """An output argument that ffmpeg cannot mistake for a protocol or an option."""
    return f"file:{os.fspath(path)}"


# A URL ffmpeg names (a presigned GET of a bucket object carries its signature, and any URL
# the bucket's address): never in a message, whatever ffmpeg's version puts around it.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]*[^\s'\":.,;]", re.IGNORECASE)
_PATH_PREFIX = re.compile(r"(?:file:)?/[^\s:'\"]+: ")
_PATH = re.compile(r"(?:file:)?/[^\s:'\"]*/([^\s/:'\"]+)")
_ADDRESS = re.compile(r"\[[\w@ ]+0x[0-9a-f]+\] ")


def _scrub(line: str) -> str:
    """The message without URLs, internal paths and addresses, which mean nothing to a user
    (and a URL may grant what its signature signs)."""
    line = _URL.sub("the source", line)
    line = _ADDRESS.sub("", _PATH_PREFIX.sub("", line))
    return _PATH.sub(lambda m: m.group(1), line)


def _ffmpeg_failed(what: str, stderr: str) -> Exception:
    """The error of an ffmpeg that exited non-zero: a full scratch disk is the machine's
    trouble, not the input's, so it is an ``OSError`` (retried later) rather than
    :class:`FFmpegFailed` (which fails the stage for good)."""
    if "No space left on device" in stderr:
        return OSError(errno.ENOSPC, f"{what}: no space left on the scratch disk")
    return FFmpegFailed(f"{what}: ffmpeg failed ({_last_error_line(stderr)})")


def _last_error_line(stderr: str) -> str:
    if "not on whitelist" in stderr:
        return "not a container Spacecast accepts (Opus/Ogg, WebM, WAV, MP3, FLAC, M4A)"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if any(word in lowered for word in ("error", "invalid", "not on whitelist", "no such")):
            return _scrub(line)
    return _scrub(lines[-1]) if lines else "no output"


def _peak_rss_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), or 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _drain(
    stream: IO[bytes],
    sink: collections.deque[str],
    on_line: Callable[[str], None] | None = None,
) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if on_line is not None:
            on_line(line)
        sink.append(line)


def _stderr_reader(
    proc: subprocess.Popen, on_line: Callable[[str], None] | None = None
) -> tuple[collections.deque[str], threading.Thread]:
    """Start reading ``proc``'s stderr in a thread (a full pipe would stall it); keep the tail."""
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
    reader = threading.Thread(target=_drain, args=(proc.stderr, tail, on_line), daemon=True)
    reader.start()
    return tail, reader


class _Watchdog:
    """Kills ``procs`` once ``timeout_s`` has passed; ``fired`` tells whether it did."""

    def __init__(self, timeout_s: float, *procs: subprocess.Popen) -> None:
        self.fired = threading.Event()
        self._procs = procs
        self._timer = threading.Timer(timeout_s, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def _kill(self) -> None:
        self.fired.set()
        for proc in self._procs:
            proc.kill()

    def cancel(self) -> None:
        self._timer.cancel()


def _outcome(
    proc: subprocess.Popen,
    watchdog: _Watchdog,
    stderr_tail: collections.deque[str],
    started: float,
    usage,
    peak_kb: int,
    *,
    what: str,
    timeout_s: float,
) -> FFmpegRun:
    """The run of an ended ffmpeg, or the error naming ``what`` (time limit, failure)."""
    stderr = "\n".join(stderr_tail)
    if watchdog.fired.is_set():
        raise TimeLimitExceeded(f"{what}: ffmpeg ran longer than its {timeout_s:.0f} s limit")
    if proc.returncode != 0:
        raise _ffmpeg_failed(what, stderr)
    return FFmpegRun(
        stderr=stderr,
        wall_s=time.monotonic() - started,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=(peak_kb or usage.ru_maxrss) / 1024,
    )


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout_s: float,
    what: str,
    on_progress: Callable[[float], None] | None = None,
    on_stderr: Callable[[str], None] | None = None,
    pass_fds: Sequence[int] = (),
) -> FFmpegRun:
    """Run ``ffmpeg`` with ``args``; raise :class:`FFmpegFailed` naming ``what`` on failure.

    ``on_progress`` receives the seconds of output written so far, a few times a second;
    ``on_stderr`` every line ffmpeg logs (only the last few thousand are kept otherwise);
    ``pass_fds`` are pipes ffmpeg reads as ``pipe:FD`` (see :func:`decoded_pcm`).
    """
    cmd = [FFMPEG_BIN, "-hide_banner", "-nostdin", "-y", "-nostats", "-progress", "pipe:1", *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=tuple(pass_fds)
    )
    stderr_tail, reader = _stderr_reader(proc, on_stderr)
    watchdog = _Watchdog(timeout_s, proc)
    peak_kb = 0
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            if on_progress is not None and raw.startswith(b"out_time_us="):
                value = raw.split(b"=", 1)[1].strip()
                if value.isdigit():
                    on_progress(int(value) / 1e6)
            elif raw.startswith(b"progress="):
                # ffmpeg's own peak memory, read while it runs: the rusage of a child forked
                # from a large process also counts the parent's memory at fork time.
                peak_kb = max(peak_kb, _peak_rss_kb(proc.pid))
        # wait4 gives this child's own CPU time.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        watchdog.cancel()
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    return _outcome(
        proc, watchdog, stderr_tail, started, usage, peak_kb, what=what, timeout_s=timeout_s
    )


def run_ffmpeg_fed(
    args: Sequence[str],
    feed: Callable[[IO[bytes]], None],
    *,
    timeout_s: float,
    what: str,
) -> FFmpegRun:
    """Run ``ffmpeg`` with ``args`` reading ``pipe:0``, which ``feed`` writes (in this thread,
    so nothing is buffered beyond the pipe); raise :class:`FFmpegFailed` naming ``what``."""
    cmd = [FFMPEG_BIN, "-hide_banner", "-y", "-nostats", "-loglevel", "error", *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    stderr_tail, reader = _stderr_reader(proc)
    watchdog = _Watchdog(timeout_s, proc)
    try:
        assert proc.stdin is not None
        try:
            feed(proc.stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg stopped reading; its exit status and stderr say why
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        watchdog.cancel()
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    return _outcome(proc, watchdog, stderr_tail, started, usage, 0, what=what, timeout_s=timeout_s)


def run_ffmpeg_teed(
    args: Sequence[str],
    out: Path,
    *,
    container: str,
    measure_filter: str,
    timeout_s: float,
    what: str,
    on_progress: Callable[[float], None] | None = None,
) -> tuple[FFmpegRun, str, float]:
    """Run ``ffmpeg args`` whose single output is ``pipe:1``; store those bytes in ``out`` while a
    second ffmpeg decodes the very same bytes through ``measure_filter``. Encoding and measuring
    overlap on two cores. Returns the encoder's run (its CPU seconds are both processes'), the
    measurer's stderr and the seconds of audio it decoded; ``on_progress`` receives those seconds
    as they grow."""
    encode_cmd = [FFMPEG_BIN, "-hide_banner", "-nostdin", "-y", "-nostats", *args]
    measure_cmd = [
        FFMPEG_BIN, "-hide_banner", "-nostats", "-progress", "pipe:1",
        "-protocol_whitelist", "pipe", "-f", container, "-i", "pipe:0",
        "-af", measure_filter, "-f", "null", "-",
    ]  # fmt: skip
    started = time.monotonic()
    encoder = subprocess.Popen(encode_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    measurer = subprocess.Popen(
        measure_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    encoder_log, encoder_reader = _stderr_reader(encoder)
    measurer_log, measurer_reader = _stderr_reader(measurer)
    pump_error: list[BaseException] = []

    def _pump() -> None:
        try:
            with open(out, "wb") as sink:
                for chunk in iter(lambda: encoder.stdout.read(64 * 1024), b""):  # type: ignore[union-attr]
                    sink.write(chunk)
                    measurer.stdin.write(chunk)  # type: ignore[union-attr]
        except BaseException as exc:  # reported once both processes have ended
            pump_error.append(exc)
        finally:
            with contextlib.suppress(OSError):
                measurer.stdin.close()  # type: ignore[union-attr]

    pump = threading.Thread(target=_pump, daemon=True)
    pump.start()
    threads = [encoder_reader, measurer_reader, pump]
    watchdog = _Watchdog(timeout_s, encoder, measurer)
    decoded_s = 0.0
    try:
        for raw in iter(measurer.stdout.readline, b""):  # type: ignore[union-attr]
            if raw.startswith(b"out_time_us="):
                value = raw.split(b"=", 1)[1].strip()
                if value.isdigit():
                    decoded_s = int(value) / 1e6
                    if on_progress is not None:
                        on_progress(decoded_s)
        _, status, usage = os.wait4(encoder.pid, 0)
        encoder.returncode = os.waitstatus_to_exitcode(status)
        _, status, measurer_usage = os.wait4(measurer.pid, 0)
        measurer.returncode = os.waitstatus_to_exitcode(status)
    finally:
        watchdog.cancel()
        for proc in (encoder, measurer):
            if proc.returncode is None:
                proc.kill()
                proc.wait()
        for thread in threads:
            thread.join(timeout=5)
        for stream in (encoder.stdout, encoder.stderr, measurer.stdout, measurer.stderr):
            stream.close()  # type: ignore[union-attr]
    if watchdog.fired.is_set():
        raise TimeLimitExceeded(f"{what}: ffmpeg ran longer than its {timeout_s:.0f} s limit")
    if encoder.returncode != 0:
        raise _ffmpeg_failed(what, "\n".join(encoder_log))
    if measurer.returncode != 0 or pump_error:
        detail = _last_error_line("\n".join(measurer_log))
        raise FFmpegFailed(f"{what}: measuring the output failed ({detail})")
    run = FFmpegRun(
        stderr="\n".join(encoder_log),
        wall_s=time.monotonic() - started,
        cpu_s=sum(u.ru_utime + u.ru_stime for u in (usage, measurer_usage)),
        max_rss_mb=max(usage.ru_maxrss, measurer_usage.ru_maxrss) / 1024,
    )
    return run, "\n".join(measurer_log), decoded_s


def run_ffprobe(path: str | os.PathLike[str], *, what: str) -> dict:
    """Return ffprobe's JSON description (format and streams) of a local file."""
    cmd = [
        FFPROBE_BIN,
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ALLOWED_DEMUXERS,
        "-show_format",
        "-show_streams",
        "-of",
        "json",
        f"file:{os.fspath(path)}",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TimeLimitExceeded(f"{what}: ffprobe ran longer than {PROBE_TIMEOUT_S:.0f} s") from exc
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise FFmpegFailed(f"{what}: {_last_error_line(stderr)}")
    return json.loads(done.stdout or b"{}")


@contextmanager
def decoded_pcm(
    path: str | os.PathLike[str],
    *,
    rate_hz: int,
    what: str,
    timeout_s: float,
    sample_format: str = "s16le",
    cpu_s: list[float] | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
) -> Iterator[IO[bytes]]:
    """Stream a file's first audio stream decoded to mono PCM (``sample_format``: ``s16le``, or
    ``f32le``, which keeps samples over full scale) at ``rate_hz`` through a pipe.

    The caller reads as much as it wants at a time, so memory stays bounded whatever the length,
    or hands the pipe to another ffmpeg (``run_ffmpeg(pass_fds=...)``). A stream whose rate or
    channels change midway still comes out in one format: this process's own filter graph is
    rebuilt at the change, never the reader's. ``cpu_s``, if given, receives the decoder's CPU
    seconds when it ends. ``start_s`` and ``duration_s``: only that range of the file is decoded
    (an input seek, sample-accurate when transcoding), the first sample read being ``start_s``.
    """
    seek = ["-ss", f"{start_s:.6f}"] if start_s > 0 else []
    if duration_s is not None:
        seek += ["-t", f"{duration_s:.3f}"]
    cmd = [
        FFMPEG_BIN,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *seek,
        *input_args(path),
        *("-map", "0:a:0", "-ac", "1", "-ar", str(rate_hz), "-f", sample_format, "pipe:1"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr_tail, reader = _stderr_reader(proc)
    watchdog = _Watchdog(timeout_s, proc)
    complete = False
    try:
        assert proc.stdout is not None
        yield proc.stdout
        # The reader is expected to consume everything; anything left means it stopped early.
        complete = proc.stdout.read(1) == b""
    finally:
        watchdog.cancel()
        if not complete:
            # Not proc.kill(): it polls first, and would reap a decoder that had just ended
            # (its last samples left in the pipe), leaving wait4 below no child to wait for.
            # Nothing else reaps it, so its pid is still its own.
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
        _, status, usage = os.wait4(proc.pid, 0)
        returncode = proc.returncode = os.waitstatus_to_exitcode(status)
        if cpu_s is not None:
            cpu_s.append(usage.ru_utime + usage.ru_stime)
        reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    if watchdog.fired.is_set():
        raise TimeLimitExceeded(f"{what}: decoding ran longer than its {timeout_s:.0f} s limit")
    if complete and returncode != 0:
        detail = _last_error_line("\n".join(stderr_tail))
        raise FFmpegFailed(f"{what}: decoding failed ({detail})")


def lavfi_input(graph: str) -> list[str]:
    """Arguments for a generated (lavfi) input: silence, tones, cover art backgrounds."""
    return ["-f", "lavfi", "-i", graph]
