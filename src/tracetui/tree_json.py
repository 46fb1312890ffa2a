"""A step tree as nested, indented JSON, written without recursion.

`tracetui show --json` nests each step's children inside it. A run can nest 10,000 steps deep:
JSON encoders recurse (and give up past a few hundred levels), and two spaces of indentation per
level make the text grow with the square of the depth. Here each step is encoded on its own (by the
caller's `dumps`, so every value is escaped the same way as the rest of the output) and the pieces
are put together from an explicit stack. Indentation stops growing after display.MAX_NESTING levels:
whitespace only, so the JSON means exactly what it would fully indented.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from . import display
from .model import Step

Dumps = Callable[[Any], str]  # a value as JSON indented by two spaces per level (orjson OPT_INDENT_2)


def _pad(level: int) -> str:
    return "  " * min(level, 2 * display.MAX_NESTING)


def dumps_with_tree(
    document: dict[str, Any],
    key: str,
    roots: Sequence[Step],
    step_fields: Callable[[Step], dict[str, Any]],
    dumps: Dumps,
    *,
    children_key: str = "children",
) -> str:
    """`document` as JSON with `roots` at `key`: each step as step_fields(step) plus its children."""
    # A placeholder no input can contain: a value in the data equal to it would be taken for it.
    mark = f"tracetui-{secrets.token_hex(16)}"
    token = dumps(mark)
    before, after = dumps({**document, key: mark}).split(token)
    parts: list[str] = [before]
    # Items: text to write, or (steps, level) — a list whose opening bracket sits at `level`.
    stack: list[str | tuple[Sequence[Step], int]] = [after, (roots, 1)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        steps, level = item
        if not steps:
            parts.append("[]")
            continue
        pad = _pad(level + 1)
        todo: list[str | tuple[Sequence[Step], int]] = ["[\n"]
        for i, step in enumerate(steps):
            head, tail = dumps({**step_fields(step), children_key: mark}).split(token)
            todo.append((",\n" if i else "") + pad + head.replace("\n", "\n" + pad))
            todo.append((step.children, level + 2))
            todo.append(tail.replace("\n", "\n" + pad))
        todo.append("\n" + _pad(level) + "]")
        stack.extend(reversed(todo))
    return "".join(parts)


def pretty_deep(value: Any) -> str:
    """Any JSON value indented by two spaces a level, like orjson's OPT_INDENT_2, at any depth.

    For what orjson refuses (deeper than 254 levels): an explicit stack, indentation that stops
    growing after 2 * display.MAX_NESTING levels, non-JSON values as their str() (like default=str).
    """
    import json

    def scalar(item: Any) -> str:
        if isinstance(item, float) and not math.isfinite(item):
            return "null"  # as orjson writes them
        if isinstance(item, int) and not isinstance(item, bool):
            try:
                return str(item)
            except ValueError:  # more digits than Python writes out
                return json.dumps(f"an integer of {item.bit_length()} bits")
        if item is None or isinstance(item, (bool, float, str)):
            return json.dumps(item, ensure_ascii=False)
        return json.dumps(str(item), ensure_ascii=False)

    parts: list[str] = []
    # Items: text to write, or (value, level) for a value whose first line is already indented.
    stack: list[str | tuple[Any, int]] = [(value, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        current, level = item
        if isinstance(current, dict) and current:
            inner = "\n" + _pad(level + 1)
            todo: list[str | tuple[Any, int]] = ["{"]
            for i, (key, child) in enumerate(current.items()):
                todo.append(("," if i else "") + inner + scalar(key if isinstance(key, str) else str(key)) + ": ")
                todo.append((child, level + 1))
            todo.append("\n" + _pad(level) + "}")
            stack.extend(reversed(todo))
        elif isinstance(current, (list, tuple)) and current:
            inner = "\n" + _pad(level + 1)
            todo = ["["]
            for i, child in enumerate(current):
                todo.append(("," if i else "") + inner)
                todo.append((child, level + 1))
            todo.append("\n" + _pad(level) + "]")
            stack.extend(reversed(todo))
        elif isinstance(current, dict):
            parts.append("{}")
        elif isinstance(current, (list, tuple)):
            parts.append("[]")
        else:
            parts.append(scalar(current))
    return "".join(parts)
