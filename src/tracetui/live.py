"""Sources that keep changing the store the viewer shows: `tracetui serve` (spans received over OTLP/HTTP)
and, later, followed files. The viewer starts one on its own event loop and is told after each change.

Nothing here imports Textual: a live source calls `changed` (from any thread) and the viewer decides
when to read the store again (tui/app.py, RunsScreen's poll, RunScreen's refresh).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Change:
    """The store changed: `runs` runs were written (`new_runs` of them new); `notice` is for the user."""

    runs: int = 0
    new_runs: int = 0
    notice: str | None = None


class Live(Protocol):
    """A source the viewer runs while it is open."""

    @property
    def description(self) -> str:
        """What it does, for the viewer's live marker ("receiving OTLP/HTTP on http://127.0.0.1:4318")."""
        ...

    async def start(self, changed: Callable[[Change], None] | None = None) -> None:
        """Start on the running loop; call `changed` (from any thread) after each change to the store."""
        ...

    async def stop(self) -> None:
        """Stop, with everything received so far in the store."""
        ...
