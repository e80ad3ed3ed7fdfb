"""Database engine, sessions and schema migrations (Alembic) for PostgreSQL or SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    from infra.settings import get_settings

    timeout_s = get_settings().database_timeout_s
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        # A route that drops packets is noticed by the kernel (keepalives, unacknowledged data).
        connect_args={
            "connect_timeout": max(1, round(timeout_s)),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": int(timeout_s * 1000),
            # A client cut off mid-transaction (the route went silent) leaves its transaction
            # open on the server, holding its row locks: the server ends it after this long.
            "options": f"-c idle_in_transaction_session_timeout={int(4 * timeout_s * 1000)}",
        },
    )

    @event.listens_for(engine, "do_connect")
    def _bounded(dialect, record, cargs, cparams):
        connection = _BoundedConnection.connect(*cargs, **cparams)
        connection.timeout_s = timeout_s
        return connection

    return engine


def _bounded_connection_class():
    import psycopg
    from psycopg.errors import _WaitTimeout

    class BoundedConnection(psycopg.Connection):
        """A psycopg connection that waits at most ``timeout_s`` for any answer of the server (a
        peer that accepts bytes and never answers, which no kernel timeout notices): then it is
        closed and the query raises OperationalError, which SQLAlchemy's pool discards and the
        stages retry."""

        timeout_s: float = 30.0

        def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
            try:
                return super().wait(gen, interval, self.timeout_s if timeout is None else timeout)
            except _WaitTimeout:
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"PostgreSQL did not answer within {self.timeout_s:g} s; connection closed"
                ) from None

    return BoundedConnection


try:
    _BoundedConnection = _bounded_connection_class()
except ImportError:  # SQLite only (the embedded demo without psycopg)
    _BoundedConnection = None


@lru_cache(maxsize=8)
def _sessions(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    session = _sessions(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def open_session(url: str) -> Session:
    return _sessions(url)()


def database_now(session: Session) -> datetime:
    """The database server's clock (UTC): the one clock every process of a deployment shares,
    whichever host's own clock has jumped."""
    if session.get_bind().dialect.name == "sqlite":
        text_now = session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar()
        return datetime.fromisoformat(text_now).replace(tzinfo=UTC)
    return session.execute(text("SELECT statement_timestamp()")).scalar().astimezone(UTC)


def schema_revisions(url: str) -> tuple[str | None, str]:
    """The database's schema revision (None: no tables yet) and the newest migration's; raises
    SQLAlchemy's error when the database cannot be reached."""
    import logging

    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # reading the revision is not news
    try:
        with get_engine(url).connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        alembic_log.setLevel(level)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return current, ScriptDirectory.from_config(config).get_current_head()


def migrate(url: str | None = None) -> None:
    """Upgrade the schema to the newest migration."""
    from alembic import command
    from alembic.config import Config

    from infra.settings import get_settings

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option(
        "sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%")
    )
    command.upgrade(config, "head")
