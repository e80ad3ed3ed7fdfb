"""Shared dependencies: settings, a database session per request, the object store."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from infra.db import session_scope
from infra.settings import Settings, get_settings
from infra.storage import ObjectStore


def settings_dep() -> Settings:
    return get_settings()


def session_dep() -> Iterator[Session]:
    """One session per request, committed before the response is sent (``scope="function"``):
    a client that reads right after a write sees it."""
    with session_scope(get_settings().database_url) as session:
        yield session


@lru_cache
def _store() -> ObjectStore:
    return ObjectStore(get_settings())


def store_dep() -> ObjectStore:
    return _store()


SessionDep = Annotated[Session, Depends(session_dep, scope="function")]
StoreDep = Annotated[ObjectStore, Depends(store_dep)]
SettingsDep = Annotated[Settings, Depends(settings_dep)]
