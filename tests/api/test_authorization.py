"""Every endpoint x every role x own and foreign objects: the allowed calls get through and the
rest get 401 (no key), 403 (wrong role) or 404 (not theirs)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.api.conftest import World, store_opus_track

ACTORS = [
    "admin",
    "host",
    "other_host",
    "recorder",
    "room",
    "moderator",
    "listener",
    "participant",
    "monitor",
    "anonymous",
]
# Whose objects are "own": the host and the recorder key own show A, the other host show B. The
# room service (the platform's) reaches every show's spaces for ingest.
OWNS = {"host": "A", "other_host": "B", "recorder": "A"}
EVERYONE = frozenset(ACTORS)
ACCOUNT_HOLDERS = frozenset({"admin", "host", "other_host", "moderator", "listener", "room"})
HOSTS = frozenset({"admin", "host", "other_host"})
INGEST = HOSTS | {"recorder", "room"}
VOUCHING = frozenset({"admin", "room"})  # report joins, send invite links: never a host
PARTICIPANT = frozenset({"participant"})
CUTTERS = HOSTS | {"listener"}  # listeners cut published episodes and change their own clips
REPORTERS = frozenset({"admin", "host", "other_host", "moderator", "listener", "participant"})
MODERATORS = frozenset({"admin", "moderator"})
ADMIN = frozenset({"admin"})
MONITORS = frozenset({"admin", "monitor"})
# Probes for load balancers: they declare no roles and touch no account.
UNDECLARED = {"/health", "/healthz", "/readyz"}


def _challenge() -> dict:
    import hashlib
    import secrets

    return {"json": {"device_challenge": hashlib.sha256(secrets.token_bytes(32)).hexdigest()}}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    roles: frozenset[str]
    scoped: bool  # True: acts on a show/space/episode that a host or recorder may not own
    call: Callable[[World, str, str], tuple[str, dict]]  # (world, actor, target) -> (url, kwargs)


def _upload(world: World, actor: str, target: str) -> tuple[str, dict]:
    from pathlib import Path

    audio = Path(world.client.app.state.short_opus).read_bytes()  # type: ignore[attr-defined]
    return f"/spaces/{world.spaces[target]}/participants/alice/track", {"content": audio}


def _host_audio(world: World, actor: str, target: str) -> tuple[str, dict]:
    from pathlib import Path

    audio = Path(world.client.app.state.short_opus).read_bytes()  # type: ignore[attr-defined]
    return f"/shows/{world.shows[target]}/audio?name=Intro", {"content": audio}


_CHUNK = bytes(range(256)) * 375  # 0.1 s of 48 kHz s16le


def _chunk(world: World, actor: str, target: str) -> tuple[str, dict]:
    import hashlib

    sha = hashlib.sha256(_CHUNK).hexdigest()
    url = f"/spaces/{world.spaces[target]}/participants/alice/chunks/0?start_sample=0&sha256={sha}"
    return url, {"content": _CHUNK}


def _complaint(world: World, actor: str, target: str) -> tuple[str, dict]:
    if actor == "participant":  # about someone in their own space
        body = {"target": "speaker", "speaker": "alice", "category": "harassment"}
    else:  # about a published episode
        body = {"target": "episode", "episode_id": world.episodes[target], "category": "spam"}
    return "/complaints", {"json": body}


ROUTES = [
    Route("GET", "/health", EVERYONE, False, lambda w, a, t: ("/health", {})),
    Route("GET", "/healthz", EVERYONE, False, lambda w, a, t: ("/healthz", {})),
    Route("GET", "/readyz", EVERYONE, False, lambda w, a, t: ("/readyz", {})),
    Route("GET", "/metrics", MONITORS, False, lambda w, a, t: ("/metrics", {})),
    Route("POST", "/users", ADMIN, False,
          lambda w, a, t: ("/users", {"json": {"name": f"new by {a}", "roles": ["listener"]}})),
    Route("GET", "/users", ADMIN, False, lambda w, a, t: ("/users", {})),
    Route("POST", "/users/{user_id}/disable", ADMIN, False,
          lambda w, a, t: (f"/users/{w.fresh_user()}/disable", {})),
    Route("GET", "/users/{user_id}/statements", ADMIN, False,
          lambda w, a, t: (f"/users/{w.fresh_user()}/statements", {})),
    Route("POST", "/users/{user_id}/enable", ADMIN, False,
          lambda w, a, t: (f"/users/{w.fresh_user()}/enable", {})),
    Route("DELETE", "/keys/{key_id}", ADMIN, False, lambda w, a, t: (f"/keys/{w.fresh_key()}", {})),
    Route("POST", "/listeners", EVERYONE, False, lambda w, a, t: ("/listeners", {"json": {"name": "Lee"}})),
    Route("GET", "/users/me", EVERYONE - {"anonymous"}, False, lambda w, a, t: ("/users/me", {})),
    Route("POST", "/users/me/keys", ACCOUNT_HOLDERS, False,
          lambda w, a, t: ("/users/me/keys", {"json": {"label": "spare"}})),
    Route("DELETE", "/users/me/keys/{key_id}", ACCOUNT_HOLDERS, False,
          lambda w, a, t: (f"/users/me/keys/{w.spare_keys[a]}", {})),
    Route("POST", "/shows", HOSTS, False,
          lambda w, a, t: ("/shows", {"json": {"title": "New show", "author": a}})),
    Route("GET", "/shows", HOSTS, False, lambda w, a, t: ("/shows", {})),
    Route("GET", "/shows/{show_id}", EVERYONE, False, lambda w, a, t: (f"/shows/{w.shows[t]}", {})),
    Route("PATCH", "/shows/{show_id}", HOSTS, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}", {"json": {"process_speakers": True}})),
    Route("GET", "/shows/{show_id}/feed.xml", EVERYONE, False,
          lambda w, a, t: (f"/shows/{w.shows[t]}/feed.xml", {})),
    Route("GET", "/shows/{show_id}/cover.png", EVERYONE, False,
          lambda w, a, t: (f"/shows/{w.shows[t]}/cover.png", {})),
    Route("POST", "/shows/{show_id}/audio", HOSTS, True, _host_audio),
    Route("GET", "/shows/{show_id}/audio", HOSTS, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}/audio", {})),
    Route("DELETE", "/shows/{show_id}/audio/{audio_id}", HOSTS, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}/audio/{w.fresh_host_audio(t)}", {})),
    Route("POST", "/shows/{show_id}/recorder-keys", HOSTS, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}/recorder-keys", {"json": {"label": "rec"}})),
    Route("GET", "/shows/{show_id}/recorder-keys", HOSTS, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}/recorder-keys", {})),
    Route("DELETE", "/shows/{show_id}/recorder-keys/{key_id}", HOSTS, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}/recorder-keys/{w.fresh_recorder_key(t)}", {})),
    Route("POST", "/shows/{show_id}/spaces", INGEST, True,
          lambda w, a, t: (f"/shows/{w.shows[t]}/spaces", {"json": {"title": "Another room"}})),
    Route("GET", "/spaces/{space_id}", INGEST, True, lambda w, a, t: (f"/spaces/{w.spaces[t]}", {})),
    Route("POST", "/spaces/{space_id}/participants", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants",
                           {"json": {"id": f"p-{a}", "name": "Pat", "offset": 1.5}})),
    Route("PATCH", "/spaces/{space_id}/participants/{handle}", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice", {"json": {"offset": 0.25}})),
    Route("PUT", "/spaces/{space_id}/participants/{handle}/track", INGEST, True, _upload),
    Route("PUT", "/spaces/{space_id}/participants/{handle}/chunks/{seq}", INGEST, True, _chunk),
    Route("GET", "/spaces/{space_id}/participants/{handle}/chunks", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice/chunks", {})),
    Route("POST", "/spaces/{space_id}/participants/{handle}/track/assemble", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice/track/assemble",
                           {"json": {"chunks": 1, "sha256": "0" * 64}})),  # 409: not these chunks
    Route("GET", "/dead-letters", ADMIN, False, lambda w, a, t: ("/dead-letters", {})),
    Route("POST", "/dead-letters/{dead_letter_id}/retry", ADMIN, False,
          lambda w, a, t: (f"/dead-letters/{w.dead_letter}/retry", {})),
    Route("POST", "/spaces/{space_id}/finish", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/finish", {})),
    Route("POST", "/spaces/{space_id}/participants/{handle}/join", VOUCHING, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice/join", _challenge())),
    Route("POST", "/spaces/{space_id}/participants/{handle}/invite", VOUCHING, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice/invite", {})),
    Route("POST", "/participants/claim", EVERYONE, False,
          lambda w, a, t: ("/participants/claim", {"json": {"secret": w.fresh_invite_secret(t)}})),
    Route("GET", "/spaces/{space_id}/participants/{handle}/consent", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice/consent", {})),
    Route("POST", "/spaces/{space_id}/participants/{handle}/consent", INGEST, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/participants/alice/consent",
                           {"json": {"answers": {"clip": True}}})),
    Route("POST", "/spaces/{space_id}/decision", HOSTS, True,
          lambda w, a, t: (f"/spaces/{w.spaces[t]}/decision", {"json": {"missing": "exclude"}})),
    Route("GET", "/me/participation", PARTICIPANT, False, lambda w, a, t: ("/me/participation", {})),
    Route("POST", "/me/consent", PARTICIPANT, False,
          lambda w, a, t: ("/me/consent", {"json": {"answers": {"clip": True}}})),
    Route("GET", "/me/track", PARTICIPANT, False, lambda w, a, t: ("/me/track", {})),
    Route("DELETE", "/me/keys/{key_id}", PARTICIPANT, False,
          lambda w, a, t: (f"/me/keys/{w.fresh_participant_key()}", {})),
    Route("GET", "/me/transcript", PARTICIPANT, False, lambda w, a, t: ("/me/transcript", {})),
    Route("GET", "/search", EVERYONE, False, lambda w, a, t: ("/search?q=hello", {})),
    Route("POST", "/episodes/{episode_id}/clips", CUTTERS, False,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/clips", {"json": {"start_s": 5, "end_s": 15}})),
    Route("POST", "/episodes/{episode_id}/clips/check", CUTTERS, False,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/clips/check", {"json": {"start_s": 5, "end_s": 15}})),
    Route("GET", "/episodes/{episode_id}/clips", EVERYONE, False,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/clips", {})),
    Route("GET", "/episodes/{episode_id}/clip-suggestions", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/clip-suggestions", {})),
    Route("GET", "/episodes/{episode_id}/versions", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions", {})),
    Route("POST", "/episodes/{episode_id}/versions", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions", {"json": {"operations": []}})),
    Route("GET", "/episodes/{episode_id}/versions/{number}", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions/0", {})),
    Route("GET", "/episodes/{episode_id}/versions/{number}/preview", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions/0/preview", {})),
    Route("GET", "/episodes/{episode_id}/versions/{number}/cuts/{cut}/audio", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions/0/cuts/1/audio", {})),
    Route("POST", "/episodes/{episode_id}/versions/{number}/publish", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions/0/publish", {})),
    Route("POST", "/episodes/{episode_id}/versions/{number}/revert", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/versions/0/revert", {})),
    Route("GET", "/clips/{clip_id}", EVERYONE, False, lambda w, a, t: (f"/clips/{w.clips[t]}", {})),
    Route("PATCH", "/clips/{clip_id}", CUTTERS, True,
          lambda w, a, t: (f"/clips/{w.clips[t]}", {"json": {"title": f"named by {a}"}})),
    Route("POST", "/clips/{clip_id}/audiogram", CUTTERS, True,
          lambda w, a, t: (f"/clips/{w.clips[t]}/audiogram", {})),
    Route("DELETE", "/clips/{clip_id}", CUTTERS, True, lambda w, a, t: (f"/clips/{w.fresh_clip(t)}", {})),
    Route("GET", "/media/clips/{clip_id}/{render_id}/{filename}", EVERYONE, False,
          lambda w, a, t: (f"/media/clips/{w.clips[t]}/{w.clip_renders[t]}/clip.mp3", {})),
    Route("GET", "/c/{clip_id}", EVERYONE, False, lambda w, a, t: (f"/c/{w.clips[t]}", {})),
    Route("DELETE", "/episodes/{episode_id}", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.fresh_episode(t)}", {})),
    Route("GET", "/spaces/{space_id}/episode", HOSTS, True,
          lambda w, a, t: (f"/spaces/{w.published_spaces[t]}/episode", {})),
    Route("GET", "/episodes/{episode_id}", EVERYONE, False,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}", {})),
    Route("GET", "/episodes/{episode_id}/report", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/report", {})),
    Route("GET", "/episodes/{episode_id}/chapters", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/chapters", {})),
    Route("PUT", "/episodes/{episode_id}/chapters", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.fresh_episode(t)}/chapters",
                           {"json": {"chapters": [{"start_s": 0}, {"start_s": 60, "title": a}]}})),
    Route("DELETE", "/episodes/{episode_id}/chapters", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.fresh_episode(t)}/chapters", {})),
    Route("GET", "/episodes/{episode_id}/notes", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.episodes[t]}/notes", {})),
    Route("PUT", "/episodes/{episode_id}/notes", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.fresh_episode(t)}/notes", {"json": {"text": a}})),
    Route("DELETE", "/episodes/{episode_id}/notes", HOSTS, True,
          lambda w, a, t: (f"/episodes/{w.fresh_episode(t)}/notes", {})),
    Route("GET", "/media/episodes/{episode_id}/{render_id}/chapters.json", EVERYONE, False,
          lambda w, a, t: (f"/media/episodes/{w.episodes[t]}/{w.renders[t]}/chapters.json", {})),
    Route("GET", "/media/episodes/{episode_id}/{render_id}/{filename}", EVERYONE, False,
          lambda w, a, t: (f"/media/episodes/{w.episodes[t]}/{w.renders[t]}/episode.mp3", {})),
    Route("POST", "/complaints", REPORTERS, False, _complaint),
    Route("GET", "/complaints", REPORTERS, False, lambda w, a, t: ("/complaints", {})),
    Route("POST", "/complaints/{complaint_id}/appeals", REPORTERS, False,
          lambda w, a, t: (f"/complaints/{w.decided_complaint(a, t)}/appeals",
                           {"json": {"text": "the remark was a quote"}})),
    Route("GET", "/statements", REPORTERS, False, lambda w, a, t: ("/statements", {})),
    Route("GET", "/statements/{statement_id}", REPORTERS, False,
          lambda w, a, t: (f"/statements/{w.statement_for(a, t)}", {})),
    Route("GET", "/moderation/statements", MODERATORS, False,
          lambda w, a, t: (f"/moderation/statements?space_id={w.spaces[t]}", {})),
    Route("GET", "/moderation/appeals", MODERATORS, False,
          lambda w, a, t: ("/moderation/appeals", {})),
    Route("POST", "/moderation/appeals/{appeal_id}/decision", MODERATORS, False,
          lambda w, a, t: (f"/moderation/appeals/{w.fresh_appeal(t)}/decision",
                           {"json": {"decision": "uphold", "reason": "the remark was abuse"}})),
    Route("GET", "/moderation/templates", MODERATORS, False,
          lambda w, a, t: ("/moderation/templates", {})),
    Route("PUT", "/moderation/templates/{category}", MODERATORS, False,
          lambda w, a, t: ("/moderation/templates/spam",
                           {"json": {"ground": "rule 4 (spam)", "text": "We removed $subject."}})),
    Route("POST", "/moderation/spaces/{space_id}/takedown", ADMIN, False,
          lambda w, a, t: (f"/moderation/spaces/{w.fresh_space_of(t)}/takedown",
                           {"json": {"category": "violence", "reason": "a live threat"}})),
    Route("GET", "/moderation/transparency", MODERATORS, False,
          lambda w, a, t: ("/moderation/transparency?since=2026-01-01T00:00:00Z"
                           "&until=2027-01-01T00:00:00Z", {})),
    # Erasing withdraws every consent: each call is made by a participant of its own.
    Route("POST", "/me/erasure", PARTICIPANT, False,
          lambda w, a, t: ("/me/erasure", {"headers": w.fresh_participant_headers(a, t)})),
    Route("GET", "/me/erasures", PARTICIPANT, False, lambda w, a, t: ("/me/erasures", {})),
    Route("GET", "/erasures", ADMIN, False, lambda w, a, t: ("/erasures", {})),
    Route("GET", "/erasures/{request_id}", ADMIN, False,
          lambda w, a, t: (f"/erasures/{w.fresh_erasure(t)}", {})),
    Route("POST", "/erasures/{request_id}/extend", ADMIN, False,
          lambda w, a, t: (f"/erasures/{w.fresh_erasure(t)}/extend",
                           {"json": {"months": 1, "reason": "the bucket's provider is slow"}})),
    Route("POST", "/erasures/{request_id}/close", ADMIN, False,
          lambda w, a, t: (f"/erasures/{w.fresh_erasure(t)}/close", {})),
    Route("GET", "/moderation/queue", MODERATORS, False, lambda w, a, t: ("/moderation/queue", {})),
    Route("GET", "/moderation/complaints/{complaint_id}", MODERATORS, False,
          lambda w, a, t: (f"/moderation/complaints/{w.complaints[t]}", {})),
    Route("GET", "/moderation/complaints/{complaint_id}/audio", MODERATORS, False,
          lambda w, a, t: (f"/moderation/complaints/{w.complaints[t]}/audio?source=speaker", {})),
    Route("GET", "/moderation/complaints/{complaint_id}/search", MODERATORS, False,
          lambda w, a, t: (f"/moderation/complaints/{w.complaints[t]}/search?q=hello", {})),
    Route("POST", "/moderation/complaints/{complaint_id}/decision", MODERATORS, False,
          lambda w, a, t: (f"/moderation/complaints/{w.fresh_complaint(t)}/decision",
                           {"json": {"decision": "dismiss", "reason": "no breach heard"}})),
    Route("GET", "/moderation/audit", MODERATORS, False, lambda w, a, t: ("/moderation/audit", {})),
    Route("GET", "/moderation/deletions", MODERATORS, False,
          lambda w, a, t: ("/moderation/deletions", {})),
    Route("POST", "/moderation/sweeps", ADMIN, False,
          lambda w, a, t: ("/moderation/sweeps", {})),
    # The web pages admit roles like the endpoints whose data they show.
    Route("GET", "/", EVERYONE, False, lambda w, a, t: ("/", {})),
    Route("GET", "/host/episodes/{episode_id}/edit", HOSTS, True,
          lambda w, a, t: (f"/host/episodes/{w.episodes[t]}/edit", {})),
    Route("GET", "/login", EVERYONE, False, lambda w, a, t: ("/login", {})),
    Route("GET", "/consent", EVERYONE, False, lambda w, a, t: ("/consent", {})),
    Route("POST", "/login", EVERYONE, False,  # anyone signs in with a key (a wrong one is told so)
          lambda w, a, t: ("/login", {"data": {"key": w.keys.get(a, "sc_wrong"), "next": "/"}})),
    Route("POST", "/logout", EVERYONE, False, lambda w, a, t: ("/logout", {})),
    Route("GET", "/s/{show_id}", EVERYONE, False, lambda w, a, t: (f"/s/{w.shows[t]}", {})),
    Route("GET", "/e/{episode_id}", EVERYONE, False, lambda w, a, t: (f"/e/{w.episodes[t]}", {})),
    Route("GET", "/e/{episode_id}/cut", CUTTERS, False,
          lambda w, a, t: (f"/e/{w.episodes[t]}/cut", {})),
    Route("GET", "/host", HOSTS, False, lambda w, a, t: ("/host", {})),
    Route("GET", "/host/spaces/{space_id}", HOSTS, True,
          lambda w, a, t: (f"/host/spaces/{w.spaces[t]}", {})),
    Route("GET", "/moderate", MODERATORS, False, lambda w, a, t: ("/moderate", {})),
    Route("GET", "/admin/erasures", ADMIN, False, lambda w, a, t: ("/admin/erasures", {})),
    Route("GET", "/moderate/{complaint_id}", MODERATORS, False,
          lambda w, a, t: (f"/moderate/{w.complaints[t]}", {})),
]  # fmt: skip


def expected(route: Route, actor: str, target: str) -> int | None:
    """None when the call must get through; otherwise the refusal status."""
    if actor not in route.roles:
        return 401 if actor == "anonymous" else 403
    if route.scoped and actor in OWNS and OWNS[actor] != target:
        return 404
    return None


def test_every_endpoint_is_in_the_matrix_and_declares_the_same_roles(world: World) -> None:
    from api.auth import Role

    docs = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    from api.errors import all_routes

    routes = all_routes(world.client.app.routes)
    served = {
        (method, route.path)
        for route in routes
        if route.path not in docs
        for method in (getattr(route, "methods", None) or set()) - {"HEAD", "OPTIONS"}
    }
    assert served == {(r.method, r.path) for r in ROUTES}

    roles_of_actor = {
        "admin": Role.ADMIN, "host": Role.HOST, "other_host": Role.HOST, "recorder": Role.RECORDER,
        "room": Role.ROOM,
        "moderator": Role.MODERATOR, "listener": Role.LISTENER, "participant": Role.PARTICIPANT,
        "monitor": Role.MONITOR, "anonymous": Role.PUBLIC,
    }  # fmt: skip
    checked = 0
    for api_route in routes:
        methods = getattr(api_route, "methods", None) or set()
        for method in methods - {"HEAD", "OPTIONS"}:
            route = next(
                (r for r in ROUTES if (r.method, r.path) == (method, api_route.path)), None
            )
            if route is None:
                continue  # the docs pages, not API operations
            declared = [
                d.call for d in api_route.dependant.dependencies if hasattr(d.call, "roles")
            ] + [
                sub.call
                for d in api_route.dependant.dependencies
                for sub in d.dependencies
                if hasattr(sub.call, "roles")
            ]
            if route.path in UNDECLARED:
                continue
            assert declared, f"{method} {route.path} declares no roles"
            admitted = set().union(*(d.roles for d in declared))
            expected_roles = {roles_of_actor[a] for a in route.roles}
            if Role.PUBLIC in admitted:
                assert route.roles == EVERYONE, route.path
            else:
                assert admitted == expected_roles, (route.path, admitted, expected_roles)
            assert all(d.objects for d in declared), f"{route.path}: objects not described"
            checked += 1
    assert checked == len(ROUTES) - len(UNDECLARED)  # the probes admit anyone, undeclared


def _retain_alice(world: World, audio) -> None:
    """A retained raw track of Alice in each live space, for the moderators' audio."""
    from infra.db import session_scope
    from infra.models import Participant
    from infra.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        for label in "AB":
            alice = (
                session.query(Participant)
                .filter_by(space_id=world.spaces[label], handle="alice")
                .one()
            )
            if alice.track is None:
                store_opus_track(session, alice, audio, "matrix", duration_s=1.5)


def _dead_letter(world: World) -> str:
    """A recorded dead letter of an advance of space A, for the retry route."""
    from infra.db import session_scope
    from infra.models import DeadLetter
    from infra.queue import queue_name as queue
    from infra.settings import get_settings

    message = {
        "queue_name": queue("control"),
        "actor_name": "advance_space",
        "args": [world.spaces["A"]],
        "kwargs": {},
        "options": {"retries": 20},
        "message_id": "matrix-dead-letter",
        "message_timestamp": 0,
    }
    with session_scope(get_settings().database_url) as session:
        row = DeadLetter(
            message_id=message["message_id"],
            queue_name=message["queue_name"],
            actor="advance_space",
            args=message["args"],
            message=message,
            space_id=world.spaces["A"],
            reason="gave up after 20 attempts: OperationalError: the database went away",
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture(scope="module")
def prepared(world: World, short_opus, request) -> World:
    """Spare keys to revoke, the sample audio for uploads, the published spaces' ids."""
    world.client.app.state.short_opus = str(short_opus)
    world.spare_keys = {}
    for actor in ACCOUNT_HOLDERS:
        response = world.client.post(
            "/users/me/keys", json={"label": "to revoke"}, headers=world.headers(actor)
        )
        world.spare_keys[actor] = response.json()["id"]
    for actor in ACTORS:
        world.spare_keys.setdefault(actor, world.key_ids.get(actor, "none"))
    _retain_alice(world, short_opus)
    world.dead_letter = _dead_letter(world)
    world.published_spaces = {
        label: world.client.get(f"/episodes/{world.episodes[label]}").json()["space_id"]
        for label in "AB"
    }
    return world


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_matrix(prepared: World, route: Route) -> None:
    world = prepared
    checked = []
    for actor in ACTORS:
        for target in ("A", "B"):
            url, kwargs = route.call(world, actor, target)
            response = world.client.request(
                route.method, url, headers=kwargs.pop("headers", world.headers(actor)), **kwargs
            )
            # A page's sign-in sets a cookie; the matrix speaks for the header keys alone.
            world.client.cookies.clear()
            want = expected(route, actor, target)
            if want is None:
                assert response.status_code < 400 or response.status_code == 409, (
                    actor,
                    target,
                    url,
                    response.status_code,
                    response.text[:300],
                )
            else:
                assert response.status_code == want, (
                    actor,
                    target,
                    url,
                    response.status_code,
                    response.text[:300],
                )
                assert response.json()["detail"]
            checked.append((actor, target))
    assert len(checked) == len(ACTORS) * 2
