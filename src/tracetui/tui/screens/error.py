"""Screens that report trouble with the input: a file that cannot be read, and skipped-line warnings."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from ... import display
from ...model import Problem


class ErrorScreen(Screen):
    """The file could not be read as traces (for example the background import failed)."""

    BINDINGS = [
        Binding("escape", "app.quit", "Quit", tooltip="Quit: the file cannot be shown", id="tracetui.error.quit")
    ]

    def __init__(self, path: str, problem: str) -> None:
        super().__init__()
        self.path = path
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            yield Static(Text("Cannot show this trace file", style="bold"), id="error-title")
            yield Static(
                Text.assemble(("File:    ", "bold"), display.safe(self.path, single_line=True)), id="error-file"
            )
            yield Static(Text.assemble(("Problem: ", "bold"), display.safe(self.problem)), id="error-problem")
            yield Static(Text("Run `tracetui formats` to see what tracetui reads. Press q to quit.", style="dim"))
        yield Footer()


class ProblemsScreen(ModalScreen):
    """Lines the reader skipped or repaired, as the store recorded them."""

    BINDINGS = [
        Binding(
            "escape,w", "dismiss", "Close", tooltip="Close the list of reading problems", id="tracetui.problems.close"
        ),
    ]

    def __init__(self, path: str, problems: list[Problem], total: int) -> None:
        super().__init__()
        self.path = path
        self.problems = problems
        self.total = max(total, len(problems))

    def compose(self) -> ComposeResult:
        with Vertical(id="problems-box"):
            if self.problems:
                title = f"{self.total:,} problems while reading {display.safe(self.path, single_line=True)}"
            else:
                title = f"No problems while reading {display.safe(self.path, single_line=True)}"
            yield Static(Text(title, style="bold"), id="problems-title")
            body = Text(no_wrap=False)
            for problem in self.problems:
                body.append(display.safe(str(problem), single_line=True) + "\n")
            if self.total > len(self.problems):
                body.append(f"… and {self.total - len(self.problems):,} more", "dim")
            with VerticalScroll(id="problems-list"):
                yield Static(body, id="problems-text")
            yield Static(Text("Esc closes", style="dim"))
