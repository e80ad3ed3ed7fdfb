"""Every room's language: the language picks the Whisper model (tiny.en for English, the
multilingual base for the rest), ``auto`` detects it, a participant may speak another language
than the room, and a French space is published with no setting at all."""

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import podcastparser
import pytest

from pipeline.errors import InvalidLanguage, InvalidManifest, ModelUnavailable
from pipeline.manifest import load_manifest
from pipeline.process import ProcessOptions, process_space
from pipeline.quality import word_error_rate
from pipeline.transcribe import (
    WHISPER_LANGUAGES,
    WhisperSettings,
    check_known_language,
    settings_for,
    transcribe_track,
)

BY_LANGUAGE = WhisperSettings(cpu_threads=1)  # no model set: the language chooses

CAMILLE = (
    "Bonjour à tous. Ce soir nous parlons du jardin de la bibliothèque. "
    "Les tomates et les tournesols poussent très bien cette année."
)
LOUIS = (
    "Merci Camille. Le marché du samedi ouvre à huit heures. "
    "Nous cherchons des bénévoles pour la fête du quartier."
)
DANA = "Thank you both. I will bring the ladder and the paint on Saturday morning."


def speak(path: Path, text: str, *, voice: str, lead_s: float = 0.0) -> Path:
    wav = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", f"adelay={int(lead_s * 1000)}:all=1,apad=pad_dur=1",
         "-ar", "48000", "-c:a", "libopus", str(path)],
        check=True,
    )  # fmt: skip
    return path


def test_the_language_picks_the_model() -> None:
    assert settings_for(BY_LANGUAGE, "en").model == "tiny.en"
    assert settings_for(BY_LANGUAGE, "en-GB").model == "tiny.en"
    assert settings_for(BY_LANGUAGE, "fr").model == "base"
    assert settings_for(BY_LANGUAGE, "pt-BR").model == "base"
    assert settings_for(BY_LANGUAGE, "auto").model == "base"
    # A model the operator set is used for every language it can transcribe.
    assert settings_for(replace(BY_LANGUAGE, model="base"), "en").model == "base"


def test_a_forced_english_model_still_refuses_other_languages() -> None:
    forced = replace(BY_LANGUAGE, model="tiny.en")
    with pytest.raises(ModelUnavailable, match=r"language 'fr' needs a multilingual model"):
        settings_for(forced, "fr")
    with pytest.raises(ModelUnavailable, match=r"language 'auto' needs a multilingual model"):
        settings_for(forced, "auto")


def test_a_language_whisper_does_not_know_is_named() -> None:
    with pytest.raises(InvalidLanguage, match=r"language 'xx-YY': Whisper does not know 'xx'"):
        check_known_language("xx-YY")
    assert check_known_language("AUTO") == "AUTO"


def test_the_known_languages_are_whispers() -> None:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert set(_LANGUAGE_CODES) == WHISPER_LANGUAGES


def _manifest(folder: Path, *, language: str | None, dana_language: str | None = "en") -> Path:
    space: dict = {"id": "soiree-7", "title": "Soirée du quartier"}
    if language is not None:
        space["language"] = language
    dana: dict = {"id": "dana", "name": "Dana", "track": "dana.opus", "offset": 13.0,
                  "consent": {"record": True, "publish": True}}  # fmt: skip
    if dana_language is not None:
        dana["language"] = dana_language
    data = {
        "space": space,
        "show": {"title": "Radio du quartier", "author": "Camille"},
        "participants": [
            {"id": "camille", "name": "Camille", "role": "host", "track": "camille.opus",
             "offset": 0.0, "consent": {"record": True, "publish": True}},
            {"id": "louis", "name": "Louis", "track": "louis.opus", "offset": 7.0,
             "consent": {"record": True, "publish": True}},
            dana,
        ],
    }  # fmt: skip
    path = folder / "space.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_manifest_names_an_unknown_language(tmp_path: Path) -> None:
    for name in ("camille.opus", "louis.opus", "dana.opus"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(InvalidManifest, match=r"participants\[2\]\.language: language 'zz'"):
        load_manifest(_manifest(tmp_path, language="fr", dana_language="zz"))
    with pytest.raises(InvalidManifest, match=r"space\.language: language 'klingon'"):
        load_manifest(_manifest(tmp_path, language="klingon"))


@pytest.fixture(scope="module")
def french_room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("french-room")
    speak(folder / "camille.opus", CAMILLE, voice="fr", lead_s=0.5)
    speak(folder / "louis.opus", LOUIS, voice="fr-be", lead_s=0.5)
    speak(folder / "dana.opus", DANA, voice="en-us", lead_s=0.5)
    return folder


@pytest.mark.slow
def test_a_french_space_is_published_with_no_setting(french_room: Path, tmp_path: Path) -> None:
    """The room says French, one guest says English; nothing is configured."""
    out = tmp_path / "out"
    report = process_space(
        _manifest(french_room, language="fr"),
        out,
        ProcessOptions(whisper=BY_LANGUAGE),
    )
    segments = json.loads((out / "transcript.json").read_text())["segments"]
    said = {
        who: " ".join(s["body"] for s in segments if s["speaker"] == who)
        for who in ("Camille", "Louis", "Dana")
    }
    errors = {
        "Camille": word_error_rate(CAMILLE, said["Camille"]),
        "Louis": word_error_rate(LOUIS, said["Louis"]),
        "Dana": word_error_rate(DANA, said["Dana"]),
    }
    print("word error rate:", errors, said)  # the figures quoted in docs/decisions.md
    # espeak-ng's French voice is hard to understand: base measured 0.64 on both French tracks,
    # tiny.en 0.0 on the English one. The French words are French, not an English translation.
    assert errors["Camille"] <= 0.75 and errors["Louis"] <= 0.75, errors
    assert errors["Dana"] <= 0.15, errors
    assert "bibliothèque" in said["Camille"].lower() and "nous parlons" in said["Camille"].lower()
    assert "merci camille" in said["Louis"].lower()
    transcription = report["transcription"]
    assert transcription["camille"]["model"] == "base"
    assert transcription["camille"]["language"] == "fr"
    assert transcription["dana"]["model"] == "tiny.en"
    assert transcription["dana"]["language"] == "en"
    assert report["episode"]["language"] == "fr"
    feed = podcastparser.parse("file://feed", (out / "feed.xml").open("rb"))
    assert feed["episodes"][0]["title"] == "Soirée du quartier"
    assert "<language>fr</language>" in (out / "feed.xml").read_text()


@pytest.mark.slow
def test_auto_detects_the_language_from_the_first_speech(french_room: Path) -> None:
    result = transcribe_track(
        french_room / "louis.opus",
        speaker_id="louis",
        speaker="Louis",
        offset_s=0.0,
        language="auto",
        settings=BY_LANGUAGE,
        timeout_s=300,
    )
    assert result.language == "fr"
    assert result.model == "base"
    text = " ".join(s.text for s in result.segments)
    assert word_error_rate(LOUIS, text) <= 0.75, text
    assert "merci camille" in text.lower()
