"""Every message the viewer's widgets, screens and app send each other.

Widgets say what happened or what the user asked for; screens and the app (tui/app.py) decide
what to do about it. Intents (OpenRun, CompareRuns, JumpToFailedRun) are routed by the app.
A handler's name follows the class name: RunListLoaded is handled by `on_run_list_loaded`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from ..model import Run

# -- intents: the app routes them -----------------------------------------------------------------


@dataclass
class OpenRun(Message):
    """Show this run's step tree (Enter or a double click in the run list)."""

    run_id: str
    jump_to_failure: bool = False
    search: str | None = None  # the run list's search found this run in its steps: find it there too
    step_id: str | None = None  # … and the step to show first (the results of a search: that step)


@dataclass
class CompareRuns(Message):
    """Compare two runs of the opened file side by side (`c` with a marked run)."""

    run_a: str
    run_b: str


@dataclass
class JumpToFailedRun(Message):
    """Open the next (+1) / previous (-1) failed run after `run_id`, in the run list's order (`]`/`[`)."""

    run_id: str
    direction: int


@dataclass
class OpenSource(Message):
    """Open this file or folder (Enter on the start screen)."""

    path: str


# -- the background import ------------------------------------------------------------------------


@dataclass
class ImportProgress(Message):
    """The import has read `done` of `total` bytes and stored `runs` runs so far."""

    done: int
    total: int
    runs: int


@dataclass
class ImportFinished(Message):
    """The import ended; `error` says why it failed (None: the store is complete)."""

    error: str | None = None


@dataclass
class StoreChanged(Message):
    """A live source (tracetui serve) changed the store; `notice` is something to tell the user."""

    notice: str | None = None


# -- the run list ---------------------------------------------------------------------------------


@dataclass
class RunListLoaded(Message):
    """The run list (re)loaded: counts for the status line and pacing for polls during an import."""

    count: int
    failed_count: int | None  # None until the full order is read (`complete`)
    complete: bool  # the full ordered id list is in, not just the first page
    load_seconds: float  # how long the load took (0.0 until complete)
    estimated: bool = False  # count is the database planner's estimate (the exact count comes later)


@dataclass
class RunMarked(Message):
    """The run marked for comparison changed (Space or `m`); None: no run is marked."""

    run_id: str | None


@dataclass
class RunListLoadFailed(Message):
    """The store could not be queried for the run list."""

    problem: str
    store_growing: bool  # the load started while the import was still writing the store


# -- the step tree --------------------------------------------------------------------------------


@dataclass
class StepTreeReady(Message):
    """The run and the first rows of its step tree are shown (again, once it grew: `grown`)."""

    run: Run
    grown: bool = False  # read again because a live source changed the run
    new_failures: list[str] = field(default_factory=list)  # steps that failed since the tree last read the run


@dataclass
class StepTreeLoadFailed(Message):
    """The run could not be read; `error` says why."""

    error: str


class StepTreeResized(Message):
    """The tree's width changed: column titles need redrawing."""


@dataclass
class StepTreeExpanding(Message):
    """Progress of expand-all on a big run: `done` of `total` steps are in the tree (equal: finished)."""

    done: int
    total: int


# -- the compare screen ---------------------------------------------------------------------------


@dataclass
class PairListCursorMoved(Message):
    """The cursor of the compare list is on row `index`."""

    index: int


# -- a database ------------------------------------------------------------------------------------


@dataclass
class SourceLost(Message):
    """The connection to the database dropped while a widget asked it something (`problem` says what).

    Any widget posts it; TraceApp says so once and reconnects with backoff, then tells the screens
    (`source_restored()`) so they read again, keeping their place.
    """

    problem: str
