"""Screens that report trouble with the input: a file that cannot be read, and skipped-line warnings."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ... import display
from ...model import Problem
from ..widgets.key_footer import KeyFooter
from ..widgets.key_scroll import KeyScroll
from .box import box_css


class ErrorScreen(Screen):
    """The file could not be read as traces (for example the background import failed), or a database
    could not be asked (then `r` tries again)."""

    CSS = """
    ErrorScreen {
        align: center middle;
    }

    #error-box {
        width: 90%;
        max-width: 110;
        height: auto;
        border: heavy $error;
        padding: 1 2;
    }

    #error-title {
        color: $text-error;
        margin-bottom: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "app.quit", "Quit", tooltip="Quit: the file cannot be shown", id="tracetui.error.quit"),
        Binding("r", "retry", "Retry", tooltip="Ask the database again", id="tracetui.error.retry"),
    ]

    def __init__(self, path: str, problem: str, *, retry: Callable[[], None] | None = None) -> None:
        """retry: what `r` does (a database that may answer later); None: nothing to retry (a file)."""
        super().__init__()
        self.path = path
        self.problem = problem
        self.retry = retry

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box"):
            title = "Cannot show this trace file" if self.retry is None else "Cannot read this database"
            yield Static(Text(title, style="bold"), id="error-title")
            where = "File:    " if self.retry is None else "From:    "
            yield Static(Text.assemble((where, "bold"), display.safe(self.path, single_line=True)), id="error-file")
            yield Static(Text.assemble(("Problem: ", "bold"), display.safe(self.problem)), id="error-problem")
            hint = "Run `tracetui formats` to see what tracetui reads. Press q to quit."
            if self.retry is not None:
                hint = "Press r to try again, q to quit."
            yield Static(Text(hint, style="dim"))
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.retry is not None if action == "retry" else True

    def action_retry(self) -> None:
        if self.retry is not None:
            self.dismiss()
            self.retry()

    def source_restored(self) -> None:
        """The app reconnected on its own: the database answers again, the screen below reads it."""
        if self.retry is not None:
            self.dismiss()


class ProblemsScreen(ModalScreen):
    """Lines the reader skipped or repaired, as the store recorded them."""

    CSS = box_css("ProblemsScreen", "problems-box", "problems-list")

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
                problems = f"{self.total:,} problem{'s' if self.total != 1 else ''}"
                title = f"{problems} while reading {display.safe(self.path, single_line=True)}"
            else:
                title = f"No problems while reading {display.safe(self.path, single_line=True)}"
            yield Static(Text(title, style="bold"), id="problems-title")
            body = Text(no_wrap=False)
            for problem in self.problems:
                where = problem.source_file
                line = str(problem) if not where or where == self.path else f"{where}: {problem}"
                body.append(display.safe(line, single_line=True) + "\n")
            if self.total > len(self.problems):
                body.append(f"… and {self.total - len(self.problems):,} more", "dim")
            with KeyScroll(id="problems-list"):
                yield Static(body, id="problems-text")
            yield Static(Text("Esc closes", style="dim"))
