"""`tracetui compare` on a terminal: the viewer opened straight on the compare screen.

Esc leaves the comparison for the run list of the first file, where any other pair of runs can
be marked and compared; q quits.
"""

from __future__ import annotations

from ..config import Config
from ..loading import SourceOpening
from .app import TraceApp
from .screens.compare import RunRef


class CompareApp(TraceApp):
    def __init__(
        self, opening: SourceOpening, run_a: str | RunRef, run_b: str | RunRef, config: Config | None = None
    ) -> None:
        super().__init__(opening, config=config)
        self._compare = (run_a, run_b)

    async def runs_shown(self) -> None:
        await super().runs_shown()
        # The run list is mounted now: the comparison goes on top of it, so Esc goes back to it.
        self.compare_runs(*self._compare)


def compare_app(
    opening_a: SourceOpening,
    run_a: str,
    opening_b: SourceOpening | None,
    run_b: str,
    config: Config | None = None,
) -> CompareApp:
    """The app for two runs of one file (opening_b None) or of two files."""
    if opening_b is None:
        return CompareApp(opening_a, run_a, run_b, config)
    return CompareApp(
        opening_a,
        RunRef(run_a, label=opening_a.label),
        RunRef(run_b, connect=opening_b.connect, label=opening_b.label),
        config,
    )
