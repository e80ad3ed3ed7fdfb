"""Migrations on PostgreSQL and SQLite: they build exactly the tables the models describe, go down
and up again, and make the consent ledger append-only in the database itself."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from infra.db import MIGRATIONS
from infra.models import Base

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    name = f"spacecast_migrations_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_migrations_build_what_the_models_describe_and_reverse(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
    command.downgrade(config, "base")
    command.upgrade(config, "head")


def test_the_consent_ledger_refuses_updates_and_deletes(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO shows (id, title, author, description, language, category, explicit, created_at) VALUES ('s', 't', 'a', '', 'en', 'c', false, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO spaces (id, show_id, title, language, started_at, status, created_at, missing_policy, duck_excluded) VALUES ('sp', 's', 't', 'en', CURRENT_TIMESTAMP, 'recording', CURRENT_TIMESTAMP, 'hold', false)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO participants (id, space_id, handle, name, role, offset_s, created_at) VALUES ('p', 'sp', 'alice', 'Alice', 'host', 0, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO consent_entries (space_id, participant_id, purpose, granted, source, actor, recorded_at) VALUES ('sp', 'p', 'publish', true, 'api', 'test', CURRENT_TIMESTAMP)"
            )
        )
    for statement in ("UPDATE consent_entries SET granted = false", "DELETE FROM consent_entries"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT granted FROM consent_entries")).scalar_one() in (
            True,
            1,
        )
    engine.dispose()
