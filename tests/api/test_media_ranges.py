"""Episode, clip and own-track media stream from the real S3 server with one byte range for
seeking; a malformed or unsatisfiable range is a 416 that says so, never a server error."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import World
from tests.api.raw_http import raw_request


def _urls(world: World) -> dict[str, str]:
    return {
        "episode": f"/media/episodes/{world.episodes['A']}/{world.renders['A']}/episode.mp3",
        "clip": f"/media/clips/{world.clips['A']}/{world.clip_renders['A']}/clip.vtt",
    }


@pytest.mark.parametrize("kind", ["episode", "clip"])
def test_media_serves_one_range_and_refuses_bad_ones(world: World, kind: str) -> None:
    url = _urls(world)[kind]
    whole = world.client.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    part = world.client.get(url, headers={"Range": "bytes=5-10"})
    assert part.status_code == 206 and part.content == whole.content[5:11]
    assert part.headers["content-range"] == f"bytes 5-10/{len(whole.content)}"
    for bad in ("bytes=abc", "bytes=1-2,5-6", f"bytes={len(whole.content) + 10}-"):
        refused = world.client.get(url, headers={"Range": bad})
        assert refused.status_code == 416, (bad, refused.text)
        assert "range" in refused.json()["detail"].lower()


@pytest.mark.parametrize("kind", ["episode", "clip"])
@pytest.mark.parametrize(
    "header",
    [b"bytes=0-\xb2", b"bytes=\xb2-5", b"bytes=1-\xb2\xb3", b"bytes=\xb9-", b"bytes=-\xb3"],
    ids=["superscript-end", "superscript-start", "superscripts", "superscript-one", "suffix"],
)
def test_ranges_with_unicode_digits_are_refused_like_any_malformed_range(
    world: World, kind: str, header: bytes
) -> None:
    # HTTP header bytes are read as Latin-1, where 0xB2 is a superscript two: str.isdigit()
    # accepted it and int() did not, which was a 500.
    status, body = raw_request(world.client.app, "GET", _urls(world)[kind], [(b"range", header)])
    assert status == 416, (header, body)
    assert json.loads(body)["detail"] == "Range must be a single 'bytes=START-END' range"


@pytest.mark.parametrize(
    "header",
    ["bytes=0-\u00b2", "bytes=\u00b2-5", "bytes=0-\u0663", "bytes=\u0663-", "bytes=\uff15-\uff19",
     "bytes=-\uff15", "bytes=\u0661\u0662-\u0663"],
)  # fmt: skip
def test_only_ascii_digits_make_a_range(header: str) -> None:
    # Arabic-Indic and fullwidth digits reach the API only through a server that decodes
    # headers as UTF-8; they are not digits of a byte range either way.
    from api.streaming import valid_range

    assert not valid_range(header)
    assert valid_range("bytes=0-5") and valid_range("bytes=7-") and valid_range("bytes=-5")
