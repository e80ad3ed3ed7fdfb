"""The pipeline's stages: each fetches its inputs from the bucket, calls one pipeline function,
stores what it made under keys derived from its input fingerprint and returns its typed result.
The opening and closing they share (plan, fingerprint, bookkeeping, advancing) is
``workers.stage``; what publishing means for the episode is ``services.publishing``."""

from __future__ import annotations

import json
from pathlib import Path

from infra.db import session_scope
from infra.models import Participant
from infra.queue import enqueue
from infra.storage import media_key, sha256_file, work_key
from pipeline.activity import SpeechActivity, detect_speech
from pipeline.bleed import TrackRef, detect_bleed
from pipeline.chapters import Chapter, chapters_to_data, episode_chapters, write_id3_chapters
from pipeline.cleanup import CleanedTrack, clean_track
from pipeline.edits import EditPlan, retime_segments
from pipeline.episode import TRANSCRIPT_FILES, write_transcripts
from pipeline.errors import InvalidTrack
from pipeline.health import measure_health
from pipeline.leveling import SpeakerLevel, level_speaker, leveling_report
from pipeline.loudness import Loudness
from pipeline.master import FORMATS, Edits, master_episode, with_bitrate
from pipeline.mix import MixInput, mix_tracks
from pipeline.notes import pick_quotes
from pipeline.report import ReportInputs, TrackLine, build_report
from pipeline.states import Stage
from pipeline.transcribe import speaker_language, transcribe_track
from pipeline.transcript import merge_transcripts, segments_from_data, segments_to_data
from services.editing import needs_speech, render_plan
from services.plan import SpacePlan
from services.publishing import (
    Rendering,
    clips_waiting,
    delete_objects,
    publish_rendering,
    retire_objects,
    withdraw_episode,
)
from services.runs import (
    ActivityResult,
    BleedResult,
    MasterResult,
    MixResult,
    PublishResult,
    SpaceResults,
    TranscriptionResult,
    done_results,
)
from workers.runs import StageContext, stage_costs
from workers.stage import stage

_TRANSCRIPTION_PRIORITY = 100


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


def _results(ctx: StageContext) -> SpaceResults:
    with session_scope(ctx.settings.database_url) as session:
        return done_results(session, ctx.space_id)


def _activity(ctx: StageContext, participant_id: str) -> SpeechActivity:
    return _results(ctx).activity[participant_id].activity()


@stage(Stage.ACTIVITY, queue="audio")
def detect_activity(ctx: StageContext, plan: SpacePlan, participant_id: str) -> ActivityResult:
    """When the participant speaks (for airtime, the bleed check, transcription and clips)."""
    participant = plan.participant(participant_id)
    activity = detect_speech(
        _fetch_track(ctx, participant),
        offset_s=participant.offset_s,
        timeout_s=ctx.settings.stage_timeout_s,
        label=participant.name,
    )
    return ActivityResult.of(activity)  # timestamps only: small enough for the database


@stage(Stage.BLEED, queue="audio")
def check_bleed(ctx: StageContext, plan: SpacePlan, _: str) -> BleedResult:
    """Is any excluded speaker audible on a published speaker's microphone?"""
    if not plan.bleed_suspects:
        return BleedResult(findings=[])
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
    return BleedResult(findings=[f.as_dict() for f in findings])


def _edit_plan(ctx: StageContext, plan: SpacePlan, *, speech: bool) -> EditPlan | None:
    """The host's edits over the voices published now; with when they speak (``speech``) where
    shortening silences needs it."""
    windows = []
    if speech and needs_speech(plan.edits):
        activity = _results(ctx).activity
        windows = [w for p in plan.audible for w in activity[p.id].windows()]
    return render_plan(plan.edits, plan.audible, windows)


@stage(Stage.MIX, queue="audio")
def mix_space(ctx: StageContext, plan: SpacePlan, _: str) -> MixResult:
    results = _results(ctx)
    health = {  # how each published track sounds as recorded, for the host
        p.id: measure_health(
            _fetch_track(ctx, p),
            results.activity[p.id].activity().on_track(p.offset_s),
            timeout_s=ctx.settings.stage_timeout_s,
            label=p.name,
        )
        for p in plan.audible
    }
    cleaned: dict[str, CleanedTrack] = {}
    levels: dict[str, SpeakerLevel] = {}
    if plan.leveled:  # hum and noise repaired; each voice brought to one loudness
        for n, p in enumerate(plan.audible):
            cleaned[p.id] = clean_track(
                _fetch_track(ctx, p),
                health[p.id],
                results.activity[p.id].activity().on_track(p.offset_s),
                ctx.scratch / f"clean-{n}.flac",
                timeout_s=ctx.settings.stage_timeout_s,
                label=p.name,
            )
    heard = {  # what the mix hears of each voice: the repaired track, if it was repaired
        p.id: cleaned[p.id].path if p.id in cleaned and cleaned[p.id].path else _fetch_track(ctx, p)
        for p in plan.audible
    }
    if plan.leveled:
        for p in plan.audible:
            levels[p.id] = level_speaker(
                heard[p.id],
                results.activity[p.id].activity().on_track(p.offset_s),
                timeout_s=ctx.settings.stage_timeout_s,
                label=p.name,
            )
    edits = _edit_plan(ctx, plan, speech=False)
    inputs = [
        MixInput(
            heard[p.id],
            p.offset_s,
            p.name,
            gain=levels[p.id].points if p.id in levels else (),
            mute=tuple(edits.mutes_of(p.id)) if edits else (),
        )
        for p in plan.audible
    ]
    duck: list[tuple[float, float]] = []
    if plan.space.duck_excluded:
        bleeding = results.bleed.bleeding() if results.bleed else set()
        duck = sorted(w for pid in bleeding for w in results.activity[pid].windows())
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
    key = work_key(ctx.space_id, f"mix-{plan.mix_fp[:16]}.flac")
    ctx.store.put_file(key, mixed.path, content_type="audio/flac")
    profile_key = work_key(ctx.space_id, f"loudness-{plan.mix_fp[:16]}.json")
    ctx.store.put_bytes(
        profile_key, json.dumps(mixed.momentary).encode(), content_type="application/json"
    )
    return MixResult(
        key=key,
        profile_key=profile_key,
        timeline_start_s=mixed.timeline_start_s,
        duration_s=mixed.duration_s,
        voices=[p.id for p in plan.audible],
        loudness=mixed.loudness.as_dict(),
        ducked_windows=len(duck),
        leveling=leveling_report(plan.leveled, levels),
        health={pid: h.as_dict() for pid, h in health.items()},
        cleanup={pid: c.as_dict(health[pid]) for pid, c in cleaned.items()},
        cost=stage_costs(
            mixed.run.cpu_s
            + sum(level.cpu_s for level in levels.values())
            + sum(h.cpu_s for h in health.values())
            + sum(c.cpu_s for c in cleaned.values()),
            mixed.run.max_rss_mb,
        ),
    )


@stage(Stage.MASTER, queue="audio")
def master_space(ctx: StageContext, plan: SpacePlan, _: str) -> MasterResult:
    mix = _results(ctx).mix
    assert mix is not None
    mix_path = ctx.store.get_file(mix.key, ctx.scratch / "mix.flac")
    settings = ctx.settings
    formats = [with_bitrate(FORMATS["mp3"], settings.mp3_bitrate)]
    if settings.deliver_opus:
        formats.append(with_bitrate(FORMATS["opus"], settings.opus_bitrate))
    edits = _edit_plan(ctx, plan, speech=True)
    mastered = master_episode(
        mix_path,
        Loudness(mix.loudness["integrated_lufs"], mix.loudness["true_peak_dbtp"] or -120.0, 0.0),
        ctx.scratch,
        formats=formats,
        target=settings.loudness_target(),
        timeout_s=settings.stage_timeout_s,
        edits=Edits(edits, mix.timeline_start_s) if edits else None,
        on_progress=lambda s: ctx.progress(
            s / max(edits.duration_s if edits else mix.duration_s, 1e-6)
        ),
    )
    files = {}
    for name, delivered in mastered.files.items():
        key = media_key(ctx.space_id, plan.master_fp[:16], f"episode.{delivered.fmt.extension}")
        ctx.store.put_file(key, delivered.path, content_type=delivered.fmt.mime_type)
        files[name] = {"key": key, **delivered.as_dict()}
    return MasterResult(
        files=files,
        voices=list(mix.voices),
        edits={"version": plan.edit_version, **edits.as_dict()} if edits else {},
        cost=stage_costs(mastered.cpu_s, mastered.max_rss_mb),
    )


@stage(Stage.TRANSCRIBE, queue="transcribe", priority=_TRANSCRIPTION_PRIORITY)
def transcribe_participant(
    ctx: StageContext, plan: SpacePlan, participant_id: str
) -> TranscriptionResult:
    participant = plan.participant(participant_id)
    path = _fetch_track(ctx, participant)
    duration = participant.track.duration_s
    result = transcribe_track(
        path,
        speaker_id=participant.id,
        speaker=participant.name,
        offset_s=participant.offset_s,
        language=speaker_language(participant.language, plan.space.language),
        settings=ctx.settings.whisper_settings(),
        timeout_s=ctx.settings.stage_timeout_s,
        speech=_activity(ctx, participant.id).on_track(participant.offset_s),
        on_progress=lambda s: ctx.progress(s / max(duration, 1e-6)),
    )
    fp = plan.transcribe_fps[participant_id]
    key = work_key(ctx.space_id, f"transcript-{participant.id}-{fp[:16]}.json")
    data = json.dumps(segments_to_data(result.segments)).encode()
    ctx.store.put_bytes(key, data, content_type="application/json")
    return TranscriptionResult(
        key=key,
        segments=len(result.segments),
        audio_s=round(result.audio_s, 3),
        wall_s=round(result.wall_s, 3),
        real_time_factor=round(result.audio_s / max(result.wall_s, 1e-6), 1),
        language=result.language,
        model=result.model,
    )


def _delete_stale_work(ctx: StageContext, plan: SpacePlan, *, keep: set[str]) -> list[str]:
    """Intermediate objects of earlier inputs (a withdrawn speaker's words or voice among them):
    their runs become stale first, so no run marked done points at a deleted object."""
    stale = [key for key in ctx.store.list_keys(work_key(plan.space.id, "")) if key not in keep]
    with session_scope(ctx.settings.database_url) as session:
        retire_objects(session, plan.space.id, stale)
    return stale


@stage(Stage.PUBLISH, queue="control")
def publish_space(ctx: StageContext, plan: SpacePlan, _: str) -> PublishResult:
    space = plan.space
    if not plan.audible:
        with session_scope(ctx.settings.database_url) as session:
            ctx.hold_attempt(session)  # a late attempt (a paused worker) changes nothing
            stale = withdraw_episode(session, space, plan.snapshot)
        stale += _delete_stale_work(ctx, plan, keep=set())
        delete_objects(ctx.store, stale)
        return PublishResult(render_id=None, deleted_objects=len(stale))
    results = _results(ctx)
    mix, master = results.mix, results.master
    assert mix is not None and master is not None
    per_speaker = []
    transcription = {}
    for participant in plan.transcribed:
        result = results.transcription[participant.id]
        per_speaker.append(segments_from_data(json.loads(ctx.store.get_bytes(result.key))))
        transcription[participant.id] = result.as_dict()
    kept = [tuple(span) for span in master.edits.get("kept", [])]
    if kept:
        now = _edit_plan(ctx, plan, speech=False)
        edited = EditPlan(kept=tuple(kept), mutes=now.mutes if now else ())
        segments = merge_transcripts([retime_segments(s, edited) for s in per_speaker])
    else:
        segments = merge_transcripts(per_speaker, shift_s=-mix.timeline_start_s)
    render_id = plan.publish_fp[:16]
    transcript_keys = {}
    for fmt, path in write_transcripts(segments, ctx.scratch).items():
        key = media_key(space.id, render_id, path.name)
        ctx.store.put_file(key, path, content_type=TRANSCRIPT_FILES[fmt][1] + "; charset=utf-8")
        transcript_keys[fmt] = key
    report = _report(ctx, plan, results, transcription, segments)
    marks = None
    if plan.host_chapters is not None:
        marks = [(float(m["start_s"]), m.get("title")) for m in plan.host_chapters]
    chapters = episode_chapters(
        segments, master.files["mp3"]["duration_s"], ctx.settings.chapter_settings(), marks=marks
    )
    media = dict(master.files)
    if chapters:
        media["mp3"] = _chaptered_mp3(ctx, render_id, master.files["mp3"], chapters, space.title)
    if master.edits:
        report["edits"] = master.edits
    with session_scope(ctx.settings.database_url) as session:
        ctx.hold_attempt(session)  # a late attempt (a paused worker) changes nothing
        stale = publish_rendering(
            session,
            space,
            Rendering(
                render_id=render_id,
                media=media,
                transcripts=transcript_keys,
                segments=segments,
                voices=[(p.id, p.name, p.role) for p in plan.audible],
                snapshot=plan.snapshot,
                report=report,
                chapters=chapters_to_data(chapters),
                notes=_notes(plan, results, segments, chapters, master.files["mp3"]["duration_s"]),
                timeline_start_s=kept[0][0] if kept else mix.timeline_start_s,
                kept=[list(span) for span in kept],
                version=plan.edit_version,
            ),
        )
        waiting = clips_waiting(session, space.id)
    keep = mix.output_keys() | {r.key for r in results.transcription.values()}
    stale += _delete_stale_work(ctx, plan, keep=keep)
    delete_objects(ctx.store, stale)  # media and intermediates of earlier renderings
    for clip_id in waiting:  # clips cut while the episode was being made again
        enqueue("render_clip_audio", clip_id)
    return PublishResult(render_id=render_id, segments=len(segments), deleted_objects=len(stale))


def _notes(plan: SpacePlan, results: SpaceResults, segments, chapters, duration_s: float) -> dict:
    """The show notes' parts: published speakers' speaking time, quotes of transcribed ones."""
    spans = chapters or [Chapter(0.0, duration_s, "")]
    return {
        "speakers": [
            [p.name, round(results.activity[p.id].speech_s, 1)]
            for p in plan.audible
            if p.id in results.activity
        ],
        "quotes": [[q.speaker, q.start_s, q.text] for q in pick_quotes(segments, spans)],
    }


def _chaptered_mp3(
    ctx: StageContext, render_id: str, mastered: dict, chapters: list[Chapter], title: str
) -> dict:
    """A copy of the master's MP3 with the chapters in its ID3 tag, under this rendering's key;
    the master's own stays, named as ``plain``, for when the chapters must go before the next
    rendering (their words withdrawn)."""
    path = ctx.store.get_file(mastered["key"], ctx.scratch / "episode-chapters.mp3")
    write_id3_chapters(path, chapters, title=title)
    key = media_key(ctx.space_id, render_id, "episode.mp3")
    ctx.store.put_file(key, path, content_type=mastered["mime_type"])
    return {
        **mastered,
        "key": key,
        "size_bytes": path.stat().st_size,
        "chapters": len(chapters),
        "plain": {"key": mastered["key"], "size_bytes": mastered["size_bytes"]},
    }


def _report(
    ctx: StageContext, plan: SpacePlan, results: SpaceResults, transcription: dict, segments
) -> dict:
    from infra.models import StageRun

    with session_scope(ctx.settings.database_url) as session:
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
    mix, master = results.mix, results.master
    assert mix is not None and master is not None
    speech = {pid: a.speech_s for pid, a in results.activity.items()}
    handles = {p.id: p.handle for p in plan.space.participants}
    return build_report(
        ReportInputs(
            space={"id": plan.space.id, "title": plan.space.title, "language": plan.space.language},
            tracks=[
                TrackLine(
                    id=p.handle,
                    name=p.name,
                    role=p.role,
                    offset_s=p.offset_s,
                    published=p in plan.audible,
                    transcribed=p in plan.transcribed,
                    speech_s=speech.get(p.id),
                    probe={
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
                    health=mix.health.get(p.id),
                    cleanup=mix.cleanup.get(p.id),
                )
                for p in plan.space.participants
            ],
            exclusions=plan.exclusions,
            shown=handles,
            speech_s=speech,
            missing=[
                {"participant_id": handles[e.participant_id], "name": e.name}
                for e in plan.publication.missing
            ],
            bleed_findings=results.bleed.findings if results.bleed else [],
            ducked=plan.space.duck_excluded,
            ducked_windows=mix.ducked_windows,
            leveling=mix.leveling or None,
            timeline_start_s=mix.timeline_start_s,
            mix_loudness=mix.loudness,
            files=master.files,
            segments=segments,
            target=ctx.settings.loudness_target().as_dict(),
            transcription=transcription,
            stages=stages,
            consent_snapshot=plan.snapshot,
        )
    )
