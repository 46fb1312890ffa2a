"""Payload text (inputs, outputs, errors) made readable: JSON decoded and pretty-printed, JSON that
arrived inside a string decoded too, long text cut to a preview, the full text sent to $PAGER.

Payloads are hostile input: the shown and paged text always goes through display.safe(), and is
handed to rich as data (Text, Syntax), never as markup.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from ... import display, jsonsafe

PREVIEW_CHARS = 4096
PREVIEW_LINES = 200
# A string inside a JSON value is decoded when it is itself JSON, this many levels deep.
NESTED_LEVELS = 2
DECODE_DEPTH = 64  # strings nested deeper than this in a value are not looked into


def _loads(text: str) -> tuple[bool, Any]:
    """(True, the value) when text is JSON as it is (any depth); JSON that needs repairs is shown as it came."""
    try:
        value, repairs = jsonsafe.loads(text)
    except ValueError:
        return False, None
    return (False, None) if repairs else (True, value)


def _looks_like_json(text: str) -> bool:
    s = text.lstrip()[:1]
    return s in ("{", "[", '"')


def _decode_strings(value: Any, levels: int, depth: int = 0) -> tuple[Any, int]:
    """Decode string values that hold a JSON object or array; returns (value, strings decoded).

    Only in the top DECODE_DEPTH levels: a value nested thousands deep is left as it is below
    them (and this recursion stays bounded)."""
    if levels <= 0 or depth >= DECODE_DEPTH:
        return value, 0
    if isinstance(value, dict):
        out, n = {}, 0
        for k, v in value.items():
            out[k], m = _decode_strings(v, levels, depth + 1)
            n += m
        return out, n
    if isinstance(value, list):
        items, n = [], 0
        for v in value:
            item, m = _decode_strings(v, levels, depth + 1)
            items.append(item)
            n += m
        return items, n
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        ok, inner = _loads(value)
        if ok and isinstance(inner, (dict, list)):
            inner, m = _decode_strings(inner, levels - 1, depth + 1)
            return inner, m + 1
    return value, 0


@dataclass
class Payload:
    """A payload ready to show: full safe text, whether it is JSON, and how it was decoded."""

    text: str
    is_json: bool
    size: int  # characters of the raw payload
    notes: tuple[str, ...] = ()

    @property
    def lines(self) -> int:
        return self.text.count("\n") + 1

    @property
    def cut(self) -> bool:
        return len(self.text) > PREVIEW_CHARS or self.lines > PREVIEW_LINES

    def preview(self) -> str:
        text = self.text
        if not self.cut:
            return text
        head = text[:PREVIEW_CHARS]
        lines = head.split("\n")[:PREVIEW_LINES]
        return "\n".join(lines)

    def describe(self) -> str:
        parts = [display.size_text(self.size)]
        parts.append("JSON" if self.is_json else "text")
        parts.extend(self.notes)
        if self.cut:
            parts.append("preview")
        return ", ".join(parts)

    def renderable(self, style: str = "") -> RenderableType:
        shown = self.preview()
        if self.is_json:
            body: RenderableType = Syntax(shown, "json", theme="ansi_dark", word_wrap=True, background_color="default")
        else:
            body = Text(shown, style=style)
        if not self.cut:
            return body
        rest = len(self.text) - len(shown)
        more = Text(
            f"… cut: {display.size_text(rest)} more ({self.lines - shown.count(chr(10)) - 1:,} more lines)"
            " — press o to open the full text in the pager",
            style="italic yellow",
        )
        return Group(body, more)


def make_payload(raw: Any) -> Payload | None:
    """None when there is nothing to show."""
    if raw is None:
        return None
    notes: list[str] = []
    size: int
    if not isinstance(raw, str):
        value, is_json = raw, True
        size = len(jsonsafe.dumps_bytes(raw))
    else:
        size = len(raw)
        if raw == "":
            return Payload("(empty)", False, 0)
        value, is_json = raw, False
        if _looks_like_json(raw):
            ok, decoded = _loads(raw)
            levels = 0
            while ok and isinstance(decoded, str) and levels < NESTED_LEVELS and _looks_like_json(decoded):
                ok2, inner = _loads(decoded)
                if not ok2:
                    break
                decoded, levels = inner, levels + 1
            if ok:
                value, is_json = decoded, not isinstance(decoded, str)
                if levels:
                    notes.append("decoded from a JSON string" + (f" ×{levels}" if levels > 1 else ""))
    if is_json:
        value, nested = _decode_strings(value, NESTED_LEVELS)
        if nested:
            notes.append(f"{nested} JSON string{'s' if nested != 1 else ''} inside decoded")
        text = pretty_json(value)
    else:
        text = value if isinstance(value, str) else str(value)
    return Payload(display.safe(text), is_json, size, tuple(notes))


def pretty_json(value: Any) -> str:
    return jsonsafe.dumps(value, indent=True)  # any depth, integers beyond 64 bits, lone surrogates


# Tried in order when $PAGER is unset; with none of them installed the viewer shows the text itself.
DEFAULT_PAGERS = ("less", "more")


class NoPager(Exception):
    """$PAGER is unset and no default pager is installed: show the text in the viewer instead."""


def pager_command() -> list[str]:
    """$PAGER split like a shell would, its program resolved to a path; else the first installed of
    DEFAULT_PAGERS. Raises NoPager, or OSError naming a $PAGER that cannot be run."""
    configured = os.environ.get("PAGER") or ""
    try:
        command = shlex.split(configured)
    except ValueError as exc:  # unbalanced quotes
        raise OSError(f"cannot read $PAGER {configured!r}: {exc}") from None
    if not command:
        for name in DEFAULT_PAGERS:
            found = shutil.which(name)
            if found:
                return [found]
        raise NoPager
    found = shutil.which(command[0])
    if found is None:
        raise OSError(f"pager not found: {command[0]} (set $PAGER)")
    return [found, *command[1:]]


def open_in_pager(app, text: str) -> str | None:
    """Show text in the pager with the app suspended. Returns an error message, or None.

    The pager is found before the app suspends: a suspended app only comes back when the `with`
    block ends normally, so nothing may raise inside it. Raises NoPager when there is none.
    """
    from textual.app import SuspendNotSupported

    try:
        command = pager_command()
    except OSError as exc:
        return str(exc)
    fd, path = tempfile.mkstemp(prefix="tracetui-", suffix=".txt")
    failure: str | None = None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        try:
            with app.suspend():
                try:
                    subprocess.call([*command, path])
                except OSError as exc:  # found but cannot be run (a bad #! line, no permission)
                    failure = f"pager failed: {command[0]}: {exc.strerror or exc}"
        except SuspendNotSupported:
            return "this terminal cannot hand over to a pager"
        return failure
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
