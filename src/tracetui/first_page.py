"""The run list's first page, read while the viewer starts.

Importing Textual and starting the app take ~0.3 s of Python; SQLite runs its queries without
Python's lock, on the other core. So `tracetui open` starts reading the first page in a thread as
soon as it knows where the store is, and the run list takes the page when it mounts instead of
asking again. For a database read in place, the count and the ids of the first page are kept in its
memo (memo.py): the next open of the unchanged file reads 200 rows by id instead of sorting them all.
"""

from __future__ import annotations

import sqlite3
import threading

from .errors import TraceError
from .loading import Opening
from .memo import DEFAULT_QUERY, Memo
from .model import Run
from .store import RunFilter
from .store.protocol import TraceStore

FIRST_PAGE = 200  # rows read with the count, so a new query paints before its full order is known


def read_top(
    store: TraceStore, flt: RunFilter, sort: str, desc: bool, memo: Memo | None = None
) -> tuple[int, list[Run]]:
    """How many runs match, and the first FIRST_PAGE of them (from the memo's ids when it knows them)."""
    default = memo is not None and (flt, sort, desc) == DEFAULT_QUERY
    known = memo.top() if memo is not None and default else None
    if known is not None:
        count, top = known
    else:
        count = store.count_runs(flt)
        top = store.run_ids(flt, sort=sort, desc=desc, limit=FIRST_PAGE)
    by_id = {run.id: run for run in store.runs_by_ids(top)}
    runs = [by_id[i] for i in top if i in by_id]
    if memo is not None and default and known is None:
        memo.put(top=(count, top))
    return count, runs


class FirstPage:
    """Opens the store and reads the default query's first page in a thread (started at once).

    `check()` waits until the store is open (and `run_id` looked up) and raises what that raised,
    so bad input still fails before the viewer starts; `take()` hands the page over, once.
    """

    def __init__(self, opening: Opening, run_id: str | None = None) -> None:
        self.opening = opening
        self.run_id = run_id
        self._opened = threading.Event()
        self._read = threading.Event()
        self._error: BaseException | None = None
        self._page: tuple[int, list[Run]] | None = None
        self._taken = threading.Lock()
        threading.Thread(target=self._run, name="tracetui-first-page", daemon=True).start()

    def _run(self) -> None:
        try:
            try:
                store = self.opening.connect()
                try:
                    if self.run_id is not None:
                        self.run_id = store.get_run(self.run_id).id  # as the store names it (typed as shown)
                except BaseException:
                    store.close()
                    raise
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._opened.set()
            try:
                self._page = read_top(store, *DEFAULT_QUERY, memo=self.opening.memo)
            except (sqlite3.Error, TraceError):
                pass  # the run list asks again, and reports what goes wrong
            finally:
                store.close()
        finally:
            self._read.set()

    def check(self) -> None:
        """Wait until the store is open; raise what opening it (or finding run_id) raised."""
        self._opened.wait()
        if self._error is not None:
            raise self._error

    def take(self, flt: RunFilter, sort: str, desc: bool, *, wait: bool = True) -> tuple[int, list[Run]] | None:
        """The page, if it answers this query and was not taken yet (waits for it to be read, unless
        `wait` is False: then only a page read already is taken, and a later take may still get it)."""
        if (flt, sort, desc) != DEFAULT_QUERY or (not wait and not self._read.is_set()):
            return None
        if not self._taken.acquire(blocking=False):
            return None  # taken already (the lock is never released)
        self._read.wait()
        return self._page
