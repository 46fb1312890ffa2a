"""Text shown in the viewer itself, for `o` when there is no pager to hand it to ($PAGER unset and
no less or more installed, as in many containers)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from ... import display


class TextScreen(ModalScreen):
    """Scrollable plain text (a Log draws every line literally, however long the text)."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="tracetui.text.close")]

    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen #text-box { width: 95%; height: 95%; border: round $primary; background: $surface; }
    TextScreen #text-title { height: 1; text-style: bold; padding: 0 1; }
    TextScreen #text-log { height: 1fr; }
    TextScreen #text-hint { height: 1; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="text-box"):
            yield Static(Text(display.clip(self.title_text, 200)), id="text-title")
            yield Log(highlight=False, auto_scroll=False, id="text-log")
            yield Static(
                Text("Esc or q closes · no pager: set $PAGER (or install less) to page it instead"), id="text-hint"
            )

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.write(display.safe(self.text))
        log.scroll_home(animate=False)
        log.focus()
