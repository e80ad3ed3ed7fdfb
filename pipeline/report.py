"""The episode report: what was measured and decided for one rendering (each track's probe and
speech, who was left out and why, bleed, the delivered files' loudness, the transcript's
speakers, each stage's cost). One builder for the offline job and the service, so the two
reports never differ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.consent import Exclusion
from pipeline.episode import episode_language
from pipeline.transcript import Segment


@dataclass(frozen=True)
class TrackLine:
    """One participant's line in the report (``id`` as the report shows it: their handle)."""

    id: str
    name: str
    role: str
    offset_s: float
    published: bool
    transcribed: bool
    speech_s: float | None
    probe: dict | None
    track: str | None = None  # the file name, offline
    health: dict | None = None  # pipeline.health.TrackHealth.as_dict(), for published tracks
    cleanup: dict | None = None  # pipeline.cleanup.CleanedTrack.as_dict(), when processed


@dataclass(frozen=True)
class ReportInputs:
    space: dict  # id, title, language (and started_at)
    tracks: Sequence[TrackLine]
    exclusions: Sequence[Exclusion]  # participant ids as in ``shown``
    shown: Mapping[str, str]  # participant id -> the id the report shows (the handle)
    speech_s: Mapping[str, float]  # participant id -> seconds of speech on their track
    missing: Sequence[dict]
    bleed_findings: Sequence[dict]  # BleedFinding.as_dict(), participant ids
    ducked: bool
    ducked_windows: int
    timeline_start_s: float  # room time of the episode's first sample
    mix_loudness: dict
    files: Mapping[str, dict]  # delivered file name ("mp3", "opus") -> its measurements
    segments: Sequence[Segment]
    target: dict
    transcription: Mapping[str, dict] = field(default_factory=dict)  # participant id -> stats
    stages: Mapping[str, dict] = field(default_factory=dict)
    consent_snapshot: Mapping[str, Sequence[str]] | None = None
    main: str = "mp3"
    # Leveling between speakers: applied, target_lufs, tracks (participant id -> measured, gain).
    leveling: Mapping | None = None
    # Where a microphone heard another speaker (pipeline.crosstalk.Crosstalk.as_dict()): those
    # words were left out of the microphone's own transcript.
    crosstalk: Sequence[dict] = ()


def transcript_summary(segments: Sequence[Segment]) -> dict:
    speakers: dict[str, dict] = {}
    for s in segments:
        entry = speakers.setdefault(
            s.speaker_id, {"name": s.speaker, "segments": 0, "speech_s": 0.0, "words": 0}
        )
        entry["segments"] += 1
        entry["speech_s"] = round(entry["speech_s"] + (s.end_s - s.start_s), 3)
        entry["words"] += len(s.text.split())
    return {"segments": len(segments), "speakers": speakers}


def build_report(inputs: ReportInputs) -> dict:
    shown = inputs.shown
    total_speech = sum(inputs.speech_s.values()) or 1.0
    main = inputs.files[inputs.main]
    report = {
        "space": dict(inputs.space),
        "episode": {
            "duration_s": round(main["duration_s"], 3),
            "timeline_start_s": round(inputs.timeline_start_s, 3),
            "language": episode_language(
                inputs.space.get("language", "en"), dict(inputs.transcription)
            ),
            "mix_loudness": inputs.mix_loudness,
            "files": {
                name: {k: v for k, v in f.items() if k != "key"} for name, f in inputs.files.items()
            },
            "loudness": main["loudness"],
            "target": inputs.target,
        },
        "tracks": [
            {
                "participant_id": t.id,
                "name": t.name,
                "role": t.role,
                **({"track": t.track} if t.track else {}),
                "offset_s": t.offset_s,
                "published": t.published,
                "transcribed": t.transcribed,
                "speech_s": round(t.speech_s, 2) if t.speech_s is not None else None,
                "share_of_speech": round(t.speech_s / total_speech, 3)
                if t.speech_s is not None
                else None,
                "probe": t.probe,
                "health": t.health,
                "cleanup": t.cleanup,
            }
            for t in inputs.tracks
        ],
        "excluded": [
            {
                **e.as_dict(),
                "participant_id": shown.get(e.participant_id, e.participant_id),
                "speech_s": round(inputs.speech_s[e.participant_id], 2)
                if e.participant_id in inputs.speech_s
                else None,
            }
            for e in inputs.exclusions
        ],
        "missing": list(inputs.missing),
        "bleed": {
            "findings": [
                {
                    **f,
                    "speaker_id": shown.get(f["speaker_id"], f["speaker_id"]),
                    "heard_on_id": shown.get(f["heard_on_id"], f["heard_on_id"]),
                }
                for f in inputs.bleed_findings
            ],
            "ducked": inputs.ducked,
            "ducked_windows": inputs.ducked_windows,
        },
        "crosstalk": [
            {
                "speaker_id": shown.get(c["speaker_id"], c["speaker_id"]),
                "heard_on_id": shown.get(c["heard_on_id"], c["heard_on_id"]),
                "seconds": c["seconds"],
                "windows": len(c["windows"]),
            }
            for c in inputs.crosstalk
        ],
        "leveling": {
            **{k: v for k, v in (inputs.leveling or {"applied": False}).items() if k != "tracks"},
            "tracks": {
                shown.get(pid, pid): level
                for pid, level in ((inputs.leveling or {}).get("tracks") or {}).items()
            },
        },
        "transcript": transcript_summary(inputs.segments),
        "transcription": {
            shown.get(pid, pid): stats for pid, stats in inputs.transcription.items()
        },
        "stages": dict(inputs.stages),
    }
    if inputs.consent_snapshot is not None:
        report["consent_snapshot"] = {
            key: [shown.get(pid, pid) for pid in ids]
            for key, ids in inputs.consent_snapshot.items()
        }
    return report
