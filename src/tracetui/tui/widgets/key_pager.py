"""The run list's state for a store paged by key (a PostgreSQL database), without the widget.

A database may hold millions of runs, so its list never holds every id (run_pager.RunPager does, for
store files). It holds the rows read so far by their position in the order, each with its key
(sort key, id): the rows near any other row are read from the nearest row whose key is known — the
next page after it, or the page before it — so scrolling never reads more than a screen or two.
The end of the list is read backwards from the end (`G`), and only a jump far from every row read
(the scroll bar) asks the server to skip rows (OFFSET).

The count comes in two steps: the planner's estimate with the first page, the exact count and the
number of failed runs when the server has counted them (RunList reads both in a worker).

Reads themselves are plain functions of a PagedStore (`read_first`, `read_window`, …), so all of it
is unit-tested against a real server without a terminal (tests/postgres/test_key_pager.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...first_page import FIRST_PAGE  # rows read with the estimate, so the list paints before the count is known
from ...model import FAILED_STATUSES, Run
from ...store import RunFilter
from ...store.protocol import Key, PagedStore

EXACT_BELOW = FIRST_PAGE  # a first page shorter than this is the whole list: its count is exact
CACHE_LIMIT = 5000  # rows kept; the farthest from the cursor are dropped first
NEAR = 2000  # rows from a known key within which a window is read by key rather than by offset


@dataclass(frozen=True)
class Query:
    flt: RunFilter
    sort: str
    desc: bool


@dataclass(frozen=True)
class Window:
    """Rows read for positions `first`, `first + 1`, … (`first` the planner's estimate when not `exact`)."""

    first: int
    rows: list[tuple[Run, Key]]
    exact: bool = True


@dataclass(frozen=True)
class Totals:
    count: int
    failed: int


def read_first(store: PagedStore, query: Query) -> tuple[int, bool, list[tuple[Run, Key]]]:
    """The first page, and how many runs there are: exact when the page is not full, else estimated."""
    rows = store.page(query.flt, query.sort, query.desc, None, FIRST_PAGE)
    if len(rows) < EXACT_BELOW:
        return len(rows), True, rows
    return max(store.estimate_runs(query.flt), len(rows)), False, rows


def read_totals(store: PagedStore, query: Query) -> Totals:
    count, failed = store.totals(query.flt)
    return Totals(count, failed)


def read_around(store: PagedStore, query: Query, run_id: str, height: int) -> Window | None:
    """The rows around a run the cursor should stay on (its position counted by the server), or None
    when the run is not in this query."""
    key = store.key_of(run_id, query.sort, query.flt)
    if key is None:
        return None
    position, exact = store.position(query.flt, query.sort, query.desc, key)
    before = store.page(query.flt, query.sort, query.desc, key, height, backwards=True)
    found = store.runs_by_ids([run_id])
    after = store.page(query.flt, query.sort, query.desc, key, 2 * height)
    rows = [*reversed(before), *((run, key) for run in found[:1]), *after]
    return Window(position - len(before), rows, exact)


def read_window(store: PagedStore, query: Query, plan: WindowPlan) -> Window:
    """Rows for positions plan.start .. plan.end (exclusive), read the way `plan` says."""
    f, s, d = query.flt, query.sort, query.desc
    if plan.after is not None:
        rows = store.page(f, s, d, plan.after, plan.end - plan.start)
        return Window(plan.start, rows)
    if plan.before is not None:
        rows = store.page(f, s, d, plan.before, plan.end - plan.start, backwards=True)
        return Window(plan.end - len(rows), list(reversed(rows)))
    if plan.from_end:
        rows = store.page(f, s, d, None, plan.end - plan.start, backwards=True)
        return Window(plan.end - len(rows), list(reversed(rows)))
    return Window(plan.start, store.page_at(f, s, d, plan.start, plan.end - plan.start))


def read_failed_next(store: PagedStore, query: Query, key: Key, direction: int) -> Window | None:
    """The next (+1) / previous (-1) failed or timed-out run after the run with `key`, at its position."""
    rows = store.page(query.flt, query.sort, query.desc, key, 1, backwards=direction < 0, failed_only=True)
    if not rows:
        return None
    position, exact = store.position(query.flt, query.sort, query.desc, rows[0][1])
    return Window(position, rows[:1], exact)


@dataclass(frozen=True)
class WindowPlan:
    """How to read positions start .. end: after a known key, before one, back from the end, or by offset."""

    start: int
    end: int
    after: Key | None = None
    before: Key | None = None
    from_end: bool = False


class KeyPager:
    """The rows of one query read so far, by position (see the module docstring).

    Every load gets a new `generation`; results of an older one are ignored.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.busy = False  # a load has started and its exact count is not in yet
        self.loaded = False  # some load has shown its first rows
        self.count = 0
        self.exact = False  # count is the server's count, not the planner's estimate
        self.failed: int | None = None
        self.follow_id: str | None = None
        self.estimated = False  # some rows were placed by the planner's estimate since the first page
        self.query: Query | None = None
        self._rows: dict[int, tuple[Run, Key]] = {}
        self._reading: tuple[int, int] | None = None  # the window being read

    # -- loading ----------------------------------------------------------------------------------
    def begin_load(self, query: Query) -> int:
        self.generation += 1
        self.busy = True
        self.query = query
        self._reading = None
        return self.generation

    def load_failed(self, generation: int) -> bool:
        if generation != self.generation:
            return False
        self.busy = False
        self._reading = None
        return True

    def show_first(self, generation: int, count: int, exact: bool, rows: list[tuple[Run, Key]]) -> bool:
        if generation != self.generation:
            return False
        self.count, self.exact, self.failed = count, exact, None
        self._rows = dict(enumerate(rows))
        self.estimated = False
        if exact:
            self.failed = sum(1 for run, _ in rows if run.status in FAILED_STATUSES)
            self.busy = False
        self.loaded = True
        return True

    def show_totals(self, generation: int, totals: Totals) -> bool:
        if generation != self.generation:
            return False
        self.count, self.exact, self.failed = totals.count, True, totals.failed
        self._rows = {p: row for p, row in self._rows.items() if p < totals.count}
        self.busy = False
        return True

    def show_window(self, generation: int, window: Window) -> bool:
        if generation != self.generation:
            return False
        self._reading = None
        first = window.first
        if not window.exact:
            # Placed by the planner's estimate: rows read elsewhere may not agree with it, so only
            # the first page (always where it is) is kept; the rest is read again near this window.
            if self.exact:
                first = max(FIRST_PAGE, min(first, self.count - len(window.rows)))
            self._rows = {p: row for p, row in self._rows.items() if p < FIRST_PAGE}
            self.estimated = True
        if self.estimated:
            # A run is where it was read last (a read from the end may find the true place of a run
            # placed by estimate): never at two positions.
            ids = {run.id for run, _ in window.rows}
            self._rows = {p: row for p, row in self._rows.items() if row[0].id not in ids}
        for i, row in enumerate(window.rows):
            self._rows[first + i] = row
        if not self.exact and window.rows:
            self.count = max(self.count, first + len(window.rows))
        return True

    def window_failed(self) -> None:
        self._reading = None

    @property
    def complete(self) -> bool:
        """The exact count is in."""
        return self.exact

    @property
    def failed_count(self) -> int | None:
        return self.failed

    def sample_ids(self, limit: int = 2000) -> list[str]:
        return [run.id for _, (run, _) in sorted(self._rows.items())[:limit]]

    # -- rows -------------------------------------------------------------------------------------
    def id_at(self, row: int) -> str | None:
        found = self._rows.get(row)
        return found[0].id if found is not None else None

    def run_at(self, row: int) -> Run | None:
        found = self._rows.get(row)
        return found[0] if found is not None else None

    def key_at(self, row: int) -> Key | None:
        found = self._rows.get(row)
        return found[1] if found is not None else None

    def position_of(self, run_id: str, hint: int | None = None) -> int | None:
        if hint is not None and self.id_at(hint) == run_id:
            return hint
        return next((p for p, (run, _) in self._rows.items() if run.id == run_id), None)

    def plan(self, row: int, height: int) -> WindowPlan | None:
        """How to read the rows a screen above and two below `row` that are not read yet (None: all are,
        or a read is under way)."""
        if self._reading is not None or self.count == 0:
            return None
        start, end = max(0, row - height), min(self.count, row + 2 * height)
        missing = [p for p in range(start, end) if p not in self._rows]
        if not missing:
            return None
        first, last = missing[0], missing[-1] + 1
        plan = self._plan(first, last)
        self._reading = (plan.start, plan.end)
        self._trim(row)
        return plan

    def _plan(self, first: int, last: int) -> WindowPlan:
        before = max((p for p in self._rows if p < first and first - p <= NEAR), default=None)
        if before is not None:
            return WindowPlan(before + 1, last, after=self._rows[before][1])
        after = min((p for p in self._rows if p >= last and p - last < NEAR), default=None)
        if after is not None:
            return WindowPlan(first, after, before=self._rows[after][1])
        if self.exact and self.count - last <= NEAR:
            return WindowPlan(first, self.count, from_end=True)
        return WindowPlan(first, last)

    def _trim(self, row: int) -> None:
        if len(self._rows) > CACHE_LIMIT:
            keep = sorted(self._rows, key=lambda p: abs(p - row))[: CACHE_LIMIT // 2]
            self._rows = {p: self._rows[p] for p in keep}

    # -- the cursor across reloads ----------------------------------------------------------------
    def follow_cursor(self, cursor: int) -> None:
        if self.follow_id is None and cursor > 0:
            self.follow_id = self.id_at(cursor)

    def landing(self, cursor: int) -> int:
        follow = self.follow_id
        position = self.position_of(follow, cursor) if follow is not None else None
        if position is not None:
            self.follow_id = None
            return position
        return min(cursor, max(self.count - 1, 0))

    def follow(self, run_id: str, cursor: int) -> int | None:
        position = self.position_of(run_id, cursor)
        if position is None:
            self.follow_id = run_id
        return position

    # -- failed runs ------------------------------------------------------------------------------
    def adjacent_failed(self, position: int, direction: int) -> int | None:
        """A failed run next to `position` among the rows read without a gap (None: ask the server)."""
        row = position + direction
        while row in self._rows:
            if self._rows[row][0].status in FAILED_STATUSES:
                return row
            row += direction
        return None

    def adjacent_failed_id(self, run_id: str, direction: int, hint: int | None = None) -> str | None:
        position = self.position_of(run_id, hint)
        row = self.adjacent_failed(position, direction) if position is not None else None
        return self.id_at(row) if row is not None else None


__all__ = [
    "FIRST_PAGE",
    "KeyPager",
    "Query",
    "Totals",
    "Window",
    "WindowPlan",
    "read_around",
    "read_failed_next",
    "read_first",
    "read_totals",
    "read_window",
]
