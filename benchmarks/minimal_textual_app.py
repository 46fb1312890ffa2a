"""The floor for bench_first_screen.py: the smallest Textual app (one Static), same Textual as tracetui."""

from textual.app import App, ComposeResult
from textual.widgets import Static

MARKER = "minimal textual app: first paint"


class Minimal(App):
    def compose(self) -> ComposeResult:
        yield Static(MARKER)


if __name__ == "__main__":
    Minimal().run()
