"""The live actor: one step of a participant's live work (speech activity over the chunks
acknowledged so far, transcription of speech a pause has closed), on its own low-priority
queue; and the finishing stages' way in (finish the tail, then adopt). State is in PostgreSQL
(``services.live``), transcript pieces under the space's ``work/`` prefix; a step killed midway
is done again from the last committed state."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import dramatiq

from infra.db import session_scope
from infra.logs import stage_logger
from infra.queue import queue_name
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore, work_key
from pipeline import live as policy
from pipeline.activity import SpeechActivity
from pipeline.chunks import RATE_HZ
from pipeline.transcribe import TrackTranscript
from pipeline.transcript import Segment, segments_from_data, segments_to_data
from services import live as bookkeeping
from services.publishing import delete_objects
from workers.runs import object_store

MAX_REGION_S = 300.0  # audio the detector hears per pass (bounds memory whatever the lag)
_PRIORITY = 1000  # after any stage a worker holds: live work yields to finishing rooms


def advance(
    participant_id: str,
    store: ObjectStore,
    settings: Settings,
    *,
    track: Path | None = None,
    scratch: Path | None = None,
) -> None:
    """Bring the participant's live work up to what has arrived. ``track``: the assembled track
    (the chunk objects are gone once it is assembled), given by a finishing stage; with it, the
    work is finished to the end."""
    with tempfile.TemporaryDirectory(
        prefix="spacecast-live-", dir=scratch or settings.work_dir
    ) as tmp:
        stale = _advance(participant_id, store, settings, Path(tmp), track)
    delete_objects(store, stale)


def _advance(
    participant_id: str, store: ObjectStore, settings: Settings, folder: Path, track: Path | None
) -> list[str]:
    cpu_started = time.process_time()
    stale: list[str] = []
    with session_scope(settings.database_url) as session:
        bookkeeping.lock(session, participant_id)
        work = bookkeeping.live_work(session, settings, participant_id)
        if work is None:
            return []
        row, p = work.row, work.participant
        log = stage_logger(p.space_id, "live", p.id)
        chain = policy.chain_of(work.spans)
        prefix_ok = row.chain_seq <= chain.seq and (
            row.chain_seq < 0
            or policy.chain_of([s for s in work.spans if s.seq <= row.chain_seq]).fp == row.chain_fp
        )
        if row.settings_fp != work.fingerprint or not prefix_ok:
            if track is not None:
                return []  # nothing to adopt: the stages do the whole track as they would
            stale += bookkeeping.reset(row, work.fingerprint)
        if row.final:
            return stale
        final = work.assembled and track is not None
        if work.assembled and track is None:
            return stale  # the chunks are in the track now: the stages finish from it
        if track is not None and not final:
            return []  # the track is not these chunks: nothing to adopt
        if chain.end_sample <= row.chain_end_sample and not final:
            return stale
        cache: dict[int, bytes] = {}

        def read_chunk(span) -> bytes:
            if span.seq not in cache:
                cache.clear()  # regions move forward: keep only the chunks of this one
                cache[span.seq] = store.get_bytes(work.keys[span.seq])
            return cache[span.seq]

        progress = bookkeeping.progress_of(row)
        # At the end the chunks are gone: what is left is read from the assembled track,
        # decoded once from where the live work stopped.
        tail_from = max(
            0,
            round(min(policy.activity_region(progress), row.transcribed_s - 1.0) * RATE_HZ),
        )
        if final:
            policy.write_track_tail(
                track, tail_from, folder / "tail.wav", timeout_s=settings.stage_timeout_s,
                label=p.name,
            )  # fmt: skip
            log.info("live: %.1f s left to do at the end", chain.end_s - tail_from / RATE_HZ)

        def region(start_s: float, end_s: float, name: str) -> Path:
            a, b = round(start_s * RATE_HZ), min(round(end_s * RATE_HZ), chain.end_sample)
            if final:
                pcm = policy.wav_region(folder / "tail.wav", tail_from, a, b)
            else:
                pcm = policy.region_pcm(work.spans, read_chunk, a, b)
            return policy.write_wav(folder / name, pcm)

        target_s = chain.end_s
        while True:
            start = policy.activity_region(progress)
            end = min(target_s, start + MAX_REGION_S)
            last = end >= target_s
            found = policy.detect_region(
                region(start, end, "activity.wav"),
                start,
                timeout_s=settings.stage_timeout_s,
                label=p.name,
            )
            progress = policy.advance_activity(progress, found, end, final=final and last)
            if last:
                break
        keys = list(row.transcript_keys or [])
        kept_before = set(keys)
        transcribed_s = float(row.transcribed_s)
        if work.transcribe:
            for batch in policy.closed_batches(progress, transcribed_s, final=final):
                segments, _ = policy.transcribe_batch(
                    region(batch.start_s, batch.end_s, "speech.wav"),
                    batch,
                    speaker_id=p.id,
                    speaker=p.name,
                    offset_s=p.offset_s,
                    language=work.language,
                    settings=settings.whisper_settings(),
                    timeout_s=settings.stage_timeout_s,
                )
                key = work_key(
                    p.space_id,
                    f"live/{p.id}/transcript-{row.settings_fp[:12]}-"
                    f"{int(batch.start_s * 1000):09d}.json",
                )
                store.put_bytes(
                    key,
                    json.dumps(segments_to_data(segments)).encode(),
                    content_type="application/json",
                )
                if key not in keys:
                    keys.append(key)
                transcribed_s = policy.transcribed_until(batch, progress, final=final)
            if final:
                transcribed_s = progress.done_s
        if not bookkeeping.still_assumed(session, settings, row, p, work):
            # An answer changed while this step worked: what it made may hold words that are
            # no longer allowed, so it goes, and the next step starts again from the ledger.
            made = [key for key in keys if key not in kept_before]
            delete_objects(store, made)
            log.info("live: an answer changed during the step; %d piece(s) dropped", len(made))
            return stale
        bookkeeping.save(
            row,
            chain,
            progress,
            transcribed_s=transcribed_s,
            keys=keys,
            final=final,
            cpu_s=time.process_time() - cpu_started,
        )
        log.info(
            "live: %.1f s final of %.1f s acknowledged, transcribed to %.1f s%s",
            progress.done_s,
            chain.end_s,
            transcribed_s,
            " (finished)" if final else "",
        )
    return stale


def live_track(participant_id: str) -> None:
    """One live step, as chunks arrive (sent by ``services.live.chunk_stored``)."""
    settings = get_settings()
    with session_scope(settings.database_url) as session:
        bookkeeping.step_started(session, participant_id)
    advance(participant_id, object_store(settings), settings)


def adopt(
    participant_id: str, store: ObjectStore, settings: Settings, track: Path, scratch: Path
) -> bookkeeping.Adopted | None:
    """For a finishing stage: finish the live work's tail from the assembled ``track``, then
    the live results if the stages may adopt them (``services.live.adoptable``)."""
    if not settings.live_work:
        return None
    advance(participant_id, store, settings, track=track, scratch=scratch)
    with session_scope(settings.database_url) as session:
        return bookkeeping.adoptable(session, settings, participant_id)


def adopted_activity(
    participant, store: ObjectStore, settings: Settings, track: Path, scratch: Path
) -> tuple[SpeechActivity, bookkeeping.Adopted] | None:
    """The activity stage's way in: the live speech activity on the room timeline, if adopted."""
    adopted = adopt(participant.id, store, settings, track, scratch)
    if adopted is None:
        return None
    shift = participant.offset_s
    segments = tuple((round(a + shift, 3), round(b + shift, 3)) for a, b in adopted.segments)
    return SpeechActivity(segments, adopted.track_s), adopted


def live_transcript(
    participant, store: ObjectStore, settings: Settings, track: Path, scratch: Path
) -> TrackTranscript | None:
    """The transcription stage's way in: the live transcript pieces as one track's transcript,
    if adopted."""
    adopted = adopt(participant.id, store, settings, track, scratch)
    if adopted is None or adopted.transcript_keys is None:
        return None
    segments: list[Segment] = []
    for key in adopted.transcript_keys or []:
        segments += segments_from_data(json.loads(store.get_bytes(key)))
    segments.sort(key=lambda s: (s.start_s, s.end_s))
    return TrackTranscript(
        segments=segments,
        audio_s=adopted.track_s,
        wall_s=0.0,
        cpu_s=adopted.cpu_s,
        language=adopted.language,
        model=adopted.model,
    )


def register(broker: dramatiq.Broker) -> None:
    dramatiq.actor(
        live_track,
        actor_name=bookkeeping.LIVE_ACTOR,
        queue_name=queue_name("live"),
        priority=_PRIORITY,
        broker=broker,
        max_retries=3,
        min_backoff=1_000,
        max_backoff=30_000,
        time_limit=600_000,
    )
