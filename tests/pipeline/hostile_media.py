"""Hostile tracks built at test time with ffmpeg: files whose headers or timestamps lie about
their length, and files that are hard to master. Long files are made by repeating the bytes or
packets of a short one, so building hours of audio takes well under a second."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _mp3_bytes(source: str, *, rate_hz: int, vbr_quality: int) -> bytes:
    """A VBR MP3 of a lavfi ``source``, without a Xing/Info header or ID3 tags."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-ar", str(rate_hz), "-ac", "1",
         "-c:a", "libmp3lame", "-q:a", str(vbr_quality), "-write_xing", "0", "-id3v2_version", "0",
         "-f", "mp3", "pipe:1"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def vbr_mp3_without_xing(path: Path, *, seconds: float, loud_s: float = 10.0) -> Path:
    """An 8 kHz VBR MP3 of ``seconds``: loud noise first (large frames), then silence (the
    smallest frames), with no Xing/Info header. ffprobe estimates its length from the first
    frames' bitrate, far short of the truth."""
    loud = _mp3_bytes(f"anoisesrc=r=8000:a=0.5:d={loud_s}:seed=1", rate_hz=8000, vbr_quality=0)
    quiet = _mp3_bytes("anullsrc=r=8000:cl=mono:d=60", rate_hz=8000, vbr_quality=0)
    path.write_bytes(loud + quiet * math.ceil((seconds - loud_s) / 60))
    return path


def silent_opus(path: Path, *, seconds: float) -> Path:
    """Ogg Opus of ``seconds`` of silence in 2-byte packets of 120 ms (what a DTX encoder sends
    while nobody speaks): about 50 bytes per second, so hours fit in a few megabytes."""
    minute = path.with_name(f"{path.stem}-minute.opus")
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono:d=60", "-c:a", "libopus", "-b:a", "500",
           "-frame_duration", "120", "-application", "voip", str(minute))  # fmt: skip
    loops = math.ceil(seconds / 60) - 1
    ffmpeg("-stream_loop", str(loops), "-i", str(minute), "-c", "copy", str(path))
    minute.unlink()
    return path


def m4a_with_forged_timestamps(path: Path, *, seconds: float) -> Path:
    """AAC in MP4 whose sample table says every packet lasts 10 ticks (of 1/44100 s) instead of
    1024: the timestamps add up to about a hundredth of the audio the packets hold."""
    honest = path.with_name(f"{path.stem}-honest.m4a")
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
           "-c:a", "aac", str(honest))  # fmt: skip
    ffmpeg("-i", str(honest), "-c", "copy", "-bsf:a", "setts=ts=N*10", str(path))
    honest.unlink()
    return path


def mp3_changing_rate(path: Path) -> Path:
    """Two MP3s joined byte for byte: 10 s of speech-like noise bursts at 44.1 kHz, then 10 s of a
    quiet tone at 22.05 kHz. Decoders switch rate at the join, as they must."""
    loud = _mp3_bytes(
        "anoisesrc=color=pink:r=44100:d=10:seed=3,volume='if(lt(mod(t,2),1.3),1,0.02)':eval=frame",
        rate_hz=44_100,
        vbr_quality=2,
    )
    quiet = _mp3_bytes(
        "sine=frequency=660:sample_rate=22050:duration=10,volume=-45dB",
        rate_hz=22_050,
        vbr_quality=2,
    )
    path.write_bytes(loud + quiet)
    return path


def loud_noise(
    path: Path, *, channels: int = 8, rate_hz: int = 192_000, seconds: float = 10.0
) -> Path:
    """Full-scale white noise, independent on every channel, as 24-bit WAV."""
    sources = [
        arg
        for seed in range(channels)
        for arg in ("-f", "lavfi", "-i", f"anoisesrc=r={rate_hz}:a=1:d={seconds}:seed={seed + 1}")
    ]
    inputs = "".join(f"[{i}]" for i in range(channels))
    ffmpeg(*sources, "-filter_complex", f"{inputs}amerge=inputs={channels}", "-c:a", "pcm_s24le",
           str(path))  # fmt: skip
    return path
