"""The run list: one line per run, drawn line by line and paged from SQLite.

Only the rows on screen are ever fetched, so a store of 200k runs paints as fast as one of ten.
A worker loads the ordered run ids for the current filter and sort (plus the first page at once,
for a quick first paint); rows are then fetched by id as they scroll into view.
"""

from __future__ import annotations

import bisect
import sqlite3
import time
from dataclasses import dataclass, replace

from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip

from ... import display
from ...errors import TraceError
from ...model import FAILED_STATUSES, Run
from ...store import SORT_KEYS, RunFilter, Store, default_desc
from .cursor_list import CursorList, cursor_bindings

SORT_CYCLE = tuple(key.name for key in SORT_KEYS if key.cycle)
FIRST_PAGE = 200
CACHE_LIMIT = 5000


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
MIN_ID, MAX_ID, MIN_ERROR = 12, 36, 20
# Left out first when the terminal is too narrow for every column.
DROP_ORDER = ("credits", "cost", "tokens", "steps", "duration", "started", "agent")


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


def cell_texts(run: Run) -> dict[str, str]:
    steps = display.count(run.step_count)
    if run.failed_steps:
        steps = f"{steps} ✗{display.count(run.failed_steps)}"
    return {
        "status": display.status_word(run.status),
        "id": display.safe(run.id, single_line=True),
        "agent": display.safe(run.agent or "-", single_line=True),
        "started": display.when(run.started_at),
        "duration": display.duration(run.duration_ms),
        "steps": steps,
        "tokens": display.tokens(run.total("tokens_in"), run.total("tokens_out")),
        "credits": display.credits(run.total("credits")),
        "cost": display.cost(run.total("cost_usd")),
        "error": display.excerpt(run.error, 400) if run.error else "",
    }


class RunList(CursorList, can_focus=True):
    """Runs of the store, filtered and sorted in SQL; a cursor row, one optional marked run."""

    HEADER_LINES = 1

    BINDINGS = [
        *cursor_bindings("tracetui.runs", "run"),
        Binding("enter", "open", "Open", tooltip="Open the run under the cursor", id="tracetui.runs.open"),
        Binding(
            "right_square_bracket",
            "next_failed",
            "Next failed",
            key_display="]",
            tooltip="Next failed or timed-out run",
            id="tracetui.runs.next_failed",
        ),
        Binding(
            "left_square_bracket",
            "previous_failed",
            "Prev failed",
            key_display="[",
            show=False,
            id="tracetui.runs.previous_failed",
        ),
        Binding("space,m", "mark", "Mark", show=False, id="tracetui.runs.mark"),
        Binding("c", "compare", "Compare with mark", show=False, id="tracetui.runs.compare"),
    ]

    COMPONENT_CLASSES = {
        "run-list--header",
        "run-list--sorted",
        "run-list--cursor",
        "run-list--failed",
        "run-list--marked",
        "run-list--pending",
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
    """

    class Loaded(Message):
        """The list has (re)loaded: counts for the status line."""

        def __init__(self, run_list: RunList) -> None:
            super().__init__()
            self.run_list = run_list

    class LoadFailed(Message):
        """The store could not be queried (while importing: not yet written; otherwise unreadable)."""

        def __init__(self, problem: str, importing: bool) -> None:
            super().__init__()
            self.problem = problem
            self.importing = importing  # the store may simply not be written yet

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.flt = RunFilter()
        self.sort = "started"
        self.desc = True
        self.count = 0
        self.failed_count: int | None = None
        self.loaded = False  # a load has completed at least once
        self.marked: str | None = None
        self._generation = 0
        self._first: list[Run] = []
        self._ids: list[str] | None = None
        self._failed_positions: list[int] | None = None
        self._rows: dict[str, Run] = {}
        self._store: Store | None = None
        self._follow_id: str | None = None  # keep the cursor on this run across reloads
        self._id_width = MIN_ID  # as wide as the ids seen so far need, up to MAX_ID
        self._loading = False
        self.load_seconds = 0.0  # how long the last full load took (paces polling during import)
        self.loaded_at = 0.0

    # -- data -------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.reload()

    def set_query(self, *, flt: RunFilter | None = None, sort: str | None = None, desc: bool | None = None) -> None:
        if flt is not None:
            self.flt = flt
        if sort is not None:
            self.sort = sort
        if desc is not None:
            self.desc = desc
        # A run the user moved to stays selected under the new order; a cursor on the first row
        # stays on the first row (the top of the new order is what they asked to see).
        self._follow_id = self.current_run_id if self.cursor > 0 else None
        self.reload()

    def reload(self, *, fresh_connection: bool = False, quick: bool = True) -> None:
        """Load counts and ordered ids again (new filter/sort, or the store grew).

        `quick` first fetches just the top page, so a new sort or filter paints before the full
        ordered id list (a full sort of the table) is ready.
        """
        if fresh_connection and self._store is not None:
            self._store.close()
            self._store = None
        if self._follow_id is None and self.cursor > 0:
            # Keep a chosen run under the cursor as rows arrive; a cursor left on the first row
            # stays there, so the newest runs stay in view while a file is imported.
            self._follow_id = self.current_run_id
        self._generation += 1
        self._loading = True
        if not self.loaded:
            self.loading = True
        self._load(self._generation, self.flt, self.sort, self.desc, quick)

    @property
    def busy(self) -> bool:
        return self._loading

    @work(thread=True, exclusive=True, group="run-list")
    def _load(self, generation: int, flt: RunFilter, sort: str, desc: bool, quick: bool) -> None:
        began = time.monotonic()
        try:
            store = self.app.new_store()
        except (sqlite3.Error, OSError, TraceError) as exc:
            self.app.call_from_thread(self._load_failed, generation, str(exc))
            return
        try:
            count = store.count_runs(flt)
            if quick:
                top = store.run_ids(flt, sort=sort, desc=desc, limit=FIRST_PAGE)
                by_id = {run.id: run for run in store.runs_by_ids(top)}
                first = [by_id[i] for i in top if i in by_id]
                self.app.call_from_thread(self._apply, generation, count, first, None, None)
            ids = store.run_ids(flt, sort=sort, desc=desc)
            narrowed = failed_filter(flt)
            failed_ids = set(store.run_ids(narrowed, sort=sort, desc=desc)) if narrowed else set()
            positions = [i for i, run_id in enumerate(ids) if run_id in failed_ids] if failed_ids else []
            self.loaded_at = time.monotonic()
            self.load_seconds = self.loaded_at - began
            self.app.call_from_thread(self._apply, generation, len(ids), None, ids, positions)
        except sqlite3.Error as exc:
            self.app.call_from_thread(self._load_failed, generation, str(exc))
        finally:
            store.close()

    def _load_failed(self, generation: int, problem: str) -> None:
        if generation == self._generation:
            self._loading = False
            self.post_message(self.LoadFailed(problem, self.app.importing))

    def _apply(
        self, generation: int, count: int, first: list[Run] | None, ids: list[str] | None, positions: list[int] | None
    ) -> None:
        if generation != self._generation:
            return  # a newer query superseded this one
        self.count = count
        self._rows.clear()
        if first is not None:
            self._first = first
            self._ids = None
            self._failed_positions = None
            self.failed_count = None
            for run in first:
                self._rows[run.id] = run
        if ids is not None:
            self._ids = ids
            self._first = []
            self._failed_positions = positions
            self.failed_count = len(positions or [])
            self._loading = False
        sample = ids[:2000] if ids is not None else [run.id for run in first or ()]
        longest = max((len(display.safe(i, single_line=True)) for i in sample), default=0)
        self._id_width = max(self._id_width, min(MAX_ID, longest))
        self.loaded = True
        self.loading = False
        self.size_to_rows()
        follow = self._follow_id
        position = self.position_of(follow) if follow is not None else None
        if ids is not None:
            self._follow_id = None
        if position is not None:
            self.move_cursor(position)
        elif follow is not None and ids is not None:
            self.move_cursor(0)  # the selected run is no longer in the list
        else:
            self.move_cursor(min(self.cursor, max(count - 1, 0)))
        self.refresh()
        self.post_message(self.Loaded(self))

    def id_at(self, row: int) -> str | None:
        if self._ids is not None:
            return self._ids[row] if 0 <= row < len(self._ids) else None
        return self._first[row].id if 0 <= row < len(self._first) else None

    def position_of(self, run_id: str) -> int | None:
        if self._ids is not None:
            if 0 <= self.cursor < len(self._ids) and self._ids[self.cursor] == run_id:
                return self.cursor
            try:
                return self._ids.index(run_id)
            except ValueError:
                return None
        for i, run in enumerate(self._first):
            if run.id == run_id:
                return i
        return None

    @property
    def current_run_id(self) -> str | None:
        return self.id_at(self.cursor)

    def run_at(self, row: int) -> Run | None:
        run_id = self.id_at(row)
        if run_id is None:
            return None
        run = self._rows.get(run_id)
        if run is None and self._ids is not None:
            self._fetch_around(row)
            run = self._rows.get(run_id)
        return run

    def _fetch_around(self, row: int) -> None:
        """Fetch the rows near `row` by id (primary-key lookups: cheap even on in-place views)."""
        height = max(self.size.height, 10)
        start, end = max(0, row - height), min(len(self._ids or ()), row + 2 * height)
        wanted = [i for i in (self._ids or ())[start:end] if i not in self._rows]
        if not wanted:
            return
        if len(self._rows) > CACHE_LIMIT:
            self._rows.clear()
        try:
            if self._store is None:
                self._store = self.app.new_store()
            for run in self._store.runs_by_ids(wanted):
                self._rows[run.id] = run
        except sqlite3.Error:
            pass

    def follow(self, run_id: str) -> None:
        """Put the cursor on this run (now, or once the list has loaded it)."""
        position = self.position_of(run_id)
        if position is not None:
            self.move_cursor(position)
        else:
            self._follow_id = run_id

    # -- failed runs ------------------------------------------------------------------------------
    def adjacent_failed(self, position: int, direction: int) -> int | None:
        """Row of the next (+1) / previous (-1) failed-or-timeout run from `position`, if any."""
        positions = self._failed_positions
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

    def adjacent_failed_run(self, run_id: str, direction: int) -> str | None:
        position = self.position_of(run_id)
        if position is None:
            return None
        row = self.adjacent_failed(position, direction)
        if row is None:
            return None
        self.move_cursor(row)
        return self.id_at(row)

    # -- cursor -----------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return self.count

    def action_open(self) -> None:
        run_id = self.current_run_id
        if run_id is not None:
            self.app.open_run(run_id)

    def _jump_failed(self, direction: int) -> None:
        if self.count == 0:
            return
        row = self.adjacent_failed(self.cursor, direction)
        if row is None:
            word = "next" if direction > 0 else "previous"
            self.notify(f"No {word} failed run in this list.", timeout=3)
        else:
            self.move_cursor(row)

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

    def action_compare(self) -> None:
        current = self.current_run_id
        if self.marked is None or current is None or current == self.marked:
            self.notify("Mark a run with space, move to another run, then press c.", timeout=4)
            return
        self.app.compare_runs(self.marked, current)

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
        columns = list(COLUMNS)
        for name in DROP_ORDER:
            needed = sum(c.width + 1 for c in columns if c.width) + MIN_ID + MIN_ERROR + 1
            if needed <= self.size.width:
                break
            columns = [c for c in columns if c.name != name]
        fixed = sum(c.width + 1 for c in columns if c.width) + 1
        spare = max(self.size.width - fixed, MIN_ID + MIN_ERROR)
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

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = round(self.scroll_offset.x), round(self.scroll_offset.y)
        base = self.rich_style
        if y == 0:
            line = self._header_text()
        else:
            row = scroll_y + y - 1
            if row >= self.count:
                return Strip.blank(width, base)
            line = self._row_text(row)
        segments = list(line.render(self.app.console, end=""))
        return Strip(segments, line.cell_len).crop_extend(scroll_x, scroll_x + width, base)

    def _header_text(self) -> Text:
        header = self.get_component_rich_style("run-list--header")
        sorted_style = self.get_component_rich_style("run-list--sorted", partial=True)
        text = Text(style=header, no_wrap=True, end="")
        for column, _x, width in self._layout():
            title = column.title
            is_sorted = column.sort is not None and column.sort == self.sort
            if is_sorted:
                title = f"{title}{'▼' if self.desc else '▲'}"
            text.append_text(self._cell(title, width, column.right, sorted_style if is_sorted else None))
            text.append(" ")
        return text

    def _row_text(self, row: int) -> Text:
        run = self.run_at(row)
        line_style = self.get_component_rich_style("run-list--cursor") if row == self.cursor else Style()
        text = Text(style=line_style, no_wrap=True, end="")
        if run is None:
            pending = self.get_component_rich_style("run-list--pending", partial=True)
            text.append(self._cell("  …", self.content_width(), False, pending))
            return text
        failed = run.status in FAILED_STATUSES
        failed_style = self.get_component_rich_style("run-list--failed", partial=True) if failed else None
        cells = cell_texts(run)
        for column, _x, width in self._layout():
            if column.name == "mark":
                marked = run.id == self.marked
                cell = Text(
                    "●" if marked else " ",
                    style=self.get_component_rich_style("run-list--marked", partial=True) if marked else "",
                )
            else:
                style = failed_style if column.name in ("status", "id", "error") else None
                cell = self._cell(cells[column.name], width, column.right, style)
            text.append_text(cell)
            text.append(" ")
        return text

    @staticmethod
    def _cell(value: str, width: int, right: bool, style: Style | None) -> Text:
        cell = Text(value, style=style or "", no_wrap=True, end="")
        cell.truncate(width, overflow="ellipsis")
        cell.align("right" if right else "left", width)
        return cell


__all__ = ["RunList", "SORT_CYCLE", "COLUMNS", "failed_filter", "cell_texts"]
