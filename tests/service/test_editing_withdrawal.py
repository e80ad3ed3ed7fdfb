"""A withdrawal after the host published a version with their own intro, outro and music bed,
through the running service (real stages, S3 server, PostgreSQL, Redis): the version is
republished without the withdrawn voice and with the host's audio; and a cut's preview of a
mix that ffmpeg cannot read is a named 502. Its own room, so each test stands alone in any
order."""

from __future__ import annotations

import numpy as np
import pytest

from tests.audio import decode, ebur128, max_normalized_correlation, window
from tests.service.test_editing import (
    CHIOMA_FIRST,
    _tone,
    audio,
    lines,
    publish,
    published_room,
    settle,
)

pytestmark = pytest.mark.slow
INTRO_HZ, OUTRO_HZ, BED_HZ = 440, 660, 220
RATE_HZ = 16_000


@pytest.fixture(scope="module")
def room(redis_stack, tmp_path_factory) -> dict:
    """quick_chat with all three speakers published, as the service first published it."""
    with redis_stack.client() as host:
        return published_room(host, tmp_path_factory.mktemp("withdrawal-room"), timeout_s=600)


def _strongest_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE_HZ)[int(np.argmax(spectrum))])


def _mix_key(redis_stack, space_id: str) -> str:
    from infra.db import session_scope
    from services.runs import done_results

    with session_scope(redis_stack.env["SPACECAST_DATABASE_URL"]) as session:
        return done_results(session, space_id).mix.key


def test_a_withdrawal_republishes_the_hosts_intro_outro_and_bed_without_that_voice(
    redis_stack, room, tmp_path
) -> None:
    state, truth, space_id = room["state"], room["truth"], room["space_id"]
    episode_id, show_id = state["episode"]["id"], state["show_id"]
    chioma = truth[1]
    with redis_stack.client() as host:
        ids = {}
        for name, freq, seconds, ext, codec in [
            ("intro", INTRO_HZ, 2.5, "ogg", ("-c:a", "libopus")),
            ("outro", OUTRO_HZ, 1.5, "mp3", ("-c:a", "libmp3lame")),
            ("bed", BED_HZ, 4.0, "flac", ("-c:a", "flac")),
        ]:
            made = host.post(
                f"/shows/{show_id}/audio",
                params={"name": name},
                content=_tone(tmp_path / f"{name}.{ext}", freq, seconds, *codec),
            )
            assert made.status_code == 201, made.text
            ids[name] = made.json()
        made = host.post(
            f"/episodes/{episode_id}/versions",
            json={
                "operations": [
                    {"op": "intro", "audio_id": ids["intro"]["id"]},
                    {"op": "outro", "audio_id": ids["outro"]["id"]},
                    {"op": "bed", "audio_id": ids["bed"]["id"]},
                ]
            },
        )
        assert made.status_code == 201, made.text
        number = made.json()["number"]
        edited = publish(host, space_id, episode_id, number)
        assert any(line["speaker"] == "Chioma" for line in lines(host, edited))
        chioma_key = redis_stack.invite(space_id, "chioma")
    with redis_stack.client(key=chioma_key) as her:
        her.post("/me/consent", json={"answers": {"publish": False}}).raise_for_status()
    with redis_stack.client() as host:
        after = settle(host, space_id, episode_id)  # the answer set it processing at once
        report = host.get(f"/episodes/{episode_id}/report").json()
        after_lines = lines(host, after)
        texts = {
            fmt: host.get(after["episode"]["transcripts"][fmt]).text.lower()
            for fmt in ("json", "vtt", "srt")
        }
        path = audio(host, after, tmp_path / "withdrawn.mp3")
        listed = host.get(f"/episodes/{episode_id}/versions").json()

    # The host's version, rendered again: without her, with the host's audio.
    assert listed["edit_version"] == listed["rendered_version"] == number
    assert report["edits"]["version"] == number
    assert after["episode"]["audio"]["mp3"] != edited["episode"]["audio"]["mp3"]
    assert {line["speaker"] for line in after_lines} == {"Alice", "Dan"}
    for fmt, text in texts.items():
        assert not any(word in text for word in CHIOMA_FIRST), fmt
    lead = ids["intro"]["duration_s"]
    added = lead + ids["outro"]["duration_s"]
    assert report["edits"]["lead_s"] == pytest.approx(lead, abs=0.001)
    assert after["episode"]["duration_s"] - state["episode"]["duration_s"] == pytest.approx(
        added, abs=0.06
    )
    lufs, peak = ebur128(path)
    assert lufs == pytest.approx(-16.0, abs=0.5) and peak <= -1.0
    heard = decode(path)
    end_s = len(heard) / RATE_HZ
    assert _strongest_hz(window(heard, 0.2, lead - 0.2)) == pytest.approx(INTRO_HZ, abs=5)
    outro = ids["outro"]["duration_s"]
    assert _strongest_hz(window(heard, end_s - outro + 0.2, end_s - 0.2)) == pytest.approx(
        OUTRO_HZ, abs=5
    )
    # Her voice is not in it: her own track against where she spoke, under -30 dB.
    shift = report["episode"]["timeline_start_s"]
    own = decode(room["folder"] / "chioma.m4a")
    chioma_join = 2.5
    at = chioma["start_s"] - shift + lead
    correlation = max_normalized_correlation(
        window(own, chioma["start_s"] - chioma_join, chioma["end_s"] - chioma_join),
        window(heard, at, at + chioma["end_s"] - chioma["start_s"]),
    )
    assert correlation < 10 ** (-30 / 20), correlation


def test_a_cut_preview_of_a_mix_ffmpeg_cannot_read_is_a_named_502(redis_stack, room) -> None:
    """The stored mix garbled in the bucket (then put back): the preview names what failed and
    carries no URL, key or address of the bucket."""
    state, truth, space_id = room["state"], room["truth"], room["space_id"]
    episode_id = state["episode"]["id"]
    chioma = truth[1]
    store = redis_stack.store()
    url = f"/episodes/{episode_id}/versions"
    with redis_stack.client() as host:
        made = host.post(
            url,
            json={
                "operations": [
                    {"op": "cut", "start_s": chioma["start_s"], "end_s": chioma["end_s"]}
                ]
            },
        )
        assert made.status_code == 201, made.text
        cut = f"{url}/{made.json()['number']}/cuts/1/audio"
        assert host.get(cut).status_code == 200
        key = _mix_key(redis_stack, space_id)
        mix = store.get_bytes(key)
        try:
            store.put_bytes(key, b"fLaC" + b"\x00garbled" * 4000, content_type="audio/flac")
            failed = host.get(cut)
        finally:
            store.put_bytes(key, mix, content_type="audio/flac")
        assert host.get(cut).status_code == 200  # put back: heard again
    assert failed.status_code == 502, (failed.status_code, failed.text)
    assert failed.headers["content-type"].startswith("application/json")
    detail = failed.json()["detail"]
    assert detail.startswith("previewing cut 1: "), detail
    endpoint = redis_stack.env["SPACECAST_S3_ENDPOINT_URL"].split("://", 1)[-1]
    for secret in ("://", "X-Amz", "Signature", key, space_id, endpoint):
        assert secret not in detail, detail
