"""The stats screen: tables and charts of the runs in the run list, its filters applied.

Per agent and per model (as `tracetui stats --by agent|model` prints them), the slowest tools, cost,
tokens, runs and failures over time (per day or hour), and a latency histogram with p50 and p95
marked. The numbers come from SQL (store/stats.py) in one worker, section by section, each table
showing a spinner until its numbers are in. Enter on a row or a time bar dismisses the screen with
the run list's filter narrowed to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.bar import Bar
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Sparkline, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from ... import display, present
from ...analysis import GroupStats
from ...errors import TraceError, Unavailable
from ...store import RunFilter
from ...store.protocol import TraceStore
from ...store.stats import bucket_range, timeline
from ..messages import SourceLost
from ..plain import notify_plain

BAR_WIDTH = 16
# Keys that share a row in the README's keys table (and would share one in the footer).
TAB_KEYS = Binding.Group("Next · previous tab")
MOVE_KEYS = Binding.Group("Move (also ↓ ↑)")
TABS = ("agents", "models", "tools", "time", "latency")
BUCKETS = ("day", "hour")


class _Closed(Exception):
    """The stats screen closed while its numbers were being computed."""


@dataclass(frozen=True)
class Section:
    """Numbers for one part of the screen, posted back from the worker."""

    name: str  # "totals", "agents", "models", "tools", "time", "latency"
    value: Any


class StatsTable(DataTable):
    """A table of groups: Enter narrows the run list to the group under the cursor."""

    BINDINGS = [
        Binding(
            "enter",
            "select_cursor",
            "Filter",
            tooltip="Filter the run list to the row (or time bar) under the cursor",
            id="tracetui.stats.filter",
        ),
        Binding("j", "cursor_down", "Down", show=False, id="tracetui.stats.down", group=MOVE_KEYS),
        Binding("k", "cursor_up", "Up", show=False, id="tracetui.stats.up", group=MOVE_KEYS),
    ]

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.filters: list[dict[str, Any] | None] = []  # per row: the RunFilter fields Enter sets

    def fill(
        self, columns: list[tuple[str, int | None]], rows: Sequence[tuple[Sequence[Any], dict[str, Any] | None]]
    ) -> None:
        """Columns (title, width or None to fit) and rows (cells as Text or renderables, filter for Enter)."""
        cursor = self.cursor_row
        self.clear(columns=True)
        for title, width in columns:
            self.add_column(Text(title, style="bold"), width=width)
        self.filters = []
        for cells, narrowing in rows:
            self.add_row(*cells)
            self.filters.append(narrowing)
        if 0 < cursor < self.row_count:
            self.move_cursor(row=cursor)  # numbers filled in again (percentiles arrived): stay on the row
        self.loading = False


def _right(value: object) -> Text:
    return Text(display.safe(value, single_line=True), justify="right")


def _left(value: object) -> Text:
    return Text(display.safe(value, single_line=True))


def _bar(value: float | None, largest: float, color: str, width: int = BAR_WIDTH) -> Bar | Text:
    if not value or largest <= 0:
        return Text("")
    return Bar(size=largest, begin=0, end=value, width=width, color=color)


def group_cells(g: GroupStats) -> list[Any]:
    """The CLI's stats columns for one group."""
    unpriced = g.cost_usd is None and g.unpriced
    return [
        _right(g.runs),
        _right(g.failed or ""),
        _right(f"{g.failure_rate:.1%}"),
        _right(display.count(g.tokens_in)),
        _right(display.count(g.tokens_out)),
        _right(display.share(g.tokens_cache_read, g.tokens_in)),
        _right("unpriced" if unpriced else display.cost(g.cost_usd, g.cost_estimated)),
        _right(display.share(g.cost_estimated_usd, g.cost_usd)),
        _right(display.duration(g.p50_ms)),
        _right(display.duration(g.p95_ms)),
        _right(display.duration(g.max_ms)),
    ]


GROUP_COLUMNS = ["failed", "fail %", "tok in", "tok out", "cached", "cost", "est.", "p50", "p95", "max"]


def totals_text(total: GroupStats | None, count: int) -> Text:
    """The line over the tabs: how many runs, failures, tokens, cost, credits and latency in all."""
    text = Text(overflow="ellipsis")
    text.append(f"{count:,} runs", "bold")
    if total is None:
        return text
    text.append(" · ")
    text.append(f"✗ {total.failed:,} failed ({total.failure_rate:.1%})", "bold red" if total.failed else "")
    text.append(" · tokens ", "dim")
    text.append(f"{display.count(total.tokens_in)}→{display.count(total.tokens_out)}")
    cached = display.share(total.tokens_cache_read, total.tokens_in)
    if cached:
        text.append(f" ({cached} cached)", "dim")
    text.append(" · cost ", "dim")
    text.append(display.cost(total.cost_usd, total.cost_estimated))
    if total.credits is not None:
        text.append(" · credits ", "dim")
        text.append(display.credits(total.credits))
    text.append(" · p50 ", "dim")
    text.append(display.duration(total.p50_ms))
    text.append(" · p95 ", "dim")
    text.append(display.duration(total.p95_ms))
    return text


class StatsScreen(Screen[RunFilter | None]):
    """Stats of the runs the run list shows; dismissed with a narrower filter (Enter) or None (Esc)."""

    CSS = """
    #stats-title, #stats-totals {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }

    #stats-title {
        background: $primary-background;
    }

    #stats-tabs {
        height: 1fr;
    }

    #stats-tabs TabPane {
        padding: 0;
    }

    StatsTable {
        height: 1fr;
    }

    #stats-sparklines {
        height: auto;
        padding: 0 1;
    }

    .spark-row {
        height: 1;
    }

    .spark-label {
        width: 8;
    }

    .spark {
        width: 1fr;
    }

    .spark-total {
        width: 12;
        padding-left: 1;
    }

    .spark-cost > .sparkline--max-color { color: #d7af5f; }
    .spark-cost > .sparkline--min-color { color: #d7af5f 30%; }
    .spark-failed > .sparkline--max-color { color: $error; }
    .spark-failed > .sparkline--min-color { color: $error 30%; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the run list", id="tracetui.stats.back"),
        Binding("tab", "next_tab", "Next tab", priority=True, id="tracetui.stats.next_tab", group=TAB_KEYS),
        Binding(
            "shift+tab",
            "previous_tab",
            "Previous tab",
            show=False,
            priority=True,
            id="tracetui.stats.previous_tab",
            group=TAB_KEYS,
        ),
        Binding("d", "toggle_bucket", "Day/hour", tooltip="Over time: per day or per hour", id="tracetui.stats.bucket"),
    ]

    def __init__(self, flt: RunFilter, connect: Callable[[], TraceStore], *, growing: bool = False) -> None:
        super().__init__(id="stats-screen")
        self.flt = flt
        self.connect = connect
        self.growing = growing  # the file is still being imported: the numbers are of the runs so far
        self.bucket = "day"
        self.total: GroupStats | None = None
        self.count = 0
        self.timelines: dict[str, list[GroupStats]] = {}
        self.bins: list[tuple[float, float | None, int]] | None = None
        self.done = False  # every section is in (or the worker failed)

    # -- layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="stats-title")
        yield Static(id="stats-totals")
        with TabbedContent(id="stats-tabs"):
            with TabPane("Agents", id="agents"):
                yield StatsTable(id="stats-agents")
            with TabPane("Models", id="models"):
                yield StatsTable(id="stats-models")
            with TabPane("Tools", id="tools"):
                yield StatsTable(id="stats-tools")
            with TabPane("Over time", id="time"):
                with Vertical(id="stats-sparklines"):
                    for name in ("cost", "tokens", "runs", "failed"):
                        with Horizontal(classes="spark-row"):
                            yield Static(Text(name, style="bold"), classes="spark-label")
                            yield Sparkline([], id=f"spark-{name}", classes=f"spark spark-{name}")
                            yield Static(id=f"spark-{name}-total", classes="spark-total")
                yield StatsTable(id="stats-time")
            with TabPane("Latency", id="latency"):
                yield StatsTable(id="stats-latency")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        title = Text.assemble(("Stats", "bold"), " of the runs in the list")
        title.append_text(present.filter_text(self.flt))
        if self.growing:
            title.append(" · still reading the file: the runs so far", "italic")
        self.query_one("#stats-title", Static).update(title)
        self.query_one("#stats-totals", Static).update(Text("computing…", style="dim"))
        for table in self.query(StatsTable):
            table.loading = True
        self.query_one("#stats-agents", StatsTable).focus()
        self._compute(self.flt)

    # -- numbers ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="stats")
    def _compute(self, flt: RunFilter) -> None:
        """Every section, the visible one first, each posted as soon as it is in."""
        try:
            store = self.connect()
        except (sqlite3.Error, OSError, TraceError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        worker = get_current_worker()

        def post(section: Section) -> None:
            if worker.is_cancelled:  # the screen was closed: ask nothing more
                raise _Closed
            self.app.call_from_thread(self._show, section)

        try:
            with store.stats_scope(flt) as scope:
                count = scope.run_count()
                # Sums first (a scan), percentiles after (a sort of every duration: the slow part).
                for percentiles in (False, True):
                    overall = scope.groups(None, percentiles=percentiles)
                    post(Section("totals", (count, overall[0] if overall else None)))
                    post(Section("agents", scope.groups("agent", percentiles=percentiles)))
                    if not percentiles:
                        post(Section("time", {by: scope.groups(by, percentiles=False) for by in BUCKETS}))
                        post(Section("latency", scope.latency_histogram()))
                post(Section("models", scope.groups("model")))
                post(Section("tools", scope.groups("tool")))
            self.app.call_from_thread(self._finished)
        except _Closed:
            pass
        except (sqlite3.Error, TraceError) as exc:
            self.app.call_from_thread(self._failed, str(exc), exc)
        finally:
            store.close()

    def _failed(self, problem: str, exc: Exception | None = None) -> None:
        self.done = True
        for table in self.query(StatsTable):
            table.loading = False
        if isinstance(exc, Unavailable) and exc.lost:
            self.post_message(SourceLost(exc.problem))  # the app reconnects, then source_restored() asks again
            return
        notify_plain(self, f"Cannot compute the stats: {problem}", severity="error")

    def source_restored(self) -> None:
        """The database is back: ask again what the lost connection left unanswered."""
        if self.done and self.total is None:
            self.done = False
            for table in self.query(StatsTable):
                table.loading = True
            self._compute(self.flt)

    def _finished(self) -> None:
        self.done = True

    def _show(self, section: Section) -> None:
        if not self.is_mounted:
            return
        getattr(self, f"_show_{section.name}")(section.value)

    def _show_totals(self, value: tuple[int, GroupStats | None]) -> None:
        self.count, self.total = value
        self.query_one("#stats-totals", Static).update(totals_text(self.total, self.count))
        if self.bins is not None:
            self._show_latency(self.bins)  # mark p50 and p95, now known

    def _show_agents(self, groups: list[GroupStats]) -> None:
        rows = [
            ([_left(g.group if g.group is not None else "(no agent)"), *group_cells(g)], _narrow("agent", g.group))
            for g in groups
        ]
        self.query_one("#stats-agents", StatsTable).fill(_columns("agent", "runs"), rows)

    def _show_models(self, groups: list[GroupStats]) -> None:
        rows = [([_left(g.group), *group_cells(g)], _narrow("model", g.group)) for g in groups]
        self.query_one("#stats-models", StatsTable).fill(_columns("model", "calls"), rows)

    def _show_tools(self, groups: list[GroupStats]) -> None:
        largest = max((g.total_ms or 0 for g in groups), default=0)
        rows = [
            (
                [
                    _left(g.group),
                    _right(g.runs),
                    _right(g.failed or ""),
                    _right(display.duration(g.total_ms)),
                    _bar(g.total_ms, largest, "#d7875f"),
                    _right(display.share(g.share_of_run_time, 1)),
                    _right(display.duration(g.p50_ms)),
                    _right(display.duration(g.p95_ms)),
                    _right(display.duration(g.max_ms)),
                ],
                _narrow("tool", g.group),
            )
            for g in groups
        ]
        columns = [("tool", None), ("calls", None), ("failed", None), ("total", None), ("", BAR_WIDTH)]
        columns += [("of run time", None), ("p50", None), ("p95", None), ("max", None)]
        self.query_one("#stats-tools", StatsTable).fill(columns, rows)

    def _show_time(self, value: dict[str, list[GroupStats]]) -> None:
        self.timelines = {by: timeline(groups, by) for by, groups in value.items()}
        self._draw_time()

    def _draw_time(self) -> None:
        buckets = self.timelines.get(self.bucket, [])
        charts = {
            "cost": (
                [g.cost_usd or 0.0 for g in buckets],
                lambda: display.cost(_sum(buckets, "cost_usd"), _est(buckets)),
            ),
            "tokens": (
                [float((g.tokens_in or 0) + (g.tokens_out or 0)) for g in buckets],
                lambda: display.count(_sum(buckets, "tokens_in")) + "→" + display.count(_sum(buckets, "tokens_out")),
            ),
            "runs": ([float(g.runs) for g in buckets], lambda: f"{sum(g.runs for g in buckets):,}"),
            "failed": ([float(g.failed) for g in buckets], lambda: f"{sum(g.failed for g in buckets):,}"),
        }
        for name, (data, total) in charts.items():
            self.query_one(f"#spark-{name}", Sparkline).data = data
            self.query_one(f"#spark-{name}-total", Static).update(Text(total(), justify="right"))
        most_cost = max((g.cost_usd or 0 for g in buckets), default=0)
        most_runs = max((g.runs for g in buckets), default=0)
        rows = []
        for g in buckets:
            span = bucket_range(str(g.group), self.bucket)
            narrowing = {"since": span[0], "until": span[1]} if span else None
            cells = [
                _left(g.group),
                _right(g.runs or ""),
                _right(g.failed or ""),
                _bar(g.runs, most_runs, "#5f87d7"),
                _right(display.count(g.tokens_in) if g.tokens_in is not None else ""),
                _right(display.cost(g.cost_usd, g.cost_estimated) if g.cost_usd is not None else ""),
                _bar(g.cost_usd, most_cost, "#d7af5f"),
            ]
            rows.append((cells, narrowing))
        columns = [(self.bucket + " (UTC)", None), ("runs", None), ("failed", None), ("", BAR_WIDTH)]
        columns += [("tok in", None), ("cost", None), ("", BAR_WIDTH)]
        self.query_one("#stats-time", StatsTable).fill(columns, rows)

    def _show_latency(self, bins: list[tuple[float, float | None, int]]) -> None:
        self.bins = bins
        total = self.total
        largest = max((n for _, _, n in bins), default=0)
        rows = []
        for low, high, n in bins:
            marks = []
            for label, at in (("p50", total.p50_ms if total else None), ("p95", total.p95_ms if total else None)):
                if at is not None and low <= at and (high is None or at < high):
                    marks.append(f"◀ {label} {display.duration(at)}")
            span = (
                f"{display.duration(low)} – {display.duration(high)}"
                if high is not None
                else f"≥ {display.duration(low)}"
            )
            rows.append(
                (
                    [_left(span), _right(n or ""), _bar(n, largest, "#87af87", BAR_WIDTH * 2), _left("  ".join(marks))],
                    None,
                )
            )
        columns = [("duration", None), ("runs", None), ("", BAR_WIDTH * 2), ("", None)]
        self.query_one("#stats-latency", StatsTable).fill(columns, rows)

    # -- keys -------------------------------------------------------------------------------------
    def _tab_table(self) -> StatsTable:
        active = self.query_one("#stats-tabs", TabbedContent).active or TABS[0]
        return self.query_one(f"#stats-{active}", StatsTable)

    def _switch_tab(self, step: int) -> None:
        tabs = self.query_one("#stats-tabs", TabbedContent)
        current = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(current + step) % len(TABS)]
        self._tab_table().focus()

    def action_next_tab(self) -> None:
        self._switch_tab(+1)

    def action_previous_tab(self) -> None:
        self._switch_tab(-1)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.call_after_refresh(lambda: self._tab_table().focus())

    def action_toggle_bucket(self) -> None:
        self.bucket = BUCKETS[(BUCKETS.index(self.bucket) + 1) % len(BUCKETS)]
        if self.timelines:
            self._draw_time()
        notify_plain(self, f"Over time: per {self.bucket}", timeout=2)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or a click) on a row: back to the run list, its filter narrowed to the row."""
        event.stop()
        table = event.data_table
        row = event.cursor_row
        narrowing = table.filters[row] if isinstance(table, StatsTable) and 0 <= row < len(table.filters) else None
        if narrowing is None:
            notify_plain(self, "This row cannot narrow the run list.", timeout=3)
            return
        self.dismiss(replace(self.flt, **narrowing))

    def action_back(self) -> None:
        self.dismiss(None)


def _columns(first: str, unit: str) -> list[tuple[str, int | None]]:
    return [(first, None), (unit, None), *((title, None) for title in GROUP_COLUMNS)]


def _narrow(field: str, value: str | None) -> dict[str, Any] | None:
    return None if value is None else {field: value}


def _sum(groups: list[GroupStats], name: str) -> float | None:
    """The sum of a total over buckets, None when no bucket has it (no data is not zero)."""
    values = [getattr(g, name) for g in groups if getattr(g, name) is not None]
    return sum(values) if values else None


def _est(groups: list[GroupStats]) -> bool:
    return any(g.cost_estimated for g in groups)
