"""The layout is the architecture: data flows one way, api -> services -> (queue) -> workers ->
pipeline, and each layer imports only what it may:

- pipeline/: pure audio and domain logic, no framework of the web, the queue, storage or the
  database, and nothing of ours outside itself;
- services/: the business rules and their transactions; they call pipeline/ and infra/, never
  the web, the queue framework, the routes or the actors (work is sent through infra.queue);
- workers/ and api/: thin; they call services/ and never each other;
- infra/: adapters only, used by the layers above, never using them."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "pipeline": {"fastapi", "starlette", "dramatiq", "boto3", "botocore", "sqlalchemy", "alembic",
                 "api", "workers", "infra", "services", "spacecast"},
    "services": {"fastapi", "starlette", "dramatiq", "api", "workers", "spacecast"},
    "workers": {"fastapi", "starlette", "api", "spacecast"},
    "api": {"workers", "dramatiq", "spacecast"},
    "infra": {"fastapi", "starlette", "api", "workers", "services", "spacecast"},
}  # fmt: skip


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_each_layer_imports_only_what_it_may() -> None:
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / layer).rglob("*.py"))
        assert files, layer
        for path in files:
            bad = imported_roots(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_routes_and_actors_hold_no_database_queries_of_their_own() -> None:
    """Business actions live in services/: a route or an actor module that builds its own
    SELECT over the business tables is restating a rule (the stage bookkeeping and the web
    pages' listings aside)."""
    allowed = {"api/routes/pages.py", "api/views.py", "workers/runs.py", "workers/stages.py"}
    offenders = []
    for layer in ("api/routes", "workers"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            name = str(path.relative_to(ROOT))
            if name in allowed:
                continue
            text = path.read_text()
            if "select(" in text and "from sqlalchemy import" in text:
                offenders.append(name)
    assert offenders == []
