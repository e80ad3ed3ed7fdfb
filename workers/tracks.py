"""A published track's preparation for the mix (its health, its repair, its leveling), stored
under the fingerprint of what it was made from, so a mix whose other inputs changed (a mute of
the host's edit list) reads it back instead of measuring every hour-long track again.

The fingerprint (``SpacePlan.prepare_fps``) covers the track's checksum and offset, the speech
activity it was measured on, the show's leveling choice and the preparation's own version: the
same fingerprint means the same result, so a redelivered mix finds what a first delivery stored,
and any change of those inputs finds nothing and measures again. The repaired track is stored
before the description that names it: a description read back always has its audio."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from infra.storage import ObjectStore, sha256_file, work_key
from pipeline.cleanup import CleanedTrack, Cleanup, clean_track
from pipeline.health import TrackHealth, measure_health
from pipeline.leveling import SpeakerLevel, level_speaker


@dataclass(frozen=True)
class PreparedTrack:
    """What the mix needs of one published track, and whether it was measured by this run."""

    health: TrackHealth
    cleaned: CleanedTrack | None  # None: the show does not level (nor repair) its voices
    level: SpeakerLevel | None
    key: str  # the stored description
    cleaned_key: str | None  # the stored repaired track, when it was repaired
    reused: bool

    @property
    def cpu_s(self) -> float:
        """What measuring took in this run (nothing when read back)."""
        if self.reused:
            return 0.0
        cleaned = self.cleaned.cpu_s if self.cleaned else 0.0
        return self.health.cpu_s + cleaned + (self.level.cpu_s if self.level else 0.0)

    def heard(self, raw: Path) -> Path:
        """The audio the mix plays of this voice: the repaired track, if it was repaired."""
        return self.cleaned.path if self.cleaned and self.cleaned.path else raw

    def as_dict(self) -> dict:
        return {"key": self.key, "cleaned_key": self.cleaned_key, "reused": self.reused}

    def output_keys(self) -> set[str]:
        return {k for k in (self.key, self.cleaned_key) if k}


def prepare_track(
    store: ObjectStore,
    space_id: str,
    participant_id: str,
    fingerprint: str,
    raw: Path,
    speech: Sequence[tuple[float, float]],
    scratch: Path,
    *,
    leveled: bool,
    timeout_s: float,
    label: str,
) -> PreparedTrack:
    """The stored preparation of ``fingerprint`` when there is a whole one, else measure the
    track (``speech``: its speech windows, track seconds) and store what was measured."""
    key = work_key(space_id, f"track-{participant_id}-{fingerprint[:16]}.json")
    cleaned_key = work_key(space_id, f"clean-{participant_id}-{fingerprint[:16]}.flac")
    cleaned_path = scratch / f"clean-{participant_id}.flac"
    found = _read(store, key, cleaned_path)
    if found is not None:
        return found
    windows = list(speech)
    health = measure_health(raw, windows, timeout_s=timeout_s, label=label)
    cleaned = level = None
    if leveled:  # hum and noise repaired; the voice brought to one loudness
        cleaned = clean_track(raw, health, windows, cleaned_path, timeout_s=timeout_s, label=label)
        heard = cleaned.path or raw
        level = level_speaker(heard, windows, timeout_s=timeout_s, label=label)
    stored_cleaned = None
    if cleaned is not None and cleaned.path is not None:
        store.put_file(cleaned_key, cleaned.path, content_type="audio/flac")
        stored_cleaned = {"key": cleaned_key, "sha256": sha256_file(cleaned.path)}
    description = {
        "health": asdict(health),
        "cleanup": asdict(cleaned.cleanup) if cleaned else None,
        "after": asdict(cleaned.after) if cleaned and cleaned.after else None,
        "cleaned": stored_cleaned,
        "level": asdict(level) if level else None,
    }
    store.put_bytes(key, json.dumps(description).encode(), content_type="application/json")
    return PreparedTrack(health, cleaned, level, key, stored_cleaned and cleaned_key, reused=False)


def _read(store: ObjectStore, key: str, cleaned_path: Path) -> PreparedTrack | None:
    """The stored preparation, with its repaired track fetched and checked; None when either
    is missing (never made, or deleted with an earlier rendering's work) or does not match."""
    if not store.exists(key):
        return None
    data = json.loads(store.get_bytes(key))
    stored = data["cleaned"]
    if stored is not None:
        if not store.exists(stored["key"]):
            return None
        store.get_file(stored["key"], cleaned_path)
        if sha256_file(cleaned_path) != stored["sha256"]:
            return None
    cleaned = None
    if data["cleanup"] is not None:
        cleanup = data["cleanup"]
        cleaned = CleanedTrack(
            Cleanup(
                notches_hz=tuple(cleanup["notches_hz"]),
                noise_sample=tuple(cleanup["noise_sample"]) if cleanup["noise_sample"] else None,
                threshold_dbfs=cleanup["threshold_dbfs"],
                skipped=cleanup["skipped"],
            ),
            cleaned_path if stored is not None else None,
            TrackHealth(**data["after"]) if data["after"] else None,
        )
    level = None
    if data["level"] is not None:
        raw = data["level"]
        level = SpeakerLevel(
            speech_lufs=raw["speech_lufs"],
            gain_db=raw["gain_db"],
            points=tuple(tuple(point) for point in raw["points"]),
            cpu_s=raw["cpu_s"],
            gate=tuple(tuple(point) for point in raw["gate"]),
        )
    return PreparedTrack(
        TrackHealth(**data["health"]),
        cleaned,
        level,
        key,
        stored["key"] if stored else None,
        reused=True,
    )
