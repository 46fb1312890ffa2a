"""Payload text (inputs, outputs, errors) made readable: JSON decoded and pretty-printed, JSON that
arrived inside a string decoded too, long text cut to a preview. Shared by the viewer's detail pane
and the Markdown of a run (run_markdown.py); the viewer sends the full text to $PAGER
(tui/widgets/payload.py).

Payloads are hostile input: the shown and paged text always goes through display.safe(), and is
handed to rich as data (Text, Syntax), never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from . import display, jsonsafe

PREVIEW_CHARS = display.PAYLOAD_PREVIEW
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

    def describe(self, *, preview: bool = True) -> str:
        """ "1.2 KB, JSON, 2 JSON strings inside decoded, preview": "preview" when the viewer cuts it."""
        parts = [display.size_text(self.size)]
        parts.append("JSON" if self.is_json else "text")
        parts.extend(self.notes)
        if preview and self.cut:
            parts.append("preview")
        return ", ".join(parts)

    def rest(self, shown: str) -> str:
        """What showing only `shown` (the start of the text) leaves out: "12.3 KB more (345 more lines)"."""
        more_lines = self.lines - shown.count("\n") - 1
        return f"{display.size_text(len(self.text) - len(shown))} more ({more_lines:,} more lines)"

    def renderable(self, style: str = "") -> RenderableType:
        shown = self.preview()
        if self.is_json:
            body: RenderableType = Syntax(shown, "json", theme="ansi_dark", word_wrap=True, background_color="default")
        else:
            body = Text(shown, style=style)
        if not self.cut:
            return body
        more = Text(
            f"… cut: {self.rest(shown)} — press o to open the full text in the pager",
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
