"""The run list's state, without the widget: the ordered ids of the current query, a cache of the rows
read so far, where the failed runs are, and which run the cursor should stay on across reloads.

RunList draws it and keeps it filled from a worker (`read_top`, then `read_order`). Nothing here
needs a terminal, so it is unit-tested directly (tests/tui/test_run_pager.py).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from textual.cache import LRUCache

from ...first_page import FIRST_PAGE, read_top
from ...model import FAILED_STATUSES, Run
from ...store import RunFilter
from ...store.protocol import TraceStore

CACHE_LIMIT = 5000  # rows kept; scrolling back to older rows reads them again by id


def failed_filter(flt: RunFilter) -> RunFilter | None:
    """The filter narrowed to failed/timeout runs, or None when it already excludes them."""
    if flt.status is None:
        statuses = sorted(FAILED_STATUSES)
    else:
        wanted = [flt.status] if isinstance(flt.status, str) else list(flt.status)
        statuses = [s for s in wanted if s in FAILED_STATUSES]
        if not statuses:
            return None
    return replace(flt, status=statuses)


@dataclass(frozen=True)
class Order:
    """Every run id of a query in its order, and the positions of the failed/timed-out runs in it."""

    ids: list[str]
    failed: list[int]


def read_order(store: TraceStore, flt: RunFilter, sort: str, desc: bool) -> Order:
    """The full order of a query (a sort of the whole table: slow on big stores, run it in a worker)."""
    ids = store.run_ids(flt, sort=sort, desc=desc)
    narrowed = failed_filter(flt)
    failed_ids = set(store.run_ids(narrowed, sort=sort, desc=desc)) if narrowed else set()
    return Order(ids, [i for i, run_id in enumerate(ids) if run_id in failed_ids] if failed_ids else [])


class RunPager:
    """The rows of one query: first the top page (`show_top`), then the full order (`show_order`).

    Every load gets a new `generation`; results of an older one are ignored, so a slow sort never
    overwrites the answer to a newer query.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.busy = False  # a load has started and its full order is not in yet
        self.loaded = False  # some load has completed (at least its top page)
        self.count = 0
        self.follow_id: str | None = None  # keep the cursor on this run when the rows arrive
        self._first: list[Run] = []  # the top page, until the full order is in
        self._ids: list[str] | None = None
        self._failed: list[int] | None = None
        self._rows: LRUCache[str, Run] = LRUCache(CACHE_LIMIT)

    # -- loading ----------------------------------------------------------------------------------
    def begin_load(self) -> int:
        """A new load starts: the generation its results must carry."""
        self.generation += 1
        self.busy = True
        return self.generation

    def load_failed(self, generation: int) -> bool:
        """The load of `generation` failed; False when a newer load has superseded it."""
        if generation != self.generation:
            return False
        self.busy = False
        return True

    def show_top(self, generation: int, count: int, first: list[Run]) -> bool:
        """The count and top page of a load; False (and nothing changes) when it is stale."""
        if generation != self.generation:
            return False
        self.count = count
        self._first, self._ids, self._failed = first, None, None
        self._rows.clear()
        for run in first:
            self._rows.set(run.id, run)
        self.loaded = True
        return True

    def show_order(self, generation: int, order: Order) -> bool:
        """The full order of a load; False (and nothing changes) when it is stale."""
        if generation != self.generation:
            return False
        self.count = len(order.ids)
        self._first, self._ids, self._failed = [], order.ids, order.failed
        self._rows.clear()  # rows may have changed while a file is imported: read them again
        self.busy = False
        self.loaded = True
        return True

    @property
    def complete(self) -> bool:
        """The full order is in (not just the top page)."""
        return self._ids is not None

    @property
    def failed_count(self) -> int | None:
        return None if self._failed is None else len(self._failed)

    def sample_ids(self, limit: int = 2000) -> list[str]:
        """Some of the ids in order (enough to size the id column)."""
        return self._ids[:limit] if self._ids is not None else [run.id for run in self._first[:limit]]

    # -- rows -------------------------------------------------------------------------------------
    def id_at(self, row: int) -> str | None:
        if self._ids is not None:
            return self._ids[row] if 0 <= row < len(self._ids) else None
        return self._first[row].id if 0 <= row < len(self._first) else None

    def position_of(self, run_id: str, hint: int | None = None) -> int | None:
        """Row of a run (None: not in this query); `hint` is checked first (usually the cursor)."""
        if hint is not None and self.id_at(hint) == run_id:
            return hint
        if self._ids is not None:
            try:
                return self._ids.index(run_id)
            except ValueError:
                return None
        return next((i for i, run in enumerate(self._first) if run.id == run_id), None)

    def run_at(self, row: int) -> Run | None:
        """The row's run if it has been read (see `ids_to_read`)."""
        run_id = self.id_at(row)
        return self._rows.get(run_id) if run_id is not None else None

    def ids_to_read(self, row: int, height: int) -> list[str]:
        """Ids near `row` (a screen above, two below) whose rows are not cached."""
        if self._ids is None:
            return []  # the top page came with its rows
        start, end = max(0, row - height), min(len(self._ids), row + 2 * height)
        return [i for i in self._ids[start:end] if i not in self._rows]

    def remember(self, runs: list[Run]) -> None:
        for run in runs:
            self._rows.set(run.id, run)

    # -- the cursor across reloads ----------------------------------------------------------------
    def follow_cursor(self, cursor: int, *, live: bool = False) -> None:
        """Before a reload: a run the user moved to stays under the cursor; the first row stays the first
        (the newest runs stay in view while a file is imported). `live`: the run under the cursor stays
        there wherever it is, new runs appear around it."""
        if self.follow_id is None and (cursor > 0 or live):
            self.follow_id = self.id_at(cursor)

    def landing(self, cursor: int) -> int:
        """Where the cursor goes once rows arrived: the followed run, else the same row (within range)."""
        follow = self.follow_id
        position = self.position_of(follow, cursor) if follow is not None else None
        if self.complete:
            self.follow_id = None
        if position is not None:
            return position
        if follow is not None and self.complete:
            return 0  # the followed run is no longer in the list
        return min(cursor, max(self.count - 1, 0))

    def follow(self, run_id: str, cursor: int) -> int | None:
        """The row of a run to move to now; None: it is not loaded yet and is followed until it is."""
        position = self.position_of(run_id, cursor)
        if position is None:
            self.follow_id = run_id
        return position

    def cached(self, run_id: str) -> Run | None:
        """The run's row if it has been read."""
        return self._rows.get(run_id)

    # -- failed runs ------------------------------------------------------------------------------
    def adjacent_failed(self, position: int, direction: int) -> int | None:
        """Row of the next (+1) / previous (-1) failed-or-timeout run from `position`, if any."""
        positions = self._failed
        if positions is None:
            rows = range(position + 1, len(self._first)) if direction > 0 else range(position - 1, -1, -1)
            for row in rows:
                if 0 <= row < len(self._first) and self._first[row].status in FAILED_STATUSES:
                    return row
            return None
        if direction > 0:
            i = bisect.bisect_right(positions, position)
            return positions[i] if i < len(positions) else None
        i = bisect.bisect_left(positions, position)
        return positions[i - 1] if i > 0 else None

    def failed_ids(self) -> set[str]:
        """Ids of the failed/timed-out runs of the full order (empty until it is in)."""
        if self._ids is None or self._failed is None:
            return set()
        return {self._ids[i] for i in self._failed}

    def ordered(self, run_ids: set[str]) -> list[str]:
        """These ids in the list's order (ids not in it left out)."""
        positions = [(p, i) for i in run_ids if (p := self.position_of(i)) is not None]
        return [i for _, i in sorted(positions)]

    def adjacent_failed_id(self, run_id: str, direction: int, hint: int | None = None) -> str | None:
        """The failed run next to `run_id` in this query's order (None: none, or run_id is not listed)."""
        position = self.position_of(run_id, hint)
        row = self.adjacent_failed(position, direction) if position is not None else None
        return self.id_at(row) if row is not None else None


__all__ = ["CACHE_LIMIT", "FIRST_PAGE", "Order", "RunPager", "failed_filter", "read_order", "read_top"]
