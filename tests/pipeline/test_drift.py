"""Clock drift: an espeak-ng speech track with clicks at known times, re-timed by real ffmpeg as
a recorder running 0.1 % fast or 0.05 % slow would record it, is measured from its length, from
the voice it shares with the true track and from live chunk timing, and resampled back so the
click near the end lands where the room heard it; a track without drift reads about 0 and is
left alone."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.drift import (
    CORRECT_ABOVE_PPM,
    ChunkArrival,
    DriftMethod,
    best_estimate,
    correct_drift,
    drift_from_chunks,
    drift_from_length,
    drift_from_shared_voice,
)

RATE = 48_000
SECONDS = 60
CLICKS_S = (1.0, 58.0)  # the markers: near the start and near the end
# A recorder fast by f writes 48 000 f samples per room second; labelling the room's 48 000 Hz
# audio as RATE / f and resampling it to 48 000 makes exactly that track.
FAST_LABEL_HZ = 47_952  # 48000 / 47952 - 1 = +1001.0 ppm
SLOW_LABEL_HZ = 48_024  # 48000 / 48024 - 1 = -499.75 ppm
PPM_TOLERANCE = 5.0  # measured: within 0.1 ppm by length, within 1 ppm by a shared voice
RESIDUAL_TOLERANCE_S = 0.001  # after the correction, at the click 57 s later


def _true_ppm(label_hz: int) -> float:
    return (RATE / label_hz - 1.0) * 1e6


def _decode(path: Path) -> np.ndarray:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le",
         "-"], check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.float32)


def _duration_s(path: Path) -> float:
    return len(_decode(path)) / RATE


def _click_s(samples: np.ndarray, near_s: float) -> float:
    """Where the click nearest ``near_s`` peaks (within 0.3 s), to the sample."""
    a = int((near_s - 0.3) * RATE)
    return (a + int(np.argmax(np.abs(samples[a : a + int(0.6 * RATE)])))) / RATE


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minute of one speaker as the room heard it: speech throughout, two clicks."""
    folder = tmp_path_factory.mktemp("drift")
    wav = folder / "speech.wav"
    text = (
        "The library garden has tomatoes and sunflowers. The market opens at eight on "
        "Saturday morning, and the bakery sells bread until noon. "
    ) * 8
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True)
    voice = _decode(wav)
    track = np.zeros(RATE * SECONDS)
    voice = voice[: len(track) - RATE * 2] / np.abs(voice).max() * 0.3
    track[RATE * 2 : RATE * 2 + len(voice)] = voice
    for at_s in CLICKS_S:
        i = int(at_s * RATE)
        track[i - RATE // 20 : i + RATE // 20] = 0  # the click alone in its 100 ms
        track[i] = 0.95
    path = folder / "room.flac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
         "-c:a", "flac", str(path)], input=track.astype(np.float32).tobytes(), check=True,
    )  # fmt: skip
    return path


def _recorded(room: Path, label_hz: int) -> Path:
    out = room.with_name(f"recorded-{label_hz}.flac")
    if not out.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(room), "-af",
             f"asetrate={label_hz},aresample={RATE}", "-c:a", "flac", str(out)], check=True,
        )  # fmt: skip
    return out


@pytest.mark.parametrize("label_hz", [FAST_LABEL_HZ, SLOW_LABEL_HZ])
def test_drifted_track_is_measured_from_its_length_and_corrected_into_room_time(
    room: Path, label_hz: int
) -> None:
    recorded = _recorded(room, label_hz)
    true_ppm = _true_ppm(label_hz)
    before = _click_s(_decode(recorded), CLICKS_S[1] * (1 + true_ppm * 1e-6))
    assert abs(before - CLICKS_S[1]) > 0.025  # uncorrected, the end is audibly off

    estimate = drift_from_length(_duration_s(recorded), _duration_s(room))
    assert estimate is not None and estimate.method is DriftMethod.LENGTH
    assert estimate.drift_ppm == pytest.approx(true_ppm, abs=PPM_TOLERANCE)
    assert estimate.needs_correction

    corrected = room.with_name(f"corrected-{label_hz}.flac")
    correct_drift(recorded, estimate.drift_ppm, corrected, timeout_s=60, label="bruno")
    samples = _decode(corrected)
    assert len(samples) / RATE == pytest.approx(SECONDS, abs=0.002)
    for at_s in CLICKS_S:
        assert abs(_click_s(samples, at_s) - at_s) <= RESIDUAL_TOLERANCE_S


@pytest.mark.parametrize("label_hz", [FAST_LABEL_HZ, SLOW_LABEL_HZ])
def test_drift_is_measured_from_a_voice_two_tracks_share(room: Path, label_hz: int) -> None:
    """The room's track as the reference, the drifted one as the other microphone hearing the
    same voice; windows 10 s in and 48 s in."""
    estimate = drift_from_shared_voice(
        room, 0.0, _recorded(room, label_hz), 0.0, (10.0, 48.0), timeout_s=60, label="bruno"
    )
    assert estimate is not None and estimate.method is DriftMethod.SHARED_VOICE
    assert estimate.drift_ppm == pytest.approx(_true_ppm(label_hz), abs=PPM_TOLERANCE)


def test_track_without_drift_reads_zero_and_is_left_alone(room: Path) -> None:
    copy = _recorded(room, RATE)  # through the same ffmpeg filters, at the room's own rate
    by_length = drift_from_length(_duration_s(copy), _duration_s(room))
    by_voice = drift_from_shared_voice(
        room, 0.0, copy, 0.0, (10.0, 48.0), timeout_s=60, label="alice"
    )
    assert by_length is not None and by_voice is not None
    assert abs(by_length.drift_ppm) < 1.0 and abs(by_voice.drift_ppm) < 1.0
    assert not by_length.needs_correction and not by_voice.needs_correction
    assert CORRECT_ABOVE_PPM == 50.0


def test_a_speaker_who_left_early_is_not_taken_for_drift() -> None:
    assert drift_from_length(3000.0, 3600.0) is None  # 10 minutes short: they left
    assert drift_from_length(3603.6, 3600.0).drift_ppm == pytest.approx(1000.0, abs=0.01)


def _chunks(ppm: float, *, seconds: int, seed: int = 19) -> list[ChunkArrival]:
    """A second of audio a chunk from a recorder off by ``ppm``, each arriving after a network
    delay of 20 ms to half a second, a few 3 s later (a stalled connection), and 30 s of them
    held back by an outage and sent together when the connection came back."""
    rng = np.random.default_rng(seed)
    per_chunk = RATE
    delays = rng.uniform(0.02, 0.5, seconds)
    delays[rng.choice(seconds, seconds // 20, replace=False)] += 3.0
    outage = range(seconds * 9 // 10 - 30, seconds * 9 // 10)  # 30 s lost, then resent at once
    for i in outage:
        delays[i] += outage.stop - i
    return [
        ChunkArrival(i * per_chunk, per_chunk, (i + 1) / (1 + ppm * 1e-6) + delays[i] + 1000.0)
        for i in range(seconds)
    ]


@pytest.mark.parametrize("ppm", [1000.0, -500.0, 0.0])
def test_drift_is_measured_from_when_live_chunks_arrived(ppm: float) -> None:
    """Ten minutes of one-second chunks, late by up to half a second each, and an outage."""
    estimate = drift_from_chunks(_chunks(ppm, seconds=600), rate_hz=RATE)
    assert estimate is not None and estimate.method is DriftMethod.CHUNKS
    assert estimate.drift_ppm == pytest.approx(ppm, abs=PPM_TOLERANCE * 4)
    assert best_estimate(drift_from_length(600.0, 600.0), estimate) is estimate


def test_a_noisy_chunk_estimate_of_a_clean_recorder_does_not_resample_it() -> None:
    """Five minutes of chunks, each up to 3 s late: the clean recorder reads some tens of ppm,
    with a standard error that says so, and is left as it is."""
    rng = np.random.default_rng(5)
    chunks = [ChunkArrival(i * RATE, RATE, i + 1 + rng.uniform(0, 3.0)) for i in range(300)]
    estimate = drift_from_chunks(chunks, rate_hz=RATE)
    assert estimate is not None and estimate.uncertainty_ppm > CORRECT_ABOVE_PPM / 3
    assert not estimate.needs_correction


def test_chunks_sent_faster_than_they_were_recorded_are_not_taken_for_drift() -> None:
    """A recording replayed at 8 times real time (or a long backlog sent at once) would read
    as a clock 700 % fast and be resampled to an eighth of its length; no clock is that far
    off, so there is no estimate."""
    replayed = [ChunkArrival(i * RATE, RATE, 1000.0 + (i + 1) / 8) for i in range(300)]
    assert drift_from_chunks(replayed, rate_hz=RATE) is None
    slow = [ChunkArrival(i * RATE, RATE, 1000.0 + (i + 1) * 1.01) for i in range(300)]
    assert drift_from_chunks(slow, rate_hz=RATE) is None  # 1 % slow: a stalling sender


def test_a_drift_report_is_plain_json_whatever_the_fit_returned() -> None:
    """The report goes into a stage's result in the database as JSON: numpy's bool and float
    are not JSON, and a fit's standard error is numpy's (a mix once failed on every retry)."""
    rng = np.random.default_rng(5)
    noisy = [ChunkArrival(i * RATE, RATE, i + 1 + rng.uniform(0, 3.0)) for i in range(300)]
    for chunks in (noisy, _chunks(1000.0, seconds=600)):
        estimate = drift_from_chunks(chunks, rate_hz=RATE)
        assert estimate is not None
        report = estimate.as_dict(corrected=estimate.needs_correction)
        assert json.loads(json.dumps(report)) == report
        assert all(type(v) in (str, float, bool) for v in report.values()), report


def test_the_offline_job_puts_a_track_in_room_time_by_the_end_the_manifest_gives(
    room: Path, tmp_path: Path
) -> None:
    """``spacecast process`` with a participant's ``end`` in the manifest: the fast recorder's
    track is measured by its length against that span, resampled before any stage reads it,
    and the clicks of the delivered episode are as far apart as in the room (57.06 ms further
    uncorrected); the report says so."""
    from pipeline.master import MP3
    from pipeline.process import ProcessOptions, process_space

    recorded = _recorded(room, FAST_LABEL_HZ)
    (tmp_path / "bruno.flac").write_bytes(recorded.read_bytes())
    manifest = {
        "space": {"id": "drift-1", "title": "A fast clock"},
        "show": {"title": "Drift", "author": "Spacecast tests"},
        "participants": [
            {"id": "bruno", "name": "Bruno", "track": "bruno.flac", "offset": 0.0,
             "end": float(SECONDS),
             "consent": {"record": True, "publish": True, "transcribe": False}},
        ],
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    report = process_space(
        tmp_path / "manifest.json", tmp_path / "out", ProcessOptions(formats=(MP3,))
    )
    (track,) = report["tracks"]
    drift = track["health"]["drift"]
    assert drift["method"] == "length" and drift["corrected"], drift
    assert drift["drift_ppm"] == pytest.approx(_true_ppm(FAST_LABEL_HZ), abs=PPM_TOLERANCE)
    (mp3,) = (tmp_path / "out").rglob("*.mp3")
    episode, heard = _decode(mp3), _decode(room)
    # Where the episode carries the room's speech, 10 s in and 50 s in: the same lag at both
    # (the MP3's encoder delay), 40 ms apart uncorrected.
    lags = [_lag_s(heard, episode, at_s) for at_s in (10.0, 50.0)]
    assert lags[1] - lags[0] == pytest.approx(0.0, abs=0.003), lags


def _lag_s(reference: np.ndarray, other: np.ndarray, at_s: float) -> float:
    """How late ``other`` carries the 2 s of ``reference`` from ``at_s`` (within 0.1 s)."""
    a, n, reach = int(at_s * RATE), 2 * RATE, RATE // 10
    piece = reference[a : a + n]
    scores = [float(np.dot(piece, other[a + d : a + d + n])) for d in range(-reach, reach)]
    return (int(np.argmax(scores)) - reach) / RATE
