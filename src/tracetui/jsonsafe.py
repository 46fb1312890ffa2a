"""JSON in and out for values from untrusted files: never an exception, never a silent loss.

orjson does the work whenever it can (the hot path pays nothing). What it refuses, this module
repairs on a slow path:

- writing (dumps, compact or indented like orjson's OPT_INDENT_2): values nested deeper than
  orjson's 254 levels, integers beyond 64 bits, text with lone surrogates (kept as the visible text
  ``\\udfff``) — written by an iterative writer, so any depth is fine and the result is always JSON,
  never a Python repr. Its indentation stops growing after 2 * display.MAX_NESTING levels
  (whitespace only: the JSON means the same), so the text grows with the value, not its depth squared;
- reading (loads): lone surrogate escapes (kept as the text ``\\udfff``), bytes that are not UTF-8
  (kept as the text ``\\xff``), raw control characters in strings (escaped), NaN / Infinity and
  numbers too large for a double (kept as strings), values nested deeper than orjson's 1024 levels
  (built by an iterative reader instead; only below MAX_DEPTH is a value kept as its JSON text).
  Each repair is returned as a note for the caller to report against the line it came from.
- output (for_output): JSON for a terminal or a pipe, with DEL and the C1 controls escaped
  (``\\u009b``) like orjson escapes C0, so no byte of it is a terminal control.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from . import display

# orjson reads 1024 levels; deeper values are built by _build, iteratively, up to MAX_DEPTH levels.
# Below that a value is kept as its JSON text: memory is bounded, nothing is dropped.
MAX_DEPTH = 100_000

_OPTIONS = orjson.OPT_NON_STR_KEYS


# -- writing --------------------------------------------------------------------------------------


def dumps(value: Any, *, indent: bool = False) -> str:
    """JSON text of any value (indented by two spaces a level with indent); types JSON lacks as their str()."""
    try:
        return orjson.dumps(value, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0), default=str).decode()
    except TypeError:  # orjson.JSONEncodeError: too deep, too big an integer, a lone surrogate
        return _careful_dumps(value, indent)


def dumps_bytes(value: Any, *, indent: bool = False) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTIONS | (orjson.OPT_INDENT_2 if indent else 0), default=str)
    except TypeError:
        return _careful_dumps(value, indent).encode()


def for_output(value: Any, *, indent: bool = False) -> bytes:
    """JSON for stdout or a file a person may `cat`: as dumps(), and no DEL or C1 byte left raw."""
    return escape_controls(dumps_bytes(value, indent=indent))


_RAW_CONTROL = re.compile(rb"\x7f|\xc2[\x80-\x9f]")


def escape_controls(data: bytes) -> bytes:
    """DEL and C1 controls (raw in JSON text, which escapes only C0) as \\u escapes; they only occur in strings."""
    if _RAW_CONTROL.search(data) is None:
        return data
    return _RAW_CONTROL.sub(lambda m: b"\\u%04x" % ord(m.group().decode()), data)


def quoted(value: Any) -> str:
    """An untrusted value for a message, the one way messages quote one: text between quotes as the
    viewer shows text (bytes that are not UTF-8 as \\xNN, lone surrogates as \\udXXX, control, bidi and
    zero-width characters made visible, on one line), anything else as repr() writes it.

    Not repr() for text: it escapes a backslash again, so a value shown with \\xNN, or holding a
    backslash, read with two in every message (a message is shown as it is, made safe where shown)."""
    if not isinstance(value, str):
        return repr(value)
    return "'" + display.safe(visible_surrogates(value), single_line=True) + "'"


def short(value: Any, limit: int = 40) -> str:
    """An untrusted value for a message: quoted() of a scalar, JSON of a container (repr may recurse), cut to limit."""
    if isinstance(value, (dict, list, tuple)):
        text = dumps(value)
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        text = f"<an integer of {value.bit_length()} bits>"
    else:
        text = quoted(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    """Whether text holds surrogates: bytes that are not UTF-8 (surrogateescape), or lone ones."""
    return _SURROGATE.search(text) is not None


def visible_surrogates(text: str) -> str:
    """Lone surrogates (which UTF-8 cannot hold) as the text \\udXXX; bytes escaped by surrogateescape as \\xNN."""

    def show(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATE.sub(show, text)


_VISIBLE_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


def hidden_bytes(text: str) -> bytes | None:
    """The bytes text stood for before visible_surrogates showed some as \\xNN (UTF-8 around them);
    None when it shows none. How text that is not UTF-8 is found again by what was shown of it."""
    parts = _VISIBLE_BYTE.split(text) if "\\x" in text else []
    if len(parts) < 2:
        return None
    try:
        return b"".join(bytes([int(part, 16)]) if n % 2 else part.encode() for n, part in enumerate(parts))
    except UnicodeEncodeError:  # text that still holds surrogates was never shown by visible_surrogates
        return None


_SHOWN_ESCAPE = re.compile(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}")


def unshown(text: str) -> list[str | bytes]:
    """What else text may be, typed as the viewer shows it (most likely first): with the characters
    display.safe shows escaped (control, bidi, zero-width: `\\x1b`, `\\u202e`) put back, and as bytes
    where it shows ones that are not UTF-8 (`\\xff`, as visible_surrogates does; `\\x80`-`\\x9f` are C1
    characters or such bytes). [] when it shows neither. How an id is found by what was shown of it."""
    if "\\" not in text:
        return []

    def put_back(match: re.Match, keep_bytes: bool = False) -> str:
        char = chr(int(match.group()[2:], 16))
        if keep_bytes and 0x80 <= ord(char) <= 0xFF:
            return match.group()  # for hidden_bytes
        return char if display.made_visible(char) == match.group() else match.group()

    found: list[str | bytes] = []
    chars = _SHOWN_ESCAPE.sub(put_back, text)
    if chars != text:
        found.append(chars)
    raw = hidden_bytes(_SHOWN_ESCAPE.sub(lambda m: put_back(m, keep_bytes=True), text))
    if raw is not None:
        found.append(raw)
    return found


def _string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except TypeError:
        return orjson.dumps(visible_surrogates(text)).decode()


def _key(key: Any) -> str:
    """A key as orjson's OPT_NON_STR_KEYS writes it: null, true and false as words, numbers as digits."""
    if isinstance(key, str):
        return _string(key)
    if key is None or isinstance(key, bool):
        return f'"{orjson.dumps(key).decode()}"'
    return _string(str(key))


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return str(value)  # any size: JSON numbers have no limit (orjson reads the big ones as floats)
        except ValueError:  # more digits than Python will write out
            return _string(f"an integer of {value.bit_length()} bits")
    try:
        return orjson.dumps(value, option=_OPTIONS, default=str).decode()
    except TypeError:
        return _string(str(value))


class _Token(str):
    """Punctuation queued by the careful writer (a str subclass, so it is told apart from values)."""


def pad(level: int) -> str:
    """Indentation of a value `level` levels deep: two spaces a level, growing no further after
    2 * display.MAX_NESTING levels (whitespace only: the JSON means the same, and its text grows with
    the value, not with the square of its depth)."""
    return "  " * min(level, 2 * display.MAX_NESTING)


def _newline(level: int) -> str:
    return "\n" + pad(level)


def _careful_dumps(value: Any, indent: bool = False) -> str:
    """What orjson would write (compact, or as OPT_INDENT_2 with indent), without its limits: iterative."""
    out: list[str] = []
    todo: list[Any] = [(value, 0)]  # punctuation (_Token) or (a value, its nesting level)
    colon = ": " if indent else ":"
    while todo:
        item = todo.pop()
        if type(item) is _Token:
            out.append(item)
            continue
        current, level = item
        inner = _newline(level + 1) if indent else ""
        if isinstance(current, dict) and current:
            todo.append(_Token((_newline(level) if indent else "") + "}"))
            pairs = list(current.items())
            for n in range(len(pairs) - 1, -1, -1):
                key, child = pairs[n]
                todo.append((child, level + 1))
                todo.append(_Token(("," if n else "") + inner + _key(key) + colon))
            out.append("{")
        elif isinstance(current, (list, tuple)) and current:
            todo.append(_Token((_newline(level) if indent else "") + "]"))
            for n in range(len(current) - 1, -1, -1):
                todo.append((current[n], level + 1))
                todo.append(_Token(("," if n else "") + inner))
            out.append("[")
        elif isinstance(current, dict):
            out.append("{}")
        elif isinstance(current, (list, tuple)):
            out.append("[]")
        else:
            out.append(_scalar(current))
    return "".join(out)


# -- reading --------------------------------------------------------------------------------------


def loads(raw: bytes | str) -> tuple[Any, list[str]]:
    """The JSON value of raw, repaired where it can be, and what was repaired (empty on the fast path).

    Raises orjson.JSONDecodeError (a ValueError) when raw is not JSON even after the repairs.
    """
    try:
        return orjson.loads(raw), []
    except orjson.JSONDecodeError as exc:
        first_error = exc
    text, notes = _repaired(raw)
    if notes:
        try:
            return orjson.loads(text), notes
        except orjson.JSONDecodeError as exc:
            first_error = exc
    if "depth" not in str(first_error):
        raise first_error
    cut = cut_depth(text, MAX_DEPTH)
    if cut is not None:
        notes.append(f"nested deeper than {MAX_DEPTH} levels: what lies below kept as JSON text")
        text = cut
    try:
        return _build(text), notes
    except ValueError:
        raise first_error from None


def _repaired(raw: bytes | str) -> tuple[str, list[str]]:
    """raw as text with what orjson refuses and can be kept made readable, and notes of what was."""
    notes: list[str] = []
    # Bytes that are not UTF-8 (escaped as surrogates by surrogateescape, here or by whoever made
    # the str) become the text \xNN; other surrogates in a str, the text \udXXX.
    text = raw.decode("utf-8", errors="surrogateescape") if isinstance(raw, bytes) else raw
    if _SURROGATE.search(text):
        notes.append("bytes that are not UTF-8 kept as the text \\xNN")
        text = _SURROGATE.sub(_json_visible, text)
    repairs = (
        (_LONE_ESCAPE, _lone_escape, "unpaired surrogate escapes kept as the text \\udXXX"),
        (_RAW_C0, _raw_c0, "raw control characters in strings escaped"),
        (_TOKEN, _bad_number, "NaN, Infinity or numbers too large for a double kept as strings"),
    )
    for pattern, fix, note in repairs:
        fixed = pattern.sub(fix, text)
        if fixed != text:
            notes.append(note)
            text = fixed
    return text, notes


def _json_visible(match: re.Match) -> str:
    """visible_surrogates() inside a JSON string: the backslash escaped, so that it reads back as text."""
    return "\\" + visible_surrogates(match.group())


_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
# Every escape in order, so an escaped backslash is never mistaken for the start of one.
_LONE_ESCAPE = re.compile(
    r"\\(u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[dD][89a-fA-F][0-9a-fA-F]{2}|.)"
)


def _lone_escape(match: re.Match) -> str:
    escape = match.group(1)
    if len(escape) == 5:  # a surrogate escape without its partner: keep it as text
        return "\\\\" + escape
    return match.group()


_RAW_C0 = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _raw_c0(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


# Strings are matched whole so that what looks like a number inside one is left alone.
_TOKEN = re.compile(_STRING + r"|(-?(?:NaN|Inf(?:inity)?)|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)", re.S)


def _bad_number(match: re.Match) -> str:
    token = match.group(1)
    if token is None:
        return match.group()
    if "N" in token or "I" in token or float(token) in (float("inf"), float("-inf")):
        return f'"{token}"'
    return token


_STRUCTURE = re.compile(_STRING + r"|[\[\]{}]", re.S)


def cut_depth(text: str, limit: int) -> str | None:
    """text with every value nested deeper than limit replaced by its JSON text as a string; None if none is."""
    depth = 0
    cuts: list[tuple[int, int]] = []
    start = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth == limit + 1:
                start = match.start()
        elif token in "]}":
            if depth == limit + 1:
                cuts.append((start, match.end()))
            depth -= 1
    if not cuts:
        return None
    out, last = [], 0
    for begin, end in cuts:
        out += [text[last:begin], orjson.dumps(text[begin:end]).decode()]
        last = end
    out.append(text[last:])
    return "".join(out)


_BUILD_TOKEN = re.compile(r"[ \t\r\n]*(?:(" + _STRING + r')|([\[\]{}:,])|([^ \t\r\n\[\]{}:,"]+))?', re.S)
_NOTHING = object()


def _build(text: str) -> Any:
    """JSON text to its value, iteratively: for values nested deeper than orjson reads. Raises ValueError."""
    stack: list[Any] = []  # the open containers
    keys: list[Any] = []  # the key waiting for its value in each open object
    root: Any = _NOTHING
    expect = "value"  # value, item (a value or ']'), key, member (a key or '}'), colon, next (',' or the close)
    pos, end = 0, len(text)

    def put(value: Any) -> None:
        nonlocal root
        if not stack:
            root = value
        elif type(stack[-1]) is list:
            stack[-1].append(value)
        else:
            stack[-1][keys[-1]] = value

    while True:
        match = _BUILD_TOKEN.match(text, pos)
        assert match is not None  # everything after the whitespace is optional: it always matches
        pos = match.end()
        string, punct, scalar = match.groups()
        if string is None and punct is None and scalar is None:
            if pos < end:
                raise ValueError(f"unexpected character at {pos}")
            if stack or root is _NOTHING:
                raise ValueError("the text ends inside a value")
            return root
        if root is not _NOTHING and not stack:
            raise ValueError(f"more after the value at {match.start()}")
        if expect in ("key", "member") and string is not None:
            keys[-1] = orjson.loads(string)
            expect = "colon"
        elif expect == "colon" and punct == ":":
            expect = "value"
        elif expect == "next" and punct == ",":
            expect = "value" if type(stack[-1]) is list else "key"
        elif (expect == "next" or expect == "item") and punct == "]" and type(stack[-1]) is list:
            stack.pop(), keys.pop()
            expect = "next"
        elif (expect == "next" or expect == "member") and punct == "}" and type(stack[-1]) is dict:
            stack.pop(), keys.pop()
            expect = "next"
        elif expect in ("value", "item") and punct in ("[", "{"):
            container: Any = [] if punct == "[" else {}
            put(container)
            stack.append(container)
            keys.append(None)
            expect = "item" if punct == "[" else "member"
        elif expect in ("value", "item") and (string is not None or scalar is not None):
            put(orjson.loads(string if string is not None else scalar))
            expect = "next"
        else:
            raise ValueError(f"unexpected {quoted(match.group().strip())} at {match.start()}")
