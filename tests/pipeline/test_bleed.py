"""The bleed check on real audio: Bruno refuses publication, but Alice's microphone picks him up."""

from pathlib import Path

import pytest

from infra.samples import build_sample_space, load_spec
from pipeline.activity import detect_speech
from pipeline.bleed import TrackRef, detect_bleed
from pipeline.master import MP3, LoudnessTarget, master_episode
from pipeline.mix import MixInput, mix_tracks
from tests.audio import decode, rms_db, window

BRUNO_ON_ALICE_DB = -18.0


@pytest.fixture(scope="module")
def bleeding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = load_spec("town_square")
    spec["participants"][0]["hears"] = {"bruno": BRUNO_ON_ALICE_DB}
    folder = tmp_path_factory.mktemp("bleed")
    build_sample_space(spec, folder)
    return folder


def test_activity_finds_each_utterance(bleeding: Path, truth) -> None:
    activity = detect_speech(bleeding / "bruno.webm", offset_s=7.153, timeout_s=60)
    spoken = [(u["start_s"], u["end_s"]) for u in truth["utterances"] if u["speaker_id"] == "bruno"]
    assert len(activity.segments) == len(spoken)
    for (found_start, found_end), (start, end) in zip(activity.segments, spoken, strict=True):
        assert found_start == pytest.approx(start, abs=0.25)
        assert found_end == pytest.approx(end, abs=0.3)


def test_bleed_is_found_on_the_microphone_that_carries_it(bleeding: Path, tmp_path: Path) -> None:
    activity = detect_speech(bleeding / "bruno.webm", offset_s=7.153, timeout_s=60)
    findings = detect_bleed(
        TrackRef("bruno", "Bruno", bleeding / "bruno.webm", 7.153),
        activity.segments,
        [
            TrackRef("alice", "Alice", bleeding / "alice.opus", 0.0),
            TrackRef("chioma", "Chioma", bleeding / "chioma.m4a", 15.5),
        ],
        tmp_path,
        timeout_s=60,
    )
    by_track = {f.heard_on_id: f for f in findings}
    assert by_track["alice"].detected and by_track["alice"].median_correlation > 0.8
    assert by_track["alice"].leakage_db == pytest.approx(BRUNO_ON_ALICE_DB, abs=4.0)
    assert not by_track["chioma"].detected and by_track["chioma"].median_correlation < 0.1


@pytest.mark.parametrize("duck", [False, True], ids=["report-only", "ducked"])
def test_ducking_removes_the_bleed_from_the_episode(
    bleeding: Path, truth, tmp_path: Path, duck: bool
) -> None:
    activity = detect_speech(bleeding / "bruno.webm", offset_s=7.153, timeout_s=60)
    inputs = [
        MixInput(bleeding / "alice.opus", 0.0, "alice"),
        MixInput(bleeding / "chioma.m4a", 15.5, "chioma"),
    ]
    mixed = mix_tracks(
        inputs, tmp_path / "mix.flac", timeout_s=60, duck=activity.segments if duck else ()
    )
    mastered = master_episode(
        mixed.path, mixed.loudness, tmp_path, formats=[MP3], target=LoudnessTarget(), timeout_s=120
    )
    episode = decode(mastered.files["mp3"].path)
    import numpy as np

    others = np.concatenate(
        [
            window(episode, u["start_s"], u["end_s"])
            for u in truth["utterances"]
            if u["speaker_id"] != "bruno"
        ]
    )
    bruno = [
        window(episode, u["start_s"] + 0.2, u["end_s"] - 0.2)
        for u in truth["utterances"]
        if u["speaker_id"] == "bruno"
    ]
    leakage = max(rms_db(w) for w in bruno) - rms_db(others)
    if duck:
        assert leakage < -45.0
    else:
        assert -25.0 < leakage < -12.0  # his voice is there, through Alice's microphone


def _wav(path: Path, samples) -> Path:
    import wave

    import numpy as np

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(np.clip(samples, -32767, 32767).astype("<i2").tobytes())
    return path


@pytest.mark.parametrize(("target", "detected"), [(0.27, False), (0.33, True)])
def test_the_bleed_threshold_sits_between_a_correlation_just_under_and_just_over_it(
    tmp_path: Path, target: float, detected: bool
) -> None:
    """A microphone carrying the speaker at a correlation of 0.27 is not a finding; at 0.33 it
    is (the threshold is 0.3): the speaker's signal plus independent noise at the power that
    gives that correlation, over 6 windows of 8 s."""
    import numpy as np

    from pipeline.bleed import DETECTION_CORRELATION

    assert DETECTION_CORRELATION == 0.3
    rng = np.random.default_rng(7)
    seconds = 60
    own = rng.normal(0, 3000, seconds * 8000)
    # corr = a*sx / sqrt(a^2 sx^2 + sn^2)  =>  sn = a*sx*sqrt(1/corr^2 - 1)
    gain = 0.5
    noise = rng.normal(0, gain * 3000 * (1 / target**2 - 1) ** 0.5, own.size)
    speaker = TrackRef("bruno", "Bruno", _wav(tmp_path / "own.wav", own), 0.0)
    heard = TrackRef("alice", "Alice", _wav(tmp_path / "mic.wav", gain * own + noise), 0.0)
    windows = [(start, start + 8.0) for start in range(0, 48, 8)]
    (finding,) = detect_bleed(speaker, windows, [heard], tmp_path, timeout_s=60)
    assert finding.median_correlation == pytest.approx(target, abs=0.02)
    assert finding.detected is detected
