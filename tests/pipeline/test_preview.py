"""A cut's preview: only the seconds around it, with the episode's own crossfade, rendered by
real ffmpeg from the mix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.edits import Cut, RoomTimeline, resolve
from pipeline.errors import InvalidEdit
from pipeline.master import Treatment
from pipeline.preview import render_cut_preview, seam_plan
from tests.audio import decode
from tests.pipeline.test_edits import _onsets, _tone_bursts


def test_a_cut_preview_holds_four_seconds_either_side_of_the_seam(tmp_path: Path) -> None:
    """Bursts at mix times 1, 3, 5, 6.5, 9, 12 (room time 2 s later); cut room 6-8 s and 10.5-
    11.5 s. The preview of the first cut starts 4 s before it and ends 4 s after it: the bursts
    at room 3 and 5 s, none of the cut one (room 7 s), the one at room 8.5 s just after the
    seam; the burst at room 11 s is the second cut's, not this preview's."""
    mix = _tone_bursts(tmp_path / "mix.flac", [1.0, 3.0, 5.0, 6.5, 9.0, 12.0], total_s=14.0)
    plan = resolve([Cut(6.0, 8.0), Cut(10.5, 11.5)], RoomTimeline(2.0, 16.0, {"a": "A"}))
    preview = render_cut_preview(
        mix, 2.0, plan, 0, tmp_path / "cut.mp3", treatment=Treatment(0.0, -1.0), timeout_s=60
    )
    assert preview.room_start_s == pytest.approx(2.0)
    assert preview.seam_at_s == pytest.approx(4.0)
    assert preview.duration_s == pytest.approx(4.0 + 2.5)  # the next cut starts 2.5 s after
    rate = 48_000
    samples = decode(preview.path, rate_hz=rate)
    assert len(samples) / rate == pytest.approx(6.5, abs=0.06)
    heard = _onsets(samples, rate)
    expected = [1.0, 3.0, 4.0 + 0.5]  # room 3, 5, then 8.5 (0.5 s after the seam)
    assert len(heard) == len(expected), heard
    for got, want in zip(heard, expected, strict=True):
        assert got - heard[0] == pytest.approx(want - expected[0], abs=0.02)


def test_a_cut_the_version_does_not_have_is_refused_naming_it() -> None:
    plan = resolve([Cut(6.0, 8.0)], RoomTimeline(2.0, 16.0, {"a": "A"}))
    with pytest.raises(InvalidEdit, match="cut 2: the version has 1 cut"):
        seam_plan(plan, 1)


def test_a_preview_ffmpeg_cannot_read_names_the_problem_without_the_presigned_url(
    tmp_path: Path,
) -> None:
    """The preview reads the mix over a presigned GET of the bucket object; when ffmpeg cannot
    (the object is gone, its signature does not match, the bytes are not audio, the server is
    down) the error names the problem and never the URL: its signature grants the read and
    its host is the bucket's address."""
    import boto3
    from botocore.config import Config

    from infra.s3server import LocalS3Server, free_port
    from pipeline.errors import FFmpegFailed

    plan = resolve([Cut(6.0, 8.0)], RoomTimeline(2.0, 16.0, {"a": "A"}))
    with LocalS3Server(tmp_path / "s3") as server:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket="spacecast")
        client.put_object(Bucket="spacecast", Key="spaces/s1/mix.flac", Body=b"not audio " * 500)

        def url(key: str) -> str:
            return client.generate_presigned_url(
                "get_object", Params={"Bucket": "spacecast", "Key": key}, ExpiresIn=120
            )

        good = url("spaces/s1/mix.flac")
        cases = {
            "missing": (url("spaces/s1/gone.flac"), r"404|not found"),
            "forged": (good.replace("X-Amz-Signature=", "X-Amz-Signature=0"), r"403|forbidden"),
            "not audio": (good, r"invalid data"),
            "server down": (f"http://127.0.0.1:{free_port()}/spacecast/mix.flac?X-Amz-Signature=ab",
                            r"refused"),
        }  # fmt: skip
        for case, (source, problem) in cases.items():
            with pytest.raises(FFmpegFailed) as caught:
                render_cut_preview(
                    source, 2.0, plan, 0, tmp_path / "cut.mp3",
                    treatment=Treatment(0.0, -1.0), timeout_s=60,
                )  # fmt: skip
            message = str(caught.value)
            assert message.startswith("previewing cut 1: ffmpeg failed"), (case, message)
            assert re.search(problem, message, re.IGNORECASE), (case, message)
            for secret in ("://", "X-Amz", "Signature", "127.0.0.1", "spaces/s1", "mix.flac"):
                assert secret not in message, (case, message)
