"""Episode, clip and own-track media stream from the real S3 server with one byte range for
seeking; a malformed or unsatisfiable range is a 416 that says so, never a server error."""

from __future__ import annotations

import pytest

from tests.api.conftest import World


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
