"""Two runs side by side: aligned step rows, what changed, and both steps of the selected row.

Runs come from the app's own file (a run id) or from any other file (a RunRef with its own
store factory), so `tracetui compare a.db RUN --with b.jsonl RUN` works the same as `c` in the
run list. The alignment is computed in a worker with its own SQLite connections.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from ... import display
from ...compare import Comparison, compare_runs
from ...compare_text import MARK_WIDTH, column_widths, header_lines
from ...errors import TraceError
from ...store.protocol import TraceStore
from ..messages import PairListCursorMoved
from ..plain import notify_plain
from ..widgets.key_footer import KeyFooter
from ..widgets.pair_detail import PairDetail
from ..widgets.pair_list import PairList


@dataclass(frozen=True)
class RunRef:
    """A run to compare: its id and, when it is not in the app's file, how to open its store."""

    run_id: str
    connect: Callable[[], TraceStore] | None = None
    label: str | None = None  # the file, shown when the two runs come from different files


class CompareScreen(Screen):
    """`d` first divergence, `n`/`N` next/previous difference, Tab to the detail, Esc back."""

    BINDINGS = [
        Binding("d", "first_divergence", "First divergence", id="tracetui.compare.first_divergence"),
        Binding("n", "next_difference", "Next diff", id="tracetui.compare.next_difference"),
        Binding("N", "previous_difference", "Prev diff", id="tracetui.compare.previous_difference"),
        Binding("tab", "switch_pane", "Rows/detail", id="tracetui.compare.switch_pane"),
        Binding("escape", "back", "Back", id="tracetui.compare.back"),
    ]

    DEFAULT_CSS = """
    CompareScreen #compare-header {
        height: auto; padding: 0 1; background: $primary-background; text-wrap: nowrap; text-overflow: ellipsis;
    }
    CompareScreen #compare-columns { height: 1; padding: 0 1; text-style: bold; background: $panel; }
    CompareScreen #compare-pairs { height: 1fr; padding: 0 1; }
    CompareScreen #compare-detail { height: 40%; }
    """

    def __init__(self, run_a: str | RunRef, run_b: str | RunRef, connect: Callable[[], TraceStore]) -> None:
        """`connect` opens the app's own file, for runs given by id or by a RunRef without `connect`."""
        super().__init__(id="compare-screen")
        self.ref_a = run_a if isinstance(run_a, RunRef) else RunRef(run_a)
        self.ref_b = run_b if isinstance(run_b, RunRef) else RunRef(run_b)
        self.connect = connect
        self.comparison: Comparison | None = None
        self.problem: str | None = None  # why the runs could not be compared
        self.pair_list = PairList(id="compare-pairs")
        self.detail = PairDetail(id="compare-detail")

    def compose(self) -> ComposeResult:
        yield Static(Text("comparing…", "dim"), id="compare-header")
        yield Static(id="compare-columns")
        yield self.pair_list
        yield self.detail
        yield KeyFooter()

    def on_mount(self) -> None:
        # A still "comparing…" line, not a LoadingIndicator: its animation competes with the
        # worker for the GIL and made the comparison ~30% slower.
        self.pair_list.focus()
        self._load()

    # -- loading ----------------------------------------------------------------------------------
    def _connect(self, ref: RunRef) -> TraceStore:
        return ref.connect() if ref.connect is not None else self.connect()

    @work(thread=True, exclusive=True, group="compare")
    def _load(self) -> None:
        stores: list[TraceStore] = []
        try:
            stores.append(self._connect(self.ref_a))
            run_a = stores[0].run_tree(self.ref_a.run_id)
            stores.append(self._connect(self.ref_b))
            run_b = stores[1].run_tree(self.ref_b.run_id)
            comparison = compare_runs(run_a, run_b)
        except (TraceError, sqlite3.Error) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        finally:
            for store in stores:
                store.close()
        self.app.call_from_thread(self._show, comparison)

    def _failed(self, problem: str) -> None:
        self.problem = problem
        self.query_one("#compare-header", Static).update(
            Text("cannot compare: " + display.safe(problem, single_line=True), "bold red")
        )

    def _show(self, comparison: Comparison) -> None:
        self.comparison = comparison
        lines = header_lines(comparison)
        if self.ref_a.label or self.ref_b.label:
            for line, ref in zip(lines, (self.ref_a, self.ref_b), strict=False):
                if ref.label:
                    line.append("  file " + display.safe(ref.label, single_line=True), "dim")
        self.query_one("#compare-header", Static).update(Text("\n").join(lines))
        self.call_after_refresh(self._show_columns)  # once the list has its width
        self.pair_list.set_pairs(comparison.pairs)
        if not comparison.pairs:
            self.detail.show(None, "", "")

    def _show_columns(self) -> None:
        if self.comparison is None:
            return
        side, _ = column_widths(self.pair_list.content_width())
        titles = Text(" " * MARK_WIDTH)
        for label, run in (("A", self.comparison.run_a), ("B", self.comparison.run_b)):
            cell = Text(f"{label}  " + display.clip(run.id))
            cell.truncate(side, overflow="ellipsis", pad=True)
            titles.append_text(cell)
            titles.append(" │ ", "dim")
        titles.append("what differs · Δ B−A")
        self.query_one("#compare-columns", Static).update(titles)

    def on_resize(self) -> None:
        self._show_columns()

    def on_pair_list_cursor_moved(self, message: PairListCursorMoved) -> None:
        if self.comparison is not None:
            self.detail.show(self.pair_list.current, self.comparison.run_a.id, self.comparison.run_b.id)

    # -- navigation -------------------------------------------------------------------------------
    def _go(self, index: int | None, none_message: str) -> None:
        if index is None:
            notify_plain(self, none_message, timeout=3)
            return
        self.pair_list.move_cursor(index, center=True)

    def action_first_divergence(self) -> None:
        if self.comparison is not None:
            self._go(self.comparison.first_divergence, "No divergence: the runs align step for step.")

    def action_next_difference(self) -> None:
        if self.comparison is not None:
            cursor = self.pair_list.cursor
            index = next((i for i in self.comparison.differences if i > cursor), None)
            self._go(index, "No difference below this row.")

    def action_previous_difference(self) -> None:
        if self.comparison is not None:
            cursor = self.pair_list.cursor
            index = next((i for i in reversed(self.comparison.differences) if i < cursor), None)
            self._go(index, "No difference above this row.")

    def action_switch_pane(self) -> None:
        (self.pair_list if self.detail.has_focus else self.detail).focus()

    def action_back(self) -> None:
        if self.detail.has_focus:
            self.pair_list.focus()
        else:
            self.app.pop_screen()
