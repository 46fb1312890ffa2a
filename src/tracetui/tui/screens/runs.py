"""The first screen: every run in the file, with counts, sort, filters, search and import progress."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from ... import display, present, startup_gc
from ...errors import TraceError
from ...store import RunFilter, default_desc
from ...store.protocol import TraceStore
from ..hub import trace_app
from ..messages import RunListLoaded, RunListLoadFailed, RunMarked
from ..plain import notify_plain, palette_text
from ..widgets.run_list import SORT_CYCLE, RunList
from ..widgets.run_pager import RunPager

if TYPE_CHECKING:
    from textual.widgets import Input

    from ...first_page import FirstPage
    from ...store import search

STATUS_CYCLE = (None, "failed", "timeout", "completed", "running", "pending")
# Keys that share a row in the README's keys table (and would share one in the footer).
SORT_KEYS = Binding.Group("Cycle the sort column · reverse the sort")
SEARCH_KEYS = Binding.Group("Search runs and their steps' text · stop the search, clear it and the filters")


SEARCH_FIELDS = ("file", "project", "model")  # `file:x` in the search box filters by file, and so on
LIVE_COUNT_PAUSE = 2.0  # seconds, at least, between two counts of the problems in a live store


def parse_search(text: str) -> dict[str, str | None]:
    """The search box's text as RunFilter fields: `file:`, `project:` and `model:` words (quoted when
    they hold spaces) narrow by those, the rest is searched for in ids, agents, errors and sessions."""
    import shlex

    out: dict[str, str | None] = dict.fromkeys(SEARCH_FIELDS)
    if not any(f"{name}:" in text for name in SEARCH_FIELDS):
        out["search"] = text.strip() or None  # plain text is searched for as it is
        return out
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: take the words as they are
        words = text.split()
    rest = []
    for word in words:
        name, colon, value = word.partition(":")
        if colon and name in SEARCH_FIELDS and value:
            out[name] = value
        else:
            rest.append(word)
    out["search"] = " ".join(rest) or None
    return out


def search_text(flt: RunFilter) -> str:
    """What the search box says for a filter (parse_search's inverse)."""
    import shlex

    words = [f"{name}:{shlex.quote(value)}" for name in SEARCH_FIELDS if (value := getattr(flt, name))]
    if flt.search:
        words.append(flt.search)
    return " ".join(words)


class RunsScreen(Screen):
    """The run list with its status line; `/` searches, `F`/`A` filter, `s`/`S` sort."""

    AUTO_FOCUS = "#run-list"

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort", id="tracetui.runs.sort", group=SORT_KEYS),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="tracetui.runs.reverse_sort", group=SORT_KEYS),
        Binding("F", "cycle_status", "Status", tooltip="Cycle the status filter", id="tracetui.runs.status_filter"),
        Binding("A", "cycle_agent", "Agent", tooltip="Cycle the agent filter", id="tracetui.runs.agent_filter"),
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            tooltip="Runs whose id, agent, session or error holds the text, or any step's name, id, model,"
            " input, output or error; Enter on one opens it at the first matching step",
            id="tracetui.runs.search",
            group=SEARCH_KEYS,
        ),
        Binding("escape", "clear", "Clear search/filters", show=False, id="tracetui.runs.clear", group=SEARCH_KEYS),
        Binding(
            "R",
            "step_results",
            "Matching steps",
            show=False,
            tooltip="After /: every step whose text holds the search, with its run and the text around the"
            " match; Enter opens the run at that step",
            id="tracetui.runs.step_results",
        ),
        Binding(
            "b",
            "group_sessions",
            "Sessions",
            tooltip="Group the runs by session (Enter shows or hides a session's runs); again: one row per run",
            id="tracetui.runs.sessions",
        ),
        Binding(
            "t",
            "stats",
            "Stats",
            tooltip="Stats of the runs in the list: per agent, model and tool, over time, latency",
            id="tracetui.runs.stats",
        ),
        Binding(
            "w",
            "problems",
            "Warnings",
            show=False,
            tooltip="Problems found while reading the file (skipped or repaired lines, models without a price)",
            id="tracetui.runs.problems",
        ),
    ]

    def __init__(
        self,
        connect: Callable[[], TraceStore],
        *,
        importing: bool = False,
        files: bool = False,
        paged: bool = False,
        live: bool = False,
        first_page: FirstPage | None = None,
        sort: str | None = None,
        desc: bool | None = None,
    ) -> None:
        """files: the runs come from many files (a folder): show each run's file. paged: a database,
        whose list is read a page at a time (and whose connection may drop). sort, desc: the list's
        first order (the config file's), else newest first."""
        super().__init__(id="runs-screen")
        self.importing = importing  # the progress row is there only while a file is imported
        self.paged = paged
        self.lost: str | None = None  # the database's connection dropped: what failed (until reconnected)
        self.live = live  # the store keeps changing (tracetui serve): poll it for as long as the viewer runs
        self.run_list = RunList(
            connect,
            store_growing=importing or live,
            files=files,
            paged=paged,
            live=live,
            first_page=first_page,
            id="run-list",
        )
        if sort is not None:
            self.run_list.sort = sort
            self.run_list.desc = default_desc(sort) if desc is None else desc
        elif desc is not None:
            self.run_list.desc = desc
        self._dirty = False  # a live source changed the store since the list last loaded
        # Failed runs of the list's query at its last complete load (None: not known yet), so a new one is told.
        self._failed_seen: set[str] | None = None
        self._agents: list[str] | None = None
        self._poll: Timer | None = None
        self._paced: Timer | None = None  # live: the read of a change that came while the list was paced
        self._problems = 0
        self._counting = self._count_again = False  # the problems are being counted; asked again meanwhile
        self._count_began = 0.0
        self._summary: Text | None = None  # what the summary line shows
        # What the list last reported (RunListLoaded); None until its first load.
        self._shown: RunListLoaded | None = None
        # Pacing of the polls during an import: is a load of ours running, when did the last one end.
        self._load_running = True  # the list loads when it is mounted
        self._loaded_at = 0.0
        self._load_seconds = 0.0
        self._first_runs_waiting = False  # the import stored runs while the list was loading an empty store
        self._searching_steps: str | None = None  # the query whose steps' search is running
        self._list_lost_focus = False  # the list had the focus when it was hidden for showing no runs
        self._indexing: tuple[int, int] | None = None  # steps indexed for search so far, of all (app._index_for_search)

    def compose(self) -> ComposeResult:
        if self.live:
            from ..widgets.live_marker import LiveMarker

            with Horizontal(id="title-bar"):
                yield Static(id="title")
                yield LiveMarker()
        else:
            yield Static(id="title")
        # Only what the first screen shows: the warnings line, the empty state and the search box are
        # mounted when first needed (fewer widgets and styles before the first rows are drawn).
        if self.importing:
            from textual.widgets import ProgressBar

            with Horizontal(id="progress"):
                yield ProgressBar(id="progress-bar", show_eta=False)
                yield Static(Text("Reading the file…"), id="progress-label")
        yield Static(id="summary")
        yield self.run_list
        # The footer (a dozen key widgets and their styles) is mounted after the first frame: _mount_footer.

    def _optional(self, widget_id: str) -> Static | None:
        """One of the widgets mounted when first needed, if it is there."""
        found = self.query(f"#{widget_id}")
        return found.first(Static) if found else None

    def _hide(self, widget_id: str) -> None:
        line = self._optional(widget_id)
        if line is not None:
            line.display = False

    def _line(self, widget_id: str, **where: Widget) -> Static:
        """The Static `widget_id`, mounted now (at `where`) if it is not there yet."""
        line = self._optional(widget_id)
        if line is None:
            line = Static(id=widget_id)
            self.mount(line, **where)
        return line

    def on_mount(self) -> None:
        app = trace_app(self)
        app.call_later(app.runs_shown)  # the import, a live source, a --run to open: started now
        self.call_after_refresh(self._mount_footer)
        self._show_title()
        if self.importing or self.live:
            self._poll = self.set_interval(0.3, self._poll_store)
        self.run_list.focus()
        self._show_summary()

    async def _mount_footer(self) -> None:
        from ..widgets.key_footer import KeyFooter  # (Textual's Footer: imported after the first frame too)

        await self.mount(KeyFooter(compact=True))
        # A footer lists the keys when the screen's bindings are next updated: the focus moved before
        # this one was there, so it is told now.
        self.refresh_bindings()

    def _show_title(self) -> None:
        """The source's label and format (a database reached late knows its table only then)."""
        opening = trace_app(self).opening
        title = Text.assemble(
            ("tracetui", "bold"), "  ", display.safe(opening.label, single_line=True), f"  ({opening.format})"
        )
        self.query_one("#title", Static).update(title)

    # -- import -----------------------------------------------------------------------------------
    def show_progress(self, done: int, total: int, runs: int) -> None:
        if not self.is_mounted or not self.importing:
            return  # the app is closing while the import still reports
        from textual.widgets import ProgressBar

        self.query_one("#progress-bar", ProgressBar).update(total=max(total, 1), progress=done)
        label = f"Importing: {display.size_text(done)} of {display.size_text(total)} read · {runs:,} runs so far"
        self.query_one("#progress-label", Static).update(Text(label))
        if runs and (self._shown is None or self._shown.count == 0):
            self._read_first_runs()

    def _read_first_runs(self) -> None:
        """The import stored its first runs and the list shows none: read them now, not at the next poll
        (or as soon as the list's load running now ends)."""
        if self._load_running:
            self._first_runs_waiting = True
            return
        self._first_runs_waiting = False
        self._load_running = True
        self.run_list.reload(quick=True)

    def _poll_store(self) -> None:
        # The importer commits every ~0.25 s. Re-query unless the last query is still running, and
        # leave the importer at least twice the last query's time to itself (big stores sort slowly).
        # A live source says when it changed the store: without a change there is nothing to read.
        if self.live and not self._dirty and not trace_app(self).importing:
            return
        if self._load_running:
            return  # live, on_run_list_loaded reads a change that came meanwhile
        wait = self._loaded_at + 2 * self._load_seconds - time.monotonic()
        if wait > 0:
            # Live, the change is read the moment the pause ends, not at the next poll (up to 0.3 s later).
            if self.live and self._paced is None:
                self._paced = self.set_timer(wait + 0.01, self._paced_poll)
            return
        self._load_running = True
        self._dirty = False
        # Live, rows scrolled into view are read on a new connection too: one opened before a database
        # read in place got its -wal was opened immutable and would not see the change.
        self.run_list.reload(quick=self._shown is None, fresh_connection=self.live)

    def _paced_poll(self) -> None:
        self._paced = None
        self._poll_store()

    def store_changed(self) -> None:
        """A live source changed the store: read the list again now, or when the load running ends (the poll)."""
        self._dirty = True
        if self._poll is not None:
            self._poll_store()

    def times_changed(self) -> None:
        """Times are shown in another zone now (`u`)."""
        self.run_list.refresh()
        self._show_summary()

    def import_done(self) -> None:
        if not self.is_mounted:
            return  # the app is closing as the import ends
        if self._poll is not None and not self.live:
            self._poll.stop()
            self._poll = None
        for row in self.query("#progress"):
            row.display = False
        self._agents = None
        self._load_running = True
        self.run_list.store_growing = False
        self.run_list.reload(fresh_connection=True, quick=self._shown is None)

    def follow(self, run_id: str) -> None:
        """Keep the list's cursor on the run being shown, so Esc comes back to it."""
        self.run_list.follow(run_id)

    def failed_run_next_to(self, run_id: str, direction: int) -> str | None:
        """The next (+1) / previous (-1) failed run after `run_id`, in the list's filter and order."""
        return self.run_list.failed_run_next_to(run_id, direction)

    def show_index_progress(self, done: int | None, total: int | None) -> None:
        """The steps' text is being indexed for search (None: done, or given up)."""
        self._indexing = None if done is None or total is None or done >= total else (done, total)
        if self.is_mounted:
            self._show_summary()

    # -- status line ------------------------------------------------------------------------------
    def on_run_list_loaded(self, message: RunListLoaded) -> None:
        self._shown = message
        importer = trace_app(self).importer
        if message.count and importer is not None:
            self.call_after_refresh(importer.rows_shown)
        if message.count:
            self.call_after_refresh(startup_gc.resume)  # the first rows are drawn (startup_gc.py)
        if message.complete:
            self._load_running = False
            self._loaded_at = time.monotonic()
            self._load_seconds = message.load_seconds
            if self._first_runs_waiting and message.count == 0 and trace_app(self).importing:
                self._read_first_runs()
            if self.live:
                self._tell_new_failures()
                if self._dirty:  # changed again while it loaded: read it once the pause for the writer is over
                    self.set_timer(2 * message.load_seconds + 0.01, self._poll_store)
        self._show_summary()
        if self.paged:
            self._show_title()
        if not self.paged or message.complete or message.estimated:
            # In a worker: a scan of the table on a server, or of every model call of a file read in
            # place (unpriced models): seconds for a big one, the first time.
            self._count_problems()
        self._show_empty()
        # After _show_empty: an early poll of an import may have hidden the list (no runs yet), and
        # a hidden or loading list cannot take focus.
        if self.focused is None and self.run_list.display:
            self.run_list.focus()

    def _show_problems(self, count: int) -> None:
        self._problems = count
        warnings = self._line("warnings", before=self.run_list) if count else self._optional("warnings")
        if warnings is None:
            return
        warnings.display = count > 0
        if count:
            noun = "problem" if count == 1 else "problems"
            warnings.update(
                Text(f"⚠ {count:,} {noun} while reading (lines skipped or repaired, unpriced models) · w shows them")
            )

    def _count_problems(self) -> None:
        """Count the problems in a worker; one at a time (each may be a pass over a big file), once
        more after it if asked meanwhile."""
        if self._counting:
            self._count_again = True
            return
        self._counting, self._count_again = True, False
        self._count_began = time.monotonic()
        self._count_in_worker()

    @work(thread=True, group="problem-count")
    def _count_in_worker(self) -> None:
        count: int | None
        try:
            store = trace_app(self).new_store()
            try:
                count = store.problem_count()
                # Then every odd value of a file read in place, those of runs not opened yet too (a pass
                # over the file: a second or more for a big one, the first time).
                self.app.call_from_thread(self._show_problems, count)
                count = store.problem_count(complete=True)
            finally:
                store.close()
        except TraceError:
            count = None  # a lost connection is reported by the list; the count comes once it is back
        except sqlite3.Error:
            count = 0
        self.app.call_from_thread(self._counted, count)

    def _counted(self, count: int | None) -> None:
        if count is not None:
            self._show_problems(count)
        if not self._count_again:
            self._counting = False
        elif self.live:
            # Live, the store changes many times a second and a count is a pass over all of it: counted
            # again after a pause ten times as long as this count took (at least LIVE_COUNT_PAUSE),
            # not back to back on a core the receiver and the drawing need.
            took = time.monotonic() - self._count_began
            self.set_timer(max(LIVE_COUNT_PAUSE, 10 * took), self._count_after_pause)
        else:
            self._counting = False
            self._count_problems()

    def _count_after_pause(self) -> None:
        self._counting = False
        self._count_problems()

    # -- a database's connection ------------------------------------------------------------------
    def connection_lost(self, problem: str) -> None:
        self.lost = problem
        self._show_summary()

    def source_restored(self) -> None:
        """The database is back: read the list again where it was (the cursor stays on its run)."""
        self.lost = None
        self._load_running = True
        self.run_list.reload(fresh_connection=True)
        self._show_summary()

    def _tell_new_failures(self) -> None:
        """A run that failed since the last load (in the list's filter) raises a notification; `]` reaches it."""
        pager = self.run_list.pager
        if not isinstance(pager, RunPager):
            return  # a database is never live (tracetui serve writes a store file)
        failed = pager.failed_ids()
        new = failed - self._failed_seen if self._failed_seen is not None else set()
        self._failed_seen = failed
        if not new:
            return
        newest = next(i for i in pager.ordered(new))
        self.run_list.new_failure = newest
        run = pager.cached(newest)
        what = f"run {display.clip(newest, 40)}" + (f" ({display.clip(run.agent, 30)})" if run and run.agent else "")
        more = f" and {len(new) - 1:,} more" if len(new) > 1 else ""
        notify_plain(self, f"✗ New failed {what}{more} · ] goes to it", title="Failure", severity="error", timeout=8)

    def on_run_marked(self, message: RunMarked) -> None:
        self._show_summary()

    def on_run_list_load_failed(self, message: RunListLoadFailed) -> None:
        self._load_running = False
        app = trace_app(self)
        if self.paged and self._shown is not None:
            notify_plain(self, message.problem, severity="error", timeout=10)  # e.g. a sort that ran out of time
            return
        if not message.store_growing and not app.import_error and self._shown is None:
            from .error import ErrorScreen

            retry = self.source_restored if self.paged else None
            app.push_screen(ErrorScreen(app.opening.label, message.problem, retry=retry))

    def _show_summary(self) -> None:
        rl = self.run_list
        flt = rl.flt
        shown = self._shown
        text = Text(no_wrap=True, overflow="ellipsis")
        if shown is None:
            text.append("loading runs…")
        else:
            pager = rl.pager
            groups = pager.groups if rl.grouped and isinstance(pager, RunPager) else None
            if groups is not None and isinstance(pager, RunPager):
                text.append(f"{groups:,} session{'s' if groups != 1 else ''}", "bold")
                failed_groups = pager.failed_groups or 0
                text.append(" · ")
                text.append(f"✗ {failed_groups:,} with a failed run", "bold red" if failed_groups else "")
            else:
                runs = f"{shown.count:,} run{'s' if shown.count != 1 or shown.estimated else ''}"
                text.append(f"{'≈' if shown.estimated else ''}{runs}", "bold")
                failed = "…" if shown.failed_count is None else f"{shown.failed_count:,}"
                text.append(" · ")
                text.append(f"✗ {failed} failed", "bold red" if shown.failed_count else "")
        text.append(f" · sort: {rl.sort} {'▼' if rl.desc else '▲'}")
        text.append_text(present.filter_text(flt))
        if rl.step_hits and flt.search:
            text.append(" · R: every matching step", "dim")
        if rl.marked:
            text.append(" · marked: ")
            text.append(display.safe(rl.marked, single_line=True))
        if self._indexing is not None:
            done, total = self._indexing
            text.append(f" · indexing steps for search {done / max(total, 1):.0%}", "dim")
        if self.lost is not None:
            text.append(" · ⚠ connection lost, reconnecting…", "bold yellow")
        if text != self._summary:
            # One line whatever it says (tracetui.tcss): no layout of the screen for a new count, which
            # live comes many times a second.
            self._summary = text
            self.query_one("#summary", Static).update(text, layout=False)

    def _filtered(self) -> bool:
        return self.run_list.flt.active

    def _show_empty(self) -> None:
        # While the steps' text is still searched, no match yet is not "no runs match": the list stays
        # (and keeps the focus, which a hidden list would hand to the search field).
        show = self._shown is not None and self._shown.count == 0 and not self._step_search_running()
        empty = self._line("empty", after=self.run_list) if show else self._optional("empty")
        if show and self.run_list.has_focus:
            self._list_lost_focus = True  # hidden, it hands the focus on: it takes it back when shown
        elif not show and self._list_lost_focus and not self.run_list.display:
            self._list_lost_focus = False
            self.call_after_refresh(self.run_list.focus)
        self.run_list.display = not show
        if empty is not None:
            empty.display = show
        if empty is None or not show:
            return
        app = trace_app(self)
        if self._filtered():
            empty.update(Text("No runs match the search and filters. Press Esc to clear them."))
        elif app.importing:
            empty.update(Text("Reading the file… no runs yet."))
        elif app.live_state is not None:
            where = display.safe(app.live_state.description, single_line=True)
            empty.update(Text(f"No runs yet: {where}.\nRuns appear here as they arrive."))
        else:
            path = display.safe(app.opening.label, single_line=True)
            empty.update(Text(f"No runs in {path}.\nThe file was read, but it holds no trace runs tracetui could use."))

    # -- sort, filter, search ---------------------------------------------------------------------
    def _set(self, **changes) -> None:
        self._load_running = True
        self._failed_seen = None  # another query: its failed runs are not news
        self.run_list.set_query(**changes)
        self._show_summary()

    def action_cycle_sort(self) -> None:
        current = self.run_list.sort
        nxt = SORT_CYCLE[(SORT_CYCLE.index(current) + 1) % len(SORT_CYCLE)] if current in SORT_CYCLE else SORT_CYCLE[0]
        self._set(sort=nxt, desc=default_desc(nxt))

    def action_group_sessions(self) -> None:
        self._set(grouped=not self.run_list.grouped)

    def action_reverse_sort(self) -> None:
        self._set(desc=not self.run_list.desc)

    def action_cycle_status(self) -> None:
        current = self.run_list.flt.status
        i = STATUS_CYCLE.index(current) if current in STATUS_CYCLE else 0
        self.set_status(STATUS_CYCLE[(i + 1) % len(STATUS_CYCLE)])

    def set_status(self, status: str | None) -> None:
        self._set(flt=replace(self.run_list.flt, status=status))

    def agents(self) -> list[str]:
        if self._agents is None:
            try:
                self._agents = trace_app(self).main_store().agents()
            except (sqlite3.Error, TraceError):
                return []
        return self._agents

    def action_cycle_agent(self) -> None:
        choices: list[str | None] = [None, *self.agents()]
        current = self.run_list.flt.agent
        i = choices.index(current) if current in choices else 0
        self.set_agent(choices[(i + 1) % len(choices)])

    def set_agent(self, agent: str | None) -> None:
        self._set(flt=replace(self.run_list.flt, agent=agent))

    def _search(self) -> Input | None:
        """The search box, once `/` has mounted it."""
        from textual.widgets import Input

        found = self.query("#search")
        return found.first(Input) if found else None

    async def action_search(self) -> None:
        search = self._search()
        if search is None:
            from textual.widgets import Input

            search = Input(
                placeholder="search runs and their steps' text; file:, project:, model: narrow — Enter applies, Esc clears",
                id="search",
            )
            await self.mount(search)
        search.display = True
        search.value = search_text(self.run_list.flt)
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        fields = parse_search(event.value)
        value = fields["search"]
        # The runs' own text at once; the runs found in their steps' text join when that search ends.
        self.run_list.step_hits = {}
        flt = replace(self.run_list.flt, **fields, step_hits=None)
        self._set(flt=flt)
        event.input.display = bool(search_text(flt))
        self.run_list.focus()
        if value is not None:
            self._searching_steps = value
            self._search_steps(value, self.run_list.flt)
        else:
            self._stop_step_search()

    @work(thread=True, exclusive=True, group="step-search", exit_on_error=False)
    def _search_steps(self, query: str, flt: RunFilter) -> None:
        from ...store import search

        worker = get_current_worker()
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last > 0.1 and not worker.is_cancelled:
                last = time.monotonic()
                self.app.call_from_thread(self._show_search_progress, query, done, total)

        try:
            store = trace_app(self).new_store()
        except (sqlite3.Error, TraceError) as exc:
            self.app.call_from_thread(self._step_search_failed, query, str(exc))
            return
        try:
            hits = store.runs_matching(
                query, replace(flt, search=None), progress=progress, cancelled=lambda: worker.is_cancelled
            )
        except search.Cancelled:
            return
        except sqlite3.Error as exc:
            self.app.call_from_thread(self._step_search_failed, query, str(exc))
            return
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_step_hits, query, hits)

    def _show_search_progress(self, query: str, done: int, total: int) -> None:
        if self.run_list.flt.search != query:
            return
        label = self._line("search-progress", before=self.run_list)
        label.update(
            Text(
                f"Searching the steps' text: {done:,} of {total:,} runs… Esc stops (the list keeps the runs found by their own text)"
            )
        )
        label.display = True

    def _show_step_hits(self, query: str, hits: dict[str, search.RunHits]) -> None:
        if self._searching_steps != query:
            return  # stopped, or another search began meanwhile
        self._searching_steps = None
        self._hide("search-progress")
        flt = self.run_list.flt
        self.run_list.step_hits = hits
        self._set(flt=replace(flt, step_hits=frozenset(hits)))

    def _step_search_failed(self, query: str, problem: str) -> None:
        if self._searching_steps == query:
            self._stop_step_search()
            notify_plain(self, f"Cannot search the steps: {problem}", severity="error")

    def _step_search_running(self) -> bool:
        return self._searching_steps is not None

    def _stop_step_search(self) -> bool:
        """Stop a search of the steps' text that is still running; True if one was."""
        running = self._searching_steps is not None
        self._searching_steps = None
        for worker in self.workers:
            if worker.group == "step-search":
                worker.cancel()
        self._hide("search-progress")
        self._show_empty()
        return running

    def action_clear(self) -> None:
        if self._stop_step_search():
            notify_plain(self, "Stopped searching the steps: the list shows the runs found by their own text.")
            self.run_list.focus()
            return
        search = self._search()
        if search is not None and (search.has_focus or search_text(self.run_list.flt)):
            search.value = ""
            search.display = False
            self.run_list.step_hits = {}
            self._set(flt=replace(self.run_list.flt, **parse_search(""), step_hits=None))
        elif self._filtered():
            self.run_list.step_hits = {}
            self._set(flt=RunFilter())
        self.run_list.focus()

    def action_step_results(self) -> None:
        query = self.run_list.flt.search
        if not query:
            notify_plain(self, "Search with / first: R then lists every step that holds the text.", timeout=4)
            return
        from .step_hits import StepHitsScreen

        app = trace_app(self)
        flt = replace(self.run_list.flt, search=None, step_hits=None)
        app.push_screen(StepHitsScreen(query, flt, app.new_store, sort=self.run_list.sort, desc=self.run_list.desc))

    def action_stats(self) -> None:
        from .stats import StatsScreen  # imported when first needed, like the run and compare screens

        app = trace_app(self)
        app.push_screen(StatsScreen(self.run_list.flt, app.new_store, growing=app.importing), self._narrowed)

    def _narrowed(self, flt: RunFilter | None) -> None:
        """The stats screen closed: with a narrower filter (Enter on a row or bar), or None (Esc)."""
        if flt is not None:
            self._set(flt=flt)
        self.run_list.focus()

    def action_problems(self) -> None:
        self._read_problems()

    @work(thread=True, exclusive=True, group="problems", exit_on_error=False)
    def _read_problems(self) -> None:
        """In a worker: the problems of a big file read in place may take a pass over its model calls."""
        app = trace_app(self)
        try:
            store = app.new_store()
            try:
                problems = store.problems(limit=2000)
            finally:
                store.close()
        except (sqlite3.Error, TraceError):
            problems = []
        self.app.call_from_thread(self._show_problem_list, problems)

    def _show_problem_list(self, problems: list) -> None:
        from .error import ProblemsScreen

        if self.app.screen is self:  # not when the user went on to another screen meanwhile
            self.app.push_screen(ProblemsScreen(trace_app(self).opening.label, problems, self._problems))

    def palette_commands(self) -> Iterable[SystemCommand]:
        """Filter and sort choices for the command palette (Ctrl+P)."""
        for status in STATUS_CYCLE[1:]:
            yield SystemCommand(
                f"Filter: {palette_text(status)} runs only",
                f"Show only runs whose status is {palette_text(status)}",
                partial(self.set_status, status),
            )
        yield SystemCommand("Filter: all statuses", "Stop filtering by status", partial(self.set_status, None))
        for agent in self.agents()[:200]:
            yield SystemCommand(
                f"Filter: agent {palette_text(agent)}",
                f"Show only runs of agent {palette_text(agent)}",
                partial(self.set_agent, agent),
            )
        yield SystemCommand("Filter: all agents", "Stop filtering by agent", partial(self.set_agent, None))
        yield SystemCommand("Clear search and filters", "Show every run", partial(self._set, flt=RunFilter()))
        yield SystemCommand(
            "Group runs by session" if not self.run_list.grouped else "One row per run (no sessions)",
            "One row per session: runs, span, tokens, cost, worst status; Enter shows its runs",
            partial(self._set, grouped=not self.run_list.grouped),
        )
        for sort in SORT_CYCLE:
            yield SystemCommand(
                f"Sort by {palette_text(sort)}",
                f"Order the run list by {palette_text(sort)}",
                partial(self._set, sort=sort, desc=default_desc(sort)),
            )
