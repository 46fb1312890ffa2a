"""The README's keys table, made from the same bindings and sections as the `?` screen.

`python -m tracetui.tui.keys_table [README.md]` rewrites the table between the markers; a test
fails when the committed table differs from what this makes. Bindings sharing a `Binding.Group`
share a row, described by the group (as the footer would group them); any other binding gets a
row of its own, described by its tooltip or else its description.
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from .screens.help import SECTIONS, section_keys, shown_keys

START = "<!-- keys table: made by `python -m tracetui.tui.keys_table`, do not edit by hand -->"
END = "<!-- end of keys table -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _keys(binding: Binding, app: App[None]) -> str:
    return "/".join(f"`{key}`" for key in shown_keys(binding, app.get_key_display))


def _rows(bindings: list[Binding]) -> list[tuple[list[Binding], str]]:
    """Bindings in one group, wherever they are declared in the section, make one row at the first."""
    rows: list[tuple[list[Binding], str]] = []
    by_group: dict[Binding.Group, list[Binding]] = {}
    for binding in bindings:
        if binding.group is None:
            rows.append(([binding], binding.tooltip or binding.description or binding.action))
        elif binding.group in by_group:
            by_group[binding.group].append(binding)
        else:
            by_group[binding.group] = [binding]
            rows.append((by_group[binding.group], binding.group.description))
    return rows


def markdown_table() -> str:
    app: App[None] = App()  # only for get_key_display: keys shown as the footer and the `?` screen show them
    lines = ["| where | keys | what |", "|---|---|---|"]
    for title, modules in SECTIONS:
        where = title
        for bindings, what in _rows(section_keys(modules)):
            keys = " · ".join(_keys(b, app) for b in bindings)
            lines.append(f"| {_cell(where)} | {_cell(keys)} | {_cell(what)} |")
            where = ""
    return "\n".join(lines) + "\n"


def with_table(text: str, table: str) -> str:
    """`text` with the block between the markers replaced by `table`; ValueError without the markers."""
    if START not in text or END not in text:
        raise ValueError(f"the markers {START!r} and {END!r} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    text = path.read_text()
    new = with_table(text, markdown_table())
    if new == text:
        print(f"{path}: the keys table is up to date")
    else:
        path.write_text(new)
        print(f"{path}: keys table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
