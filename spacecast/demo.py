"""The embedded default: one process tree, no services to start by hand.

SQLite for the database, ``rclone serve s3`` on a local folder for the bucket, Dramatiq's
in-process broker with a worker in this process, and the API on localhost. A bundled sample space
(espeak-ng voices, staggered joins, one participant who did not consent to publication) goes
through the same HTTP API and workers as in production, and the episode, transcripts and feed are
copied to a folder and served.

What a second shell needs to use the running demo (its API address, its key and its database, so
``spacecast users create`` beside it makes accounts the demo knows) is written to
``.spacecast/demo/credentials.env``, to be sourced.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx

from infra.s3server import LocalS3Server

DEMO_HOME = Path(".spacecast") / "demo"
_WORKER_STOP_MS = 5_000  # how long stopping waits for a stage in progress


def _say(line: str) -> None:
    print(f"demo: {line}", file=sys.stderr, flush=True)


def _configure(port: int, s3: LocalS3Server, home: Path) -> None:
    os.environ.update(s3.env())
    os.environ["SPACECAST_DATABASE_URL"] = f"sqlite:///{(home / 'spacecast.db').resolve()}"
    os.environ["SPACECAST_BROKER_URL"] = "stub://"
    os.environ["SPACECAST_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    from infra.settings import get_settings

    get_settings.cache_clear()


def write_credentials(home: Path, base: str, api_key: str, roles: list[str]) -> Path:
    """The demo's address, key and database, as shell exports (readable by the owner only)."""
    from infra.settings import get_settings

    path = home / "credentials.env"
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(
        "# Written by `spacecast demo`; source it in a shell beside the running demo.\n"
        f"export API={base}\n"
        f"export DEMO_KEY={api_key}  # the demo's account: roles {' and '.join(roles)}\n"
        "# `spacecast users create` and other commands then use the demo's database.\n"
        f"export SPACECAST_DATABASE_URL={get_settings().database_url}\n"
    )
    return path


def _start_api(port: int):
    import uvicorn

    from api.app import create_app
    from infra.settings import get_settings

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            **get_settings().proxy_options(),
        )
    )
    thread = threading.Thread(target=server.run, name="spacecast-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the API did not start on port {port}")
        time.sleep(0.05)
    return server, thread


def create_space(client: httpx.Client, folder: Path) -> tuple[str, dict]:
    """Create the show and the space of a sample (or benchmark) folder and upload every recorded
    participant's track, streamed from disk, as a room service would; return the space id and
    the show."""
    manifest = json.loads((folder / "manifest.json").read_text())
    show = client.post("/shows", json=manifest["show"]).raise_for_status().json()
    space = manifest["space"]
    body = {
        "title": space["title"],
        "started_at": space["started_at"],
        "language": space["language"],
        "participants": [
            {k: p[k] for k in ("id", "name", "role", "offset", "consent")}
            for p in manifest["participants"]
        ],
    }
    created = client.post(f"/shows/{show['id']}/spaces", json=body).raise_for_status().json()
    for p in manifest["participants"]:
        if not p["consent"].get("record"):
            continue
        path = folder / p["track"]
        with open(path, "rb") as track:
            client.put(
                f"/spaces/{created['id']}/participants/{p['id']}/track", content=track, timeout=600
            ).raise_for_status()
        _say(f"uploaded {p['track']} ({path.stat().st_size / 1024:.0f} KiB)")
    return created["id"], show


def submit_sample(client: httpx.Client, sample_dir: Path, *, finish: dict | None = None) -> str:
    """Send a sample space through the API as a room service would and finish it; return the
    space id. ``finish`` is the body of the finish call (the host's choices); None sends none.
    """
    space_id, _ = create_space(client, sample_dir)
    client.post(f"/spaces/{space_id}/finish", json=finish).raise_for_status()
    return space_id


def wait_until_done(
    client: httpx.Client,
    space_id: str,
    *,
    timeout_s: float = 900,
    until: tuple[str, ...] = ("published", "failed", "held", "unpublished"),
) -> dict:
    """Follow the space's stages until it reaches one of ``until``; return its state."""
    last = ""
    deadline = time.monotonic() + timeout_s
    while True:
        state = client.get(f"/spaces/{space_id}").raise_for_status().json()
        line = ", ".join(
            f"{s['stage']}{'(' + s['participant'] + ')' if s['participant'] else ''} {s['status']}"
            for s in state["stages"]
        )
        if line != last:
            _say(f"{state['status']} {state['progress']:.0%}: {line}")
            last = line
        if state["status"] in until:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"space {space_id} not published after {timeout_s:.0f} s: {line}")
        time.sleep(0.5)


def publish_sample(client: httpx.Client, sample_dir: Path, *, timeout_s: float = 900) -> dict:
    """Submit a sample space and wait for it; return the finished space."""
    return wait_until_done(client, submit_sample(client, sample_dir), timeout_s=timeout_s)


def _exit_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM (a supervisor, ``kill``) end the demo in the same orderly way as Ctrl-C: a
    KeyboardInterrupt in the main thread, which stops the API, the worker and rclone. Later
    SIGTERMs are ignored while that runs. Returns what restores the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers belong to the main thread

    def _interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _stop_api(server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(timeout=10)


def run_demo(*, port: int, out: Path, serve: bool, home: Path = DEMO_HOME) -> int:
    restore = _exit_on_sigterm()
    try:
        return _run_demo(port=port, out=out, serve=serve, home=home)
    finally:
        restore()


def _run_demo(*, port: int, out: Path, serve: bool, home: Path) -> int:
    from infra.samples import build_sample_space, load_spec

    home.mkdir(parents=True, exist_ok=True)
    sample_dir = home / "sample"
    if not (sample_dir / "manifest.json").exists():
        _say("speaking the sample space with espeak-ng")
        build_sample_space(load_spec("town_square"), sample_dir)
    db = home / "spacecast.db"
    db.unlink(missing_ok=True)
    # Whatever ends the demo (Ctrl-C, SIGTERM, an error), what was started is stopped, newest
    # first: the API, the worker, then rclone.
    with ExitStack() as running:
        running.callback(shutil.rmtree, home / "s3", ignore_errors=True)
        s3 = LocalS3Server(home / "s3").start()
        running.callback(s3.stop)
        _say(f"local S3 server on {s3.endpoint_url} (data in {s3.root})")
        _configure(port, s3, home)
        from infra.db import migrate, session_scope
        from infra.settings import get_settings
        from services.accounts import create_user

        migrate()
        with session_scope(get_settings().database_url) as session:
            user, _, api_key = create_user(session, "Demo host", ["host", "admin"])
            roles = list(user.roles)
        import dramatiq

        from workers.app import install

        install()  # the in-process broker, with every actor

        worker = dramatiq.Worker(dramatiq.get_broker(), worker_threads=2)
        worker.start()
        # A stage still running after this is cut off with the process (its threads are
        # daemons); the demo's data is thrown away at the next start anyway.
        running.callback(worker.stop, timeout=_WORKER_STOP_MS)
        server, thread = _start_api(port)
        running.callback(_stop_api, server, thread)
        base = f"http://127.0.0.1:{port}"
        credentials = write_credentials(home, base, api_key, roles)
        _say(
            f"API on {base} (OpenAPI at {base}/docs); API key (roles {', '.join(roles)}): {api_key}"
        )
        _say(f"in another shell: source {credentials} (API, DEMO_KEY, SPACECAST_DATABASE_URL)")
        headers = {"Authorization": f"Bearer {api_key}"}
        with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
            state = publish_sample(client, sample_dir)
            if state["status"] != "published":
                _say(f"the space failed: {state['error']}")
                return 1
            episode = state["episode"]
            out.mkdir(parents=True, exist_ok=True)
            saved = {}
            for name, url in [
                ("episode.mp3", episode["audio"]["mp3"]),
                ("episode.opus", episode["audio"].get("opus")),
                ("transcript.json", episode["transcripts"]["json"]),
                ("transcript.vtt", episode["transcripts"]["vtt"]),
                ("transcript.srt", episode["transcripts"]["srt"]),
                ("feed.xml", episode["feed_url"]),
                ("report.json", f"{base}/episodes/{episode['id']}/report"),
            ]:
                if url:
                    (out / name).write_bytes(client.get(url).raise_for_status().content)
                    saved[name] = url
            loudness = episode["loudness"]
            print(
                json.dumps(
                    {
                        "api": base,
                        "show_id": state["show_id"],
                        "space_id": state["id"],
                        "episode_id": episode["id"],
                        "episode": saved["episode.mp3"],
                        "transcript": saved["transcript.vtt"],
                        "feed": saved["feed.xml"],
                        "copied_to": str(out.resolve()),
                        "integrated_lufs": loudness["integrated_lufs"],
                        "true_peak_dbtp": loudness["true_peak_dbtp"],
                        "key": {"token": api_key, "roles": roles},
                        "credentials": str(credentials.resolve()),
                        "database_url": get_settings().database_url,
                    },
                    indent=2,
                ),
                flush=True,
            )
        if serve:
            _say(f"serving the feed at {saved['feed.xml']}; press Ctrl-C to stop")
            while thread.is_alive():
                thread.join(timeout=1)
        return 0
