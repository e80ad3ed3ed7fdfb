"""The API in this process (FastAPI's TestClient), on a PostgreSQL database of its own (what
production runs) and a real S3 server, with accounts for every role and two shows owned by two
different hosts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from infra.s3server import LocalS3Server


@dataclass
class World:
    client: TestClient
    keys: dict[str, str]  # actor -> API key ("anonymous" has none)
    shows: dict[str, str]  # "A" (host's), "B" (other host's) -> show id
    spaces: dict[str, str]
    episodes: dict[str, str]
    renders: dict[str, str]
    key_ids: dict[str, str]  # actor -> id of one of their keys
    clips: dict[str, str]  # a ready clip of each show's episode, made by the listener
    clip_renders: dict[str, str]
    complaints: dict[str, str]  # an open complaint about Alice in each show's live space

    def headers(self, actor: str) -> dict[str, str]:
        key = self.keys.get(actor)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def alice_space(self, title: str) -> str:
        """A new space of show A with one speaker, Alice, who consents to be recorded and
        published; nothing uploaded yet."""
        body = {"title": title, "participants": [
            {"id": "alice", "name": "Alice", "offset": 0,
             "consent": {"record": True, "publish": True}}]}  # fmt: skip
        created = self.client.post(
            f"/shows/{self.shows['A']}/spaces", json=body, headers=self.headers("host")
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def fresh_episode(self, target: str) -> str:
        """A new published episode of show ``target``, for calls that take one down."""
        from infra.db import session_scope
        from infra.models import Show
        from infra.settings import get_settings
        from infra.storage import ObjectStore

        store = ObjectStore(get_settings())
        with session_scope(get_settings().database_url) as session:
            show = session.get(Show, self.shows[target])
            _, episode_id, _ = _published_space(session, store, show, "Fresh")
        return episode_id

    def fresh_space_of(self, target: str) -> str:
        """The space of a new published episode of show ``target``, to take offline."""
        episode = self.fresh_episode(target)
        return self.client.get(f"/episodes/{episode}").json()["space_id"]

    def fresh_complaint(self, target: str) -> str:
        """A new open complaint about Alice in show ``target``'s live space, to decide."""
        from infra.db import session_scope
        from infra.settings import get_settings

        with session_scope(get_settings().database_url) as session:
            return _complaint(session, self.spaces[target])

    def subject_of(self, actor: str) -> str:
        """How decision records name the actor: user:ID, or participant:ID for a participant."""
        from infra.db import session_scope
        from infra.models import ApiKey
        from infra.settings import get_settings

        with session_scope(get_settings().database_url) as session:
            key = session.get(ApiKey, self.key_ids[actor]) if actor in self.key_ids else None
            if key is None:
                return "nobody"
            return (
                f"participant:{key.participant_id}" if key.participant_id else f"user:{key.user_id}"
            )

    def decided_complaint(self, actor: str, target: str) -> str:
        """A complaint the actor filed, dismissed by a moderator: theirs to appeal."""
        from infra.db import session_scope
        from infra.models import Complaint, utcnow
        from infra.settings import get_settings

        with session_scope(get_settings().database_url) as session:
            found = session.get(Complaint, _complaint(session, self.spaces[target]))
            found.reporter = self.subject_of(actor)
            found.status, found.decision = "dismissed", "dismiss"
            found.decided_by, found.decided_at = "user:another-moderator", utcnow()
            return found.id

    def statement_for(self, actor: str, target: str) -> str:
        """A statement of reasons naming the actor as the restricted party."""
        from datetime import timedelta

        from infra.db import session_scope
        from infra.models import Statement, utcnow
        from infra.settings import get_settings

        with session_scope(get_settings().database_url) as session:
            found = Statement(
                space_id=self.spaces[target],
                affected=[self.subject_of(actor)],
                restriction="clip_removed",
                subject="a clip",
                category="spam",
                facts="the clip advertised a scam",
                ground="the community rules on spam",
                text="We removed a clip.",
                decided_by="user:another-moderator",
                appeal_until=utcnow() + timedelta(days=183),
            )
            session.add(found)
            session.flush()
            return found.id

    def fresh_appeal(self, target: str) -> str:
        """An open appeal against a decision another moderator took."""
        from infra.db import session_scope
        from infra.models import Appeal
        from infra.settings import get_settings

        complaint_id = self.decided_complaint("listener", target)
        with session_scope(get_settings().database_url) as session:
            found = Appeal(
                complaint_id=complaint_id,
                space_id=self.spaces[target],
                appellant="user:someone",
                text="the remark was a quote",
            )
            session.add(found)
            session.flush()
            return found.id

    def fresh_participant_headers(self, actor: str, target: str) -> dict[str, str]:
        """For the participant: the key of a new participant of space ``target`` (a call that
        withdraws every consent must not change the shared participant's); anyone else's own."""
        if actor != "participant":
            return self.headers(actor)
        from infra.db import session_scope
        from infra.models import Participant, new_id
        from infra.settings import get_settings
        from services.accounts import issue_key

        with session_scope(get_settings().database_url) as session:
            someone = Participant(space_id=self.spaces[target], handle=f"p{new_id()[:8]}", name="P")
            session.add(someone)
            session.flush()
            _, token = issue_key(session, user=None, label="join", participant_id=someone.id)
        return {"Authorization": f"Bearer {token}"}

    def fresh_erasure(self, target: str) -> str:
        """An open erasure request of a new participant of space ``target``."""
        from infra.db import session_scope
        from infra.models import ErasureRequest, Participant, new_id, utcnow
        from infra.settings import get_settings
        from pipeline.retention import erasure_due

        with session_scope(get_settings().database_url) as session:
            someone = Participant(space_id=self.spaces[target], handle=f"e{new_id()[:8]}", name="E")
            session.add(someone)
            session.flush()
            found = ErasureRequest(
                participant_id=someone.id,
                space_id=someone.space_id,
                due_at=erasure_due(utcnow()),
            )
            session.add(found)
            session.flush()
            return found.id

    def fresh_user(self) -> str:
        """A new listener account, for the calls that disable or enable one."""
        from infra.db import session_scope
        from infra.settings import get_settings
        from services.accounts import create_user

        with session_scope(get_settings().database_url) as session:
            user, _, _ = create_user(session, "someone", ["listener"])
            return user.id

    def fresh_key(self) -> str:
        """A new key of a new listener account, for the call that revokes any key."""
        from infra.db import session_scope
        from infra.settings import get_settings
        from services.accounts import create_user

        with session_scope(get_settings().database_url) as session:
            _, key, _ = create_user(session, "someone", ["listener"])
            return key.id

    def fresh_recorder_key(self, target: str) -> str:
        from infra.db import session_scope
        from infra.models import User
        from infra.settings import get_settings
        from services.accounts import issue_key

        with session_scope(get_settings().database_url) as session:
            user = User(name="recorder", roles=["recorder"])
            session.add(user)
            session.flush()
            key, _ = issue_key(session, user=user, label="rec", show_id=self.shows[target])
            return key.id

    def fresh_host_audio(self, target: str) -> str:
        """A new piece of show ``target``'s own audio (the sample track), for calls deleting it."""
        from infra.db import session_scope
        from infra.models import Show
        from infra.settings import get_settings
        from infra.storage import ObjectStore, sha256_file
        from services.host_audio import accept_host_audio

        settings = get_settings()
        audio = Path(self.client.app.state.short_opus)  # type: ignore[attr-defined]
        with session_scope(settings.database_url) as session:
            show = session.get(Show, self.shows[target])
            store = ObjectStore(settings)
            spare = accept_host_audio(
                session, store, settings, show, "Spare", audio, sha256_file(audio), actor="test"
            )
            return spare.id

    def fresh_invite_secret(self, target: str) -> str:
        """An unclaimed invite secret for Alice in show ``target``'s live space."""
        from infra.db import session_scope
        from infra.models import Participant
        from infra.settings import get_settings
        from services.participants import issue_invite

        with session_scope(get_settings().database_url) as session:
            alice = (
                session.query(Participant)
                .filter_by(space_id=self.spaces[target], handle="alice")
                .one()
            )
            _, secret = issue_invite(session, alice, issued_by="test")
            return secret

    def fresh_participant_key(self) -> str:
        """Another key of the participant's, for the call that revokes one of their own."""
        from infra.db import session_scope
        from infra.models import ApiKey
        from infra.settings import get_settings
        from services.accounts import issue_key

        with session_scope(get_settings().database_url) as session:
            mine = session.get(ApiKey, self.key_ids["participant"])
            key, _ = issue_key(session, user=None, label="join", participant_id=mine.participant_id)
            return key.id

    def fresh_clip(self, target: str) -> str:
        """A new ready clip (made by the listener) of show ``target``'s episode."""
        from infra.db import session_scope
        from infra.models import Episode, User
        from infra.settings import get_settings
        from infra.storage import ObjectStore

        store = ObjectStore(get_settings())
        with session_scope(get_settings().database_url) as session:
            episode = session.get(Episode, self.episodes[target])
            listener = session.query(User).filter_by(name="listener").one()
            clip_id, _ = _ready_clip(session, store, episode, listener.id)
        return clip_id


_SERVERS: dict[str, LocalS3Server] = {}


def s3_of_world() -> LocalS3Server:
    """The S3 server the API tests' world runs on (a test may stop and start it again)."""
    return _SERVERS["s3"]


@contextmanager
def served(app) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 as `spacecast api` runs it, for clients that must
    talk HTTP (the test client answers every host itself, so it cannot follow a redirect out of
    the app); yields the base URL."""
    import threading
    import time

    import uvicorn

    from infra.s3server import free_port
    from infra.settings import Settings

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", **Settings().proxy_options()
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def api_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    import secrets

    import psycopg

    from infra.stack import PG_ADMIN

    root = tmp_path_factory.mktemp("api")
    s3 = LocalS3Server(root / "s3").start()
    _SERVERS["s3"] = s3
    database = f"spacecast_api_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = {
        **s3.env("spacecast-api-tests"),
        "SPACECAST_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
        "SPACECAST_PUBLIC_BASE_URL": "http://testserver",
        "SPACECAST_UPLOAD_RATE": "1000/minute",
        "SPACECAST_COMPLAINT_RATE": "1000/minute",
        # Small limits, so the malicious-media corpus can cross them with small files.
        "SPACECAST_MAX_TRACK_BYTES": str(4 * 1024 * 1024),
        "SPACECAST_MAX_TRACK_DURATION_S": "600",
        "SPACECAST_WORK_DIR": str(root / "work"),
    }
    (root / "work").mkdir()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    from infra.settings import get_settings

    get_settings.cache_clear()
    from infra.db import migrate

    migrate()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    s3.stop()
    from infra.db import get_engine

    get_engine(env["SPACECAST_DATABASE_URL"]).dispose()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _complaint(session, space_id: str) -> str:
    from infra.models import Complaint, Participant

    alice = session.query(Participant).filter_by(space_id=space_id, handle="alice").one()
    complaint = Complaint(
        space_id=space_id,
        target="speaker",
        participant_id=alice.id,
        start_s=0.0,
        end_s=1.5,
        category="harassment",
        text="said something awful",
        reporter="user:someone",
    )
    session.add(complaint)
    session.flush()
    return complaint.id


def _ready_clip(session, store, episode, creator_id: str) -> tuple[str, str]:
    """A rendered clip whose media objects exist in the bucket."""
    from infra.models import Clip

    clip = Clip(
        episode_id=episode.id,
        space_id=episode.space_id,
        creator_id=creator_id,
        made_by="listener",
        title="A moment",
        start_s=10.0,
        end_s=20.0,
        status="ready",
        speakers=[],
        consent_snapshot={"clipped": []},
        render_id="cr",
        transcript=[],
    )
    session.add(clip)
    session.flush()
    media = {}
    for name, kind in (("clip.mp3", "mp3"), ("clip.vtt", "vtt"), ("clip.json", "json")):
        key = f"clips/{episode.space_id}/{clip.id}/cr/{name}"
        store.put_bytes(key, b"clip " * 50, content_type="application/octet-stream")
        media[kind] = {"key": key}
    clip.media = media
    return clip.id, clip.render_id


def _published_space(session, store, show, title: str) -> tuple[str, str, str]:
    """A space with a published episode whose media objects exist in the bucket."""
    from infra.models import Episode, Participant, Space
    from infra.storage import media_key
    from services.ledger import record_answers

    space = Space(show_id=show.id, title=title, status="published")
    session.add(space)
    session.flush()
    alice = Participant(space_id=space.id, handle="alice", name="Alice")
    session.add(alice)
    session.flush()
    record_answers(
        session,
        alice,
        {"record": True, "publish": True},
        source="api",
        actor="test",
        shorthand=True,
    )
    render = "r" + space.id[:15]
    media = {}
    for name in ("episode.mp3", "transcript.json", "transcript.vtt", "transcript.srt"):
        key = media_key(space.id, render, name)
        store.put_bytes(
            key,
            b"{}" if name.endswith("json") else b"data " * 100,
            content_type="application/octet-stream",
        )
        media[name] = key
    episode = Episode(
        space_id=space.id,
        show_id=show.id,
        guid=f"guid-{space.id}",
        title=title,
        description="d",
        render_id=render,
        duration_s=100.0,
        media={
            "mp3": {
                "key": media["episode.mp3"],
                "size_bytes": 500,
                "mime_type": "audio/mpeg",
                "loudness": {},
            }
        },
        transcripts={fmt: media[f"transcript.{fmt}"] for fmt in ("json", "vtt", "srt")},
        persons=[{"name": "Alice", "role": "host"}],
        chapters=[
            {"start_s": 0.0, "end_s": 60.0, "title": "Welcome", "generated": True},
            {"start_s": 60.0, "end_s": 100.0, "title": "The market", "generated": True},
        ],
        consent_snapshot={"audible": [alice.id], "transcribed": [alice.id]},
        report={"space": {"id": space.id}},
    )
    session.add(episode)
    session.flush()
    return space.id, episode.id, render


@pytest.fixture(scope="session")
def world(api_env) -> Iterator[World]:
    from api.app import create_app
    from infra.db import session_scope
    from infra.models import Participant, Show, Space, User
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services.accounts import create_user, issue_key
    from services.ledger import record_answers

    store = ObjectStore(get_settings())
    store.ensure_bucket()
    keys, key_ids, shows, spaces, episodes, renders = {}, {}, {}, {}, {}, {}
    with session_scope(get_settings().database_url) as session:
        for actor, roles in [
            ("admin", ["admin"]),
            ("host", ["host"]),
            ("other_host", ["host"]),
            ("moderator", ["moderator"]),
            ("listener", ["listener"]),
            ("room", ["room"]),
            ("monitor", ["monitor"]),
        ]:
            _, key, token = create_user(session, actor, roles)
            keys[actor], key_ids[actor] = token, key.id
        owners = {"A": "host", "B": "other_host"}
        for label, owner in owners.items():
            user_id = session.query(User).filter_by(name=owner).one().id
            show = Show(owner_id=user_id, title=f"Show {label}", author=owner)
            session.add(show)
            session.flush()
            shows[label] = show.id
            # A space still recording (for ingest calls) and one published (for listeners).
            recording = Space(show_id=show.id, title=f"Live {label}")
            session.add(recording)
            session.flush()
            alice = Participant(space_id=recording.id, handle="alice", name="Alice")
            session.add(alice)
            session.flush()
            record_answers(
                session,
                alice,
                {"record": True, "publish": True},
                source="api",
                actor="test",
                shorthand=True,
            )
            spaces[label] = recording.id
            _, episodes[label], renders[label] = _published_space(
                session, store, show, f"Episode {label}"
            )
        recorder = User(name="recorder", roles=["recorder"])
        session.add(recorder)
        session.flush()
        key, token = issue_key(session, user=recorder, label="room", show_id=shows["A"])
        keys["recorder"], key_ids["recorder"] = token, key.id
        participant = (
            session.query(Participant).filter_by(space_id=spaces["A"], handle="alice").one()
        )
        key, token = issue_key(session, user=None, label="alice", participant_id=participant.id)
        keys["participant"], key_ids["participant"] = token, key.id
        listener_id = session.query(User).filter_by(name="listener").one().id
        from infra.models import Episode

        clips, clip_renders, complaints = {}, {}, {}
        for label in "AB":
            episode = session.get(Episode, episodes[label])
            clips[label], clip_renders[label] = _ready_clip(session, store, episode, listener_id)
            complaints[label] = _complaint(session, spaces[label])
    with TestClient(create_app()) as client:
        yield World(
            client, keys, shows, spaces, episodes, renders, key_ids, clips, clip_renders, complaints
        )


@pytest.fixture(scope="session")
def short_opus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess

    path = tmp_path_factory.mktemp("media") / "short.opus"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-w", str(path.with_suffix(".wav")), "Hello from the room."],
        check=True,
    )
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(path.with_suffix(".wav")),
            "-c:a",
            "libopus",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """Each test starts with no hits counted: a test that fills a limit (sign-ups from the test
    client's one address) must not refuse the next test's calls."""
    from api.limits import _counter

    _counter.cache_clear()
    yield
    _counter.cache_clear()


def store_opus_track(session, participant, audio: Path, label: str, duration_s: float) -> None:
    """A raw Opus track of ``participant`` in the bucket and the database, as an upload would
    leave it (``duration_s`` as recorded: the tests' rooms need not be as long as the file)."""
    from infra.models import Track
    from infra.settings import get_settings
    from infra.storage import ObjectStore, raw_track_key, sha256_file

    key = raw_track_key(participant.space_id, participant.id, label)
    ObjectStore(get_settings()).put_file(key, audio, content_type="audio/ogg")
    session.add(
        Track(
            participant_id=participant.id,
            object_key=key,
            sha256=sha256_file(audio),
            size_bytes=audio.stat().st_size,
            format_name="ogg",
            codec="opus",
            sample_rate_hz=48000,
            channels=1,
            duration_s=duration_s,
        )
    )


def work_until_settled(world: World, broker, space: str, *, timeout_s: float = 240) -> dict:
    """Run a real Dramatiq worker on ``broker`` until the space is published or failed (or
    ``timeout_s`` passes); the space as the host reads it then. The broker is flushed after."""
    import time

    import dramatiq

    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            state = world.client.get(f"/spaces/{space}", headers=world.headers("host")).json()
            if state["status"] in ("published", "failed"):
                return state
            assert time.monotonic() < deadline, state["stages"]
            time.sleep(0.2)
    finally:
        worker.stop()
        broker.flush_all()
