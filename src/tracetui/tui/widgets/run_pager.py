"""The run list's state, without the widget: the ordered ids of the current query, a cache of the rows
read so far, where the failed runs are, and which run the cursor should stay on across reloads.

RunList draws it and keeps it filled from a worker (`read_top`, then `read_order`; `read_sessions`
when the list is grouped by session). Nothing here needs a terminal, so it is unit-tested directly
(tests/tui/test_run_pager.py).

Grouped by session, a row is a session (a SessionKey) or a run id: a session's runs follow its row
while it is expanded, and a run without a session is a row of its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TypeAlias

from textual.cache import LRUCache

from ...first_page import FIRST_PAGE, read_top
from ...model import FAILED_STATUSES, Run
from ...store import RunFilter
from ...store.protocol import SessionStore, TraceStore

if TYPE_CHECKING:
    from ...store.sessions import SessionKey, SessionRow

# A row of the list: a run (its id) or, grouped by session, a session: anything not a str below
# (store/sessions.py is imported only once the list is grouped, not for the first screen).
Entry: TypeAlias = "str | SessionKey"

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
    """Every row of a query in its order (run ids; sessions too when grouped), and the positions of
    the failed/timed-out runs (and sessions holding one) in it."""

    ids: Sequence[Entry]
    failed: list[int]
    groups: int | None = None  # grouped by session: how many sessions (and runs without one) there are
    expanded: dict[SessionKey, int] = field(default_factory=dict)  # sessions listed with their runs: how many
    failed_groups: int | None = None  # grouped: how many sessions (or runs without one) failed


def read_order(store: TraceStore, flt: RunFilter, sort: str, desc: bool) -> Order:
    """The full order of a query (a sort of the whole table: slow on big stores, run it in a worker)."""
    ids = store.run_ids(flt, sort=sort, desc=desc)
    narrowed = failed_filter(flt)
    failed_ids = set(store.run_ids(narrowed, sort=sort, desc=desc)) if narrowed else set()
    return Order(ids, [i for i, run_id in enumerate(ids) if run_id in failed_ids] if failed_ids else [])


def read_session_members(store: SessionStore, flt: RunFilter, key: SessionKey, sort: str, desc: bool) -> Order:
    """The runs of one session (those `flt` keeps) in the list's order, and which of them failed."""
    members = replace(flt, session=key.session)
    ids = store.run_ids(members, sort=sort, desc=desc)
    narrowed = failed_filter(members)
    failed = set(store.run_ids(narrowed, sort=sort, desc=desc)) if narrowed else set()
    return Order(ids, [i for i, run_id in enumerate(ids) if run_id in failed])


def read_sessions(store: SessionStore, flt: RunFilter, sort: str, desc: bool, expanded: set[SessionKey]) -> Order:
    """The list grouped by session: every session in order (the runs of the `expanded` ones after it),
    runs without a session as rows of their own; a session is failed when a run of it is."""
    keys = store.session_keys(flt, sort=sort, desc=desc)
    narrowed = failed_filter(flt)
    failed_keys = set(store.session_keys(narrowed, sort=sort, desc=desc)) if narrowed else set()
    entries: list[Entry] = []
    failed: list[int] = []
    shown: dict[SessionKey, int] = {}
    for key in keys:
        if key in failed_keys:
            failed.append(len(entries))
        if key.session is None:
            entries.append(key.run_id or "")
            continue
        entries.append(key)
        if key in expanded:
            members = read_session_members(store, flt, key, sort, desc)
            failed.extend(len(entries) + i for i in members.failed)
            entries.extend(members.ids)
            shown[key] = len(members.ids)
    return Order(entries, failed, groups=len(keys), expanded=shown, failed_groups=len(failed_keys))


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
        self.groups: int | None = None  # grouped by session: how many groups the order has
        self.failed_groups: int | None = None  # … and how many of them hold a failed run
        self._first: list[Run] = []  # the top page, until the full order is in
        self._ids: list[Entry] | None = None
        self._failed: list[int] | None = None
        self._rows: LRUCache[str, Run] = LRUCache(CACHE_LIMIT)
        self._sessions: LRUCache[SessionKey, SessionRow] = LRUCache(CACHE_LIMIT)
        self.expanded: dict[SessionKey, int] = {}  # sessions whose runs follow their row: how many

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
        self.groups = None
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
        self.groups, self.failed_groups = order.groups, order.failed_groups
        self.expanded = dict(order.expanded)
        self._first, self._ids, self._failed = [], list(order.ids), order.failed
        self._rows.clear()  # rows may have changed while a file is imported: read them again
        self._sessions.clear()
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
        """Some of the ids in order, sessions' too (enough to size the id column)."""
        if self._ids is None:
            return [run.id for run in self._first[:limit]]
        return [e if isinstance(e, str) else e.session or "" for e in self._ids[:limit]]

    # -- rows -------------------------------------------------------------------------------------
    def entry_at(self, row: int) -> Entry | None:
        if self._ids is not None:
            return self._ids[row] if 0 <= row < len(self._ids) else None
        return self._first[row].id if 0 <= row < len(self._first) else None

    def id_at(self, row: int) -> str | None:
        """The run on this row (None: no row, or a session's row)."""
        entry = self.entry_at(row)
        return entry if isinstance(entry, str) else None

    def session_at(self, row: int) -> SessionKey | None:
        """The session on this row (None: no row, or a run's row)."""
        entry = self.entry_at(row)
        return None if isinstance(entry, str) else entry

    def session_row(self, key: SessionKey) -> SessionRow | None:
        """The session's summary if it has been read (see `sessions_to_read`)."""
        return self._sessions.get(key)

    def sessions_to_read(self, row: int, height: int) -> list[SessionKey]:
        """Sessions near `row` (a screen above, two below) whose summaries are not cached."""
        if self._ids is None:
            return []
        start, end = max(0, row - height), min(len(self._ids), row + 2 * height)
        return [e for e in self._ids[start:end] if not isinstance(e, str) and e not in self._sessions]

    def remember_sessions(self, rows: list[SessionRow]) -> None:
        for row in rows:
            self._sessions.set(row.key, row)

    def expand(self, key: SessionKey, members: Order) -> bool:
        """List a session's runs after its row; False when the session is not in the list."""
        if self._ids is None or self._failed is None:
            return False
        try:
            at = self._ids.index(key) + 1
        except ValueError:
            return False
        if key in self.expanded:
            return True
        n = len(members.ids)
        self.expanded[key] = n
        self._ids[at:at] = members.ids
        shifted = [p if p < at else p + n for p in self._failed]
        self._failed = sorted(shifted + [at + i for i in members.failed])
        self.count = len(self._ids)
        return True

    def collapse(self, key: SessionKey) -> bool:
        """Take a session's runs out of the list; False when they are not in it."""
        if self._ids is None or self._failed is None or key not in self.expanded:
            return False
        try:
            at = self._ids.index(key) + 1
        except ValueError:
            return False
        n = self.expanded.pop(key)
        end = at + n
        del self._ids[at:end]
        self._failed = [p if p < at else p - n for p in self._failed if not at <= p < end]
        self.count = len(self._ids)
        return True

    def position_of(self, run_id: str, hint: int | None = None) -> int | None:
        """Row of a run (None: not in this query); `hint` is checked first (usually the cursor)."""
        if hint is not None and self.id_at(hint) == run_id:
            return hint
        if self._ids is not None:
            try:
                return self._ids.index(run_id)  # never a session's row: a SessionKey is no str
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
        return [i for i in self._ids[start:end] if isinstance(i, str) and i not in self._rows]

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

    def is_failed(self, row: int) -> bool:
        """Is this row a failed run (or a session holding one)? Known once the full order is in."""
        if self._failed is None:
            return False
        i = bisect.bisect_left(self._failed, row)
        return i < len(self._failed) and self._failed[i] == row

    def position_of_session(self, key: SessionKey) -> int | None:
        """Row of a session (grouped by session), None when it is not listed."""
        if self._ids is None:
            return None
        try:
            return self._ids.index(key)
        except ValueError:
            return None

    def failed_ids(self) -> set[str]:
        """Ids of the failed/timed-out runs of the full order (empty until it is in)."""
        if self._ids is None or self._failed is None:
            return set()
        return {e for i in self._failed if isinstance(e := self._ids[i], str)}

    def ordered(self, run_ids: set[str]) -> list[str]:
        """These ids in the list's order (ids not in it left out)."""
        positions = [(p, i) for i in run_ids if (p := self.position_of(i)) is not None]
        return [i for _, i in sorted(positions)]

    def adjacent_failed_entry(self, position: int, direction: int) -> int | None:
        """Row of the next (+1) / previous (-1) failed run from `position`, or of a collapsed session
        holding one (grouped by session: its runs are not listed until it is expanded); the row of an
        expanded session is passed over, its runs are listed after it."""
        row = self.adjacent_failed(position, direction)
        while row is not None:
            entry = self.entry_at(row)
            if isinstance(entry, str) or entry not in self.expanded:
                return row
            row = self.adjacent_failed(row, direction)
        return None

    def adjacent_failed_id(self, run_id: str, direction: int, hint: int | None = None) -> Entry | None:
        """The failed run next to `run_id` in this query's order, or the collapsed session that holds
        it (None: none, or run_id is not listed)."""
        position = self.position_of(run_id, hint)
        if position is None:
            return None
        row = self.adjacent_failed_entry(position, direction)
        return None if row is None else self.entry_at(row)


__all__ = [
    "CACHE_LIMIT",
    "FIRST_PAGE",
    "Entry",
    "Order",
    "RunPager",
    "failed_filter",
    "read_order",
    "read_session_members",
    "read_sessions",
    "read_top",
]
