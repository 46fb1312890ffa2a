"""Every message the viewer's widgets, screens and app send each other.

Widgets say what happened or what the user asked for; screens and the app (tui/app.py) decide
what to do about it. Intents (OpenRun, CompareRuns, JumpToFailedRun) are routed by the app.
A handler's name follows the class name: RunListLoaded is handled by `on_run_list_loaded`.

Plain classes, not dataclasses: a dataclass compiles its methods when its module is imported
(~0.4 ms each), and the viewer imports these before its first rows (issue 15). FieldsMessage gives
them a dataclass's equality and repr: by their own attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import rich.repr
from textual.message import Message

if TYPE_CHECKING:
    from ..model import Run


class FieldsMessage(Message):
    """A message equal to another of its class with the same attributes (Message keeps its own in slots)."""

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # (equal by value and mutable, as a dataclass)

    def __rich_repr__(self) -> rich.repr.Result:  # (Message's repr is built from it: OpenRun(run_id='r1', …))
        yield from vars(self).items()


# -- intents: the app routes them -----------------------------------------------------------------


class OpenRun(FieldsMessage):
    """Show this run's step tree (Enter or a double click in the run list)."""

    def __init__(
        self, run_id: str, jump_to_failure: bool = False, search: str | None = None, step_id: str | None = None
    ) -> None:
        self.run_id = run_id
        self.jump_to_failure = jump_to_failure
        self.search = search  # the run list's search found this run in its steps: find it there too
        self.step_id = step_id  # … and the step to show first (the results of a search: that step)
        super().__init__()


class CompareRuns(FieldsMessage):
    """Compare two runs of the opened file side by side (`c` with a marked run)."""

    def __init__(self, run_a: str, run_b: str) -> None:
        self.run_a = run_a
        self.run_b = run_b
        super().__init__()


class JumpToFailedRun(FieldsMessage):
    """Open the next (+1) / previous (-1) failed run after `run_id`, in the run list's order (`]`/`[`)."""

    def __init__(self, run_id: str, direction: int) -> None:
        self.run_id = run_id
        self.direction = direction
        super().__init__()


class OpenSource(FieldsMessage):
    """Open this file or folder (Enter on the start screen)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__()


# -- the background import ------------------------------------------------------------------------


class ImportProgress(FieldsMessage):
    """The import has read `done` of `total` bytes and stored `runs` runs so far."""

    def __init__(self, done: int, total: int, runs: int) -> None:
        self.done = done
        self.total = total
        self.runs = runs
        super().__init__()


class ImportFinished(FieldsMessage):
    """The import ended; `error` says why it failed (None: the store is complete)."""

    def __init__(self, error: str | None = None) -> None:
        self.error = error
        super().__init__()


class StoreChanged(FieldsMessage):
    """A live source (tracetui serve) changed the store; `notice` is something to tell the user."""

    def __init__(self, notice: str | None = None) -> None:
        self.notice = notice
        super().__init__()


# -- the run list ---------------------------------------------------------------------------------


class RunListLoaded(FieldsMessage):
    """The run list (re)loaded: counts for the status line and pacing for polls during an import."""

    def __init__(
        self, count: int, failed_count: int | None, complete: bool, load_seconds: float, estimated: bool = False
    ) -> None:
        self.count = count
        self.failed_count = failed_count  # None until the full order is read (`complete`)
        self.complete = complete  # the full ordered id list is in, not just the first page
        self.load_seconds = load_seconds  # how long the load took (0.0 until complete)
        self.estimated = estimated  # count is the database planner's estimate (the exact count comes later)
        super().__init__()


class RunMarked(FieldsMessage):
    """The run marked for comparison changed (Space or `m`); None: no run is marked."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        super().__init__()


class RunListLoadFailed(FieldsMessage):
    """The store could not be queried for the run list."""

    def __init__(self, problem: str, store_growing: bool) -> None:
        self.problem = problem
        self.store_growing = store_growing  # the load started while the import was still writing the store
        super().__init__()


# -- the step tree --------------------------------------------------------------------------------


class StepTreeReady(FieldsMessage):
    """The run and the first rows of its step tree are shown (again, once it grew: `grown`)."""

    def __init__(self, run: Run, grown: bool = False, new_failures: list[str] | None = None) -> None:
        self.run = run
        self.grown = grown  # read again because a live source changed the run
        self.new_failures: list[str] = [] if new_failures is None else new_failures  # failed since last read
        super().__init__()


class StepTreeLoadFailed(FieldsMessage):
    """The run could not be read; `error` says why."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__()


class StepTreeResized(Message):
    """The tree's width changed: column titles need redrawing."""


class StepTreeExpanding(FieldsMessage):
    """Progress of expand-all on a big run: `done` of `total` steps are in the tree (equal: finished)."""

    def __init__(self, done: int, total: int) -> None:
        self.done = done
        self.total = total
        super().__init__()


# -- the compare screen ---------------------------------------------------------------------------


class PairListCursorMoved(FieldsMessage):
    """The cursor of the compare list is on row `index`."""

    def __init__(self, index: int) -> None:
        self.index = index
        super().__init__()


# -- a database ------------------------------------------------------------------------------------


class SourceLost(FieldsMessage):
    """The connection to the database dropped while a widget asked it something (`problem` says what).

    Any widget posts it; TraceApp says so once and reconnects with backoff, then tells the screens
    (`source_restored()`) so they read again, keeping their place.
    """

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__()
