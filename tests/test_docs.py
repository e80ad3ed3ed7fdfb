"""The docs are checked against the code: every setting is documented and every documented one
exists, every route a code sample names is served, links between pages resolve, and the
README's test command is the one CI runs. Also the reading of shown outputs the walk-through
test relies on (tests/docs/walkthrough.py), which must refuse what differs."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.docs.walkthrough import line_matches, output_matches, shell_blocks, steps_of

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETTING = re.compile(r"SPACECAST_[A-Z][A-Z0-9_]*")
# Variables with the prefix that belong to the scripts around the service, each with a file
# that reads it (docs/configuration.md lists them apart).
NOT_SETTINGS = {
    "SPACECAST_PYTHON": "scripts/bootstrap.sh",
    "SPACECAST_ARTIFACTS": "tests/web/conftest.py",
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _settings() -> set[str]:
    from infra.settings import Settings

    return {f"SPACECAST_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_is_in_the_configuration_page() -> None:
    documented = set(SETTING.findall(_text(ROOT / "docs" / "configuration.md")))
    assert sorted(_settings() - documented) == []


def test_every_spacecast_variable_the_docs_name_is_a_setting() -> None:
    unknown = {}
    for page in PAGES:
        for name in set(SETTING.findall(_text(page))) - _settings() - set(NOT_SETTINGS):
            family = name.endswith("_") and any(s.startswith(name) for s in _settings())
            if not family:  # SPACECAST_S3_* names every S3 setting
                unknown.setdefault(name, []).append(page.name)
    assert unknown == {}
    for name, reader in NOT_SETTINGS.items():
        assert name in _text(ROOT / reader), f"{name} is no longer read by {reader}"


# Routes ------------------------------------------------------------------------------------


def _walk(routes, prefix: str = "") -> list[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, whether routers are flattened into the app or
    included as routers of their own (FastAPI's included-router objects); a mount is its path
    followed by anything (method "*")."""
    found = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            found += _walk(original.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif getattr(route, "methods", None):
            found.append((prefix + route.path, set(route.methods)))
        elif hasattr(route, "path"):
            found.append((prefix + route.path.rstrip("/") + "/...", {"*"}))
    return found


@cache
def served_routes() -> tuple[tuple[str, frozenset[str]], ...]:
    """The OpenAPI schema's operations, and the routes left out of it (pages, /docs)."""
    from api.app import create_app

    app = create_app()
    routes = {
        path: {method.upper() for method in operations}
        for path, operations in app.openapi()["paths"].items()
    }
    for path, methods in _walk(app.routes):
        routes.setdefault(path, set()).update(methods)
    return tuple((path, frozenset(methods)) for path, methods in routes.items())


_WILD = "\0"  # a parameter or variable part of a documented path


def _segments(path: str) -> list[str]:
    return [
        _WILD if ("$" in part or part.startswith("{") or part.startswith("<")) else part
        for part in path.strip("/").split("/")
    ]


def route_exists(method: str, path: str) -> bool:
    """``path`` as the docs write it: ``{id}``, ``$VAR`` and ``<...>`` parts are parameters, a
    leading ``...`` names the end of a path, a trailing ``/...`` its beginning. ``method`` "*"
    is any method (a page named without one)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    tail_only, head_only = path.startswith("..."), path.endswith("/...")
    wanted = _segments(path.removeprefix("...").removesuffix("/..."))

    def same(have: list[str]) -> bool:
        # A route's parameter takes any part; a parameter in the docs only a parameter.
        return len(have) == len(wanted) and all(
            h == w or (h == _WILD and w != "") for h, w in zip(have, wanted, strict=True)
        )

    for route, methods in served_routes():
        if not (method == "*" or method in methods or "*" in methods):
            continue
        have = _segments(route.removesuffix("/..."))
        if route.endswith("/..."):  # a mount serves everything under its path
            if wanted[: len(have)] == have and len(wanted) > len(have):
                return True
            continue
        if tail_only and len(have) >= len(wanted) and same(have[len(have) - len(wanted) :]):
            return True
        if head_only and len(have) > len(wanted) and same(have[: len(wanted)]):
            return True
        if not (tail_only or head_only) and same(have):
            return True
    return False


_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`([^`\n]+)`")
_METHOD_PATH = re.compile(
    rf"\b({'|'.join(METHODS)})(?:`?/`?(?:{'|'.join(METHODS)}))*`? +`?((?:\.\.\.)?/[^\s`'\")\]]*)"
)
_ASSIGN = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=\"?\$API(/[^\s\"']*)")
# The demo's or a local deployment's address written out (not the shown outputs' patterns).
_LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):\d+(/[^\s\"'`)<>]*)")


def _api_paths(command: str, variables: dict[str, str]) -> list[str]:
    """Paths a shell command asks the API for: ``$API/...`` and ``$VAR/...`` for a variable
    assigned ``$API/...`` before."""
    found = []
    for match in re.finditer(r"\$\{?(API|[A-Za-z_][A-Za-z0-9_]*)\}?(/[^\s\"')]*)?", command):
        name, rest = match.group(1), match.group(2) or ""
        if name == "API":
            base = ""
        elif name in variables:
            base = variables[name]
        else:
            continue
        path = base + rest
        if path:
            found.append(path)
    return found


def _curl_method(command: str) -> str:
    explicit = re.search(r"(?:-X|--request)\s+([A-Z]+)", command)
    if explicit:
        return explicit.group(1)
    if re.search(r"\s(-d|--data|--data-binary|--data-raw|--json|-F)\s", command):
        return "POST"
    return "GET"


def documented_routes() -> list[tuple[str, str, str]]:
    """(page, method, path) for every route a code block or inline code span names."""
    found = []
    for page in PAGES:
        text = _text(page)
        for block in _FENCED.findall(text):
            variables: dict[str, str] = {}
            for command in re.sub(r"\\\n", " ", block).splitlines():
                code = command.split(" # ", 1)[0] if not command.lstrip().startswith("#") else ""
                for match in _ASSIGN.finditer(code):
                    variables[match.group(1)] = match.group(2)
                asks = _ASSIGN.sub("", code)
                method = _curl_method(asks)
                found += [(page.name, method, path) for path in _api_paths(asks, variables)]
                found += [(page.name, method, path) for path in _LOCAL_URL.findall(asks)]
                found += [(page.name, m, p) for m, p in _METHOD_PATH.findall(command)]
        prose = _FENCED.sub("", text)
        found += [(page.name, "*", path.rstrip(".,;")) for path in _LOCAL_URL.findall(prose)]
        for span in _INLINE.findall(prose):
            for method, path in _METHOD_PATH.findall(span):
                found.append((page.name, method, path))
            if re.fullmatch(r"/[a-z][^\s]*", span) and not span.startswith(("/usr", "/etc")):
                found.append((page.name, "*", span))  # a page or path named without a method
    return found


def test_every_route_the_docs_name_is_served() -> None:
    named = documented_routes()
    assert len({path for _, _, path in named}) > 60, "fewer routes found than the docs name"
    missing = sorted({(page, m, p) for page, m, p in named if not route_exists(m, p)})
    assert missing == []


@pytest.mark.parametrize(
    ("method", "path", "served"),
    [
        ("GET", "/spaces/$SPACE", True),
        ("POST", "/spaces/{id}/finish", True),
        ("GET", "/spaces/{id}/finish", False),
        ("PUT", "/spaces/$LIVE/participants/alice/chunks/0", True),
        ("POST", ".../participants/{p}/join", True),
        ("GET", "/media/episodes/...", True),
        ("GET", "/e/{episode}/cut", True),
        ("GET", "/spaces/{id}/lanterns", False),
        ("DELETE", "/shows/{id}", False),
    ],
)
def test_route_matching_refuses_what_is_not_served(method: str, path: str, served: bool) -> None:
    assert route_exists(method, path) is served


# Links and commands ------------------------------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_links_between_pages_resolve() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", _text(page)):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", _text(linked), flags=re.M)
                if anchor not in {_anchor(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = _text(ROOT / ".ci" / "run")
    command = re.search(r"^exec (.+)$", ci, flags=re.M).group(1)
    readme_commands = [
        line.strip()
        for _, block in shell_blocks(_text(ROOT / "README.md"))
        for line in block.splitlines()
    ]
    assert command in readme_commands
    assert "scripts/demo.sh" in readme_commands


def test_the_readme_stays_a_newcomers_page() -> None:
    assert len(_text(ROOT / "README.md").splitlines()) <= 180


def test_the_walkthrough_shows_outputs_for_every_role() -> None:
    steps = steps_of(_text(ROOT / "docs" / "api.md"))
    code = "".join(step.code for step in steps)
    for role in ("as_admin", "as_host", "as_listener", "as_mod", "as_room", "as_recorder"):
        assert f"{role}()" in code and f"{role} " in code.split(f"{role}()", 1)[1], role
    assert "alias " not in code, "an alias would carry one role's key into every later call"
    assert sum(len(step.shown) for step in steps) >= 60


# The reading of shown outputs --------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "printed", "matches"),
    [
        ('{"status": "published"}', '{"status":"published"}', True),
        ('{"status": "published"}', '{"status":"failed"}', False),
        ('{"status": "published"}', '{"status":"published","error":null}', False),
        ('{"status": "published", ...}', '{"status":"published","error":null}', True),
        ('{"id": ..., "n": 2}', '{"id":"x","n":2}', True),
        ('{"id": ..., "n": 2}', '{"id":"x","n":3}', False),
        ('{"token": "sc_..."}', '{"token":"sc_abc"}', True),
        ('{"token": "sc_..."}', '{"token":"xx_abc"}', False),
        ('{"start_s": 12.0}', '{"start_s":12}', True),
        ('{"ok": true}', '{"ok":1}', False),
        ('["a", "b"]', '["a","b","c"]', False),
        ('["a", ...]', '["a","b","c"]', True),
        ('{"speakers": [...]}', '{"speakers":[]}', True),
        ("[]", "[]", True),
        ("[]", '["x"]', False),
        ("409", "409", True),
        ("409", "422", False),
        ("<v Alice>", "<v Alice>", True),
        ("http://127.0.0.1:.../c/...", "http://127.0.0.1:8000/c/abc", True),
        ('{"a": 1}', "not json", False),
    ],
)
def test_a_shown_line_matches_only_what_it_shows(shown: str, printed: str, matches: bool) -> None:
    assert line_matches(shown, printed) is matches


def test_shown_lines_must_account_for_every_printed_line() -> None:
    assert output_matches(["409"], ["{}", "409"]) is False
    assert output_matches(["...", "409"], ["{}", "409"]) is True
    assert output_matches(["...", "409"], ["{}"]) is False
    assert output_matches(["a", "b"], ["a"]) is False


def test_steps_end_after_the_output_they_show() -> None:
    page = (
        "text\n```sh\nX=1\necho $X\n# -> 1\n#     continued\necho two\n"
        "# -> two\ntrue\n```\n```text\nnot run\n```\n"
    )
    steps = steps_of(page)
    assert [(s.code, s.shown) for s in steps] == [
        ("X=1\necho $X\n", ["1 continued"]),
        ("echo two\n", ["two"]),
        ("true\n", []),
    ]
    assert steps[0].line == 3
