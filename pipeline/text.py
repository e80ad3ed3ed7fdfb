"""What Spacecast accepts as text from people: names, titles and descriptions end up in feeds
(XML), pages, transcripts and the database, so characters that break any of them, or that change
how the text around them is displayed, are refused at the edge with a message naming them.

Refused everywhere: control characters (except tab, line feed and carriage return in multi-line
text), Unicode noncharacters (U+FFFE, U+FFFF, U+FDD0-U+FDEF and their plane twins), lone
surrogates, and the bidirectional embedding, override and isolate controls (U+202A-U+202E,
U+2066-U+2069), which can make a name read backwards on a moderator's page. Right-to-left text
itself is welcome; only the invisible controls that reorder it are refused.
"""

from __future__ import annotations

import unicodedata

_LINE_BREAKS = {"\t", "\n", "\r"}
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def refused_character(char: str, *, multiline: bool) -> str | None:
    """Why ``char`` is refused in text, or None when it is fine."""
    code = ord(char)
    if char in _LINE_BREAKS:
        return None if multiline else "a line break or tab"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a control character"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate (not a character)"
    if _is_noncharacter(code):
        return "a Unicode noncharacter"
    if char in _BIDI_CONTROLS:
        return "a bidirectional override, which can make the text display in another order"
    return None


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """A message naming the first refused character of ``value``, or None when it is clean."""
    for index, char in enumerate(value):
        why = refused_character(char, multiline=multiline)
        if why:
            name = unicodedata.name(char, "") if not 0xD800 <= ord(char) <= 0xDFFF else ""
            label = f"U+{ord(char):04X}" + (f" {name}" if name else "")
            return f"contains {label} at position {index}, {why}"
    return None


def refused_class(*, multiline: bool = False) -> str:
    """The refused characters as the body of a regular-expression character class, in the
    ``\\uXXXX`` / ``\\UXXXXXXXX`` escapes Python's ``re``, Rust's ``regex`` (pydantic) and
    JSON Schema tools all read; for schemas that must say what the API accepts. Lone surrogates
    are left out (no regex engine of those can name them; the check refuses them anyway)."""
    controls = r"\u0000-\u0008\u000B\u000C\u000E-\u001F" if multiline else r"\u0000-\u001F"
    planes = "".join(f"\\U{plane:04X}FFFE-\\U{plane:04X}FFFF" for plane in range(1, 17))
    return controls + r"\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFDD0-\uFDEF\uFFFE\uFFFF" + planes


def xml_safe(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot hold (for text stored before the edge
    refused them, or arriving from a source that does not go through it)."""
    return "".join(
        char
        for char in value
        if char in _LINE_BREAKS
        or (0x20 <= ord(char) <= 0xD7FF)
        or (0xE000 <= ord(char) <= 0xFFFD)
        or ord(char) >= 0x10000
    )
