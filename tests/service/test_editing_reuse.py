"""What an edit re-runs, through the running service (real stages, S3 server, PostgreSQL, Redis):
a mute-only version mixes again from each track's stored health, repair and leveling instead of
measuring the tracks again; a changed leveling choice or a changed stem measures them again.
Its own room, so the tests stand alone in any order."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from infra.db import session_scope
from services.plan import prepare_fingerprint
from services.runs import MixResult, done_results
from tests.service.test_editing import publish, published_room
from workers.tracks import prepare_track

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def room(redis_stack, tmp_path_factory) -> dict:
    """quick_chat with all three speakers published, as the service first published it."""
    with redis_stack.client() as host:
        return published_room(host, tmp_path_factory.mktemp("reuse-room"), timeout_s=600)


def _mix(redis_stack, space_id: str) -> MixResult:
    with session_scope(redis_stack.env["SPACECAST_DATABASE_URL"]) as session:
        mix = done_results(session, space_id).mix
    assert mix is not None
    return mix


def _mute_version(host, episode_id: str, speaker: str, start_s: float, end_s: float) -> int:
    made = host.post(
        f"/episodes/{episode_id}/versions",
        json={"operations": [{"op": "mute", "speaker_id": speaker, "start_s": start_s,
                              "end_s": end_s}]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return made.json()["number"]


def test_a_mute_only_edit_mixes_from_the_stored_track_measurements_and_a_new_setting_remeasures(
    redis_stack, room
) -> None:
    state, truth, space_id = room["state"], room["truth"], room["space_id"]
    episode_id, show_id = state["episode"]["id"], state["show_id"]
    store = redis_stack.store()
    first = _mix(redis_stack, space_id)
    voices = set(first.voices)
    assert len(voices) == 3 and set(first.prepared) == voices
    assert not any(track["reused"] for track in first.prepared.values())  # measured once
    assert first.leveling["applied"] is True
    dan = truth[2]
    with redis_stack.client() as host:
        number = _mute_version(host, episode_id, "dan", dan["start_s"] - 0.2, dan["end_s"] + 0.2)
        publish(host, space_id, episode_id, number)
    muted = _mix(redis_stack, space_id)
    # The mix ran again (the mute is in it) and read every track's measurements back: the same
    # stored objects, the same health and leveling, nothing measured.
    assert muted.key != first.key
    assert all(track["reused"] for track in muted.prepared.values()), muted.prepared
    assert {pid: t["key"] for pid, t in muted.prepared.items()} == {
        pid: t["key"] for pid, t in first.prepared.items()
    }
    assert muted.health == first.health and muted.leveling == first.leveling
    assert muted.cleanup == first.cleanup
    # The stage's recorded ffmpeg CPU: the mix alone, without measuring three tracks twice.
    assert muted.cost["ffmpeg_cpu_s"] < first.cost["ffmpeg_cpu_s"]
    # Not even the mix whole: the mute's stretch (0.5 s each side, on the 100 ms grid) was
    # mixed again and spliced into the first rendering's mix, which is kept beside it.
    assert first.spliced_s is None and first.base_keys[1:] == [first.key, first.profile_key]
    mute_s = dan["end_s"] - dan["start_s"] + 0.4
    assert mute_s + 1.0 <= muted.spliced_s <= mute_s + 1.2
    assert muted.base_keys == first.base_keys
    assert all(store.exists(key) for key in muted.base_keys)

    # The host stops leveling: the next version's tracks are measured again, without leveling,
    # and the measurements of the leveled ones go with the rendering they served.
    with redis_stack.client() as host:
        turned = host.patch(f"/shows/{show_id}", json={"process_speakers": False})
        assert turned.status_code == 200, turned.text
        number = _mute_version(host, episode_id, "dan", dan["start_s"] - 0.5, dan["end_s"] + 0.5)
        publish(host, space_id, episode_id, number)
    raw = _mix(redis_stack, space_id)
    assert not any(track["reused"] for track in raw.prepared.values()), raw.prepared
    # Other leveling, another base: mixed whole, and the leveled base went with its rendering.
    assert raw.spliced_s is None and raw.base_keys != first.base_keys
    assert not any(store.exists(key) for key in first.base_keys[1:])
    assert raw.leveling["applied"] is False and raw.leveling["tracks"] == {}
    assert set(raw.health) == voices
    for track in first.prepared.values():
        for key in (track["key"], track["cleaned_key"]):
            assert key is None or not store.exists(key), key


def test_a_changed_stem_is_measured_again_not_read_back(redis_stack, room, tmp_path) -> None:
    """The same participant's preparation for another stem (a replaced track): its fingerprint
    differs, so nothing stored for the first stem is read for it."""
    store = redis_stack.store()
    folder: Path = room["folder"]
    speech = [(0.5, 3.0), (4.0, 6.0)]

    def prepared(path: Path, sha: str):
        who = SimpleNamespace(
            id="stem-test", offset_s=0.0, end_s=None, track=SimpleNamespace(sha256=sha)
        )
        return prepare_track(
            store,
            "stem-test-space",
            "stem-test",
            prepare_fingerprint(who, "activity", True),
            path,
            speech,
            tmp_path,
            leveled=True,
            timeout_s=120,
            label="stem test",
        )

    alice, dan = folder / "alice.opus", folder / "dan.flac"
    once = prepared(alice, "a" * 64)
    again = prepared(alice, "a" * 64)
    other = prepared(dan, "b" * 64)
    assert not once.reused and again.reused and not other.reused
    assert again.health == once.health and again.level == once.level
    assert other.key != once.key
    assert other.health.duration_s != pytest.approx(once.health.duration_s, abs=0.01)


def test_a_tracks_stored_preparation_is_counted_as_its_own_speakers_not_everyones() -> None:
    """What an erasure lists for a speaker from the mix: the mix (every voice is in it) and
    their own track's preparation, not the others' (which stay for the next mix, and would
    keep the speaker's erasure open forever)."""
    mix = MixResult(
        key="work/s/mix-1.flac",
        profile_key="work/s/loudness-1.json",
        voices=["ann", "bob"],
        prepared={
            "ann": {"key": "work/s/track-ann-1.json", "cleaned_key": "work/s/clean-ann-1.flac"},
            "bob": {"key": "work/s/track-bob-1.json", "cleaned_key": None},
        },
    )
    assert mix.keys_holding("ann") == {
        "work/s/mix-1.flac",
        "work/s/loudness-1.json",
        "work/s/track-ann-1.json",
        "work/s/clean-ann-1.flac",
    }
    assert mix.keys_holding("bob") == {
        "work/s/mix-1.flac",
        "work/s/loudness-1.json",
        "work/s/track-bob-1.json",
    }
    assert mix.output_keys() == mix.keys_holding("ann") | mix.keys_holding("bob")
