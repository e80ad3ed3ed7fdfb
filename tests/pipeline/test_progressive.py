"""Progressive MP3, measured: a master encoded in segments (CBR, no bit reservoir, one unit of
pre-roll and post-roll) and spliced at frame boundaries decodes like the whole encode: the same
frames and length, no click at the joins (the error against the source around each join no worse
than the whole encode's there), while splicing without pre-roll does click. Joins are placed in
speech on purpose."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline import progressive as pm
from pipeline.live import write_wav

DELAY = 1105  # LAME's encoder delay + the decoder's, in samples at 44.1 kHz (a raw stream)
SEGMENT_UNITS = 5  # 6.4 s segments: many joins, most of them inside speech
LOWPASS_HZ = 8_000


@pytest.fixture(scope="module")
def speech(sample_dir: Path, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Two voices of the sample mixed at 48 kHz mono, and the same at 44.1 kHz to compare."""
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    tracks = [sample_dir / p["track"] for p in manifest["participants"] if p["id"] != "bruno"]
    folder = tmp_path_factory.mktemp("progressive")
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for t in tracks:
        cmd += ["-i", str(t)]
    graph = f"amix=inputs={len(tracks)}:normalize=0,aresample=48000"
    raw = subprocess.run(
        [*cmd, "-filter_complex", graph, "-ac", "1", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    pcm = np.frombuffer(raw, dtype=np.int16)
    pcm = pcm[: len(pcm) // pm.UNIT_SAMPLES * pm.UNIT_SAMPLES]
    source = write_wav(folder / "master.wav", pcm.tobytes())
    ref = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), "-ar", "44100", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return source, np.frombuffer(ref, dtype=np.int16).astype(np.float64)


def _decode(data: bytes, folder: Path) -> np.ndarray:
    path = folder / "decode.mp3"
    path.write_bytes(data)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-af", "pan=mono|c0=c0", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16).astype(np.float64)


def _progressive(source: Path, folder: Path, *, roll: int) -> tuple[bytes, list[int]]:
    pcm = np.frombuffer(source.read_bytes()[44:], dtype=np.int16)
    total = len(pcm) // pm.UNIT_SAMPLES
    parts, joins = [], []
    for start in range(0, total, SEGMENT_UNITS):
        end = min(total, start + SEGMENT_UNITS)
        a, b = max(0, start - roll), min(total, end + roll)
        region = write_wav(
            folder / "region.wav", pcm[a * pm.UNIT_SAMPLES : b * pm.UNIT_SAMPLES].tobytes()
        )
        parts.append(
            pm.encode_segment(
                region,
                region_start_unit=a,
                start_unit=start,
                end_unit=end,
                last=end == total,
                bitrate="96k",
                timeout_s=60,
            )
        )
        if start:
            joins.append(start * pm.UNIT_FRAMES * pm.MP3_FRAME_SAMPLES)
    return b"".join(parts), joins


def _below(signal: np.ndarray, hz: float) -> np.ndarray:
    """``signal`` with everything above ``hz`` removed: the encoder's own low-pass (about
    16 kHz at 96 kb/s) would otherwise be most of the error, and hide a click."""
    spectrum = np.fft.rfft(signal)
    spectrum[int(hz * len(signal) / pm.MP3_RATE_HZ) :] = 0
    return np.fft.irfft(spectrum, len(signal))


def _errors(decoded: np.ndarray, ref: np.ndarray, joins: list[int]) -> tuple[float, float]:
    """RMS error against the source within two frames of a join, and everywhere else."""
    n = min(len(decoded) - DELAY, len(ref))
    err = _below(decoded[DELAY : DELAY + n] - ref[:n], LOWPASS_HZ)
    near = np.zeros(n, bool)
    for j in joins:
        near[j - 2 * pm.MP3_FRAME_SAMPLES : j + 2 * pm.MP3_FRAME_SAMPLES] = True
    return float(np.sqrt(np.mean(err[near] ** 2))), float(np.sqrt(np.mean(err[~near] ** 2)))


def _whole(source: Path, folder: Path) -> bytes:
    total = (source.stat().st_size - 44) // 2 // pm.UNIT_SAMPLES
    return pm.encode_segment(
        source, region_start_unit=0, start_unit=0, end_unit=total, last=True, bitrate="96k",
        timeout_s=60,
    )  # fmt: skip


def test_spliced_mp3_decodes_like_the_whole_encode_with_no_click_at_joins(speech, tmp_path):
    source, ref = speech
    whole = _whole(source, tmp_path)
    spliced, joins = _progressive(source, tmp_path, roll=pm.ROLL_UNITS)
    assert len(joins) >= 10
    assert len(pm.mp3_frames(spliced)) == len(pm.mp3_frames(whole))
    whole_pcm, spliced_pcm = _decode(whole, tmp_path), _decode(spliced, tmp_path)
    assert len(spliced_pcm) == len(whole_pcm)
    # The joins fall in speech: the source is loud there.
    speech_at_joins = [np.sqrt(np.mean(ref[j - 2304 : j + 2304] ** 2)) for j in joins]
    assert sum(level > 300 for level in speech_at_joins) >= len(joins) // 2
    near_whole, far_whole = _errors(whole_pcm, ref, joins)
    near_spliced, far_spliced = _errors(spliced_pcm, ref, joins)
    assert near_spliced <= 1.1 * near_whole  # a join costs nothing the whole encode does not
    assert near_spliced <= 1.1 * far_spliced  # and is no worse than anywhere else
    assert far_spliced == pytest.approx(far_whole, rel=0.05)


def test_splicing_without_pre_roll_clicks(speech, tmp_path):
    """Why the pre-roll: the same splice with none is measurably worse at every join."""
    source, ref = speech
    spliced, joins = _progressive(source, tmp_path, roll=0)
    near, far = _errors(_decode(spliced, tmp_path), ref, joins)
    assert near > 1.5 * far
