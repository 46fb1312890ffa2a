"""The start screen (`tracetui` alone): the traces found on this machine; Enter opens one.

What is listed comes from discovery.py (stat only: nothing is read until a source is opened). With
nothing found, the screen says where it looked and how to open a file.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ... import display
from ...discovery import Found, Place
from ..messages import OpenSource

GAP = "  "
MOVE = Binding.Group("Move (also ↓ ↑)")


def rows(found: list[Found]) -> list[Text]:
    """The header and one line per source, in columns (paths and names literal, never markup)."""
    cells = [list(display.SOURCE_HEADERS)]
    cells += [f.cells() for f in found]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)] + [0]
    right = {1, 2}
    out = []
    for row in cells:
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        out.append(Text(GAP.join(parts).rstrip(), no_wrap=True, overflow="ellipsis"))
    out[0].stylize("bold")
    return out


class StartScreen(Screen):
    """Where traces are on this machine, newest activity first; Enter opens the one under the cursor."""

    CSS = """
    #start-hint {
        height: 1;
        padding: 0 1;
        margin-bottom: 1;
    }

    #start-header {
        height: 1;
    }

    #sources {
        border: none;
        height: 1fr;
        padding: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }

    #sources:focus {
        border: none;
    }

    #start-empty {
        height: 1fr;
        padding: 1 2;
    }
    """

    AUTO_FOCUS = "#sources"

    BINDINGS = [
        Binding("enter", "open", "Open", tooltip="Open the source under the cursor", id="tracetui.start.open"),
        Binding("j", "move(1)", "Down", show=False, id="tracetui.start.down", group=MOVE),
        Binding("k", "move(-1)", "Up", show=False, id="tracetui.start.up", group=MOVE),
    ]

    def __init__(self, found: list[Found], looked: list[Place]) -> None:
        super().__init__(id="start-screen")
        self.found = found
        self.looked = looked

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("tracetui", "bold"), "  traces on this machine"), id="title")
        if self.found:
            yield Static(Text("Pick one with ↑ ↓ and Enter; q quits.", style="dim"), id="start-hint")
            header, *lines = rows(self.found)
            yield Static(header, id="start-header")
            yield OptionList(*(Option(line, id=str(i)) for i, line in enumerate(lines)), id="sources")
        else:
            where = [(p.tool, p.path, p.why) for p in self.looked]
            yield Static(Text("\n".join(display.nothing_found(where))), id="start-empty")
        yield Footer(compact=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._open(event.option_index)

    def action_open(self) -> None:
        if self.found:
            self._open(self.query_one("#sources", OptionList).highlighted)

    def action_move(self, step: int) -> None:
        if self.found:
            sources = self.query_one("#sources", OptionList)
            sources.action_cursor_down() if step > 0 else sources.action_cursor_up()

    def _open(self, index: int | None) -> None:
        if index is not None and 0 <= index < len(self.found):
            self.post_message(OpenSource(self.found[index].path))
