"""Reading an executable page: its shell blocks, split into steps at the outputs the page shows,
and the matching of a shown output against what a command printed.

A page shows a command's output as comments right after it, one per output line:

    as_host $API/spaces/$SPACE | jq -c '{status}'
    # -> {"status": "published"}

A shown line that is JSON matches a printed JSON line with the same keys and values (``...`` as
a member: more keys may follow; as a value: any value; inside a string: any text). Any other
shown line matches the printed line as text, ``...`` standing for any text. A shown line that
is only ``...`` stands for any number of lines. A long shown line may continue on comment lines
indented by four or more spaces (``#     ...``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

SHOWN = "# -> "
_CONTINUED = re.compile(r"^#\s{4,}\S")
_FENCE = re.compile(r"^```(\S*)\s*$")
_ANY_LINES = "..."


@dataclass
class Step:
    """Shell lines run together, and the output the page shows for them (maybe none)."""

    block: int  # 1-based number of the shell block on the page
    line: int  # 1-based line of the page where the step starts
    code: str
    shown: list[str] = field(default_factory=list)


def shell_blocks(text: str, languages: tuple[str, ...] = ("sh", "bash")) -> list[tuple[int, str]]:
    """Every fenced block in one of ``languages``, in order, with the page line it starts on."""
    blocks, lines, current, start = [], text.splitlines(), None, 0
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if fence and current is None:
            current, start, language = [], number + 1, fence.group(1)
            continue
        if line.startswith("```") and current is not None:
            if language in languages:
                blocks.append((start, "\n".join(current) + "\n"))
            current = None
            continue
        if current is not None:
            current.append(line)
    return blocks


def steps_of(text: str) -> list[Step]:
    """The page's shell blocks cut into steps: a step ends after the output it shows."""
    steps: list[Step] = []
    for index, (first_line, block) in enumerate(shell_blocks(text), 1):
        code: list[str] = []
        shown: list[str] = []
        start = first_line
        lines = block.splitlines()
        for offset, line in enumerate(lines):
            if line.startswith(SHOWN):
                shown.append(line[len(SHOWN) :].strip())
            elif shown and _CONTINUED.match(line):
                shown[-1] += " " + line[1:].strip()
            else:
                if shown:
                    steps.append(Step(index, start, "\n".join(code) + "\n", shown))
                    code, shown, start = [], [], first_line + offset
                code.append(line)
        if shown or any(line.strip() for line in code):
            steps.append(Step(index, start, "\n".join(code) + "\n", shown))
    return steps


# Shown JSON: ``...`` outside strings becomes a marker the matcher understands.
_MORE = "\u2026more"
_ANY = "\u2026any"


def _parse_shown_json(shown: str) -> object:
    out, stack, in_string, escaped, i = [], [], False, False, 0
    previous = ""  # the last significant character outside strings
    while i < len(shown):
        char = shown[i]
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                previous = '"'
            i += 1
            continue
        if shown.startswith("...", i):
            if previous == ":":
                out.append(json.dumps(_ANY))
            elif stack and stack[-1] == "{":
                out.append(f"{json.dumps(_MORE)}: true")
            else:
                out.append(json.dumps(_MORE))
            previous = '"'
            i += 3
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
        if not char.isspace():
            previous = char
        out.append(char)
        i += 1
    return json.loads("".join(out))


def _glob(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


def json_matches(expected: object, actual: object) -> bool:
    if expected == _ANY:
        return True
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        more = expected.get(_MORE) is True
        keys = [k for k in expected if k != _MORE]
        if not more and set(actual) != set(keys):
            return False
        return all(k in actual and json_matches(expected[k], actual[k]) for k in keys)
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        if _MORE in expected:
            cut = expected.index(_MORE)
            head, tail = expected[:cut], expected[cut + 1 :]
            if len(actual) < len(head) + len(tail):
                return False
            rest = actual[len(actual) - len(tail) :] if tail else []
            return all(map(json_matches, head, actual[: len(head)])) and all(
                map(json_matches, tail, rest)
            )
        return len(actual) == len(expected) and all(map(json_matches, expected, actual))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if isinstance(expected, str) and isinstance(actual, str):
        return _glob(expected, actual) if "..." in expected else expected == actual
    return expected == actual


def line_matches(shown: str, printed: str) -> bool:
    """One shown output line against one printed line."""
    if shown[:1] in "{[":
        try:
            expected = _parse_shown_json(shown)
        except json.JSONDecodeError:
            expected = None
        if expected is not None:
            try:
                return json_matches(expected, json.loads(printed))
            except json.JSONDecodeError:
                return False
    return _glob(shown, printed.strip())


def output_matches(shown: list[str], printed: list[str]) -> bool:
    """The shown lines against every non-empty printed line; a shown ``...`` is any lines."""
    if not shown:
        return not printed
    head, rest = shown[0], shown[1:]
    if head == _ANY_LINES:
        return any(output_matches(rest, printed[i:]) for i in range(len(printed) + 1))
    return bool(printed) and line_matches(head, printed[0]) and output_matches(rest, printed[1:])


def driver_script(steps: list[Step], folder: Path) -> str:
    """A bash script that runs every step in one shell, in order, so variables and functions
    carry over as in a reader's terminal, each step's output kept in its own file. It stops at
    the first failing command (``set -euo pipefail``)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["set -euo pipefail"]
    for number, step in enumerate(steps, 1):
        (folder / f"{number:03}.sh").write_text(step.code)
        lines.append(f"echo {number} > {folder}/current")
        lines.append(
            f"source {folder}/{number:03}.sh > {folder}/{number:03}.out 2> {folder}/{number:03}.err"
        )
    lines.append(f"echo done > {folder}/current")
    return "\n".join(lines) + "\n"
