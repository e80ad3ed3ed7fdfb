"""`spacecast users create`: the same body as ``POST /users``, and one line, not a traceback,
when the database has no tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from api import schemas


def _spacecast(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "spacecast", *args],
        cwd=cwd,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_database_without_tables_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _spacecast("users", "create", "Mo", "--role", "moderator", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "spacecast: error: the database at sqlite:///.spacecast/spacecast.db has no tables yet; "
        "run spacecast migrate\n"
    )
    assert done.stdout == ""


def test_users_create_prints_the_credentials_the_api_returns(tmp_path: Path) -> None:
    from infra.db import session_scope
    from services.accounts import find_key

    url = f"sqlite:///{tmp_path / 'elsewhere' / 'spacecast.db'}"
    (tmp_path / "elsewhere").mkdir()
    env = {"SPACECAST_DATABASE_URL": url}
    assert _spacecast("migrate", cwd=tmp_path, env=env).returncode == 0
    done = _spacecast("users", "create", "Mo", "--role", "moderator", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {"user", "key", "api_key"}
    assert set(printed["user"]) == set(schemas.UserOut.model_fields)
    assert set(printed["key"]) == set(schemas.KeyOut.model_fields)
    assert printed["user"]["roles"] == ["moderator"]
    assert printed["api_key"] == printed["key"]["token"]
    with session_scope(url) as session:
        key = find_key(session, printed["key"]["token"])
        assert key is not None and key.id == printed["key"]["id"]


def test_a_name_the_api_would_refuse_is_refused_in_one_line(tmp_path: Path) -> None:
    done = _spacecast("users", "create", "Mo\u202e", "--role", "host", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("spacecast: error: account")
