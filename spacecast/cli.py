"""``spacecast`` command: process (offline), api, worker, migrate, users, demo, and record (the
room recorder's live upload).

Each sub-command maps errors a user can fix to one line on stderr naming the file (or database)
and the problem, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pipeline.errors import ConsentPending, SpacecastError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_HELD = 3


def _process(args: argparse.Namespace) -> int:
    from infra.settings import get_settings
    from pipeline.edits import load_edit_list
    from pipeline.master import FORMATS, with_bitrate
    from pipeline.process import ProcessOptions, process_space

    settings = get_settings()
    formats = [with_bitrate(FORMATS["mp3"], settings.mp3_bitrate)]
    if args.opus:
        formats.append(with_bitrate(FORMATS["opus"], settings.opus_bitrate))
    whisper = settings.whisper_settings()
    if args.model:
        whisper = type(whisper)(**{**whisper.__dict__, "model": args.model})
    options = ProcessOptions(
        formats=tuple(formats),
        target=settings.loudness_target(),
        whisper=whisper,
        limits=settings.track_limits(),
        base_url=args.base_url,
        feed_path=Path(args.feed) if args.feed else None,
        stage_timeout_s=settings.stage_timeout_s,
        hold_missing=args.hold_missing,
        duck_excluded=args.duck_excluded,
        edits=tuple(load_edit_list(Path(args.edits))) if args.edits else (),
    )
    out = Path(args.out)
    log = (
        (lambda line: print(f"spacecast: {line}", file=sys.stderr))
        if not args.quiet
        else (lambda _: None)
    )
    report = process_space(Path(args.manifest), out, options, log=log)
    loudness = report["episode"]["loudness"]
    print(
        json.dumps(
            {
                "episode": str(out / report["outputs"]["episode_mp3"]),
                "feed": report["outputs"]["feed"],
                "report": str(out / "report.json"),
                "integrated_lufs": loudness["integrated_lufs"],
                "true_peak_dbtp": loudness["true_peak_dbtp"],
                "excluded": [e["participant_id"] for e in report["excluded"]],
                "missing": [m["participant_id"] for m in report["missing"]],
            }
        )
    )
    return 0


def require_schema(url: str) -> None:
    """Refuse, in one line, a database that cannot be opened or whose schema is missing or not
    this version's: commands that read accounts would otherwise fail deep inside with a
    traceback (``no such table: users``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from infra.db import schema_revisions

    shown = make_url(url).render_as_string(hide_password=True)
    try:
        current, head = schema_revisions(url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise SpacecastError(f"cannot open the database at {shown}: {reason}") from None
    if current is None:
        raise SpacecastError(f"the database at {shown} has no tables yet; run spacecast migrate")
    if current != head:
        raise SpacecastError(
            f"the database at {shown} is at schema revision {current}, this spacecast expects "
            f"{head}; run spacecast migrate"
        )


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from infra.logs import wants_json
    from infra.settings import get_settings

    settings = get_settings()
    require_schema(settings.database_url)
    # JSON lines: uvicorn's own loggers hand their lines to the root logger's JSON handler
    # instead of configuring handlers of their own.
    # More than one process: uvicorn starts each and makes its app from the factory.
    app = "api.app:create_app" if args.workers > 1 else create_app()
    uvicorn.run(
        app,
        factory=args.workers > 1,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level="info",
        **({"log_config": None} if wants_json(settings.log_format) else {}),
        **settings.proxy_options(),
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    import os

    # Dramatiq prefetches twice as many messages per queue as a process has threads. Stages run
    # for minutes, so a prefetched message waits behind a busy thread while another process
    # idles: hold no more messages per queue than there are threads to run them. Read by
    # dramatiq.worker when it is imported, so set before.
    os.environ.setdefault("dramatiq_queue_prefetch", str(args.threads))
    _configure_worker_metrics()
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from infra.logs import wants_json
    from infra.settings import get_settings

    argv = ["workers.actors", "--processes", str(args.processes), "--threads", str(args.threads)]
    if wants_json(get_settings().log_format):
        argv.append("--skip-logging")  # Dramatiq's own lines go through the JSON handler too
    return dramatiq_main(make_argument_parser().parse_args(argv)) or 0


def _configure_worker_metrics() -> None:
    """Point Dramatiq's Prometheus exporter (added by ``workers.app`` when
    ``SPACECAST_WORKER_METRICS_PORT`` is set) at the configured address and a fresh folder of
    its own. Dramatiq's module reads these once in each process it forks, the exporter's
    included, so they are set here, before Dramatiq starts."""
    import os
    import tempfile

    from infra.settings import get_settings

    settings = get_settings()
    if not settings.worker_metrics_port:
        return
    folder = tempfile.mkdtemp(prefix="spacecast-worker-metrics-", dir=settings.work_dir)
    # Dramatiq's own (lower-case) names.
    os.environ["dramatiq_prom_host"] = settings.worker_metrics_host  # noqa: SIM112
    os.environ["dramatiq_prom_port"] = str(settings.worker_metrics_port)  # noqa: SIM112
    os.environ["dramatiq_prom_db"] = folder  # noqa: SIM112


def _scheduler(args: argparse.Namespace) -> int:
    """Send the periodic jobs (one scheduler per deployment; a second one only sends jobs that
    find nothing left to do): a vault sweep every ``sweep_interval_s``, and every
    ``resume_interval_s`` a nudge to spaces whose next stage's message the broker lost."""
    import time

    from infra.queue import enqueue
    from infra.settings import get_settings

    settings = get_settings()
    jobs = [
        ("sweep_vault", settings.sweep_interval_s, "sweep requested"),
        ("resume_stalled", settings.resume_interval_s, "stalled spaces resumed"),
    ]
    due = [0.0] * len(jobs)
    log = logging.getLogger("spacecast.scheduler")
    while True:
        for index, (actor, every_s, done) in enumerate(jobs):
            if time.monotonic() >= due[index]:
                enqueue(actor)
                due[index] = time.monotonic() + every_s
                log.info("%s; next in %.0f s", done, every_s)
        if args.once:
            return 0
        time.sleep(max(0.5, min(due) - time.monotonic()))


def _sweep(args: argparse.Namespace) -> int:
    """One sweep in this process, printing what it did."""
    from infra.settings import get_settings
    from infra.storage import ObjectStore
    from services.retention import sweep

    settings = get_settings()
    require_schema(settings.database_url)
    report = sweep(ObjectStore(settings), settings.database_url, settings.retention_policy())
    print(json.dumps(report.as_dict()))
    return 1 if report.objects_failed else 0


def _migrate(args: argparse.Namespace) -> int:
    from infra.db import migrate

    migrate()
    return 0


def _create_user(args: argparse.Namespace) -> int:
    """Print the same body as ``POST /users`` (``{"user": ..., "key": {..., "token"}}``), and the
    token again as ``api_key`` for scripts that read that."""
    from pydantic import ValidationError

    from api import schemas
    from api.views import credentials_out
    from infra.db import session_scope
    from infra.settings import get_settings
    from services.accounts import create_user

    try:
        wanted = schemas.UserIn(name=args.name, roles=args.role)
    except ValidationError as exc:
        problem = exc.errors()[0]
        message = problem["msg"].removeprefix("Value error, ")
        raise SpacecastError(f"account {args.name!r}: {message}") from None
    url = get_settings().database_url
    require_schema(url)
    with session_scope(url) as session:
        user, key, token = create_user(session, wanted.name, list(wanted.roles))
        credentials = credentials_out(user, key, token)
    print(json.dumps({**credentials.model_dump(mode="json"), "api_key": token}))
    return 0


def _record(args: argparse.Namespace) -> int:
    from spacecast.recorder import RecorderError, main_record

    try:
        return main_record(args)
    except RecorderError as exc:
        print(f"spacecast: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _demo(args: argparse.Namespace) -> int:
    from spacecast.demo import run_demo

    return run_demo(port=args.port, out=Path(args.out), serve=not args.once)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacecast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    process = sub.add_parser("process", help="turn a space manifest into an episode, offline")
    process.add_argument("manifest", help="space manifest (JSON); track paths are relative to it")
    process.add_argument("--out", required=True, help="folder for the episode and its files")
    process.add_argument("--opus", action="store_true", help="also deliver episode.opus")
    process.add_argument("--base-url", help="URL the output folder will be served from")
    process.add_argument("--feed", help="feed file to add the episode to (default OUT/feed.xml)")
    process.add_argument("--model", help="Whisper model: tiny.en, base or a model folder")
    process.add_argument(
        "--hold-missing",
        action="store_true",
        help="publish nothing while a participant has not answered (exit status 3)",
    )
    process.add_argument(
        "--duck-excluded",
        action="store_true",
        help="lower every track while an excluded speaker who bleeds into it talks",
    )
    process.add_argument(
        "--edits",
        help="edit list to apply (JSON: trim, cut, mute, shorten_silences; room time)",
    )
    process.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    process.set_defaults(run=_process)

    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument(
        "--workers", type=int, default=1, help="API processes sharing the port (default 1)"
    )
    api.set_defaults(run=_api)

    worker = sub.add_parser("worker", help="run Dramatiq workers for the pipeline stages")
    worker.add_argument("--processes", type=int, default=1)
    worker.add_argument("--threads", type=int, default=2)
    worker.set_defaults(run=_worker)

    scheduler = sub.add_parser(
        "scheduler", help="send the periodic jobs: vault sweeps, resuming stalled spaces"
    )
    scheduler.add_argument("--once", action="store_true", help="send each job once and exit")
    scheduler.set_defaults(run=_scheduler)

    sweep = sub.add_parser("sweep", help="delete expired raw recordings now, in this process")
    sweep.set_defaults(run=_sweep)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)

    users = sub.add_parser("users", help="manage accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser(
        "create",
        help="create an account and print its first API key (the body POST /users returns)",
    )
    create.add_argument("name")
    create.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["admin", "host", "moderator", "listener", "room", "monitor"],
        help="repeat for several roles (room: the platform's room service account)",
    )
    create.set_defaults(run=_create_user)

    record = sub.add_parser(
        "record", help="stream an audio file to a live space in chunks, as a room recorder does"
    )
    record.add_argument(
        "file",
        nargs="+",
        help="any audio file ffmpeg reads, sent as 48 kHz mono PCM; FILE@SECONDS places it at "
        "that track second (one file per stretch of a participant who left and came back)",
    )
    record.add_argument("--api", default="http://127.0.0.1:8000", help="Spacecast API base URL")
    record.add_argument("--key", help="API key (the show's recorder key, or its host's)")
    record.add_argument("--space", required=True, help="space id")
    record.add_argument("--participant", required=True, help="participant id (handle)")
    record.add_argument("--chunk-s", type=float, default=5.0, help="seconds per chunk")
    record.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="1 = real time, 4 = four times faster, 0 = no pacing",
    )
    record.add_argument(
        "--no-finish", action="store_true", help="do not assemble the track (more will follow)"
    )
    record.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    record.set_defaults(run=_record)

    demo = sub.add_parser("demo", help="the embedded default: a sample space published end to end")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--out", default="demo-output", help="where to copy the episode and feed")
    demo.add_argument("--once", action="store_true", help="exit once published instead of serving")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from infra.logs import TEXT_FORMAT, configure_logging
    from infra.settings import get_settings

    logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    configure_logging(get_settings().log_format)
    for noisy in (
        "httpx",
        "botocore",
        "boto3",
        "urllib3",
        "faster_whisper",
        "alembic.runtime.plugins",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.run(args)
    except ConsentPending as exc:
        print(f"spacecast: held: {exc}", file=sys.stderr)
        return EXIT_HELD
    except SpacecastError as exc:
        print(f"spacecast: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
