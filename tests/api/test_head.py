"""HEAD answers what the GET of the same URL would (status, length, type, validators, ranges)
without a body: podcast apps and validators check a feed's and an enclosure's headers first,
and Apple Podcasts requires media servers to answer HEAD. Media streamed from the real S3
server is not read for a HEAD; its ranges are worked out from the object's length, so each is
compared here with the bucket's own answer to the same ranged GET."""

from __future__ import annotations

import pytest

from tests.api.conftest import World
from tests.api.test_feed_polls import _kept, _statements

# Headers that may differ between two answers of the same URL made a moment apart.
_MOMENT = {"date", "x-request-id"}


def _same_answer(get, head) -> None:
    assert head.status_code == get.status_code, (get.status_code, head.status_code, head.text)
    assert head.content == b""
    got = {k: v for k, v in get.headers.items() if k not in _MOMENT}
    headed = {k: v for k, v in head.headers.items() if k not in _MOMENT}
    assert headed == got
    if get.status_code in (200, 206):
        assert int(head.headers["content-length"]) == len(get.content) > 0


def _media(world: World) -> dict[str, str]:
    episode, render = world.episodes["A"], world.renders["A"]
    clip, clip_render = world.clips["A"], world.clip_renders["A"]
    return {
        "episode mp3": f"/media/episodes/{episode}/{render}/episode.mp3",
        "episode vtt": f"/media/episodes/{episode}/{render}/transcript.vtt",
        "clip mp3": f"/media/clips/{clip}/{clip_render}/clip.mp3",
        "episode page": f"/e/{episode}",
        "clip page": f"/c/{clip}",
        "episode json": f"/episodes/{episode}",
    }


@pytest.mark.parametrize(
    "kind", ["episode mp3", "episode vtt", "clip mp3", "episode page", "clip page", "episode json"]
)
def test_a_head_answers_the_headers_of_the_get(world: World, kind: str) -> None:
    url = _media(world)[kind]
    get = world.client.get(url)
    assert get.status_code == 200, get.text
    _same_answer(get, world.client.head(url))


def test_a_head_of_the_feed_answers_its_headers_from_memory(world: World) -> None:
    url = f"/shows/{world.shows['A']}/feed.xml"
    get = _kept(world, url)
    with _statements() as sent:
        head = world.client.head(url)
    _same_answer(get, head)
    assert sent == []  # answered from the kept feed, as a plain GET poll is
    etag = get.headers["etag"]
    revalidated = world.client.head(url, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304 and revalidated.content == b""


def test_a_head_of_media_reads_no_object_from_the_bucket(world: World) -> None:
    from api.deps import store_dep

    calls: list[str] = []

    def _count(event_name: str, **_kwargs) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    events = store_dep().client.meta.events
    events.register("before-call.s3", _count)
    try:
        for header in (None, "bytes=100-"):
            headers = {"Range": header} if header else {}
            assert world.client.head(_media(world)["episode mp3"], headers=headers).is_success
    finally:
        events.unregister("before-call.s3", _count)
    assert calls == ["HeadObject", "HeadObject"]


def test_ranged_heads_answer_what_the_bucket_answers_the_ranged_get(world: World) -> None:
    url = _media(world)["episode mp3"]
    total = len(world.client.get(url).content)
    ranges = [
        "bytes=0-", "bytes=5-10", "bytes=0-0", "bytes=-7", f"bytes=-{total + 100}",
        f"bytes={total - 1}-", f"bytes=3-{total + 50}", f"bytes={total}-", f"bytes={total + 9}-20000000",
        "bytes=-0", " bytes = 2-4 ",
    ]  # fmt: skip
    for header in ranges:
        get = world.client.get(url, headers={"Range": header})
        head = world.client.head(url, headers={"Range": header})
        assert head.status_code == get.status_code, (header, get.status_code, head.status_code)
        assert head.content == b"", header
        if get.status_code == 206:
            for name in ("content-range", "content-length", "content-type", "accept-ranges"):
                assert head.headers[name] == get.headers[name], (header, name)
            assert int(get.headers["content-length"]) == len(get.content)


def test_a_head_of_a_clip_is_not_counted_as_a_replay(world: World) -> None:
    url = _media(world)["clip mp3"]

    def replays() -> int:
        clip = world.client.get(f"/clips/{world.clips['A']}").raise_for_status().json()
        return clip["replays"]

    before = replays()
    for _ in range(3):
        assert world.client.head(url).status_code == 200
    assert replays() == before
    assert world.client.get(url).status_code == 200
    assert replays() == before + 1


def test_a_head_is_refused_as_the_get_is(world: World) -> None:
    episode = world.episodes["A"]
    missing = f"/media/episodes/{episode}/{world.renders['A']}/nothing.mp3"
    other_host = world.headers("other_host")
    private = f"/spaces/{world.spaces['A']}"
    for url, headers in ((missing, {}), (private, other_host), (private, {})):
        get = world.client.get(url, headers=headers)
        head = world.client.head(url, headers=headers)
        assert get.status_code in (401, 403, 404), (url, get.status_code)
        assert head.status_code == get.status_code and head.content == b"", url
    # A route without a GET has no HEAD either.
    refused = world.client.head("/listeners")
    assert refused.status_code == 405 and refused.content == b""


def test_a_head_is_counted_under_its_own_method_and_the_route(world: World) -> None:
    registry = world.client.app.state.metrics
    labels = {
        "method": "HEAD",
        "route": "/media/episodes/{episode_id}/{render_id}/{filename}",
        "status": "200",
    }

    def counted() -> float:
        return registry.get_sample_value("spacecast_http_requests_total", labels) or 0.0

    before = counted()
    assert world.client.head(_media(world)["episode mp3"]).status_code == 200
    assert counted() == before + 1


def test_a_head_of_redirected_media_followed_as_a_client_would_answers_its_headers(
    world: World,
) -> None:
    """With SPACECAST_MEDIA_DELIVERY=redirect a GET of media is sent to a URL signed for GET,
    which the bucket refuses to a HEAD (403: a signed URL is good for its one method). So the
    API answers a HEAD itself, from the object's metadata, and a podcast app or validator
    following redirects with HEAD gets the enclosure's headers; the GET still redirects."""
    import httpx

    from api.app import create_app
    from api.deps import settings_dep
    from infra.settings import get_settings
    from tests.api.conftest import served

    redirecting = get_settings().model_copy(update={"media_delivery": "redirect"})
    app = create_app()
    app.dependency_overrides[settings_dep] = lambda: redirecting
    bucket = get_settings().s3_endpoint_url
    with served(app) as base, httpx.Client(base_url=base) as client:
        for kind in ("episode mp3", "episode vtt"):
            url = _media(world)[kind]
            for header in (None, "bytes=100-", "bytes=-50"):
                headers = {"Range": header} if header else {}
                sent = client.get(url, headers=headers)
                assert sent.status_code == 307, (kind, header, sent.status_code)
                assert sent.headers["location"].startswith(f"{bucket}/")
                # The bytes the redirected GET gets (rclone answers a range 200 with its
                # Content-Range, where AWS answers 206), and the API's own answer to compare.
                got = client.get(url, headers=headers, follow_redirects=True)
                proxied = world.client.get(url, headers=headers)
                assert got.is_success and got.content == proxied.content, (kind, header)
                head = client.head(url, headers=headers, follow_redirects=True)
                assert head.status_code == (206 if header else 200), (kind, header, head.history)
                assert head.content == b""
                assert int(head.headers["content-length"]) == len(got.content) > 0
                assert head.headers.get("content-range") == proxied.headers.get("content-range")
                assert head.headers["cache-control"] == proxied.headers["cache-control"]
