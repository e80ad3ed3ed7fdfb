"""The layout is the architecture: pipeline/ must not know about the web, the queue, storage or the
database; workers and api must not reach around each other."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "pipeline": {"fastapi", "starlette", "dramatiq", "boto3", "botocore", "sqlalchemy", "alembic",
                 "api", "workers", "infra", "spacecast"},
    "workers": {"fastapi", "starlette", "api"},
    "infra": {"fastapi", "api", "workers"},
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
