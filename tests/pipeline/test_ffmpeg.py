"""The one ffmpeg runner: time limits end runaway processes, and messages carry no internals."""

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
