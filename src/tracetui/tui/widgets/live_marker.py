"""The "● live" marker: the viewer's source keeps changing the store (tracetui serve, a followed file).

It shows the time of the last change, or that updates are paused (`p`). The state is the app's
`live_state` (a LiveState, plain data); every marker on every screen watches it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class LiveState:
    """What the live marker shows: when the store last changed, whether the viewer is paused, and how
    many changes wait while it is."""

    description: str  # what the source does ("receiving OTLP/HTTP on http://127.0.0.1:4318")
    updated: float | None = None  # time.time() of the last change; None: none yet
    paused: bool = False
    waiting: int = 0  # changes since the pause


def live_text(state: LiveState) -> Text:
    if state.paused:
        text = Text("⏸ paused", "bold yellow")
        if state.waiting:
            text.append(f" · {state.waiting:,} update{'s' if state.waiting != 1 else ''} waiting", "yellow")
        return text.append(" · p resumes", "dim")
    text = Text("● live", "bold green")
    if state.updated is None:
        return text.append(" · waiting for data", "dim")
    return text.append(f" · updated {time.strftime('%H:%M:%S', time.localtime(state.updated))}", "dim")


class LiveMarker(Static):
    """One line: "● live · updated 14:03:07", or "⏸ paused · p resumes"."""

    DEFAULT_CSS = """
    LiveMarker { width: auto; height: 1; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self._shown: Text | None = None
        self.watch(self.app, "live_state", self._show)

    def _show(self, state: LiveState | None) -> None:
        self.display = state is not None
        if state is None:
            return
        text = live_text(state)
        # The state changes with every commit of a busy receiver (many a second); the text once a
        # second. An update lays the screen out again: only when there is something new to show.
        if text != self._shown:
            self._shown = text
            self.update(text)
