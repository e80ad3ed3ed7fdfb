"""The stage actors. Each loads the space's plan, fetches its inputs from the bucket, calls one
pipeline function, stores what it made under keys derived from its input fingerprint, records the
result, and asks the flow to advance."""

from __future__ import annotations

import json
from pathlib import Path

import dramatiq
from sqlalchemy import delete

from infra.db import session_scope
from infra.models import Episode, Participant, Space, StageRun, TranscriptSegment
from infra.settings import get_settings
from infra.storage import media_key, sha256_file, work_key
from pipeline.activity import SpeechActivity, detect_speech
from pipeline.bleed import TrackRef, detect_bleed
from pipeline.episode import TRANSCRIPT_FILES, episode_description, episode_guid, write_transcripts
from pipeline.errors import InvalidTrack
from pipeline.loudness import Loudness
from pipeline.master import FORMATS, master_episode, with_bitrate
from pipeline.mix import MixInput, mix_tracks
from pipeline.transcribe import transcribe_track
from pipeline.transcript import merge_transcripts, segments_from_data, segments_to_data
from services.publishing import retire_objects
from workers.broker import queue, send_with_retry
from workers.flow import ACTIVE_STATUSES, advance_space, settle_unrun
from workers.plan import SpacePlan, plan_space
from workers.runs import StageContext, run_stage

_settings = get_settings()
_STAGE_LIMIT_MS = int((_settings.stage_timeout_s + 600) * 1000)
_RETRY_OPTIONS = {
    "max_retries": _settings.stage_retries,
    "min_backoff": _settings.retry_min_backoff_ms,
    "max_backoff": _settings.retry_max_backoff_ms,
    "on_retry_exhausted": "stage_gave_up",
    "time_limit": _STAGE_LIMIT_MS,
}
# Transcriptions are the long, parallel part of a space; a worker holding both picks the mix or
# the master first (lower is sooner), so the one-after-the-other audio path runs beside the
# transcriptions instead of after all of them.
_TRANSCRIPTION_PRIORITY = 100


def _plan(space_id: str, stage: str, subject: str = "") -> SpacePlan | None:
    """The space's plan, or None when there is nothing to do. A stage delivered after its space
    failed (another stage ran out of retries) settles its own run as failed, so reopening the
    space runs it again; returning without a trace would leave it "retrying" for good."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        space = session.get(Space, space_id)
        if space is not None and space.status == "failed":
            settle_unrun(session, space, stage, subject)
        if space is None or space.status not in ACTIVE_STATUSES:
            return None
        for participant in space.participants:  # load what the plan reads before the session ends
            _ = participant.track
        return plan_space(session, space, settings)


def _fetch_track(ctx: StageContext, participant: Participant) -> Path:
    """Download a participant's raw track and check it is the one that was uploaded."""
    track = participant.track
    assert track is not None
    path = ctx.scratch / f"track-{participant.id}"
    if path.exists():
        return path
    ctx.store.get_file(track.object_key, path)
    if sha256_file(path) != track.sha256:
        raise InvalidTrack(
            f"track of {participant.name}: stored object does not match the checksum recorded "
            "at upload"
        )
    return path


def _result(space_id: str, stage: str, subject: str = "") -> dict:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        run = (
            session.query(StageRun).filter_by(space_id=space_id, stage=stage, subject=subject).one()
        )
        return dict(run.result or {})


def _activity(ctx: StageContext, participant_id: str) -> SpeechActivity:
    return SpeechActivity.from_dict(_result(ctx.space_id, "activity", participant_id))


@dramatiq.actor(queue_name=queue("audio"), **_RETRY_OPTIONS)
def detect_activity(space_id: str, participant_id: str) -> None:
    """When the participant speaks (for airtime, the bleed check and clips)."""
    plan = _plan(space_id, "activity", participant_id)
    if plan is None or participant_id not in plan.activity_fps:
        return
    fp = plan.activity_fps[participant_id]
    participant = plan.participant(participant_id)

    def work(ctx: StageContext) -> dict:
        activity = detect_speech(
            _fetch_track(ctx, participant),
            offset_s=participant.offset_s,
            timeout_s=ctx.settings.stage_timeout_s,
            label=participant.name,
        )
        return activity.as_dict()  # timestamps only: small enough for the database

    run_stage(space_id, "activity", participant_id, fp, work)
    send_with_retry(advance_space, space_id)


@dramatiq.actor(queue_name=queue("audio"), **_RETRY_OPTIONS)
def check_bleed(space_id: str) -> None:
    """Is any excluded speaker audible on a published speaker's microphone?"""
    plan = _plan(space_id, "bleed")
    if plan is None:
        return

    def work(ctx: StageContext) -> dict:
        if not plan.bleed_suspects:
            return {"findings": []}
        published = [TrackRef(p.id, p.name, _fetch_track(ctx, p), p.offset_s) for p in plan.audible]
        findings = []
        for suspect in plan.bleed_suspects:
            findings += detect_bleed(
                TrackRef(suspect.id, suspect.name, _fetch_track(ctx, suspect), suspect.offset_s),
                _activity(ctx, suspect.id).segments,
                published,
                ctx.scratch,
                timeout_s=ctx.settings.stage_timeout_s,
            )
        return {"findings": [f.as_dict() for f in findings]}

    run_stage(space_id, "bleed", "", plan.bleed_fp, work)
    send_with_retry(advance_space, space_id)


@dramatiq.actor(queue_name=queue("audio"), **_RETRY_OPTIONS)
def mix_space(space_id: str) -> None:
    plan = _plan(space_id, "mix")
    if plan is None:
        return

    def work(ctx: StageContext) -> dict:
        inputs = [MixInput(_fetch_track(ctx, p), p.offset_s, p.name) for p in plan.audible]
        duck: list[tuple[float, float]] = []
        if plan.space.duck_excluded:
            bleeding = {
                f["speaker_id"] for f in _result(space_id, "bleed")["findings"] if f["detected"]
            }
            duck = sorted(w for pid in bleeding for w in _activity(ctx, pid).segments)
        expected_s = max(p.offset_s + p.track.duration_s for p in plan.audible) - min(
            p.offset_s for p in plan.audible
        )
        mixed = mix_tracks(
            inputs,
            ctx.scratch / "mix.flac",
            timeout_s=ctx.settings.stage_timeout_s,
            duck=duck,
            on_progress=lambda s: ctx.progress(s / max(expected_s, 1e-6)),
        )
        key = work_key(space_id, f"mix-{plan.mix_fp[:16]}.flac")
        ctx.store.put_file(key, mixed.path, content_type="audio/flac")
        profile_key = work_key(space_id, f"loudness-{plan.mix_fp[:16]}.json")
        ctx.store.put_bytes(
            profile_key, json.dumps(mixed.momentary).encode(), content_type="application/json"
        )
        return {
            "key": key,
            "profile_key": profile_key,
            "timeline_start_s": mixed.timeline_start_s,
            "duration_s": mixed.duration_s,
            "voices": [p.id for p in plan.audible],  # whose voice the mix holds
            "loudness": mixed.loudness.as_dict(),
            "ducked_windows": len(duck),
            "ffmpeg_cpu_s": round(mixed.run.cpu_s, 3),
            "ffmpeg_max_rss_mb": round(mixed.run.max_rss_mb, 1),
        }

    run_stage(space_id, "mix", "", plan.mix_fp, work)
    send_with_retry(advance_space, space_id)


@dramatiq.actor(queue_name=queue("audio"), **_RETRY_OPTIONS)
def master_space(space_id: str) -> None:
    plan = _plan(space_id, "master")
    if plan is None:
        return

    def work(ctx: StageContext) -> dict:
        mix = _result(space_id, "mix")
        mix_path = ctx.store.get_file(mix["key"], ctx.scratch / "mix.flac")
        settings = ctx.settings
        formats = [with_bitrate(FORMATS["mp3"], settings.mp3_bitrate)]
        if settings.deliver_opus:
            formats.append(with_bitrate(FORMATS["opus"], settings.opus_bitrate))
        loudness = mix["loudness"]
        mastered = master_episode(
            mix_path,
            Loudness(loudness["integrated_lufs"], loudness["true_peak_dbtp"] or -120.0, 0.0),
            ctx.scratch,
            formats=formats,
            target=settings.loudness_target(),
            timeout_s=settings.stage_timeout_s,
            on_progress=lambda s: ctx.progress(s / max(mix["duration_s"], 1e-6)),
        )
        files = {}
        for name, delivered in mastered.files.items():
            key = media_key(space_id, plan.master_fp[:16], f"episode.{delivered.fmt.extension}")
            ctx.store.put_file(key, delivered.path, content_type=delivered.fmt.mime_type)
            files[name] = {"key": key, **delivered.as_dict()}
        return {
            "files": files,
            "voices": mix.get("voices", [p.id for p in plan.audible]),
            "ffmpeg_cpu_s": round(mastered.cpu_s, 3),
            "ffmpeg_max_rss_mb": round(mastered.max_rss_mb, 1),
        }

    run_stage(space_id, "master", "", plan.master_fp, work)
    send_with_retry(advance_space, space_id)


@dramatiq.actor(queue_name=queue("transcribe"), priority=_TRANSCRIPTION_PRIORITY, **_RETRY_OPTIONS)
def transcribe_participant(space_id: str, participant_id: str) -> None:
    plan = _plan(space_id, "transcribe", participant_id)
    if plan is None or participant_id not in plan.transcribe_fps:
        return
    fp = plan.transcribe_fps[participant_id]
    participant = plan.participant(participant_id)

    def work(ctx: StageContext) -> dict:
        path = _fetch_track(ctx, participant)
        duration = participant.track.duration_s
        result = transcribe_track(
            path,
            speaker_id=participant.id,
            speaker=participant.name,
            offset_s=participant.offset_s,
            language=plan.space.language,
            settings=ctx.settings.whisper_settings(),
            timeout_s=ctx.settings.stage_timeout_s,
            speech=_activity(ctx, participant.id).on_track(participant.offset_s),
            on_progress=lambda s: ctx.progress(s / max(duration, 1e-6)),
        )
        key = work_key(space_id, f"transcript-{participant.id}-{fp[:16]}.json")
        data = json.dumps(segments_to_data(result.segments)).encode()
        ctx.store.put_bytes(key, data, content_type="application/json")
        return {
            "key": key,
            "segments": len(result.segments),
            "audio_s": round(result.audio_s, 3),
            "wall_s": round(result.wall_s, 3),
            "real_time_factor": round(result.audio_s / max(result.wall_s, 1e-6), 1),
        }

    run_stage(space_id, "transcribe", participant_id, fp, work)
    send_with_retry(advance_space, space_id)


@dramatiq.actor(queue_name=queue("control"), **_RETRY_OPTIONS)
def publish_space(space_id: str) -> None:
    plan = _plan(space_id, "publish")
    if plan is None:
        return

    def work(ctx: StageContext) -> dict:
        if not plan.audible:
            stale = _withdraw_episode(ctx, plan)
            stale += _delete_stale_work(ctx, plan, keep=set())
            for key in stale:
                ctx.store.delete(key)
            return {"render_id": None, "deleted_objects": len(stale)}
        mix = _result(space_id, "mix")
        master = _result(space_id, "master")
        per_speaker = []
        transcription = {}
        for participant in plan.transcribed:
            result = _result(space_id, "transcribe", participant.id)
            per_speaker.append(segments_from_data(json.loads(ctx.store.get_bytes(result["key"]))))
            transcription[participant.id] = result
        segments = merge_transcripts(per_speaker, shift_s=-mix["timeline_start_s"])
        render_id = plan.publish_fp[:16]
        transcript_keys = {}
        for fmt, path in write_transcripts(segments, ctx.scratch).items():
            key = media_key(space_id, render_id, path.name)
            ctx.store.put_file(key, path, content_type=TRANSCRIPT_FILES[fmt][1] + "; charset=utf-8")
            transcript_keys[fmt] = key
        activity = {p.id: _result(space_id, "activity", p.id) for p in plan.recorded}
        report = _report(plan, mix, master, transcription, activity, segments)
        stale = _record_episode(ctx, plan, render_id, master, transcript_keys, report, segments)
        keep = {mix["key"], mix["profile_key"]} | {r["key"] for r in transcription.values()}
        stale += _delete_stale_work(ctx, plan, keep=keep)
        for key in stale:  # media and intermediates of earlier renderings, no longer referenced
            ctx.store.delete(key)
        return {"render_id": render_id, "segments": len(segments), "deleted_objects": len(stale)}

    run_stage(space_id, "publish", "", plan.publish_fp, work)
    send_with_retry(advance_space, space_id)


def _delete_stale_work(ctx: StageContext, plan: SpacePlan, *, keep: set[str]) -> list[str]:
    """Intermediate objects of earlier inputs (a withdrawn speaker's words or voice among them):
    their runs become stale first, so no run marked done points at a deleted object."""
    stale = [key for key in ctx.store.list_keys(work_key(plan.space.id, "")) if key not in keep]
    with session_scope(ctx.settings.database_url) as session:
        retire_objects(session, plan.space.id, stale)
    return stale


def _withdraw_episode(ctx: StageContext, plan: SpacePlan) -> list[str]:
    """Nobody may be heard any more: the episode keeps its guid but loses its media."""
    with session_scope(ctx.settings.database_url) as session:
        episode = session.query(Episode).filter_by(space_id=plan.space.id).one_or_none()
        if episode is None:
            return []
        old = [f["key"] for f in episode.media.values()] + list(episode.transcripts.values())
        episode.media, episode.transcripts, episode.persons = {}, {}, []
        episode.consent_snapshot = plan.snapshot
        session.execute(delete(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id))
        return old


def _record_episode(
    ctx, plan: SpacePlan, render_id, master, transcript_keys, report, segments
) -> list[str]:
    """Create or update the space's episode; return keys of media objects it no longer uses."""
    space = plan.space
    media = dict(master["files"])
    main = media["mp3"]
    with session_scope(ctx.settings.database_url) as session:
        episode = session.query(Episode).filter_by(space_id=space.id).one_or_none()
        old_keys: set[str] = set()
        if episode is None:
            episode = Episode(
                space_id=space.id,
                show_id=space.show_id,
                guid=episode_guid(space.show_id, space.id),
            )
            session.add(episode)
        else:
            old_keys = {f["key"] for f in episode.media.values()} | set(
                episode.transcripts.values()
            )
        episode.title = space.title
        episode.description = episode_description(
            space.description, f"{space.started_at:%Y-%m-%d}", [p.name for p in plan.audible]
        )
        episode.render_id = render_id
        episode.duration_s = main["duration_s"]
        episode.media = media
        episode.transcripts = transcript_keys
        episode.persons = [{"name": p.name, "role": p.role} for p in plan.audible]
        episode.consent_snapshot = plan.snapshot
        episode.report = report
        session.flush()
        session.execute(delete(TranscriptSegment).where(TranscriptSegment.episode_id == episode.id))
        session.add_all(
            TranscriptSegment(
                episode_id=episode.id,
                participant_id=s.speaker_id,
                speaker=s.speaker,
                start_s=s.start_s,
                end_s=s.end_s,
                text=s.text,
            )
            for s in segments
        )
    new_keys = {f["key"] for f in media.values()} | set(transcript_keys.values())
    return sorted(old_keys - new_keys)


def _report(
    plan: SpacePlan, mix: dict, master: dict, transcription: dict, activity: dict, segments
) -> dict:
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        runs = session.query(StageRun).filter_by(space_id=plan.space.id).all()
        stages = {
            f"{run.stage}:{run.subject}" if run.subject else run.stage: {
                "status": run.status,
                "attempts": run.attempts,
                "wall_s": round((run.finished_at - run.started_at).total_seconds(), 3)
                if run.finished_at and run.started_at
                else None,
            }
            for run in runs
        }
    bleed = _result(plan.space.id, "bleed").get("findings", [])
    speakers: dict[str, dict] = {}
    for s in segments:
        entry = speakers.setdefault(
            s.speaker_id, {"name": s.speaker, "segments": 0, "speech_s": 0.0}
        )
        entry["segments"] += 1
        entry["speech_s"] = round(entry["speech_s"] + s.end_s - s.start_s, 3)
    handles = {p.id: p.handle for p in plan.space.participants}
    speech = {pid: result["speech_s"] for pid, result in activity.items()}
    total_speech = sum(speech.values()) or 1.0
    return {
        "space": {"id": plan.space.id, "title": plan.space.title, "language": plan.space.language},
        "episode": {
            "duration_s": master["files"]["mp3"]["duration_s"],
            "timeline_start_s": mix["timeline_start_s"],
            "mix_loudness": mix["loudness"],
            "files": {
                name: {k: v for k, v in f.items() if k != "key"}
                for name, f in master["files"].items()
            },
            "loudness": master["files"]["mp3"]["loudness"],
        },
        "tracks": [
            {
                "participant_id": p.handle,
                "name": p.name,
                "role": p.role,
                "offset_s": p.offset_s,
                "published": p in plan.audible,
                "transcribed": p in plan.transcribed,
                "speech_s": speech.get(p.id),
                "share_of_speech": round(speech[p.id] / total_speech, 3)
                if p.id in speech
                else None,
                "probe": {
                    "format_name": p.track.format_name,
                    "codec": p.track.codec,
                    "sample_rate_hz": p.track.sample_rate_hz,
                    "channels": p.track.channels,
                    "duration_s": p.track.duration_s,
                    "size_bytes": p.track.size_bytes,
                    "sha256": p.track.sha256,
                }
                if p.track
                else None,
            }
            for p in plan.space.participants
        ],
        "excluded": [
            {
                **e.as_dict(),
                "participant_id": handles[e.participant_id],
                "speech_s": speech.get(e.participant_id),
            }
            for e in plan.exclusions
        ],
        "bleed": {
            "findings": [
                {
                    **f,
                    "speaker_id": handles[f["speaker_id"]],
                    "heard_on_id": handles[f["heard_on_id"]],
                }
                for f in bleed
            ],
            "ducked": plan.space.duck_excluded,
            "ducked_windows": mix.get("ducked_windows", 0),
        },
        "consent_snapshot": {
            key: [handles[pid] for pid in ids] for key, ids in plan.snapshot.items()
        },
        "transcript": {"segments": len(segments), "speakers": speakers},
        "transcription": transcription,
        "stages": stages,
    }
