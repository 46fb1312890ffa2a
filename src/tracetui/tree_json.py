"""A step tree as nested, indented JSON, written without recursion.

`tracetui show --json` nests each step's children inside it. A run can nest 10,000 steps deep:
JSON encoders recurse (and give up past a few hundred levels), and two spaces of indentation per
level make the text grow with the square of the depth. Here each step is encoded on its own (by the
caller's `dumps`, so every value is escaped the same way as the rest of the output) and the pieces
are put together from an explicit stack. Indentation stops growing as jsonsafe.pad says:
whitespace only, so the JSON means exactly what it would fully indented.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from .jsonsafe import pad
from .model import Step

Dumps = Callable[[Any], str]  # a value as JSON indented by two spaces per level (jsonsafe.dumps(indent=True))


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
    mark = f"tracetui-{os.urandom(16).hex()}"  # (secrets.token_hex: its import costs every command ~2 ms)
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
        inner = pad(level + 1)
        todo: list[str | tuple[Sequence[Step], int]] = ["[\n"]
        for i, step in enumerate(steps):
            head, tail = dumps({**step_fields(step), children_key: mark}).split(token)
            todo.append((",\n" if i else "") + inner + head.replace("\n", "\n" + inner))
            todo.append((step.children, level + 2))
            todo.append(tail.replace("\n", "\n" + inner))
        todo.append("\n" + pad(level) + "]")
        stack.extend(reversed(todo))
    return "".join(parts)
