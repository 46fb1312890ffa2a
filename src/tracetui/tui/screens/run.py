"""One run: its summary on top, the step timeline tree and the detail pane side by side (stacked
when the terminal is narrow). `f` lands on the step that broke; `]`/`[` move to the next run that
failed, in the run list's order. `/` finds text in every step of the run, loaded or not.

`n`/`N` step through what was looked for last, as in less and vim: the matches after `/`, the failed
steps after `f` (and when there is no search). Esc clears a search before it goes back."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static, Tree
from textual.worker import get_current_worker

from ... import display, jsonsafe, present, share
from ...errors import TraceError
from ...model import Run, Step
from ...store.protocol import SessionStore, TraceStore
from .. import clipboard
from ..messages import JumpToFailedRun, OpenRun, StepTreeExpanding, StepTreeLoadFailed, StepTreeReady
from ..plain import notify_plain
from ..widgets.detail import SECTION_TITLES, DetailPane
from ..widgets.key_footer import KeyFooter
from ..widgets.live_marker import LiveMarker
from ..widgets.step_tree import StepTree
from .export import ExportScreen

NARROW = 120  # below this many columns the detail pane goes under the tree
# Keys that share a row in the README's keys table (and would share one in the footer).
FAILED_STEP_KEYS = Binding.Group("Next · previous search match (after /) or failed step (after f, or no search)")
SEARCH_KEYS = Binding.Group("Find in this run's steps (names, ids, models, inputs, outputs, errors)")
FAILED_RUN_KEYS = Binding.Group("Next · previous failed run, opened on its first failure")
SESSION_KEYS = Binding.Group("Next · previous run of the same session (in the order they started)")
PANE_KEYS = Binding.Group("Tree ↔ detail")


def run_header(run: Run) -> Text:
    """The run (as `tracetui show` heads it) with its step counts; then its totals, mismatches,
    circuit-breaker events and flags."""
    head = Text.assemble(present.run_header(run), "  ", present.step_counts(run), "\n", present.run_totals(run))
    for name, (reported, summed) in run.mismatches.items():
        head.append("  ").append_text(present.mismatch_text(name, reported, summed))
    if run.events:
        n = len(run.events)
        head.append(f"  ⚡ {n} circuit-breaker event{'s' if n != 1 else ''}", present.STYLE["event"])
    flags = present.flags_badge(run.flags)
    if flags is not None:
        head.append("  ").append(*flags)
    return head


def session_text(run: Run, runs: list[str] | None) -> Text:
    """ "session <id> · run 2 of 3 · { } previous/next": where the run is in its session."""
    text = Text.assemble(("session ", present.STYLE["label"]), (display.clip(run.session), present.STYLE["id"]))
    if runs is not None and run.id in runs:
        text.append(f" · run {runs.index(run.id) + 1:,} of {len(runs):,}")
        if len(runs) > 1:
            text.append(" · { } previous/next", "dim")
    return text


def _unchanged(shown: Step | None, step: Step) -> bool:
    """Is `step` the step the detail pane shows, with nothing it shows changed?"""
    if shown is None or shown.id != step.id:
        return False
    fields = ("status", "ended_at", "duration_ms", "error", "child_count", "tokens_in", "tokens_out", "cost_usd")
    return all(getattr(shown, f) == getattr(step, f) for f in fields)


class RunScreen(Screen):
    AUTO_FOCUS = "#step-tree"  # not the (hidden) search field, the first focusable widget

    BINDINGS = [
        Binding(
            "escape",
            "back",
            "Runs",
            id="tracetui.run.back",
            tooltip="Clear the search (after /), else back to the run list",
        ),
        Binding(
            "f",
            "first_failure",
            "First failure",
            id="tracetui.run.first_failure",
            tooltip="Jump to the step that broke (the root cause)",
        ),
        Binding(
            "slash",
            "search",
            "Find",
            key_display="/",
            id="tracetui.run.search",
            tooltip="Find text in every step of this run; n/N then go through the matches",
            group=SEARCH_KEYS,
        ),
        Binding(
            "n",
            "next_failure",
            "Next",
            id="tracetui.run.next_failure",
            tooltip="Next search match (after /) or failed step (after f), in execution order",
            group=FAILED_STEP_KEYS,
        ),
        Binding(
            "N",
            "previous_failure",
            "Prev",
            show=False,
            id="tracetui.run.previous_failure",
            tooltip="Previous search match (after /) or failed step (after f), in execution order",
            group=FAILED_STEP_KEYS,
        ),
        Binding("e", "expand_all", "Expand/collapse all", id="tracetui.run.expand_all"),
        Binding(
            "right_square_bracket",
            "next_failed_run",
            "Next failed run",
            key_display="]",
            id="tracetui.run.next_failed_run",
            group=FAILED_RUN_KEYS,
        ),
        Binding(
            "left_square_bracket",
            "previous_failed_run",
            "Prev failed run",
            key_display="[",
            show=False,
            id="tracetui.run.previous_failed_run",
            group=FAILED_RUN_KEYS,
        ),
        Binding(
            "right_curly_bracket",
            "next_in_session",
            "Next in session",
            key_display="}",
            show=False,
            id="tracetui.run.next_in_session",
            group=SESSION_KEYS,
        ),
        Binding(
            "left_curly_bracket",
            "previous_in_session",
            "Prev in session",
            key_display="{",
            show=False,
            id="tracetui.run.previous_in_session",
            group=SESSION_KEYS,
        ),
        Binding(
            "o",
            "pager",
            "Open in pager",
            id="tracetui.run.pager",
            tooltip="Open the full input, output and error in $PAGER",
        ),
        Binding("tab", "app.focus_next", "Next pane", show=False, id="tracetui.run.focus_next", group=PANE_KEYS),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous pane",
            show=False,
            id="tracetui.run.focus_previous",
            group=PANE_KEYS,
        ),
        Binding(
            "y",
            "copy",
            "Copy",
            show=False,
            id="tracetui.run.copy",
            tooltip="Copy what is focused: in the tree the step id; in the detail the section at the top "
            "(its title focused with Tab), else the error",
        ),
        Binding(
            "Y",
            "copy_markdown",
            "Copy as Markdown",
            show=False,
            id="tracetui.run.copy_markdown",
            tooltip="Copy the step and the steps under it (on the top row: the run) as Markdown",
        ),
        Binding(
            "x",
            "export",
            "Export",
            show=False,
            id="tracetui.run.export",
            tooltip="Export the run, or the step under the cursor and its steps, to a Markdown or JSON file",
        ),
    ]

    DEFAULT_CSS = """
    RunScreen {
        layout: vertical;
        #run-header { height: auto; padding: 0 1; background: $panel; }
        #run-body { height: 1fr; }
        #tree-pane { width: 3fr; height: 1fr; }
        #tree-header { height: 1; color: $text-muted; background: $surface; }
        #step-search { height: 1; border: none; padding: 0 1; display: none; }
        #search-status { height: 1; padding: 0 1; background: $panel; display: none; }
        #detail { width: 2fr; height: 1fr; border-left: vkey $panel-lighten-1; }
        &.-narrow #run-body { layout: vertical; }
        &.-narrow #tree-pane { width: 1fr; height: 1fr; }
        &.-narrow #detail { width: 1fr; height: 1fr; border-left: none; border-top: hkey $panel-lighten-1; }
    }
    """

    def __init__(
        self,
        run_id: str,
        connect: Callable[[], TraceStore],
        *,
        jump_to_failure: bool = False,
        live: bool = False,
        search: str | None = None,
        step_id: str | None = None,
    ) -> None:
        super().__init__()
        self.run_id = run_id
        self.connect = connect
        self.jump_to_failure = jump_to_failure
        self.live = live  # the store keeps changing (tracetui serve): the tree grows as the run does
        self.run: Run | None = None
        self.new_failure: str | None = None  # a step that failed while the run was shown: `f` goes there first
        self.session_runs: list[str] | None = None  # the runs of this run's session, in the order they started
        self.search = search  # text to find once the run is shown (opened from the run list's search)
        self.stepping = "failures"  # what n/N go through: "matches" after `/`, "failures" after `f`
        self.at_step = step_id  # the step to show first (a search's results): else the first match

    def compose(self) -> ComposeResult:
        yield Static(Text(f"loading run {display.clip(self.run_id)}…", "dim"), id="run-header")
        if self.live:
            yield LiveMarker()
        with Horizontal(id="run-body"):
            with Vertical(id="tree-pane"):
                yield Static(id="tree-header")
                yield Input(placeholder="find in this run's steps — Enter finds, Esc cancels", id="step-search")
                yield Static(id="search-status")
                yield StepTree(self.run_id, self.connect, id="step-tree")
            yield DetailPane(self.connect, id="detail")
        yield KeyFooter()

    @property
    def step_tree(self) -> StepTree:
        return self.query_one(StepTree)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")
        self.call_after_refresh(self._update_tree_header)

    def _update_tree_header(self) -> None:
        if self.is_mounted:
            self.query_one("#tree-header", Static).update(self.step_tree.header())

    # -- messages from the tree -----------------------------------------------------------------
    def store_changed(self) -> None:
        """A live source changed the store: the tree reads the run again and grows if it changed."""
        self.step_tree.grow()

    def on_step_tree_ready(self, message: StepTreeReady) -> None:
        self.run = message.run
        self._show_header()
        if message.run.session is not None and (self.session_runs is None or message.grown):
            self._read_session(message.run.id)
        self._update_tree_header()
        if message.grown and self.detail.run is not None and self.detail.step is None:
            self.detail.show(message.run, None)  # the detail shows the run, which changed
        if message.new_failures:
            self.new_failure = message.new_failures[-1]
            node = self.step_tree.nodes.get(self.new_failure)
            name = node.data.name if node is not None and isinstance(node.data, Step) else self.new_failure
            more = f" and {len(message.new_failures) - 1:,} more" if len(message.new_failures) > 1 else ""
            text = f"✗ New failed step {display.clip(name or '', 40)}{more} in this run · f goes to it"
            notify_plain(self, text, title="Failure", severity="error", timeout=8)
        if self.jump_to_failure:
            self.jump_to_failure = False
            self.action_first_failure()
        elif self.search is not None and not message.grown:
            self._find(self.search)
        elif self.at_step is not None and not message.grown:
            step_id, self.at_step = self.at_step, None
            self.step_tree.reveal(step_id)

    def times_changed(self) -> None:
        """Times are shown in another zone now (`u`): the header and the detail pane say them again."""
        self._show_header()
        if self.run is not None and self.detail.run is not None:
            self.detail.show(self.detail.run, self.detail.step)

    def _show_header(self, extra: Text | None = None) -> None:
        if self.run is None:
            return
        header = run_header(self.run)
        if self.run.session is not None:
            header.append("\n").append_text(session_text(self.run, self.session_runs))
        if extra is not None:
            header.append_text(extra)
        self.query_one("#run-header", Static).update(header)

    @work(thread=True, exclusive=True, group="run-session")
    def _read_session(self, run_id: str) -> None:
        try:
            store = self.connect()
            try:
                if not isinstance(store, SessionStore):
                    return  # a store that cannot group by session: no { } to go by
                runs = store.session_run_ids(run_id)
            finally:
                store.close()
        except (sqlite3.Error, TraceError):
            return
        self.app.call_from_thread(self._show_session, runs)

    def _show_session(self, runs: list[str]) -> None:
        self.session_runs = runs
        self._show_header()

    def source_restored(self) -> None:
        """The database is back: a run that could not be read is read again."""
        if self.run is None:
            self.query_one("#run-header", Static).update(Text(f"loading run {display.clip(self.run_id)}…", "dim"))
            self.step_tree.reload()

    def on_step_tree_resized(self) -> None:
        self.call_after_refresh(self._update_tree_header)

    def on_step_tree_load_failed(self, message: StepTreeLoadFailed) -> None:
        text = Text.assemble(("✗ cannot show this run: ", "bold red"), display.safe(message.error, single_line=True))
        self.query_one("#run-header", Static).update(text)
        notify_plain(self, text.plain, severity="error")

    def on_step_tree_expanding(self, message: StepTreeExpanding) -> None:
        if self.run is None:
            return
        extra = None
        if message.done < message.total:
            extra = Text(f"\nexpanding: {message.done:,} of {message.total:,} steps…", "italic")
        self._show_header(extra)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if self.run is None:
            return
        data = event.node.data
        if self.step_tree.search_query:
            self._show_search_status()
        if isinstance(data, Step) and _unchanged(self.detail.step, data):
            return  # the tree grew and the cursor stayed on the same step: keep the detail as it is
        if isinstance(data, Step):
            self.detail.show(self.run, data)
        elif event.node is self.step_tree.root:
            self.detail.show(self.run, None)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        if isinstance(event.node.data, Step):
            self.detail.focus()

    # -- actions --------------------------------------------------------------------------------
    def action_back(self) -> None:
        search = self.query_one("#step-search", Input)
        if search.display:  # Esc in the search field: leave it, the last search stays
            search.display = False
            self.step_tree.focus()
            return
        if self.step_tree.search_query is not None:
            self._clear_search()
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    # -- search -----------------------------------------------------------------------------------
    def action_search(self) -> None:
        search = self.query_one("#step-search", Input)
        search.value = self.step_tree.search_query or ""
        search.display = True
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "step-search":
            return
        event.stop()
        event.input.display = False
        self.step_tree.focus()
        query = event.value
        if query.strip():
            self._find(query)
        else:
            self._clear_search()

    def _find(self, query: str) -> None:
        self.search = query
        status = self.query_one("#search-status", Static)
        status.update(Text.assemble("finding ", jsonsafe.quoted(query), "…"))
        status.display = True
        self._read_matches(query)

    @work(thread=True, exclusive=True, group="run-search", exit_on_error=False)
    def _read_matches(self, query: str) -> None:
        worker = get_current_worker()
        store = self.connect()
        try:
            positions = store.find_in_run(self.run_id, query)
        except sqlite3.Error as exc:
            self.app.call_from_thread(notify_plain, self, f"The search failed: {exc}", severity="error")
            return
        finally:
            store.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_matches, query, positions)

    def _show_matches(self, query: str, positions: list[tuple[str, int, int]]) -> None:
        if query != self.search:
            return  # another search began meanwhile
        self.stepping = "matches"
        self.step_tree.set_matches(query, positions)
        self.detail.set_found(query)
        self._show_search_status()
        at, self.at_step = self.at_step, None
        if at is not None and any(position[0] == at for position in positions):
            self.step_tree.reveal(at)
        elif positions:
            self.step_tree.adjacent_match(+1)

    def _show_search_status(self) -> None:
        tree = self.step_tree
        query = tree.search_query
        status = self.query_one("#search-status", Static)
        if query is None:
            status.display = False
            return
        total = len(tree.match_positions)
        text = Text.assemble(("/", "bold"), (display.safe(query, single_line=True), "bold"), "  ")
        if total == 0:
            text.append("no step matches", "bold red")
        else:
            step = tree.step_at_cursor()
            number = tree.match_number(step.id if step else None)
            at = f"{number:,} of " if number is not None else ""
            text.append(f"{at}{total:,} matching step{'s' if total != 1 else ''}", "bold")
        keys = (
            "n/N: next/previous match" if self.stepping == "matches" else "n/N: failed steps (f); / again for matches"
        )
        text.append(f"  ·  {keys} · Esc clears", "dim")
        status.update(text)
        status.display = True

    def _clear_search(self) -> None:
        self.search = None
        self.stepping = "failures"
        self.step_tree.set_matches(None, [])
        self.detail.set_found(None)
        self._show_search_status()

    def action_first_failure(self) -> None:
        if self.run is None:
            return
        self.stepping = "failures"
        if self.step_tree.search_query is not None:
            self._show_search_status()
        if self.new_failure is not None:
            step_id, self.new_failure = self.new_failure, None
            self.step_tree.reveal(step_id)
            return
        if self.step_tree.first_failure() is None:
            notify_plain(self, "No failed step in this run.", title="First failure")

    def _adjacent_failure(self, direction: int) -> None:
        if self.run is None:
            return
        target, wrapped = self.step_tree.adjacent_failure(direction)
        if target is None:
            notify_plain(self, "No failed step in this run.")
        elif wrapped:
            where = "first" if direction > 0 else "last"
            notify_plain(self, f"Wrapped around to the {where} failed step.")

    def _adjacent_match(self, direction: int) -> None:
        target, wrapped = self.step_tree.adjacent_match(direction)
        if target is None:
            notify_plain(self, "No step matches the search.")
        elif wrapped:
            notify_plain(self, f"Wrapped around to the {'first' if direction > 0 else 'last'} match.")

    def action_next_failure(self) -> None:
        if self.stepping == "matches" and self.step_tree.search_query is not None:
            self._adjacent_match(+1)
        else:
            self._adjacent_failure(+1)

    def action_previous_failure(self) -> None:
        if self.stepping == "matches" and self.step_tree.search_query is not None:
            self._adjacent_match(-1)
        else:
            self._adjacent_failure(-1)

    def action_expand_all(self) -> None:
        if self.run is not None:
            self.step_tree.toggle_all()

    def action_next_failed_run(self) -> None:
        self.post_message(JumpToFailedRun(self.run_id, +1))

    def action_previous_failed_run(self) -> None:
        self.post_message(JumpToFailedRun(self.run_id, -1))

    def _in_session(self, direction: int) -> None:
        if self.run is None:
            return
        runs = self.session_runs or [self.run_id]
        if self.run.session is None:
            notify_plain(self, "This run has no session.", timeout=3)
            return
        at = runs.index(self.run_id) if self.run_id in runs else -1
        other = at + direction
        if at < 0 or not 0 <= other < len(runs):
            word = "next" if direction > 0 else "previous"
            notify_plain(self, f"No {word} run in this session.", timeout=3)
            return
        self.post_message(OpenRun(runs[other]))

    def action_next_in_session(self) -> None:
        self._in_session(+1)

    def action_previous_in_session(self) -> None:
        self._in_session(-1)

    def action_pager(self) -> None:
        self.detail.open_pager()

    # -- copy and export ------------------------------------------------------------------------
    def _subject(self) -> tuple[str | None, str]:
        """The step under the cursor (None: the run, on the top row) and how to name it."""
        step = self.step_tree.step_at_cursor()
        if step is None:
            return None, f"the run {display.clip(self.run_id, 40)}"
        name = f"step {display.clip(step.name or step.id, 40)}"
        below = step.size - 1
        return step.id, name + (f" and the {below:,} step{'s' if below != 1 else ''} under it" if below else "")

    def action_copy(self) -> None:
        if self.run is None:
            return
        detail, focused = self.detail, self.focused
        step = self.step_tree.step_at_cursor()
        of = f"step {display.clip(step.name or step.id, 40)}" if step is not None else "the run"
        if focused is not None and (focused is detail or detail in focused.ancestors):
            name = detail.section_at(focused)
            if name is not None:
                payload = detail.payload(name)
                if payload is None:
                    notify_plain(self, "Still reading this step; try again in a moment.", severity="warning")
                else:
                    clipboard.copy(self.app, payload.text, f"the {SECTION_TITLES[name].lower()} of {of}")
                return
        if step is None:
            clipboard.copy(self.app, display.safe(self.run_id), "the run id")
        else:
            clipboard.copy(self.app, display.safe(step.id), f"the id of {of}")

    def action_copy_markdown(self) -> None:
        if self.run is not None:
            step_id, subject = self._subject()
            self._copy_markdown(step_id, subject)

    @work(thread=True, exclusive=True, group="copy-markdown", exit_on_error=False)
    def _copy_markdown(self, step_id: str | None, subject: str) -> None:
        try:
            text = self._document(step_id, "markdown")
        except (sqlite3.Error, TraceError) as exc:
            notify_plain(self.app, f"Cannot copy {subject}: {exc}", severity="error")
            return
        self.app.call_from_thread(clipboard.copy, self.app, text, f"{subject} as Markdown")

    def _document(self, step_id: str | None, fmt: str) -> str:
        store = self.connect()
        try:
            return share.document(store, self.run_id, step_id, fmt=fmt)
        finally:
            store.close()

    def action_export(self) -> None:
        if self.run is None:
            return
        step_id, subject = self._subject()
        stem = share.file_stem(self.run_id, step_id)

        def chosen(fmt: str | None) -> None:
            if fmt is not None:
                self._export(step_id, subject, stem, fmt)

        self.app.push_screen(ExportScreen(subject, stem), chosen)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, step_id: str | None, subject: str, stem: str, fmt: str) -> None:
        try:
            text = self._document(step_id, fmt)
            path = share.new_file(os.getcwd(), stem, share.FORMATS[fmt], text)
        except (OSError, sqlite3.Error, TraceError) as exc:
            notify_plain(self.app, f"Cannot export {subject}: {exc}", title="Export", severity="error")
            return
        size = display.size_text(os.path.getsize(path))
        shown = os.path.join(".", os.path.basename(path))
        notify_plain(self.app, f"Exported {subject} as {share.LABELS[fmt]} to {shown} ({size}).", title="Export")
