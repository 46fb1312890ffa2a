"""Every step a search found across runs (`R` in the run list after `/`): a line a step, with its run,
name, kind and the text around the match (the match marked), run by run in the run list's order.

The hits come from one worker (store.steps_matching: the index at once, a scan run by run with
progress, Esc stops it); only their ids, names and kinds are held, so 100k hits are a list of 100k
small records. The text around each match is read for the rows on screen only, in a worker, and kept
for the rows seen last. Enter opens the run at that step (n/N go through the run's other matches).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from ... import display, present
from ...errors import TraceError
from ...store import RunFilter, search
from ...store.protocol import TraceStore
from ...store.search import Snippet, StepHit
from ..messages import OpenRun
from ..plain import notify_plain
from ..widgets.cursor_list import CursorList, cursor_bindings

SNIPPETS_KEPT = 2000  # texts around a match kept; rows scrolled back to are read again
# The first hits go to the screen at once, then at most once a second: each batch redraws the rows on
# screen and the scroll bar (~20 ms at 160x48), which ten times a second took more CPU than the search.
FLUSH_SECONDS = 1.0
RUN_WIDTH, STEP_WIDTH, KIND_WIDTH = 24, 24, 8
MIN_MATCH = 20

Key = tuple[str, str]  # (run id, step id)


class StepHitList(CursorList, can_focus=True):
    """The hits, drawn a line at a time; the text around each match read as its row comes into view."""

    HEADER_LINES = 1

    BINDINGS = [
        *cursor_bindings("tracetui.hits", "step"),
        Binding("enter", "open", "Open", tooltip="Open the run at this step", id="tracetui.hits.open"),
    ]

    COMPONENT_CLASSES = {"step-hits--header", "step-hits--cursor", "step-hits--pending"}

    DEFAULT_CSS = """
    StepHitList { height: 1fr; }
    StepHitList > .step-hits--header { text-style: bold; background: $panel; }
    StepHitList > .step-hits--cursor { background: $block-cursor-blurred-background; }
    StepHitList:focus > .step-hits--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    StepHitList > .step-hits--pending { color: $text-muted; }
    """

    def __init__(self, query: str, connect: Callable[[], TraceStore], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.query_text = query
        self.connect = connect
        self.hits: list[StepHit] = []
        self.runs = 0  # how many runs the hits are in
        self._run_width = self._step_width = 4  # as wide as the ids and names seen need, up to the limits
        self._snippets: LRUCache[Key, Snippet | None] = LRUCache(SNIPPETS_KEPT)
        self._reading: set[Key] = set()  # asked of the worker, not answered yet

    @property
    def row_count(self) -> int:
        return len(self.hits)

    def add(self, hits: list[StepHit]) -> None:
        last = self.hits[-1].run_id if self.hits else None
        for hit in hits:
            if hit.run_id != last:
                self.runs += 1
                last = hit.run_id
                self._run_width = max(self._run_width, min(len(hit.run_id), RUN_WIDTH))
            self._step_width = max(self._step_width, min(len(str(hit.name or hit.step_id)), STEP_WIDTH))
        shown = len(self.hits)
        self.hits.extend(hits)
        self.size_to_rows()
        if shown < round(self.scroll_offset.y) + self._visible_rows():
            self.refresh()  # new rows in view (else only the scroll bar changes)

    def current(self) -> StepHit | None:
        return self.hits[self.cursor] if 0 <= self.cursor < len(self.hits) else None

    def action_open(self) -> None:
        hit = self.current()
        if hit is not None:
            self.post_message(OpenRun(hit.run_id, search=self.query_text, step_id=hit.step_id))

    # -- the text around each match, for the rows on screen ---------------------------------------
    def _want(self, row: int) -> None:
        """Read the snippets of the rows around `row` that are neither read nor being read."""
        height = max(self.size.height, 10)
        start, end = max(0, row - height), min(len(self.hits), row + 2 * height)
        wanted = []
        for hit in self.hits[start:end]:
            key = (hit.run_id, hit.step_id)
            if key not in self._snippets and key not in self._reading:
                wanted.append(key)
        if wanted:
            self._reading.update(wanted)
            self._read_snippets(wanted)

    @work(thread=True, group="step-hit-snippets")
    def _read_snippets(self, keys: list[Key]) -> None:
        try:
            store = self.connect()
        except (sqlite3.Error, OSError, TraceError):
            return
        found: list[tuple[Key, Snippet | None]] = []
        try:
            for key in keys:
                try:
                    found.append((key, store.step_snippet(*key, self.query_text)))
                except (sqlite3.Error, TraceError, LookupError):
                    found.append((key, None))  # the step is gone (the file was read again)
        finally:
            store.close()
        self.app.call_from_thread(self._got_snippets, found)

    def _got_snippets(self, found: list[tuple[Key, Snippet | None]]) -> None:
        for key, snip in found:
            self._reading.discard(key)
            self._snippets.set(key, snip)
        self.refresh()

    # -- drawing ----------------------------------------------------------------------------------
    def _widths(self) -> tuple[int, int, int, int]:
        available = self.scrollable_content_region.width or self.size.width
        run_w = min(self._run_width, max(8, (available - MIN_MATCH) // 4))
        step_w = min(self._step_width, max(8, (available - MIN_MATCH) // 4))
        kind_w = KIND_WIDTH if available >= 100 else 0
        used = run_w + step_w + (kind_w + 1 if kind_w else 0) + 2
        return run_w, step_w, kind_w, max(MIN_MATCH, available - used - 1)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_y = round(self.scroll_offset.y)
        base = self.rich_style
        if y == 0:
            line = self._header()
        else:
            row = scroll_y + y - 1
            if row >= len(self.hits):
                return Strip.blank(width, base)
            if y == 1:
                self._want(row)  # the rows on screen and a screen either side
            line = self._row(row)
        return Strip(self.line_segments(line, base), line.cell_len).crop_extend(0, width, base)

    def _header(self) -> Text:
        run_w, step_w, kind_w, match_w = self._widths()
        text = Text(style=self.get_component_rich_style("step-hits--header"), no_wrap=True, end="")
        cells = [("run", run_w), ("step", step_w), *((("kind", kind_w),) if kind_w else ()), ("match", match_w)]
        for title, w in cells:
            text.append_text(_cell(Text(title), w))
            text.append(" ")
        return text

    def _row(self, row: int) -> Text:
        hit = self.hits[row]
        run_w, step_w, kind_w, match_w = self._widths()
        line_style = self.get_component_rich_style("step-hits--cursor") if row == self.cursor else Style()
        text = Text(style=line_style, no_wrap=True, end="")
        text.append_text(_cell(Text(display.clip(hit.run_id, run_w)), run_w))
        text.append(" ")
        text.append_text(_cell(Text(display.clip(hit.name or hit.step_id, step_w), "bold"), step_w))
        text.append(" ")
        if kind_w:
            text.append_text(_cell(Text(display.clip(hit.kind or "-", kind_w), "dim"), kind_w))
            text.append(" ")
        key = (hit.run_id, hit.step_id)
        if key in self._snippets:
            text.append_text(_cell(present.snippet_text(self._snippets.get(key), self.query_text), match_w))
        else:
            pending = self.get_component_rich_style("step-hits--pending", partial=True)
            text.append_text(_cell(Text("…", pending), match_w))
        return text


def _cell(value: Text, width: int) -> Text:
    cell = value.copy()
    cell.no_wrap = True
    cell.end = ""
    cell.truncate(width, overflow="ellipsis")
    cell.align("left", width)
    return cell


class StepHitsScreen(Screen):
    """Every step the run list's search found: `/query · N matching steps in M runs`, then the list."""

    BINDINGS = [
        Binding(
            "escape",
            "back",
            "Back",
            tooltip="Stop a search still running, else back to the run list",
            id="tracetui.hits.back",
        ),
    ]

    DEFAULT_CSS = """
    StepHitsScreen #hits-status { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, query: str, flt: RunFilter, connect: Callable[[], TraceStore], *, sort: str, desc: bool) -> None:
        super().__init__(id="step-hits-screen")
        self.query_text = query
        self.flt = flt
        self.sort = sort
        self.desc = desc
        self.connect = connect
        self.searching = True
        self._progress: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="hits-status")
        yield StepHitList(self.query_text, self.connect, id="step-hits")
        yield Footer(compact=True)

    @property
    def hit_list(self) -> StepHitList:
        return self.query_one(StepHitList)

    def on_mount(self) -> None:
        self._show_status()
        self.hit_list.focus()
        self._search(self.query_text, self.flt)

    @work(thread=True, exclusive=True, group="step-hits", exit_on_error=False)
    def _search(self, query: str, flt: RunFilter) -> None:
        worker = get_current_worker()
        last = 0.0  # the first hits are shown as soon as they are found
        waiting: list[StepHit] = []

        def progress(done: int, total: int) -> None:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_progress, done, total)

        try:
            store = self.connect()
        except (sqlite3.Error, OSError, TraceError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        try:
            found = store.steps_matching(
                query, flt, sort=self.sort, desc=self.desc, progress=progress, cancelled=lambda: worker.is_cancelled
            )
            for hits in found:
                waiting.extend(hits)
                if time.monotonic() - last > FLUSH_SECONDS:
                    last = time.monotonic()
                    self.app.call_from_thread(self._add, waiting)
                    waiting = []
        except search.Cancelled:
            self.app.call_from_thread(self._add, waiting)
            return
        except (sqlite3.Error, TraceError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._done, waiting)

    def _add(self, hits: list[StepHit]) -> None:
        if not self.is_mounted:
            return  # closed while the search went on
        if hits:
            self.hit_list.add(hits)
        self._show_status()

    def _done(self, hits: list[StepHit]) -> None:
        if not self.is_mounted:
            return  # closed while the search went on
        self.searching = False
        self._add(hits)

    def _failed(self, problem: str) -> None:
        if not self.is_mounted:
            return  # closed while the search went on
        self.searching = False
        self._show_status()
        notify_plain(self, f"Cannot search the steps: {problem}", severity="error")

    def _show_progress(self, done: int, total: int) -> None:
        if not self.is_mounted:
            return  # closed while the search went on
        self._progress = (done, total)
        self._show_status()

    def _show_status(self) -> None:
        hits = self.hit_list
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("/", "bold")
        text.append(display.safe(self.query_text, single_line=True), "bold")
        text.append("  ")
        count = len(hits.hits)
        if count == 0 and not self.searching:
            text.append("no step matches", "bold red")
        else:
            text.append(
                f"{count:,} matching step{'s' if count != 1 else ''} in {hits.runs:,} run{'s' if hits.runs != 1 else ''}",
                "bold",
            )
        if self.searching:
            if self._progress is not None and self._progress[0] < self._progress[1]:
                done, total = self._progress
                text.append(f" · searching: {done:,} of {total:,} runs… Esc stops", "dim")
            else:
                text.append(" · searching…", "dim")
        else:
            text.append(" · Enter opens the run at the step · Esc back", "dim")
        self.query_one("#hits-status", Static).update(text)

    def action_back(self) -> None:
        if self.searching:
            self.searching = False
            for worker in self.workers:
                if worker.group == "step-hits":
                    worker.cancel()
            self._show_status()
            notify_plain(self, "Stopped searching: the list keeps the steps found so far.", timeout=4)
            return
        self.app.pop_screen()


__all__ = ["StepHitList", "StepHitsScreen"]
