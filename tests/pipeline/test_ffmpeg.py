"""The one ffmpeg runner: time limits end runaway processes, and messages carry no internals."""

import os
import time
from pathlib import Path

import pytest

from pipeline.errors import FFmpegFailed, TimeLimitExceeded
from pipeline.ffmpeg import decoded_pcm, lavfi_input, run_ffmpeg


def test_a_run_past_its_time_limit_is_killed_promptly() -> None:
    started = time.monotonic()
    with pytest.raises(TimeLimitExceeded, match=r"^endless: ffmpeg ran longer than its 1 s limit$"):
        run_ffmpeg(
            [*lavfi_input("anoisesrc=r=48000"), "-f", "null", "-"], timeout_s=1.0, what="endless"
        )
    assert time.monotonic() - started < 5


def test_decoding_past_its_time_limit_is_killed(tmp_path: Path) -> None:
    source = tmp_path / "long.flac"
    run_ffmpeg(
        [*lavfi_input("anullsrc=r=48000:cl=mono:d=600"), str(source)], timeout_s=60, what="make"
    )
    started = time.monotonic()
    with (
        pytest.raises(TimeLimitExceeded),
        decoded_pcm(source, rate_hz=16000, what="slow reader", timeout_s=1.0) as pcm,
    ):
        while pcm.read(3200):
            time.sleep(0.05)  # a reader far slower than real time
    assert time.monotonic() - started < 5


def test_a_reader_that_stops_after_its_decoder_ended_leaves_it_reaped_once(tmp_path: Path) -> None:
    """A splice reads a decoder only to the stretch's end; the decoder may have ended with its
    last samples still in the pipe. Leaving it then is no error (Popen.kill() used to reap the
    ended decoder first, and the wait for it failed with ChildProcessError)."""
    source = tmp_path / "short.flac"
    run_ffmpeg([*lavfi_input("sine=r=48000:d=0.5"), str(source)], timeout_s=60, what="make")
    with decoded_pcm(source, rate_hz=48_000, what="partial reader", timeout_s=30) as pcm:
        assert len(pcm.read(4800)) == 4800  # 0.05 s of 0.5 s; 45 kB wait in the pipe
        pid = next(p for p in Path("/proc").iterdir() if p.name.isdigit() and _child_ffmpeg(p))
        deadline = time.monotonic() + 30
        while (pid / "stat").read_text().split(") ", 1)[1][0] != "Z":  # ended, not yet reaped
            assert time.monotonic() < deadline, "the decoder did not end"
            time.sleep(0.01)
    assert not pid.exists()  # reaped


def _child_ffmpeg(proc: Path) -> bool:
    """Is ``proc`` an ffmpeg child of this process (running or ended: its stat stays)?"""
    try:
        name, rest = (proc / "stat").read_text().split(" (", 1)[1].split(") ", 1)
    except (OSError, IndexError, ValueError):
        return False
    return name == "ffmpeg" and int(rest.split()[1]) == os.getpid()


def test_failure_messages_name_the_job_and_hide_paths(tmp_path: Path) -> None:
    missing = tmp_path / "secret-folder" / "nothing.wav"
    with pytest.raises(FFmpegFailed) as error:
        run_ffmpeg(
            ["-i", f"file:{missing}", "-f", "null", "-"], timeout_s=10, what="reading alice's track"
        )
    message = str(error.value)
    assert message.startswith("reading alice's track: ffmpeg failed (")
    assert "No such file or directory" in message
    assert str(tmp_path) not in message and "0x" not in message


def test_an_ffmpeg_that_runs_out_of_disk_is_a_retryable_os_error_not_a_bad_input(
    tmp_path: Path,
) -> None:
    """ffmpeg writing 10 s of WAV (960 kB) into a 64 KiB tmpfs: the full disk is reported as
    ENOSPC (the stage is retried), not as FFmpegFailed (which fails it for good)."""
    import errno
    import subprocess

    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(OSError) as error:
            run_ffmpeg(
                [*lavfi_input("sine=f=440:r=48000:d=10"), "-y", str(full / "out.wav")],
                timeout_s=30,
                what="mixing",
            )
        assert not isinstance(error.value, FFmpegFailed)
        assert error.value.errno == errno.ENOSPC
        assert str(error.value) == "[Errno 28] mixing: no space left on the scratch disk"
    finally:
        subprocess.run(["umount", "-l", str(full)], check=False)
