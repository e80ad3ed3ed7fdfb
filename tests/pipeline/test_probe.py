import subprocess
import time
from pathlib import Path

import pytest

from pipeline.errors import InvalidTrack
from pipeline.probe import TrackLimits, probe_track
from tests.pipeline.hostile_media import m4a_with_forged_timestamps, vbr_mp3_without_xing

CODECS = {
    "opus": ["-c:a", "libopus"],
    "webm": ["-c:a", "libopus"],
    "wav": ["-c:a", "pcm_s16le"],
    "mp3": ["-c:a", "libmp3lame"],
    "flac": ["-c:a", "flac"],
    "m4a": ["-c:a", "aac"],
}


def tone(path: Path, *, rate_hz: int = 48_000, channels: int = 1, seconds: float = 3.0) -> Path:
    name = {1: "mono", 2: "stereo", 16: "hexadecagonal"}[channels]
    layout = f"pan={name}|" + "|".join(f"c{i}=c0" for i in range(channels))
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate_hz}:duration={seconds}",
         "-af", layout, *CODECS[path.suffix[1:]], str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("name", "rate_hz", "channels", "codec"),
    [
        ("a.opus", 48_000, 1, "opus"),
        ("a.webm", 48_000, 2, "opus"),
        ("a.wav", 16_000, 1, "pcm_s16le"),
        ("a.mp3", 44_100, 2, "mp3"),
        ("a.flac", 22_050, 1, "flac"),
        ("a.m4a", 44_100, 1, "aac"),
    ],
)
def test_accepted_containers_rates_and_layouts(
    tmp_path: Path, name, rate_hz, channels, codec
) -> None:
    probe = probe_track(tone(tmp_path / name, rate_hz=rate_hz, channels=channels))
    assert probe.codec == codec
    assert probe.channels == channels
    assert probe.duration_s == pytest.approx(3.0, abs=0.1)
    if codec != "opus":  # Opus always decodes at 48 kHz
        assert probe.sample_rate_hz == rate_hz


def test_extension_is_not_trusted(tmp_path: Path) -> None:
    wav = tone(tmp_path / "a.wav")
    disguised = tmp_path / "really-a-wav.mp3"
    disguised.write_bytes(wav.read_bytes())
    assert probe_track(disguised).format_name == "wav"


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bruno.opus"
    path.write_bytes(b"")
    with pytest.raises(InvalidTrack, match=r"^bruno\.opus: the file is empty \(0 bytes\)$"):
        probe_track(path)


def test_text_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.opus"
    path.write_text("these are my notes, not audio\n" * 50)
    with pytest.raises(InvalidTrack, match=r"^notes\.opus: not an audio file"):
        probe_track(path)


def test_image_without_audio_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cover.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-frames:v", "1",
         "-c:v", "mjpeg", "-f", "mp4", str(path)],
        check=True,
    )  # fmt: skip
    with pytest.raises(InvalidTrack, match=r"no audio stream"):
        probe_track(path)


@pytest.mark.parametrize(
    "content",
    [
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
        "ffconcat version 1.0\nfile /etc/hostname\n",
    ],
    ids=["hls-playlist", "concat-list"],
)
def test_playlists_and_concat_lists_are_not_followed(tmp_path: Path, content: str) -> None:
    path = tmp_path / "track.opus"
    path.write_text(content)
    with pytest.raises(InvalidTrack, match=r"^track\.opus: not an audio file ffmpeg can read"):
        probe_track(path)


def forged_flac(folder: Path) -> Path:
    """A FLAC whose header (STREAMINFO total samples) claims about 2,400 hours of 0.5 s of audio."""
    real = tone(folder / "real.flac", rate_hz=8000, seconds=0.5)
    data = bytearray(real.read_bytes())
    assert data[:4] == b"fLaC"
    data[21] |= 0x0F
    data[22:26] = b"\xff\xff\xff\xff"
    liar = folder / "liar.flac"
    liar.write_bytes(bytes(data))
    return liar


def test_huge_declared_duration_is_measured_and_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrack, match=r"header declares 2386\.1 h but the file holds 0\.5 s"):
        probe_track(forged_flac(tmp_path), limits=TrackLimits(max_duration_s=3600))


def test_missing_duration_is_measured(tmp_path: Path) -> None:
    # Browsers' MediaRecorder writes WebM without a duration; its packets tell it.
    source = tone(tmp_path / "a.webm", seconds=2.0)
    streamed = tmp_path / "streamed.webm"
    with streamed.open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", "-f", "webm", "-live", "1", "pipe:1"],
            check=True, stdout=out,
        )  # fmt: skip
    probe = probe_track(streamed)
    assert probe.duration_measured is True
    assert probe.duration_s == pytest.approx(2.0, abs=0.1)


def test_over_limit_duration_channels_and_rate_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrack, match=r"over the limit of"):
        probe_track(tone(tmp_path / "long.flac", seconds=4), limits=TrackLimits(max_duration_s=2))
    with pytest.raises(InvalidTrack, match=r"16 channels, more than the 8 accepted"):
        probe_track(tone(tmp_path / "many.wav", channels=16))
    with pytest.raises(InvalidTrack, match=r"sample rate 4000 Hz is outside"):
        probe_track(tone(tmp_path / "low.wav", rate_hz=4000))
    with pytest.raises(InvalidTrack, match=r"over the limit of 0 MiB"):
        probe_track(tone(tmp_path / "big.wav"), limits=TrackLimits(max_bytes=1000))


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("a.opus", []),
        ("a.webm", []),
        ("a.wav", []),
        ("a.flac", []),
        ("a.m4a", []),
        ("a.mp3", []),
        ("vbr-without-xing.mp3", ["-q:a", "4", "-write_xing", "0"]),
        ("headerless.webm", ["-live", "1"]),
    ],
)
def test_length_is_measured_from_the_stream_in_every_container(
    tmp_path: Path, name: str, extra: list[str]
) -> None:
    suffix = Path(name).suffix[1:]
    path = tmp_path / name
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=7.3",
         *CODECS[suffix], *extra, str(path)],
        check=True,
    )  # fmt: skip
    assert probe_track(path).duration_s == pytest.approx(7.3, abs=0.1)


def test_vbr_mp3_without_xing_header_over_the_limit_is_refused(tmp_path: Path) -> None:
    # 8 hours; ffprobe estimates 2.5 h from the bitrate of the first (loud) frames.
    path = vbr_mp3_without_xing(tmp_path / "eight-hours.mp3", seconds=8 * 3600)
    started = time.monotonic()
    with pytest.raises(InvalidTrack) as refused:
        probe_track(path)
    assert str(refused.value) == (
        "eight-hours.mp3: the audio lasts more than 6.0 h, over the limit of 6.0 h; "
        "its header claims 2.5 h"
    )
    assert time.monotonic() - started < 5.0  # the frames are read, never decoded


def test_timestamps_forged_short_are_refused_from_the_packet_count(tmp_path: Path) -> None:
    # 60 s of AAC whose MP4 sample table claims 0.6 s: decoders (and an input -t cap) would go
    # through all 60 s, so it must not pass as a short track.
    path = m4a_with_forged_timestamps(tmp_path / "forged.m4a", seconds=60)
    with pytest.raises(
        InvalidTrack,
        match=r"^forged\.m4a: its timestamps add up to 0\.6 s but its "
        r"2585 aac packets hold at least 1\.0 min of audio; the file is corrupt or forged$",
    ):
        probe_track(path, limits=TrackLimits(max_duration_s=30))
