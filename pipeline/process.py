"""The offline main job: a manifest of per-speaker tracks becomes a podcast episode in a folder.

Runs every stage in this process, in the order the service's workers run them: consent, probe,
speech activity and the bleed check, leveling between speakers and the mix, master (loudness),
transcribe, publish. Mixing and
mastering run on their own thread while transcription runs, since one is ffmpeg and the other
Whisper.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.activity import SpeechActivity, detect_speech
from pipeline.bleed import BleedFinding, TrackRef, detect_bleed
from pipeline.cleanup import CleanedTrack, clean_track
from pipeline.consent import (
    Participation,
    Publication,
    decide_publication,
    derive_states,
    entries_from_shorthand,
)
from pipeline.cover import render_cover
from pipeline.crosstalk import detect_crosstalk, without_crosstalk
from pipeline.drift import DriftEstimate, correct_drift, drift_from_declared_span
from pipeline.edits import (
    EditPlan,
    Operation,
    RoomTimeline,
    resolve,
    retime_segments,
    validate,
)
from pipeline.episode import (
    episode_description,
    episode_guid,
    episode_language,
    missing_summary,
    persons,
    transcript_links,
    write_transcripts,
)
from pipeline.errors import ConsentPending, NothingToPublish
from pipeline.feed import FeedItem, Show, build_feed, carry_over_items
from pipeline.health import TrackHealth, measure_health
from pipeline.leveling import SpeakerLevel, level_speaker, leveling_report
from pipeline.manifest import Manifest, load_manifest
from pipeline.master import MP3, DeliveryFormat, Edits, LoudnessTarget, master_episode
from pipeline.mix import MixInput, mix_tracks
from pipeline.probe import TrackLimits, probe_track
from pipeline.report import ReportInputs, TrackLine, build_report
from pipeline.transcribe import WhisperSettings, check_language, transcribe_track
from pipeline.transcript import Segment, merge_transcripts


@dataclass(frozen=True)
class ProcessOptions:
    formats: tuple[DeliveryFormat, ...] = (MP3,)
    target: LoudnessTarget = field(default_factory=LoudnessTarget)
    whisper: WhisperSettings = field(default_factory=WhisperSettings)
    limits: TrackLimits = field(default_factory=TrackLimits)
    base_url: str | None = None  # where DIR will be served; default: file URL of the folder
    feed_path: Path | None = None  # default: DIR/feed.xml; earlier items in it are kept
    stage_timeout_s: float = 6 * 3600.0
    hold_missing: bool = False  # refuse to publish while someone has not answered
    duck_excluded: bool = False  # lower every track while an excluded speaker bleeds into it
    edits: tuple[Operation, ...] = ()  # a host's edit list (pipeline.edits), room time


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Timer:
    """Wall and CPU seconds of one stage, and the process's peak memory after it."""

    def __init__(self, stages: dict[str, dict], name: str) -> None:
        self.stages, self.name = stages, name

    def __enter__(self) -> _Timer:
        self.stages.setdefault(self.name, {})
        self.wall = time.monotonic()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        entry = self.stages[self.name]
        entry["wall_s"] = round(time.monotonic() - self.wall, 3)
        entry.setdefault("cpu_s", round(time.process_time() - self.cpu, 3))
        entry["process_max_rss_mb"] = round(_max_rss_mb(), 1)


def decide_from_manifest(manifest: Manifest) -> Publication:
    now = datetime.now(UTC)
    entries = [
        entry
        for p in manifest.participants
        for entry in entries_from_shorthand(
            p.id, p.consent.model_dump(), at=now, source="manifest", actor="manifest"
        )
    ]
    return decide_publication(
        [Participation(p.id, p.name) for p in manifest.participants], derive_states(entries)
    )


def process_space(
    manifest_path: Path,
    out_dir: Path,
    options: ProcessOptions | None = None,
    *,
    log: Callable[[str], None] = lambda _: None,
) -> dict:
    """Turn the space in ``manifest_path`` into an episode in ``out_dir``; return the report."""
    options = options or ProcessOptions()
    started = time.monotonic()
    stages: dict[str, dict] = {}
    manifest, track_paths = load_manifest(manifest_path)
    for p in manifest.participants:  # a forced English-only model refuses before any work
        check_language(options.whisper, p.speaks(manifest.space.language))
    consent = decide_from_manifest(manifest)
    by_id = {p.id: p for p in manifest.participants}
    # Tracks of everyone who agreed to be recorded; a refused recording is never opened.
    recorded = [p.id for p in manifest.participants if p.consent.record]

    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spacecast-", dir=out_dir))
    try:
        with _Timer(stages, "probe"):
            probes = {
                pid: probe_track(track_paths[pid], label=by_id[pid].track, limits=options.limits)
                for pid in recorded
            }
        # A recorder whose clock drifted (its length against the span the room reported) is
        # resampled into room time before anything reads it.
        drifts = {
            pid: drift_from_declared_span(probes[pid].duration_s, by_id[pid].offset, by_id[pid].end)
            for pid in recorded
        }
        for n, (pid, estimate) in enumerate(drifts.items()):
            if estimate is not None and estimate.needs_correction:
                corrected = work / f"drift-{n}.flac"
                correct_drift(
                    track_paths[pid], estimate.drift_ppm, corrected,
                    timeout_s=options.stage_timeout_s, label=by_id[pid].track,
                )  # fmt: skip
                track_paths[pid] = corrected
        log(f"probed {len(probes)} recorded track(s)")

        with _Timer(stages, "activity"):
            activity = {
                pid: detect_speech(
                    track_paths[pid],
                    offset_s=by_id[pid].offset,
                    timeout_s=options.stage_timeout_s,
                    label=by_id[pid].track,
                )
                for pid in recorded
            }
        missing = missing_summary(consent, activity)
        if options.hold_missing and missing:
            raise ConsentPending(
                f"{manifest_path.name}: held until every speaker answers; waiting for "
                + ", ".join(f"{m['name']} ({m['speech_s']:.0f} s of speech)" for m in missing)
            )
        if not consent.audible:
            raise NothingToPublish(
                f"{manifest_path.name}: no participant consented to publication, "
                "so there is no episode"
            )

        plan = plan_edits(options.edits, consent.audible, by_id, probes, activity)

        with _Timer(stages, "bleed"):
            bleed = check_bleed(manifest, track_paths, consent, activity, work, options)
            crosstalk = detect_crosstalk(
                [
                    TrackRef(pid, by_id[pid].name, track_paths[pid], by_id[pid].offset)
                    for pid in track_paths
                    if pid in activity
                ],
                {pid: a.segments for pid, a in activity.items()},
                work,
                timeout_s=options.stage_timeout_s,
            )
        duck = duck_windows(bleed, activity) if options.duck_excluded else []
        levels: dict[str, SpeakerLevel] = {}
        health: dict[str, TrackHealth] = {}
        cleaned: dict[str, CleanedTrack] = {}

        def _audio():
            with _Timer(stages, "health"):
                for pid in consent.audible:
                    health[pid] = measure_health(
                        track_paths[pid],
                        activity[pid].on_track(by_id[pid].offset),
                        timeout_s=options.stage_timeout_s,
                        label=by_id[pid].track,
                    )
                stages["health"]["cpu_s"] = round(sum(h.cpu_s for h in health.values()), 3)
            with _Timer(stages, "clean"):
                if manifest.show.process_speakers:
                    for n, pid in enumerate(consent.audible):
                        cleaned[pid] = clean_track(
                            track_paths[pid],
                            health[pid],
                            activity[pid].on_track(by_id[pid].offset),
                            work / f"clean-{n}.flac",
                            timeout_s=options.stage_timeout_s,
                            label=by_id[pid].track,
                        )
                stages["clean"]["cpu_s"] = round(sum(c.cpu_s for c in cleaned.values()), 3)
            heard = {  # what the mix hears of each voice: the repaired track, if it was repaired
                pid: cleaned[pid].path if pid in cleaned and cleaned[pid].path else track_paths[pid]
                for pid in consent.audible
            }
            with _Timer(stages, "level"):
                if manifest.show.process_speakers:
                    for pid in consent.audible:
                        levels[pid] = level_speaker(
                            heard[pid],
                            activity[pid].on_track(by_id[pid].offset),
                            timeout_s=options.stage_timeout_s,
                            label=by_id[pid].track,
                        )
                stages["level"]["cpu_s"] = round(sum(v.cpu_s for v in levels.values()), 3)
            mix_inputs = [
                MixInput(
                    heard[pid],
                    by_id[pid].offset,
                    by_id[pid].track,
                    gain=levels[pid].mix_points if pid in levels else (),
                    mute=tuple(plan.mutes_of(pid)) if plan else (),
                )
                for pid in consent.audible
            ]
            with _Timer(stages, "mix"):
                mixed = mix_tracks(
                    mix_inputs, work / "mix.flac", timeout_s=options.stage_timeout_s, duck=duck
                )
                stages["mix"].update(
                    cpu_s=round(mixed.run.cpu_s, 3),
                    ffmpeg_max_rss_mb=round(mixed.run.max_rss_mb, 1),
                )
            log(f"mixed {len(mix_inputs)} track(s): {mixed.duration_s:.1f} s")
            with _Timer(stages, "master"):
                mastered = master_episode(
                    mixed.path,
                    mixed.loudness,
                    out_dir,
                    formats=options.formats,
                    target=options.target,
                    timeout_s=options.stage_timeout_s,
                    edits=Edits(plan, mixed.timeline_start_s) if plan else None,
                )
                stages["master"].update(
                    cpu_s=round(mastered.cpu_s, 3), ffmpeg_max_rss_mb=round(mastered.max_rss_mb, 1)
                )
            log("mastered " + ", ".join(mastered.files))
            return mixed, mastered

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spacecast-audio") as pool:
            audio = pool.submit(_audio)
            per_speaker: list[list[Segment]] = []
            transcribe_stats: dict[str, dict] = {}
            with _Timer(stages, "transcribe"):
                for pid in consent.transcribed:
                    p = by_id[pid]
                    result = transcribe_track(
                        track_paths[pid],
                        speaker_id=pid,
                        speaker=p.name,
                        offset_s=p.offset,
                        language=p.speaks(manifest.space.language),
                        settings=options.whisper,
                        timeout_s=options.stage_timeout_s,
                        speech=activity[pid].on_track(p.offset),
                    )
                    # Without the words their microphone heard from someone else.
                    per_speaker.append(without_crosstalk(result.segments, crosstalk))
                    transcribe_stats[pid] = {
                        "audio_s": round(result.audio_s, 3),
                        "wall_s": round(result.wall_s, 3),
                        "real_time_factor": round(result.audio_s / max(result.wall_s, 1e-6), 1),
                        "segments": len(result.segments),
                        "language": result.language,
                        "model": result.model,
                    }
                    log(f"transcribed {p.name}: {len(result.segments)} segment(s)")
            stages["transcribe"]["per_participant"] = transcribe_stats
            mixed, mastered = audio.result()

        with _Timer(stages, "publish"):
            if plan:
                segments = merge_transcripts([retime_segments(s, plan) for s in per_speaker])
            else:
                segments = merge_transcripts(per_speaker, shift_s=-mixed.timeline_start_s)
            transcript_files = write_transcripts(segments, out_dir)
            feed_path = options.feed_path or out_dir / "feed.xml"
            language = episode_language(manifest.space.language, transcribe_stats)
            published = _publish(
                manifest, consent, mastered, transcript_files, out_dir, feed_path, options, language
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report = build_report(
        ReportInputs(
            space={
                "id": manifest.space.id,
                "title": manifest.space.title,
                "started_at": manifest.space.started_at.isoformat(),
                "language": manifest.space.language,
            },
            tracks=[
                TrackLine(
                    id=p.id,
                    name=p.name,
                    role=p.role,
                    track=p.track,
                    offset_s=p.offset,
                    published=p.id in consent.audible,
                    transcribed=p.id in consent.transcribed,
                    speech_s=activity[p.id].speech_s if p.id in activity else None,
                    probe=probes[p.id].as_dict() if p.id in probes else None,
                    health=(
                        health[p.id].as_dict() | {"drift": DriftEstimate.report(drifts.get(p.id))}
                        if p.id in health
                        else None
                    ),
                    cleanup=cleaned[p.id].as_dict(health[p.id]) if p.id in cleaned else None,
                )
                for p in manifest.participants
            ],
            exclusions=consent.exclusions,
            shown={p.id: p.id for p in manifest.participants},
            speech_s={pid: a.speech_s for pid, a in activity.items()},
            missing=missing,
            bleed_findings=[f.as_dict() for f in bleed],
            crosstalk=[c.as_dict() for c in crosstalk],
            ducked=bool(duck),
            ducked_windows=len(duck),
            leveling=leveling_report(manifest.show.process_speakers, levels),
            timeline_start_s=mixed.timeline_start_s,
            mix_loudness=mixed.loudness.as_dict(),
            files={name: f.as_dict() for name, f in mastered.files.items()},
            main=options.formats[0].name,
            segments=segments,
            target=options.target.as_dict(),
            transcription=transcribe_stats,
            stages=stages,
        )
    ) | {"outputs": published["outputs"]}
    report["episode"]["guid"] = published["guid"]
    report["model"] = {
        "name": options.whisper.model or "by language",
        "compute_type": options.whisper.compute_type,
        "cpu_threads": options.whisper.cpu_threads,
        "beam_size": options.whisper.beam_size,
        "vad": options.whisper.vad,
    }
    if plan:
        report["edits"] = plan.as_dict()
    report["stages"] = stages
    report["total_wall_s"] = round(time.monotonic() - started, 3)
    report["peak_rss_mb"] = round(_max_rss_mb(), 1)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def plan_edits(
    ops: tuple[Operation, ...],
    audible: list[str],
    by_id: dict,
    probes: dict,
    activity: dict[str, SpeechActivity],
) -> EditPlan | None:
    """The edit list checked against the published tracks and resolved (None: no edits)."""
    if not ops:
        return None
    timeline = RoomTimeline(
        start_s=min(by_id[pid].offset for pid in audible),
        end_s=max(by_id[pid].offset + probes[pid].duration_s for pid in audible),
        speakers={pid: by_id[pid].name for pid in audible},
    )
    validate(ops, timeline)
    speech = [window for pid in audible for window in activity[pid].segments]
    return resolve(ops, timeline, speech=speech)


def check_bleed(
    manifest: Manifest,
    track_paths: dict[str, Path],
    consent: Publication,
    activity: dict[str, SpeechActivity],
    scratch: Path,
    options: ProcessOptions,
) -> list[BleedFinding]:
    """Correlate every recorded-but-excluded speaker with every published track."""
    by_id = {p.id: p for p in manifest.participants}

    def ref(pid: str) -> TrackRef:
        return TrackRef(pid, by_id[pid].name, track_paths[pid], by_id[pid].offset)

    published = [ref(pid) for pid in consent.audible]
    findings = []
    for exclusion in consent.exclusions:
        pid = exclusion.participant_id
        if exclusion.excluded_from == "episode" and pid in activity:
            findings += detect_bleed(
                ref(pid),
                activity[pid].segments,
                published,
                scratch,
                timeout_s=options.stage_timeout_s,
            )
    return findings


def duck_windows(
    findings: list[BleedFinding], activity: dict[str, SpeechActivity]
) -> list[tuple[float, float]]:
    """Speech of every excluded speaker whose voice was found on a published track."""
    bleeding = {f.speaker_id for f in findings if f.detected}
    return sorted(window for pid in bleeding for window in activity[pid].segments)


def _publish(
    manifest: Manifest,
    consent: Publication,
    mastered,
    transcript_files,
    out_dir: Path,
    feed_path: Path,
    options: ProcessOptions,
    language: str,
) -> dict:
    feed_dir = feed_path.resolve().parent
    base_url = options.base_url or feed_dir.as_uri() + "/"
    if not base_url.endswith("/"):
        base_url += "/"

    def _url(path: Path) -> str:
        return base_url + path.resolve().relative_to(feed_dir).as_posix()

    show_info = manifest.show
    image_url = show_info.image
    if not image_url:
        image_url = _url(render_cover(show_info.title, out_dir / "cover.png"))
    feed_url = base_url + feed_path.name
    show = Show(
        title=show_info.title,
        author=show_info.author,
        description=show_info.description,
        link=show_info.link or base_url,
        feed_url=feed_url,
        image_url=image_url,
        language=show_info.language or language,
        category=show_info.category,
        explicit=show_info.explicit,
        owner_email=show_info.email,
    )
    main_file = mastered.files[options.formats[0].name]
    by_id = {p.id: p for p in manifest.participants}
    item = FeedItem(
        guid=episode_guid(feed_url, manifest.space.id),
        title=manifest.space.title,
        description=episode_description(
            manifest.space.description,
            f"{manifest.space.started_at:%Y-%m-%d}",
            [by_id[pid].name for pid in consent.audible],
        ),
        link=show_info.link,
        published_at=datetime.now(UTC),
        enclosure_url=_url(main_file.path),
        enclosure_bytes=main_file.size_bytes,
        enclosure_type=main_file.fmt.mime_type,
        duration_s=main_file.duration_s,
        persons=persons([(by_id[pid].name, by_id[pid].role) for pid in consent.audible]),
        transcripts=transcript_links(
            {key: _url(path) for key, path in transcript_files.items()}, language
        ),
    )
    xml = build_feed(show, [item])
    if feed_path.is_file():
        xml = carry_over_items(xml, feed_path.read_bytes())
    feed_path.write_bytes(xml)
    outputs = {
        f"episode_{name}": str(f.path.relative_to(out_dir)) for name, f in mastered.files.items()
    }
    outputs.update(
        {f"transcript_{k}": str(p.relative_to(out_dir)) for k, p in transcript_files.items()}
    )
    outputs["feed"] = str(feed_path)
    return {"guid": item.guid, "outputs": outputs}
