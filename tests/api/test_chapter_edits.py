"""Hosts edit chapters through the API (the real app on PostgreSQL and the S3 server): the list
they send is kept and the episode is rendered again to publish it; anything wrong is refused
(422) naming the chapter and the problem, and nothing is stored; only the show's host may."""

from __future__ import annotations

import pytest

from tests.api.conftest import World


def _episode(episode_id: str):
    from infra.db import session_scope
    from infra.models import Episode, Space
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        episode = session.get(Episode, episode_id)
        space = session.get(Space, episode.space_id)
        return episode.host_chapters, episode.chapters, space.status


def test_a_host_sets_chapters_and_the_episode_is_rendered_again(world: World) -> None:
    episode_id = world.fresh_episode("A")
    body = {"chapters": [{"start_s": 0}, {"start_s": 42.5, "title": "  The bakery stall  "}]}
    response = world.client.put(
        f"/episodes/{episode_id}/chapters", json=body, headers=world.headers("host")
    )
    assert response.status_code == 202, response.text
    out = response.json()
    assert out["host_chapters"] == [
        {"start_s": 0.0, "title": None},
        {"start_s": 42.5, "title": "The bakery stall"},
    ]
    assert out["pending"] is True
    host_chapters, published, status = _episode(episode_id)
    assert host_chapters == out["host_chapters"]
    assert status == "processing"  # the publish stage makes them the episode's
    # Nothing published changes before it has.
    assert [c["title"] for c in published] == ["Welcome", "The market"]

    read = world.client.get(f"/episodes/{episode_id}/chapters", headers=world.headers("host"))
    assert read.json()["host_chapters"] == out["host_chapters"]
    # Back to generated chapters.
    reset = world.client.delete(f"/episodes/{episode_id}/chapters", headers=world.headers("host"))
    assert reset.status_code == 202 and reset.json()["host_chapters"] is None
    assert _episode(episode_id)[0] is None


@pytest.mark.parametrize(
    ("chapters", "problem"),
    [
        (
            [{"start_s": 0}, {"start_s": 100.0}],
            "chapters[1].start_s: 100.0 s is outside the episode",
        ),
        ([{"start_s": 0}, {"start_s": 250}], "chapters[1].start_s: 250.0 s is outside the episode"),
        ([{"start_s": 5}, {"start_s": 50}], "the first chapter starts at the episode's start (0)"),
        (
            [{"start_s": 0}, {"start_s": 50}, {"start_s": 30}],
            "chapters[2].start_s: 30.0 s overlaps",
        ),
        ([{"start_s": 0}, {"start_s": 50}, {"start_s": 50.5}], "at least 1 s apart"),
        ([{"start_s": 0, "title": "   "}], "chapters[0].title is empty"),
        ([{"start_s": 0, "title": "x" * 201}], "at most 200 characters"),
        ([{"start_s": 0, "title": "bell\u0007"}], "U+0007"),
        ([{"start_s": 0, "title": "<script>"}], "chapters[0].title: String should match pattern"),
        ([{"start_s": -1}], "chapters[0].start_s: Input should be greater than or equal to 0"),
        ([{"start_s": 0, "colour": "red"}], "colour"),
        ([{"start_s": i} for i in range(501)], "chapters"),
    ],
)
def test_refused_chapters_name_the_problem_and_store_nothing(
    world: World, chapters: list, problem: str
) -> None:
    episode_id = world.episodes["A"]
    before = _episode(episode_id)
    response = world.client.put(
        f"/episodes/{episode_id}/chapters",
        json={"chapters": chapters},
        headers=world.headers("host"),
    )
    assert response.status_code == 422, response.text
    assert problem in response.json()["detail"], response.json()
    assert _episode(episode_id) == before


def test_a_start_that_is_not_a_number_is_refused(world: World) -> None:
    episode_id = world.episodes["A"]
    response = world.client.put(
        f"/episodes/{episode_id}/chapters",
        content=b'{"chapters": [{"start_s": 0}, {"start_s": NaN}]}',
        headers={**world.headers("host"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "start_s" in response.json()["detail"]


def test_only_the_shows_host_edits_its_chapters(world: World) -> None:
    episode_id = world.episodes["A"]
    before = _episode(episode_id)
    body = {"chapters": [{"start_s": 0, "title": "Mine now"}, {"start_s": 50}]}
    for actor, status in (("other_host", 404), ("listener", 403), ("anonymous", 401)):
        response = world.client.put(
            f"/episodes/{episode_id}/chapters", json=body, headers=world.headers(actor)
        )
        assert response.status_code == status, (actor, response.text)
    assert _episode(episode_id) == before


def test_published_chapters_are_served_to_any_site_and_withdrawn_with_the_words(
    world: World,
) -> None:
    from infra.db import session_scope
    from infra.models import Episode, Participant
    from infra.settings import get_settings
    from services.ledger import record_answers

    episode_id = world.fresh_episode("A")
    with session_scope(get_settings().database_url) as session:
        render = session.get(Episode, episode_id).render_id
    url = f"/media/episodes/{episode_id}/{render}/chapters.json"
    response = world.client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json+chapters"
    assert response.headers["access-control-allow-origin"] == "*"
    assert [c["title"] for c in response.json()["chapters"]] == ["Welcome", "The market"]
    assert world.client.get(url.replace(render, "r" + "0" * 15)).status_code == 404

    with session_scope(get_settings().database_url) as session:
        space_id = session.get(Episode, episode_id).space_id
        alice = session.query(Participant).filter_by(space_id=space_id, handle="alice").one()
        record_answers(session, alice, {"transcribe": False}, source="api", actor="test")
    assert world.client.get(url).status_code == 410
