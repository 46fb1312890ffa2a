"""`x` in the run view: export the run, or the step under the cursor with the steps under it, to a new
file in the current directory as Markdown or JSON. This small dialog asks which, and shows the file
name each would get; the file is written by share.new_file, which never overwrites one."""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ... import display, share

# One row in the README's keys table.
CHOICES = Binding.Group("In the export dialog (x): Markdown · JSON · cancel")


class ExportScreen(ModalScreen[str | None]):
    """Choose the format of an export: dismissed with "markdown", "json", or None to cancel."""

    BINDINGS = [
        Binding("m", "choose('markdown')", "Markdown", id="tracetui.export.markdown", group=CHOICES),
        Binding("j", "choose('json')", "JSON", id="tracetui.export.json", group=CHOICES),
        Binding("escape,q", "choose(None)", "Cancel", id="tracetui.export.cancel", group=CHOICES),
    ]

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen #export-box {
        width: auto; max-width: 90%; height: auto; padding: 1 2; border: round $primary; background: $surface;
    }
    ExportScreen #export-box > Static { width: auto; }
    ExportScreen #export-title { margin-bottom: 1; }
    ExportScreen #export-hint { margin-top: 1; }
    """

    def __init__(self, subject: str, stem: str) -> None:
        super().__init__()
        self.subject = subject  # "the run run-1", "step search and the 3 steps under it"
        self.stem = stem

    def compose(self) -> ComposeResult:
        where = os.path.join(".", self.stem)
        with Vertical(id="export-box"):
            yield Static(
                Text(f"Export {display.safe(self.subject, single_line=True)}", style="bold"), id="export-title"
            )
            for key, fmt in (("m", "markdown"), ("j", "json")):
                line = Text.assemble((f" {key} ", "bold reverse"), f"  {share.LABELS[fmt]:<9} → ")
                line.append(where + share.FORMATS[fmt], "bold")
                yield Static(line)
            hint = "Esc cancels · a file never overwrites another: a number is added"
            yield Static(Text(hint, "dim"), id="export-hint")

    def action_choose(self, fmt: str | None) -> None:
        self.dismiss(fmt)
