"""The run list: one line per run, drawn line by line and paged from SQLite or PostgreSQL.

Only the rows on screen are ever fetched, so a store of 200k runs paints as fast as one of ten.
For a store file, a worker loads the ordered run ids for the current filter and sort (plus the first
page at once, for a quick first paint); rows are then fetched by id as they scroll into view. The
ids, rows and failed positions live in a RunPager (run_pager.py).

A database (`paged`) is never listed whole: a KeyPager (key_pager.py) holds the rows read so far by
position, workers read the page after (or before) the nearest row read as the cursor moves, and the
exact count and failed runs come from the server in the background. Grouped by session (`b`), a
database's sessions are listed as a file's are, by a RunPager: the server groups them, one row a
session. This module draws either and handles the keys; a dropped connection is reported
(SourceLost) and the app reconnects.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, set_cell_size
from rich.control import strip_control_codes
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.geometry import Region
from textual.message_pump import NoActiveAppError
from textual.strip import Strip

from ... import display, present
from ...errors import TraceError, Unavailable
from ...model import FAILED_STATUSES, Run
from ...store import SORT_KEYS, RunFilter, default_desc
from ...store.protocol import PagedStore, SessionStore, TraceStore
from ..messages import CompareRuns, OpenRun, RunListLoaded, RunListLoadFailed, RunMarked, SourceLost
from ..plain import notify_plain
from .cursor_list import CursorList, cursor_bindings
from .run_pager import Order, RunPager, read_order, read_session_members, read_sessions, read_top

if TYPE_CHECKING:
    from ...first_page import FirstPage
    from ...store.search import RunHits
    from ...store.sessions import SessionKey, SessionRow
    from .key_pager import KeyPager, Query, Totals, Window, WindowPlan

SORT_CYCLE = tuple(key.name for key in SORT_KEYS if key.cycle)


def _key_pager() -> KeyPager:
    """A database's pager (key_pager.py: imported only when a database is listed, never for a file)."""
    from .key_pager import KeyPager

    return KeyPager()


def paged(store: TraceStore) -> PagedStore:
    """The store of a paged list (a database): it reads pages by key."""
    assert isinstance(store, PagedStore), "a paged run list needs a store that pages by key"
    return store


@dataclass(frozen=True)
class Column:
    name: str
    title: str
    width: int
    sort: str | None
    right: bool = False


# The id and error columns share whatever width is left; the rest are fixed.
COLUMNS = (
    Column("mark", "", 1, None),
    Column("status", "status", 11, "status"),
    Column("id", "run id", 0, "id"),
    Column("agent", "agent", 14, "agent"),
    Column("started", "started (UTC)", 19, "started"),
    Column("duration", "duration", 9, "duration", right=True),
    Column("steps", "steps", 8, "steps", right=True),
    Column("tokens", "tokens in→out", 14, "tokens", right=True),
    Column("credits", "credits", 8, "credits", right=True),
    Column("cost", "cost", 9, "cost", right=True),
    Column("error", "error", 0, "error"),
)
# The runs of a folder also show the file each was read from, after the run id.
FILE_COLUMN = Column("file", "file", 24, None)
MIN_ID, MAX_ID, MIN_ERROR = 12, 36, 20
MIN_FOLDER_ID = 16
# Grouped by session, a session's row fills these columns with what it has instead.
GROUPED_TITLES = {"id": "session/run", "agent": "agent/runs", "duration": "dur/span", "error": "error/failed"}
# Left out first when the terminal is too narrow for every column.
DROP_ORDER = ("credits", "file", "cost", "tokens", "steps", "duration", "started", "agent")


def cell_texts(run: Run) -> dict[str, str]:
    steps = display.count(run.step_count)
    if run.failed_steps:
        steps = f"{steps} ✗{display.count(run.failed_steps)}"
    return {
        "status": display.status_word(run.status),
        "id": display.clip(run.id),
        "file": display.clip(run.source_file or "-"),
        "agent": display.clip(run.agent or "-"),
        "started": display.when(run.started_at),
        "duration": display.duration(run.duration_ms),
        "steps": steps,
        "tokens": display.tokens(run.total("tokens_in"), run.total("tokens_out")),
        "credits": display.credits(run.total("credits")),
        "cost": present.cost_text(run),
        "error": display.excerpt(run.error, 400) if run.error else "",
    }


# Keys that share a row in the README's keys table (and would share one in the footer).
FAILED_RUN_KEYS = Binding.Group("Next · previous failed (or timed-out) run")
COMPARE_KEYS = Binding.Group("Mark a run · compare the marked run with the one under the cursor")


class RunList(CursorList, can_focus=True):
    """Runs of the store, filtered and sorted in SQL; a cursor row, one optional marked run."""

    HEADER_LINES = 1

    BINDINGS = [
        *cursor_bindings("tracetui.runs", "run"),
        Binding(
            "enter",
            "open",
            "Open",
            tooltip="Open the run under the cursor (on a session: show or hide its runs)",
            id="tracetui.runs.open",
        ),
        Binding(
            "right_square_bracket",
            "next_failed",
            "Next failed",
            key_display="]",
            tooltip="Next failed or timed-out run (grouped by session: a shut session holding one opens)",
            id="tracetui.runs.next_failed",
            group=FAILED_RUN_KEYS,
        ),
        Binding(
            "left_square_bracket",
            "previous_failed",
            "Prev failed",
            key_display="[",
            show=False,
            id="tracetui.runs.previous_failed",
            group=FAILED_RUN_KEYS,
        ),
        Binding("space,m", "mark", "Mark", show=False, id="tracetui.runs.mark", group=COMPARE_KEYS),
        Binding("c", "compare", "Compare with mark", show=False, id="tracetui.runs.compare", group=COMPARE_KEYS),
    ]

    COMPONENT_CLASSES = {
        "run-list--header",
        "run-list--sorted",
        "run-list--cursor",
        "run-list--failed",
        "run-list--marked",
        "run-list--pending",
        "run-list--session",
    }

    DEFAULT_CSS = """
    RunList { height: 1fr; }
    RunList > .run-list--header { text-style: bold; background: $panel; }
    RunList > .run-list--sorted { text-style: bold underline; background: $panel; }
    RunList > .run-list--cursor { background: $block-cursor-blurred-background; }
    RunList:focus > .run-list--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    RunList > .run-list--failed { color: $text-error; text-style: bold; }
    RunList > .run-list--marked { color: $text-warning; text-style: bold; }
    RunList > .run-list--pending { color: $text-muted; }
    RunList > .run-list--session { text-style: bold; }
    """

    def __init__(
        self,
        connect: Callable[[], TraceStore],
        *,
        store_growing: bool = False,
        files: bool = False,
        paged: bool = False,
        live: bool = False,
        first_page: FirstPage | None = None,
        id: str | None = None,
    ) -> None:
        """files: show the file each run was read from (the runs of a folder). paged: the store is a
        database, read a page at a time by key (never every id)."""
        super().__init__(id=id)
        self.columns = COLUMNS if not files else (*COLUMNS[:3], FILE_COLUMN, *COLUMNS[3:])
        self.connect = connect  # a new read-only store connection (one per thread)
        self.first_page = first_page  # read while the viewer started; the first load takes it
        self.store_growing = store_growing  # the import is still writing: a failed query may just be early
        self.live = live  # the store keeps changing: the cursor stays on its run as runs arrive
        self.new_failure: str | None = None  # a failed run announced live: `]` goes there first
        self.flt = RunFilter()
        self.sort = "started"
        self.desc = True
        self.marked: str | None = None
        self.grouped = False  # one row per session; Enter shows a session's runs under it
        self.step_hits: dict[str, RunHits] = {}  # runs the search found in their steps: the first such step
        self.paged = paged
        # A database's pager is a KeyPager: below, anything that is not a RunPager (see _key_pager).
        self.pager: RunPager | KeyPager = _key_pager() if paged else RunPager()
        self._store: TraceStore | None = None  # the event loop's connection, for rows scrolled into view
        self._id_width = MIN_ID  # as wide as the ids seen so far need, up to MAX_ID
        self._drawn: tuple | None = None  # live: what the last reload put on screen (_view)
        self._base_style: Style | None = None  # self.rich_style while a frame is drawn (render_lines)

    # -- data -------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.reload()

    def set_query(
        self,
        *,
        flt: RunFilter | None = None,
        sort: str | None = None,
        desc: bool | None = None,
        grouped: bool | None = None,
    ) -> None:
        if grouped is not None and grouped != self.grouped:
            self.grouped = grouped
            if self.paged:
                # A database's sessions are listed as a file's are (the server groups them: one row a
                # session); ungrouped, its runs are read by key again.
                self.pager = RunPager() if grouped else _key_pager()
            elif isinstance(self.pager, RunPager):
                self.pager.expanded = {}
        if flt is not None:
            self.flt = flt
        if sort is not None:
            self.sort = sort
        if desc is not None:
            self.desc = desc
        # A run the user moved to stays selected under the new order; a cursor on the first row
        # stays on the first row (the top of the new order is what they asked to see).
        self.pager.follow_id = None
        self.reload()

    def reload(self, *, fresh_connection: bool = False, quick: bool = True) -> None:
        """Load counts and ordered ids again (new filter/sort, or the store grew).

        `quick` first fetches just the top page, so a new sort or filter paints before the full
        ordered id list (a full sort of the table) is ready.
        """
        if fresh_connection and self._store is not None:
            self._store.close()
            self._store = None
        # Keep a chosen run under the cursor as rows arrive; a cursor left on the first row
        # stays there, so the newest runs stay in view while a file is imported.
        if not isinstance(self.pager, RunPager):
            self.pager.follow_cursor(self.cursor)
            from .key_pager import Query

            query = Query(self.flt, self.sort, self.desc)
            generation = self.pager.begin_load(query)
            if not self.pager.loaded:
                self.loading = True
            self._load_pages(generation, query, self.pager.follow_id, max(self.size.height, 20))
            return
        self.pager.follow_cursor(self.cursor, live=self.live)
        generation = self.pager.begin_load()
        if not self.pager.loaded and self.first_page is None:
            self.loading = True  # (not for a first page read while the viewer started: it is there or nearly)
        if not self.grouped and self.first_page is not None:
            # A first page read while the viewer started is drawn in the list's first frame, not after
            # a round trip through a worker thread (the worker then reads the full order).
            page = self.first_page.take(self.flt, self.sort, self.desc, wait=False)
            if page is not None:
                self._show_top(generation, *page)
                # The full order once that frame is drawn: a thread building it (200,000 ids of a big
                # database) would share the interpreter with the frame until then.
                self.call_after_refresh(self._load_unless_reloaded, generation)
                return
        if self.grouped:
            self._load_sessions(
                generation, self.flt, self.sort, self.desc, set(self.pager.expanded), self.store_growing
            )
        else:
            self._load(generation, self.flt, self.sort, self.desc, quick, self.store_growing)

    def _load_unless_reloaded(self, generation: int) -> None:
        """The full order of the load `generation`, unless a later load has begun (it reads its own)."""
        if isinstance(self.pager, RunPager) and generation == self.pager.generation:
            self._load(generation, self.flt, self.sort, self.desc, False, self.store_growing)

    def _connect_or_fail(self, generation: int, growing: bool) -> TraceStore | None:
        """A store for a loading thread, or None once the failure is on its way to the list."""
        try:
            return self.connect()
        except (sqlite3.Error, OSError, TraceError) as exc:
            self._on_loop(self._load_failed, generation, str(exc), growing)
            return None

    @work(thread=True, exclusive=True, group="run-list")
    def _load_sessions(
        self, generation: int, flt: RunFilter, sort: str, desc: bool, expanded: set[SessionKey], growing: bool
    ) -> None:
        """The list grouped by session: every session in order, the runs of the expanded ones after it."""
        began = time.monotonic()
        store = self._connect_or_fail(generation, growing)
        if store is None:
            return
        try:
            if not isinstance(store, SessionStore):
                raise sqlite3.OperationalError(f"{store.label}: runs cannot be grouped by session here")
            order = read_sessions(store, flt, sort, desc, expanded)
            self._on_loop(self._show_order, generation, order, time.monotonic() - began)
        except (sqlite3.Error, TraceError) as exc:
            self._on_loop(self._load_failed, generation, str(exc), growing)
        finally:
            store.close()

    @work(thread=True, exclusive=True, group="run-list-session")
    def _load_members(
        self,
        generation: int,
        key: SessionKey,
        land: int = 0,
        answer: Callable[[str | None], None] | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Read a session's runs to list them under its row; `land` (+1 / -1: `]` / `[` reached the
        collapsed session) puts the cursor on its first / last failed run then, and tells `answer` it;
        `then` is called once they are listed."""
        try:
            store = self.connect()
        except (sqlite3.Error, OSError, TraceError):
            return
        try:
            if not isinstance(store, SessionStore):
                return
            members = read_session_members(store, self.flt, key, self.sort, self.desc)
        except (sqlite3.Error, TraceError) as exc:
            if isinstance(exc, TraceError):
                self._on_loop(self._report, exc)
            return
        finally:
            store.close()
        self._on_loop(self._show_members, generation, key, members, land, answer, then)

    def _show_members(
        self,
        generation: int,
        key: SessionKey,
        members: Order,
        land: int = 0,
        answer: Callable[[str | None], None] | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:
        pager = self.pager
        if not (isinstance(pager, RunPager) and generation == pager.generation and pager.expand(key, members)):
            if answer is not None:
                answer(None)
            return
        self._resized()
        if then is not None:
            then()
        if not land:
            return
        row = pager.position_of_session(key)
        if row is None:
            return
        if members.failed:
            row += 1 + (members.failed[0] if land > 0 else members.failed[-1])
        self.move_cursor(row, center=True)
        if answer is not None:
            answer(pager.id_at(row))

    def _enter_session(
        self, key: SessionKey, direction: int, answer: Callable[[str | None], None] | None = None
    ) -> None:
        """`]` / `[` reached a collapsed session holding a failed run: list its runs and go to that run."""
        if isinstance(self.pager, RunPager):
            self._load_members(self.pager.generation, key, direction, answer)

    def session_at(self, row: int) -> SessionKey | None:
        """The session on `row` of a list grouped by session (None: a run's row, or not grouped)."""
        return self.pager.session_at(row) if isinstance(self.pager, RunPager) else None

    def toggle_session(self, row: int) -> None:
        """Show the runs of the session on `row` under it, or hide them."""
        pager = self.pager
        key = self.session_at(row)
        if key is None or not isinstance(pager, RunPager):
            return
        if key in pager.expanded:
            pager.collapse(key)
            self._resized()
        else:
            self._load_members(pager.generation, key)

    def on_resize(self) -> None:
        super().on_resize()
        self._drawn = self._view()  # drawn again at the new size

    def _resized(self) -> None:
        self.size_to_rows()
        self.move_cursor(self.cursor)
        self.post_message(RunListLoaded(self.pager.count, self.pager.failed_count, self.pager.complete, 0.0))

    @work(thread=True, exclusive=True, group="run-list")
    def _load(self, generation: int, flt: RunFilter, sort: str, desc: bool, quick: bool, growing: bool) -> None:
        # Runs in a thread: only reads the store; the results are applied on the event loop.
        began = time.monotonic()
        store = self._connect_or_fail(generation, growing)
        if store is None:
            return
        try:
            page = self.first_page.take(flt, sort, desc) if self.first_page is not None else None
            if page is not None:
                self._on_loop(self._show_top, generation, *page)
            elif quick:
                count, first = read_top(store, flt, sort, desc)
                self._on_loop(self._show_top, generation, count, first)
            order = read_order(store, flt, sort, desc)
            self._on_loop(self._show_order, generation, order, time.monotonic() - began)
        except sqlite3.Error as exc:
            self._on_loop(self._load_failed, generation, str(exc), growing)
        finally:
            store.close()

    @work(thread=True, exclusive=True, group="run-list")
    def _load_pages(self, generation: int, query: Query, follow_id: str | None, height: int) -> None:
        """A database: the first page and the planner's estimate, the rows around a followed run,
        then the exact count and failed runs (the slow part: the server counts every matching run)."""
        from .key_pager import read_around, read_first, read_totals

        began = time.monotonic()
        try:
            store = self.connect()
        except (OSError, TraceError) as exc:
            self._on_loop(self._load_failed, generation, str(exc), False, exc)
            return
        try:
            count, exact, rows = read_first(paged(store), query)
            self._on_loop(self._show_first, generation, count, exact, rows)
            if follow_id is not None:
                around = read_around(paged(store), query, follow_id, height)
                if around is not None:
                    self._on_loop(self._show_window, generation, around)
            if not exact:
                totals = read_totals(paged(store), query)
                self._on_loop(self._show_totals, generation, totals, time.monotonic() - began)
        except TraceError as exc:
            self._on_loop(self._load_failed, generation, str(exc), False, exc)
        finally:
            store.close()

    def _show_first(self, generation: int, count: int, exact: bool, rows: list) -> None:
        pager = self.pager
        if not isinstance(pager, RunPager) and pager.show_first(generation, count, exact, rows):
            self._shown(0.0)

    def _show_totals(self, generation: int, totals: Totals, seconds: float) -> None:
        pager = self.pager
        if not isinstance(pager, RunPager) and pager.show_totals(generation, totals):
            self._shown(seconds)

    def _show_window(self, generation: int, window: Window) -> None:
        pager = self.pager
        on = self.current_run_id
        if not isinstance(pager, RunPager) and pager.show_window(generation, window):
            if pager.estimated and on is not None and pager.id_at(self.cursor) != on:
                moved = pager.position_of(on)  # placed by estimate, now read where it really is
                if moved is not None:
                    self.move_cursor(moved, center=True)
            if pager.follow_id is not None:
                position = pager.position_of(pager.follow_id)
                if position is not None:
                    pager.follow_id = None
                    self.size_to_rows()
                    self.move_cursor(position, center=True)
            self.size_to_rows()
            self.refresh()

    def _want_rows(self, row: int) -> None:
        """Rows near `row` are not read yet: read them (by key from the nearest row read) in a worker."""
        pager = self.pager
        if isinstance(pager, RunPager) or pager.query is None:
            return
        plan = pager.plan(row, max(self.size.height, 10))
        if plan is not None:
            self._read_window(pager.generation, pager.query, plan, not pager.exact and plan.from_end)

    def _ask_store(self, ask: Callable[[TraceStore], Any], then: Callable[[Any], None], failed: Callable) -> None:
        """In a worker thread: `ask` a store of its own (closed after), then hand the answer to `then` on
        the event loop, or the failure (no connection, a failed query) to `failed`."""
        try:
            store = self.connect()
        except (OSError, TraceError) as exc:
            self._on_loop(failed, exc)
            return
        try:
            answer = ask(store)
        except TraceError as exc:
            self._on_loop(failed, exc)
            return
        finally:
            store.close()
        self._on_loop(then, answer)

    @work(thread=True, group="run-rows")
    def _read_window(self, generation: int, query: Query, plan: WindowPlan, count_first: bool) -> None:
        from .key_pager import read_window

        self._ask_store(
            lambda store: read_window(paged(store), query, plan),
            lambda window: self._show_window(generation, window),
            self._window_failed,
        )

    def _window_failed(self, exc: Exception) -> None:
        if not isinstance(self.pager, RunPager):
            self.pager.window_failed()
        self._report(exc)

    def _report(self, exc: Exception) -> None:
        """A query that failed: a lost connection goes to the app (it reconnects), the rest is said."""
        if isinstance(exc, Unavailable) and exc.lost:
            self.post_message(SourceLost(exc.problem))
        else:
            notify_plain(self, str(exc), severity="error", timeout=8)

    def _load_failed(self, generation: int, problem: str, growing: bool, exc: Exception | None = None) -> None:
        if self.pager.load_failed(generation):
            if isinstance(exc, Unavailable) and exc.lost:
                self.post_message(SourceLost(exc.problem))
                if self.pager.loaded:
                    return  # the rows already shown stay; the app reloads once it has reconnected
            self.post_message(RunListLoadFailed(problem, growing))

    def _show_top(self, generation: int, count: int, first: list[Run]) -> None:
        if isinstance(self.pager, RunPager) and self.pager.show_top(generation, count, first):
            self._shown(0.0)

    def _show_order(self, generation: int, order: Order, seconds: float) -> None:
        if isinstance(self.pager, RunPager) and self.pager.show_order(generation, order):
            self._shown(seconds)

    def _shown(self, seconds: float) -> None:
        pager = self.pager
        longest = max((len(display.safe(i, single_line=True)) for i in pager.sample_ids()), default=0)
        longest += 2 if self.grouped else 0  # the ▸ of a session, the indent of its runs
        self._id_width = max(self._id_width, min(MAX_ID, longest))
        self.loading = False
        self.size_to_rows()
        landing = pager.landing(self.cursor)
        view = self._view() if landing == self.cursor else None
        if view is None or view != self._drawn:
            self.move_cursor(landing)
            self.refresh()
            self._drawn = self._view()
        # else: live, the store changed out of sight (runs arrived above a scrolled list, or outside
        # its filter): the lines on screen are the ones drawn, and drawing them again is most of what
        # a change costs the viewer's loop (docs/benchmarks.md, serve).
        estimated = not isinstance(pager, RunPager) and not pager.exact
        self.post_message(RunListLoaded(pager.count, pager.failed_count, pager.complete, seconds, estimated))

    def _view(self) -> tuple | None:
        """What the lines on screen show (the rows' runs, the cursor, the scroll, the columns), to tell
        whether a reload changed any of it; None: not told (the list is not live, not complete, grouped)."""
        pager = self.pager
        if not self.live or self.grouped or not isinstance(pager, RunPager) or not pager.complete or not self.size:
            return None  # (no size: hidden, while the store had no runs)
        top = round(self.scroll_offset.y)
        rows = range(top, min(top + self._visible_rows(), self.count))
        return (
            self.size,
            self.scroll_offset,
            self.cursor,
            self._id_width,
            self.marked,
            tuple((self.run_at(row), self.step_hits.get(pager.id_at(row) or "")) for row in rows),
        )

    def _on_loop(self, callback: Callable[..., Any], *args: Any) -> None:
        """From a worker thread: callback(*args) on the event loop, and nothing once the list is gone
        (the app closed while the thread read the store; `self.app` then has no app to give)."""
        try:
            app = self.app
        except NoActiveAppError:
            return
        app.call_from_thread(callback, *args)

    @property
    def count(self) -> int:
        return self.pager.count

    @property
    def failed_count(self) -> int | None:
        return self.pager.failed_count

    @property
    def loaded(self) -> bool:
        return self.pager.loaded

    @property
    def busy(self) -> bool:
        return self.pager.busy

    def id_at(self, row: int) -> str | None:
        return self.pager.id_at(row)

    @property
    def current_run_id(self) -> str | None:
        return self.pager.id_at(self.cursor)

    def run_at(self, row: int) -> Run | None:
        run = self.pager.run_at(row)
        if run is None and not isinstance(self.pager, RunPager):
            self.call_later(self._want_rows, row)  # never a query while drawing: a worker reads them
        elif run is None and self.pager.complete:
            self._read_rows(row)
            run = self.pager.run_at(row)
        return run

    def _read_rows(self, row: int) -> None:
        """Read the rows near `row` by id (primary-key lookups: cheap even on in-place views)."""
        if not isinstance(self.pager, RunPager):
            return
        wanted = self.pager.ids_to_read(row, max(self.size.height, 10))
        if not wanted:
            return
        try:
            if self._store is None:
                self._store = self.connect()
            self.pager.remember(self._store.runs_by_ids(wanted))
        except sqlite3.Error:
            pass

    def session_row_at(self, row: int) -> SessionRow | None:
        """The summary of the session on `row` (read with the sessions near it when first drawn)."""
        pager = self.pager
        key = self.session_at(row)
        if key is None or not isinstance(pager, RunPager):
            return None
        summary = pager.session_row(key)
        if summary is None:
            wanted = pager.sessions_to_read(row, max(self.size.height, 10))
            try:
                if self._store is None:
                    self._store = self.connect()
                if isinstance(self._store, SessionStore):
                    pager.remember_sessions(self._store.session_rows(wanted, self.flt))
            except sqlite3.Error:
                pass
            summary = pager.session_row(key)
        return summary

    def follow(self, run_id: str) -> None:
        """Put the cursor on this run (now, or once the list has loaded it)."""
        position = self.pager.follow(run_id, self.cursor)
        if position is not None:
            self.move_cursor(position)

    def failed_run_next_to(self, run_id: str, direction: int) -> str | None:
        """The next (+1) / previous (-1) failed-or-timeout run after `run_id` in this list's order
        (the one announced live first, for `]`), among the rows listed (ask_failed_run_next_to also
        reaches those of a collapsed session and beyond the rows a database list has read)."""
        announced = self._take_new_failure(direction)
        if announced is not None and announced != run_id:
            return announced
        found = self.pager.adjacent_failed_id(run_id, direction, self.cursor)
        return found if isinstance(found, str) else None

    def ask_failed_run_next_to(self, run_id: str, direction: int, answer: Callable[[str | None], None]) -> None:
        """The failed run next to `run_id`, handed to `answer` on the event loop; a collapsed session
        holding it is expanded first, a database is asked in a worker when the rows read do not hold it."""
        announced = self._take_new_failure(direction)
        if announced is not None and announced != run_id:
            answer(announced)
            return
        pager = self.pager
        if isinstance(pager, RunPager):
            shut = self._shut_session_of(run_id)
            if shut is not None:  # opened from elsewhere (a search's results): list its session's runs first
                again = lambda: self.ask_failed_run_next_to(run_id, direction, answer)  # noqa: E731
                self._load_members(pager.generation, shut, answer=answer, then=again)
                return
            found = pager.adjacent_failed_id(run_id, direction, self.cursor)
            if found is None or isinstance(found, str):
                answer(found)
            else:
                self._enter_session(found, direction, answer)  # the failed run is in a collapsed session
            return
        found_id = pager.adjacent_failed_id(run_id, direction, self.cursor)
        if found_id is not None or pager.query is None:
            answer(found_id)
            return
        self._ask_failed_next(pager.query, run_id, direction, answer)

    def _shut_session_of(self, run_id: str) -> SessionKey | None:
        """The collapsed session a run not listed belongs to (grouped by session), else None."""
        pager = self.pager
        if not self.grouped or not isinstance(pager, RunPager) or pager.position_of(run_id, self.cursor) is not None:
            return None
        try:
            if self._store is None:
                self._store = self.connect()
            session = self._store.get_run(run_id).session
        except (sqlite3.Error, TraceError, LookupError):
            return None
        from ...store.sessions import SessionKey

        key = SessionKey(session) if session is not None else None
        if key is None or key in pager.expanded or pager.position_of_session(key) is None:
            return None
        return key

    @work(thread=True, exclusive=True, group="run-list-failed")
    def _ask_failed_next(self, query: Query, run_id: str, direction: int, answer: Callable[[str | None], None]) -> None:
        from .key_pager import read_failed_next

        try:
            store = self.connect()
        except (OSError, TraceError) as exc:
            self._on_loop(self._report, exc)
            return
        try:
            key = paged(store).key_of(run_id, query.sort, query.flt)
            nxt = read_failed_next(paged(store), query, key, direction) if key is not None else None
        except TraceError as exc:
            self._on_loop(self._report, exc)
            return
        finally:
            store.close()
        self._on_loop(answer, None if nxt is None else nxt.rows[0][0].id)

    def _take_new_failure(self, direction: int) -> str | None:
        """The failed run announced live, once, if `]` should go there (and it is still in the list)."""
        run_id, self.new_failure = self.new_failure, None
        if direction < 0 or run_id is None or self.pager.position_of(run_id) is None:
            return None
        return run_id

    # -- cursor -----------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return self.count

    def action_open(self) -> None:
        if self.session_at(self.cursor) is not None:
            self.toggle_session(self.cursor)
            return
        run_id = self.current_run_id
        if run_id is not None:
            # Found by its steps' text: the run opens on the first match, and n/N go through the others.
            search = self.flt.search if run_id in self.step_hits else None
            self.post_message(OpenRun(run_id, search=search))

    def _jump_failed(self, direction: int) -> None:
        if self.count == 0:
            return
        announced = self._take_new_failure(direction)
        if announced is not None and announced != self.current_run_id:
            self.move_cursor(self.pager.position_of(announced, self.cursor) or 0)
            return
        pager = self.pager
        if isinstance(pager, RunPager):
            here = pager.session_at(self.cursor)
            if direction > 0 and here is not None and here not in pager.expanded and pager.is_failed(self.cursor):
                self._enter_session(here, direction)  # on a collapsed failed session: into it
                return
            row = pager.adjacent_failed_entry(self.cursor, direction)
            session = pager.session_at(row) if row is not None else None
            if session is not None:
                self._enter_session(session, direction)  # grouped: the failed run is in a collapsed session
                return
        else:
            row = pager.adjacent_failed(self.cursor, direction)
        if row is None and not isinstance(pager, RunPager) and pager.query is not None:
            key = pager.key_at(self.cursor)
            if key is not None:
                self._find_failed(pager.generation, pager.query, key, direction)
                return
        if row is None:
            self._no_failed_run(direction)
        else:
            self.move_cursor(row)

    def _no_failed_run(self, direction: int) -> None:
        notify_plain(self, f"No {'next' if direction > 0 else 'previous'} failed run in this list.", timeout=3)

    @work(thread=True, exclusive=True, group="run-list-failed")
    def _find_failed(self, generation: int, query: Query, key: tuple, direction: int) -> None:
        """The next failed run beyond the rows read, and its place in the list, asked of the server."""
        from .key_pager import read_failed_next

        self._ask_store(
            lambda store: read_failed_next(paged(store), query, key, direction),
            lambda found: self._found_failed(generation, found, direction),
            self._report,
        )

    def _found_failed(self, generation: int, found: Window | None, direction: int) -> None:
        if generation != self.pager.generation:
            return
        if found is None:
            self._no_failed_run(direction)
            return
        pager = self.pager
        if not isinstance(pager, RunPager):
            pager.show_window(generation, found)
            position = pager.position_of(found.rows[0][0].id)
            self.size_to_rows()
            self.move_cursor(position if position is not None else found.first, center=True)

    def action_next_failed(self) -> None:
        self._jump_failed(+1)

    def action_previous_failed(self) -> None:
        self._jump_failed(-1)

    def action_mark(self) -> None:
        run_id = self.current_run_id
        if run_id is None:
            return
        self.marked = None if self.marked == run_id else run_id
        self.refresh()
        self.post_message(RunMarked(self.marked))

    def action_compare(self) -> None:
        current = self.current_run_id
        if self.marked is None or current is None or current == self.marked:
            notify_plain(self, "Mark a run with space, move to another run, then press c.", timeout=4)
            return
        self.post_message(CompareRuns(self.marked, current))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            self._click_header(offset.x + round(self.scroll_offset.x))
            return
        row = round(self.scroll_offset.y) + offset.y - 1
        if 0 <= row < self.count:
            self.focus()
            self.move_cursor(row)
            if event.chain >= 2:
                self.action_open()

    def _click_header(self, x: int) -> None:
        for column, start, width in self._layout():
            if start <= x < start + width and column.sort is not None:
                if column.sort == self.sort:
                    self.set_query(desc=not self.desc)
                else:
                    self.set_query(sort=column.sort, desc=default_desc(column.sort))
                return

    # -- drawing ----------------------------------------------------------------------------------
    def _layout(self) -> list[tuple[Column, int, int]]:
        """(column, x, width) for the current widget width; id and error columns flex.

        At narrow widths the least needed columns are left out (the error excerpt stays), rather
        than pushing the error off screen to the right.
        """
        columns = list(self.columns)
        # With a file column, room for more of the id is kept by leaving out a column sooner.
        min_id = MIN_FOLDER_ID if FILE_COLUMN in columns else MIN_ID
        # The width beside the vertical scroll bar: rows that fit it need no horizontal one (which
        # would cover the last row).
        available = self.scrollable_content_region.width or self.size.width
        # The column sorted by stays (what is the point of a sort by cost whose costs are hidden?),
        # but the start time: newest first is the list's own order, and its 20 cells are dear at 80.
        kept = self.sort if self.sort != "started" else None
        for name in DROP_ORDER:
            if any(c.name == name and c.sort == kept for c in columns):
                continue
            needed = sum(c.width + 1 for c in columns if c.width) + min_id + MIN_ERROR + 1
            if needed <= available:
                break
            columns = [c for c in columns if c.name != name]
        fixed = sum(c.width + 1 for c in columns if c.width) + 1
        spare = max(available - fixed, MIN_ID + MIN_ERROR)
        id_width = max(MIN_ID, min(self._id_width, spare - MIN_ERROR))
        error_width = max(MIN_ERROR, spare - id_width)
        out, x = [], 0
        for column in columns:
            width = column.width or (id_width if column.name == "id" else error_width)
            out.append((column, x, width))
            x += width + 1
        return out

    def content_width(self) -> int:
        column, x, width = self._layout()[-1]
        return x + width

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style, worked out from its ancestors', once a frame rather than once a line.
        self._base_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._base_style = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = round(self.scroll_offset.x), round(self.scroll_offset.y)
        base = self.rich_style if self._base_style is None else self._base_style
        if y == 0:
            line = self._header_text()
        else:
            row = scroll_y + y - 1
            if row >= self.count:
                return Strip.blank(width, base)
            line = self._row_text(row)
        # (The strip measures its segments when asked: short ones, whose widths rich keeps, where the
        # whole line's width would be measured character by character.) The cursor row's style pads it.
        pad = base + line.style if isinstance(line.style, Style) else base
        return Strip(self.line_segments(line, base)).crop_extend(scroll_x, scroll_x + width, pad)

    def _header_text(self) -> Text:
        header = self.get_component_rich_style("run-list--header")
        sorted_style = self.get_component_rich_style("run-list--sorted", partial=True)
        text = Text(style=header, no_wrap=True, end="")
        for column, _x, width in self._layout():
            title = GROUPED_TITLES.get(column.name, column.title) if self.grouped else column.title
            if column.name == "started":
                title = f"started ({display.zone_label()})"
            is_sorted = column.sort is not None and column.sort == self.sort
            if is_sorted:
                title = f"{title}{'▼' if self.desc else '▲'}"
            text.append_text(self._cell(title, width, column.right, sorted_style if is_sorted else None))
            text.append(" ")
        return text

    def _session_text(self, row: int, key: SessionKey, line_style: Style) -> Text:
        text = Text(style=line_style, no_wrap=True, end="")
        summary = self.session_row_at(row)
        if summary is None:
            pending = self.get_component_rich_style("run-list--pending", partial=True)
            text.append(self._cell("  …", self.content_width(), False, pending))
            return text
        cells = present.session_cells(summary)
        expanded = isinstance(self.pager, RunPager) and key in self.pager.expanded
        cells["id"] = ("▾ " if expanded else "▸ ") + cells["id"]
        cells["agent"], cells["error"] = cells["runs"], cells["failed"]
        bold = self.get_component_rich_style("run-list--session", partial=True)
        failed = summary.status in FAILED_STATUSES
        failed_style = self.get_component_rich_style("run-list--failed", partial=True) if failed else None
        for column, _x, width in self._layout():
            if column.name == "mark":
                text.append(" ")
            else:
                style = failed_style if failed and column.name in ("status", "id", "error") else bold
                text.append_text(self._cell(cells[column.name], width, column.right, style))
            text.append(" ")
        return text

    def _row_text(self, row: int) -> Text:
        line_style = self.get_component_rich_style("run-list--cursor") if row == self.cursor else Style()
        key = self.session_at(row)
        if key is not None:
            return self._session_text(row, key, line_style)
        run = self.run_at(row)
        text = Text(style=line_style, no_wrap=True, end="")
        if run is None:
            pending = self.get_component_rich_style("run-list--pending", partial=True)
            text.append(self._cell("  …", self.content_width(), False, pending))
            return text
        failed = run.status in FAILED_STATUSES
        failed_style = self.get_component_rich_style("run-list--failed", partial=True) if failed else None
        cells = cell_texts(run)
        if self.grouped and run.session is not None:
            cells["id"] = "  " + cells["id"]  # under its session's row
        hit = self.step_hits.get(run.id)
        if hit is not None:
            more = f" +{hit.count - 1:,}" if hit.count > 1 else ""
            found = f"⌕ {display.clip(hit.step_name or hit.step_id, 40)}{more}"
            cells["error"] = f"{found} · {cells['error']}" if cells["error"] else found
        for column, _x, width in self._layout():
            if column.name == "mark":
                marked = run.id == self.marked
                cell = Text(
                    "●" if marked else " ",
                    style=self.get_component_rich_style("run-list--marked", partial=True) if marked else "",
                )
            elif column.name == "file":  # cut in the middle: a file's folder and its name's end both show
                cell = self._cell(display.clip(run.source_file or "-", width), width, False, None)
            else:
                style = failed_style if column.name in ("status", "id", "error") else None
                cell = self._cell(cells[column.name], width, column.right, style)
            text.append_text(cell)
            text.append(" ")
        return text

    @staticmethod
    def _cell(value: str, width: int, right: bool, style: Style | None) -> Text:
        """`value` in exactly `width` cells: cut with an ellipsis, padded on the left when `right`.
        (What Text.truncate(width, overflow="ellipsis") then Text.align do, without their Text work.)"""
        value = strip_control_codes(value)
        if cell_len(value) > width:
            value = set_cell_size(value, width - 1) + "…"
        length = cell_len(value)
        if length > width:  # (only for a width under 1)
            value = set_cell_size(value, width)
            length = cell_len(value)
        padding = " " * (width - length)
        return Text(f"{padding}{value}" if right else f"{value}{padding}", style=style or "", no_wrap=True, end="")


__all__ = ["RunList", "SORT_CYCLE", "COLUMNS", "FILE_COLUMN", "cell_texts"]
