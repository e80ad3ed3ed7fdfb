"""The pipeline's stages: each fetches its inputs from the bucket, calls one pipeline function,
stores what it made under keys derived from its input fingerprint and returns its typed result.
The opening and closing they share (plan, fingerprint, bookkeeping, advancing) is
``workers.stage``; what publishing means for the episode is ``services.publishing``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, replace
from pathlib import Path

from infra.db import session_scope
from infra.models import Participant
from infra.queue import enqueue
from infra.storage import media_key, sha256_file, work_key
from pipeline.activity import SpeechActivity, detect_speech
from pipeline.bleed import TrackRef, detect_bleed
from pipeline.chapters import Chapter, chapters_to_data, episode_chapters, write_id3_chapters
from pipeline.crosstalk import crosstalk_from_data, detect_crosstalk, without_crosstalk
from pipeline.drift import DriftEstimate, correct_drift
from pipeline.edits import (
    EditPlan,
    HostAudioInputs,
    host_gain_db,
    retime_segments,
    unmuted_speech,
    write_bed_commands,
)
from pipeline.episode import TRANSCRIPT_FILES, write_transcripts
from pipeline.errors import InvalidTrack
from pipeline.leveling import leveling_report
from pipeline.loudness import Loudness
from pipeline.master import FORMATS, Edits, master_episode, with_bitrate
from pipeline.mix import MIX_RATE_HZ, MixInput, StoredMix, mix_tracks, splice_mix
from pipeline.notes import pick_quotes
from pipeline.report import ReportInputs, TrackLine, build_report
from pipeline.states import Stage
from pipeline.transcribe import part_range, speaker_language, transcribe_track
from pipeline.transcript import merge_transcripts, segments_from_data, segments_to_data
from services.editing import needs_speech, render_plan
from services.ingest import track_drift
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
from workers.live import adopted_activity, live_transcript
from workers.runs import StageContext, stage_costs
from workers.stage import stage
from workers.tracks import prepare_track

_TRANSCRIPTION_PRIORITY = 100


def _fetch_track(ctx: StageContext, participant: Participant, drift: DriftEstimate | None) -> Path:
    """A participant's track in room time: the raw track, checked against the checksum of its
    upload, or its resampled copy when the recorder's clock drifted (``drift``, from
    :func:`_drifts`)."""
    track = participant.track
    assert track is not None
    path = ctx.scratch / f"track-{participant.id}"
    corrected = ctx.scratch / f"track-{participant.id}-room-time.flac"
    if drift is not None and drift.needs_correction and corrected.exists():
        return corrected
    if not path.exists():
        ctx.store.get_file(track.object_key, path)
        if sha256_file(path) != track.sha256:
            raise InvalidTrack(
                f"track of {participant.name}: stored object does not match the checksum "
                "recorded at upload"
            )
    if drift is None or not drift.needs_correction:
        return path
    partial = corrected.with_suffix(".partial.flac")
    correct_drift(
        path, drift.drift_ppm, partial, timeout_s=ctx.settings.stage_timeout_s,
        label=participant.name,
    )  # fmt: skip
    partial.rename(corrected)
    return corrected


def _drifts(
    ctx: StageContext, participants: Iterable[Participant]
) -> dict[str, DriftEstimate | None]:
    """Each recorder's clock drift (``services.ingest.track_drift``: its live chunks' arrival,
    or its length against the span the room reported), by participant id. It reads every chunk
    row of the track: a stage computes it once and passes it to what needs it (the track in
    room time, the live work's adoption, the report)."""
    with session_scope(ctx.settings.database_url) as session:
        drifts = {}
        for participant in participants:
            if participant.id in drifts:
                continue
            found = session.get(Participant, participant.id)
            drifts[participant.id] = track_drift(session, found) if found is not None else None
        return drifts


def _in_room_time(drift: DriftEstimate | None) -> bool:
    """Is the track as recorded already in room time? Work done on its live chunks (activity,
    transcription) was done in the recorder's time, and is adopted only then."""
    return drift is None or not drift.needs_correction


def _results(ctx: StageContext) -> SpaceResults:
    with session_scope(ctx.settings.database_url) as session:
        return done_results(session, ctx.space_id)


def _activity(ctx: StageContext, participant_id: str) -> SpeechActivity:
    return _results(ctx).activity[participant_id].activity()


@stage(Stage.ACTIVITY, queue="audio")
def detect_activity(ctx: StageContext, plan: SpacePlan, participant_id: str) -> ActivityResult:
    """When the participant speaks (for airtime, the bleed check, transcription and clips)."""
    participant = plan.participant(participant_id)
    drift = _drifts(ctx, [participant])[participant.id]
    path = _fetch_track(ctx, participant, drift)
    live = None
    if _in_room_time(drift):
        live = adopted_activity(participant, ctx.store, ctx.settings, path, ctx.scratch)
    if live is not None:  # made while the room was live, from these very chunks
        return replace(ActivityResult.of(live[0]), cost={"live_cpu_s": live[1].cpu_s})
    activity = detect_speech(
        path,
        offset_s=participant.offset_s,
        timeout_s=ctx.settings.stage_timeout_s,
        label=participant.name,
    )
    return ActivityResult.of(activity)  # timestamps only: small enough for the database


@stage(Stage.BLEED, queue="audio")
def check_bleed(ctx: StageContext, plan: SpacePlan, _: str) -> BleedResult:
    """Is any excluded speaker audible on a published speaker's microphone, and where does a
    microphone hear someone else (their words leave its transcript)?"""
    results = _results(ctx)
    speech = {p.id: results.activity[p.id].activity().segments for p in plan.recorded}
    drifts = _drifts(ctx, [*plan.recorded, *plan.audible])

    def track(p: Participant) -> Path:
        return _fetch_track(ctx, p, drifts[p.id])

    crosstalk = detect_crosstalk(
        [TrackRef(p.id, p.name, track(p), p.offset_s) for p in plan.recorded],
        speech,
        ctx.scratch,
        timeout_s=ctx.settings.stage_timeout_s,
    )
    crosstalk_data = [c.as_dict() for c in crosstalk]
    if not plan.bleed_suspects:
        return BleedResult(findings=[], crosstalk=crosstalk_data)
    published = [TrackRef(p.id, p.name, track(p), p.offset_s) for p in plan.audible]
    findings = []
    for suspect in plan.bleed_suspects:
        findings += detect_bleed(
            TrackRef(suspect.id, suspect.name, track(suspect), suspect.offset_s),
            _activity(ctx, suspect.id).segments,
            published,
            ctx.scratch,
            timeout_s=ctx.settings.stage_timeout_s,
        )
    return BleedResult(findings=[f.as_dict() for f in findings], crosstalk=crosstalk_data)


def _edit_plan(ctx: StageContext, plan: SpacePlan, *, speech: bool) -> EditPlan | None:
    """The host's edits over the voices published now; with when they speak (``speech``) where
    shortening silences needs it."""
    windows = []
    if speech and needs_speech(plan.edits):
        activity = _results(ctx).activity
        windows = [w for p in plan.audible for w in activity[p.id].windows()]
    return render_plan(plan.edits, plan.audible, windows, plan.host_audio_lengths())


def _host_audio(
    ctx: StageContext, plan: SpacePlan, edits: EditPlan, speech_lufs: float
) -> HostAudioInputs | None:
    """The show's own audio the edits add, fetched and checked against its upload's checksum,
    each played at the speech's loudness; the bed ducked under the published voices' speech."""
    if not edits.host:
        return None
    files, gains = {}, {}
    for audio in plan.host_audio:
        path = ctx.scratch / f"host-{audio.id}"
        if not path.exists():
            ctx.store.get_file(audio.object_key, path)
        if sha256_file(path) != audio.sha256:
            raise InvalidTrack(f"host audio {audio.name!r}: the stored object does not match")
        files[audio.id], gains[audio.id] = path, host_gain_db(speech_lufs, audio.integrated_lufs)
    activity = _results(ctx).activity
    speech = unmuted_speech(
        edits, {p.id: activity[p.id].windows() for p in plan.audible if p.id in activity}
    )
    return HostAudioInputs(files, gains, write_bed_commands(ctx.scratch / "bed.cmd", edits, speech))


@stage(Stage.MIX, queue="audio")
def mix_space(ctx: StageContext, plan: SpacePlan, _: str) -> MixResult:
    results = _results(ctx)
    drifts = _drifts(ctx, plan.audible)
    prepared = {  # how each published track sounds as recorded, its repair and its level
        p.id: prepare_track(
            ctx.store,
            ctx.space_id,
            p.id,
            plan.prepare_fps[p.id],
            _fetch_track(ctx, p, drifts[p.id]),
            results.activity[p.id].activity().on_track(p.offset_s),
            ctx.scratch,
            leveled=plan.leveled,
            timeout_s=ctx.settings.stage_timeout_s,
            label=p.name,
        )
        for p in plan.audible
    }
    health = {pid: track.health for pid, track in prepared.items()}
    cleaned = {pid: track.cleaned for pid, track in prepared.items() if track.cleaned}
    levels = {pid: track.level for pid, track in prepared.items() if track.level}
    heard = {p.id: prepared[p.id].heard(_fetch_track(ctx, p, drifts[p.id])) for p in plan.audible}
    edits = _edit_plan(ctx, plan, speech=False)
    inputs = [
        MixInput(
            heard[p.id],
            p.offset_s,
            p.name,
            gain=levels[p.id].mix_points if p.id in levels else (),
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
    # A mix of a stored base is spliced from it: the base is the first mix made of these voices
    # and tracks with no mute (the room as recorded), or else the first made at all, and it is
    # kept while its mixes are, so every version splices from it and a revert to no mutes is
    # that mix again, sample for sample.
    found = _stored_mix(ctx, plan)
    mixed = (
        splice_mix(
            inputs,
            found[0],
            ctx.scratch / "mix.flac",
            timeout_s=ctx.settings.stage_timeout_s,
            duck=duck,
        )
        if found is not None
        else None
    )
    if mixed is None:
        mixed = mix_tracks(
            inputs,
            ctx.scratch / "mix.flac",
            timeout_s=ctx.settings.stage_timeout_s,
            duck=duck,
            on_progress=lambda s: ctx.progress(s / max(expected_s, 1e-6)),
        )
    else:
        ctx.log.info("spliced %d stretches into the stored mix", len(mixed.spliced or ()))
    key = work_key(ctx.space_id, f"mix-{plan.mix_fp[:16]}.flac")
    ctx.store.put_file(key, mixed.path, content_type="audio/flac")
    profile_key = work_key(ctx.space_id, f"loudness-{plan.mix_fp[:16]}.json")
    ctx.store.put_bytes(
        profile_key, json.dumps(mixed.momentary).encode(), content_type="application/json"
    )
    mutes = {p.id: list(item.mute) for p, item in zip(plan.audible, inputs, strict=True)}
    if found is None or (not any(mutes.values()) and any(found[0].mutes)):
        base = [key, profile_key]
        _store_mix_base(ctx, plan, mixed.path, mixed.timeline_start_s, mixed.loudness, mutes, base)
    else:
        base = found[1]
    return MixResult(
        key=key,
        profile_key=profile_key,
        timeline_start_s=mixed.timeline_start_s,
        duration_s=mixed.duration_s,
        voices=[p.id for p in plan.audible],
        loudness=mixed.loudness.as_dict(),
        ducked_windows=len(duck),
        leveling=leveling_report(plan.leveled, levels),
        health={
            p.id: health[p.id].as_dict() | {"drift": DriftEstimate.report(drifts[p.id])}
            for p in plan.audible
        },
        cleanup={pid: c.as_dict(health[pid]) for pid, c in cleaned.items()},
        prepared={pid: track.as_dict() for pid, track in prepared.items()},
        base_keys=[_base_key(ctx, plan), *base],
        spliced_s=(
            round(sum(s.samples for s in mixed.spliced) / MIX_RATE_HZ, 3)
            if mixed.spliced is not None
            else None
        ),
        cost=stage_costs(
            mixed.run.cpu_s + sum(track.cpu_s for track in prepared.values()),
            mixed.run.max_rss_mb,
        ),
    )


def _base_key(ctx: StageContext, plan: SpacePlan) -> str:
    return work_key(ctx.space_id, f"mix-base-{plan.mix_base_fp[:16]}.json")


def _stored_mix(ctx: StageContext, plan: SpacePlan) -> tuple[StoredMix, list[str]] | None:
    """The mix stored for this mix's base (the same voices, tracks, activity and leveling:
    only the host's mutes may differ), fetched and checked against its checksum, with its and
    its profile's keys; None when there is none whole (never made, or deleted with a voice's
    withdrawal or a rendering's work)."""
    key = _base_key(ctx, plan)
    if not ctx.store.exists(key):
        return None
    data = json.loads(ctx.store.get_bytes(key))
    if not (ctx.store.exists(data["key"]) and ctx.store.exists(data["profile_key"])):
        return None
    path = ctx.store.get_file(data["key"], ctx.scratch / "stored-mix.flac")
    if sha256_file(path) != data["sha256"]:
        return None
    stored = StoredMix(
        path,
        data["timeline_start_s"],
        tuple(tuple(tuple(m) for m in data["mutes"].get(p.id, ())) for p in plan.audible),
        Loudness(**data["loudness"]),
        json.loads(ctx.store.get_bytes(data["profile_key"])),
    )
    return stored, [data["key"], data["profile_key"]]


def _store_mix_base(
    ctx: StageContext,
    plan: SpacePlan,
    path: Path,
    timeline_start_s: float,
    loudness: Loudness,
    mutes: dict[str, list],
    keys: list[str],
) -> None:
    """Describe the mix just stored (its key and its profile's in ``keys``) as the one the mixes
    of its base splice from: its checksum, start, loudness and each voice's mutes."""
    description = {
        "key": keys[0],
        "profile_key": keys[1],
        "sha256": sha256_file(path),
        "timeline_start_s": timeline_start_s,
        "mutes": mutes,
        "loudness": asdict(loudness),
    }
    ctx.store.put_bytes(
        _base_key(ctx, plan), json.dumps(description).encode(), content_type="application/json"
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
        edits=Edits(
            edits,
            mix.timeline_start_s,
            host=_host_audio(ctx, plan, edits, mix.loudness["integrated_lufs"]),
        )
        if edits
        else None,
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
def transcribe_participant(ctx: StageContext, plan: SpacePlan, subject: str) -> TranscriptionResult:
    """One part of a participant's track (the whole track when it is one part)."""
    participant, index, count = plan.transcription_part(subject)
    drift = _drifts(ctx, [participant])[participant.id]
    path = _fetch_track(ctx, participant, drift)
    duration = participant.track.duration_s
    speech = _activity(ctx, participant.id).on_track(participant.offset_s)
    start_s, end_s = part_range(speech, duration, plan.part_s, index) if count > 1 else (0.0, None)
    length_s = max((duration if end_s is None else end_s) - start_s, 1e-6)
    live = None
    if _in_room_time(drift):
        live = live_transcript(participant, ctx.store, ctx.settings, path, ctx.scratch)
    if live is not None and count > 1:  # this part's share of what the room's live work heard
        live = replace(
            live,
            segments=[
                seg
                for seg in live.segments
                if start_s <= seg.start_s - participant.offset_s
                and (end_s is None or seg.start_s - participant.offset_s < end_s)
            ],
            audio_s=length_s,
        )
    result = live or transcribe_track(
        path,
        speaker_id=participant.id,
        speaker=participant.name,
        offset_s=participant.offset_s,
        language=speaker_language(participant.language, plan.space.language),
        settings=ctx.settings.whisper_settings(),
        timeout_s=ctx.settings.stage_timeout_s,
        speech=speech,
        part=(start_s, end_s),
        on_progress=lambda s: ctx.progress((s - start_s) / length_s),
    )
    fp = plan.transcribe_fps[subject]
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
        part=[index, count, round(start_s, 3), None if end_s is None else round(end_s, 3)],
        cost={"live_cpu_s": live.cpu_s} if live else {},  # made while the room was live
    )


def _speaker_transcript(
    ctx: StageContext, plan: SpacePlan, results: SpaceResults, participant_id: str
):
    """A participant's segments, the parts of their track the plan has joined in order, and the
    stats of the transcription as one (for the report)."""
    parts = [results.transcription[s] for s in plan.transcription_subjects(participant_id)]
    segments = [
        segment
        for part in parts
        for segment in segments_from_data(json.loads(ctx.store.get_bytes(part.key)))
    ]
    stats = parts[0].as_dict()
    if len(parts) > 1:
        audio_s, wall_s = sum(p.audio_s for p in parts), sum(p.wall_s for p in parts)
        stats |= {
            "key": None,
            "segments": sum(p.segments for p in parts),
            "audio_s": round(audio_s, 3),
            "wall_s": round(wall_s, 3),
            "real_time_factor": round(audio_s / max(wall_s, 1e-6), 1),
            "part": None,
            "parts": len(parts),
            "cpu_s": round(sum(p.cost.get("cpu_s") or 0.0 for p in parts), 3),
        }
    return segments, stats


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
    heard = crosstalk_from_data(results.bleed.crosstalk if results.bleed else [])
    for participant in plan.transcribed:
        segments, transcription[participant.id] = _speaker_transcript(
            ctx, plan, results, participant.id
        )
        per_speaker.append(without_crosstalk(segments, heard))  # not what they heard from others
    kept = [tuple(span) for span in master.edits.get("kept", [])]
    if kept:
        now = _edit_plan(ctx, plan, speech=False)
        lead_s = float(master.edits.get("lead_s", 0.0))
        edited = EditPlan(kept=tuple(kept), mutes=now.mutes if now else (), lead_s=lead_s)
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
                lead_s=float(master.edits.get("lead_s", 0.0)),
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
            crosstalk=results.bleed.crosstalk if results.bleed else [],
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
