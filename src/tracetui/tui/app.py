"""The viewer's hub: owns the opened source, imports it in the background, opens screens.

Widgets post intents (tui/messages.py: OpenRun, CompareRuns, JumpToFailedRun); the app routes
them. Screens and widgets never share a connection across threads: they are handed
`app.new_store` and every worker opens its own connection with it.

A database's connection may drop: any widget that meets it posts SourceLost; the app says so once,
reconnects with backoff in a worker, and then calls `source_restored()` on every screen that has
one, so each reads again what it lacks while keeping its place.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from .. import config as settings
from .. import display, jsonsafe, startup_gc
from ..errors import TraceError
from ..loading import FOLDER, SourceOpening
from ..store.protocol import TraceStore
from .messages import (
    CompareRuns,
    ImportFinished,
    ImportProgress,
    JumpToFailedRun,
    OpenRun,
    OpenSource,
    SourceLost,
    StoreChanged,
)
from .plain import notify_plain, palette_text
from .screens.runs import RunsScreen

if TYPE_CHECKING:
    from ..background_import import BackgroundImport
    from ..discovery import Found, Place
    from ..first_page import FirstPage
    from ..live import Change, Live
    from .screens.compare import RunRef
    from .widgets.live_marker import LiveState


RECONNECT_FIRST = 0.5  # seconds before the first attempt to reconnect; doubled after each failure
RECONNECT_LONGEST = 15.0
STARTUP_GC_LIMIT = 1.0  # seconds after start at the latest until garbage is collected again (startup_gc.py)


class TraceApp(App):
    """tracetui's viewer: the run list, a run's step tree and detail, help."""

    CSS_PATH = "tracetui.tcss"
    TITLE = "tracetui"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="tracetui.quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="tracetui.help"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            priority=True,
            tooltip="Command palette: run any action by name",
            id="tracetui.command_palette",
        ),
        Binding(
            "u",
            "toggle_times",
            "UTC/local",
            show=False,
            tooltip="Show times in UTC or in the local time zone (the config file's `times` sets the first)",
            id="tracetui.times",
        ),
        Binding(
            "p",
            "pause",
            "Pause",
            tooltip="Pause or resume live updates (tracetui serve, open --follow)",
            id="tracetui.live.pause",
        ),
    ]

    # The live marker's state (widgets/live_marker.py); None when the source is not live.
    live_state: reactive[LiveState | None] = reactive(None, init=False)

    opening: SourceOpening  # what is shown: set at start, or when the start screen opens a source
    runs_screen: RunsScreen

    def __init__(
        self,
        opening: SourceOpening | None,
        *,
        run_id: str | None = None,
        failed: bool = False,
        live: Live | None = None,
        first_page: FirstPage | None = None,
        importer: BackgroundImport | None = None,
        config: settings.Config | None = None,
        found: list[Found] | None = None,
        looked: list[Place] | None = None,
    ) -> None:
        """opening None: start on the start screen, listing `found` (and where discovery `looked`).
        live: a source that keeps changing the store (tracetui serve, --follow), started once the run
        list shows. first_page: the run list's first page, being read since before the app started
        (first_page.py); importer: the import of a file not read yet, running since before the app
        started (background_import.py). Without it, the app starts the import when it mounts."""
        super().__init__()
        # tracetui's config file: keys, theme, first sort, clock (config.py; defaults without one).
        self.config = config if config is not None else settings.load()
        display.use_local_time(self.config.times == "local")
        self.set_keymap(self.config.keymap)
        self.live = live
        self.importing = False
        self.importer = importer
        self.import_error: str | None = None
        self._pending_run = run_id
        self._pending_failed = failed
        self._store: TraceStore | None = None  # the event loop's own connection, for quick lookups
        self._notice_told = False
        self.reconnecting = False  # a database's connection dropped and the app is getting it back
        self._start = (found or [], looked or [])
        if opening is not None:
            self._take(opening, first_page)

    def _take(self, opening: SourceOpening, first_page: FirstPage | None = None) -> None:
        self.opening = opening
        self.importing = not opening.ready or self.importer is not None
        if self.importing and self.importer is None and opening.uses_workers:
            from ..parallel import start_helpers

            start_helpers()  # now, while sys.stderr is still the real one (Textual captures it)
        self.runs_screen = RunsScreen(
            self.new_store,
            importing=self.importing,
            files=opening.format == FOLDER,
            paged=opening.paged,
            live=self.live is not None,
            first_page=first_page,
            sort=self.config.sort,
            desc=self.config.desc,
        )
        if self.live is not None:
            from .widgets.live_marker import LiveState

            self.set_reactive(TraceApp.live_state, LiveState(self.live.description))

    # -- stores -----------------------------------------------------------------------------------
    def new_store(self) -> TraceStore:
        """A fresh read-only connection; one per thread, never shared."""
        return self.opening.connect()

    def main_store(self) -> TraceStore:
        """The event loop's own connection, for quick lookups (counts, one run) between workers."""
        if self._store is None:
            self._store = self.new_store()
        return self._store

    def _reset_main_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- start-up ---------------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        # The run list is the app's first screen, not a screen pushed over an empty default one: one
        # screen fewer to set up, lay out and draw before the first rows (issue 15).
        if hasattr(self, "opening"):
            return self.runs_screen
        return super().get_default_screen()  # the start screen is pushed over it

    async def on_mount(self) -> None:
        self._apply_theme()
        if not hasattr(self, "opening"):
            from .screens.start import StartScreen

            await self.push_screen(StartScreen(*self._start))
        self.call_after_refresh(self._check_config)
        # Collections come back once the first rows are drawn, or by now if none are (startup_gc.py).
        self.set_timer(STARTUP_GC_LIMIT, startup_gc.resume)

    async def runs_shown(self) -> None:
        """The run list is mounted (RunsScreen.on_mount): start what feeds it."""
        self._tell_notice()  # notices from here on land on the run list
        if self.live is not None:
            await self.live.start(self._live_changed)
        if self.importing:
            self._start_import()
        else:
            self._open_requested()
            # After the first frame: the indexing thread would share the interpreter with it.
            self.call_after_refresh(self._index_for_search)

    def on_open_source(self, message: OpenSource) -> None:
        notify_plain(self, f"Opening {display.safe(message.path, single_line=True)}…", timeout=3)
        self._prepare(message.path)

    @work(thread=True, exclusive=True, group="prepare")
    def _prepare(self, path: str) -> None:
        from ..loading import prepare

        try:
            opening = prepare(path)
        except TraceError as exc:
            self.call_from_thread(notify_plain, self, str(exc), severity="error", timeout=8)
            return
        self.call_from_thread(self._opened, opening)

    def _opened(self, opening: SourceOpening) -> None:
        if opening.uses_workers:
            from ..parallel import start_helpers

            start_helpers()  # started before the app when there is a start screen; a no-op then
        self._take(opening)
        self.push_screen(self.runs_screen)  # over the start screen; it calls runs_shown() once mounted

    # -- the config file --------------------------------------------------------------------------
    def _apply_theme(self) -> None:
        theme = self.config.theme
        if theme is not None:
            if theme in self.available_themes:
                self.theme = theme
            else:
                self.config.problem(None, "theme", f"no theme {jsonsafe.quoted(theme)} (Ctrl+P › Theme lists them)")
        # Subscribed after the config's own theme is set: only a theme the user picks is written back.
        self.theme_changed_signal.subscribe(self, self._theme_picked)

    def _theme_picked(self, theme: object) -> None:
        name = getattr(theme, "name", None)
        if not isinstance(name, str) or name == self.config.theme:
            return
        problem = settings.remember_theme(self.config, name)
        if problem is not None:
            notify_plain(self, problem, severity="warning", timeout=8)

    def _check_config(self) -> None:
        """After the first paint: keymap ids no binding has, and the one message about what in the
        config file could not be used."""
        if self.config.keymap:  # (the check imports every screen: only when there is something to check)
            from .screens.help import binding_ids

            known = binding_ids()
            for binding_id in self.config.keymap:
                if binding_id not in known:
                    self.config.problem(
                        "keymap", binding_id, f"keymap: no key has the id {jsonsafe.quoted(binding_id)} (? lists them)"
                    )
        message = self.config.message()
        if message is not None:
            notify_plain(self, message, title="Config", severity="error", timeout=15)

    def action_toggle_times(self) -> None:
        display.use_local_time(not display.local_time())
        notify_plain(self, f"Times in {display.zone_label()}", timeout=2)
        for screen in self.screen_stack:
            times_changed = getattr(screen, "times_changed", None)
            if times_changed is not None:
                times_changed()

    # -- live sources -----------------------------------------------------------------------------
    def _live_changed(self, change: Change) -> None:
        """Called by the live source, on its own thread, after each change to the store."""
        self.post_message(StoreChanged(change.notice))  # post_message is thread-safe

    def on_store_changed(self, message: StoreChanged) -> None:
        state = self.live_state
        if state is None:
            return
        if message.notice:
            notify_plain(self, message.notice, severity="warning", timeout=8)
        if state.paused:
            self.live_state = replace(state, updated=time.time(), waiting=state.waiting + 1)
            return
        self.live_state = replace(state, updated=time.time())
        self._reset_main_store()  # a database read in place may have a -wal now: a new connection reads it
        self._tell_screens()

    def _tell_screens(self) -> None:
        """The store changed: the run list and any run view read it again (each at its own pace)."""
        from .screens.run import RunScreen

        self.runs_screen.store_changed()
        for screen in self.screen_stack:
            if isinstance(screen, RunScreen):
                screen.store_changed()

    def action_pause(self) -> None:
        state = self.live_state
        if state is None:
            return
        self.live_state = replace(state, paused=not state.paused, waiting=0)
        if state.paused and state.waiting:
            self._reset_main_store()
            self._tell_screens()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self.live_state is not None  # hidden from the footer and the palette otherwise
        return True

    async def on_unmount(self) -> None:
        if self.importer is not None:
            self.importer.cancel()  # the app is closing: stop reading, drop the half-built cache
        await self._stop_live()  # however the app ends (quit, Ctrl+C, a test's exit)

    async def _stop_live(self) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            await live.stop()

    def _start_import(self) -> None:
        if self.importer is None:
            from ..background_import import BackgroundImport

            self.importer = BackgroundImport(self.opening)
        # post_message is thread-safe; the import's thread reports through it.
        self.importer.listen(
            lambda done, total, runs: self.post_message(ImportProgress(done, total, runs)),
            lambda error: self.post_message(ImportFinished(error)),
        )

    def on_import_progress(self, message: ImportProgress) -> None:
        self.runs_screen.show_progress(message.done, message.total, message.runs)
        if self._pending_run is not None:
            try:
                found = self.main_store().has_run(self._pending_run)
            except (sqlite3.Error, TraceError):
                return  # the store file is not written yet
            if found:
                run_id, self._pending_run = self._pending_run, None
                self.open_run(run_id)

    def _tell_notice(self) -> None:
        """Where the store went, when the user should know (once): a cache that could not be used."""
        if self.opening.notice and not self._notice_told:
            self._notice_told = True
            notify_plain(self, self.opening.notice, severity="warning", timeout=10)

    def on_import_finished(self, message: ImportFinished) -> None:
        self.importing = False
        self._tell_notice()
        self._reset_main_store()
        if message.error is not None:
            self.import_error = message.error
            from .screens.error import ErrorScreen  # imported when needed, like the other screens

            self.push_screen(ErrorScreen(self.opening.label, message.error))
            return
        self.runs_screen.import_done()
        self._open_requested()
        self._index_for_search()

    @work(thread=True, exclusive=True, group="search-index", exit_on_error=False)
    def _index_for_search(self) -> None:
        """Index the steps' text of a cached import for search, in the background (loading.index_for_search);
        until it is done, and when the app closes first (it goes on next time), a search scans."""
        if self.live is not None:
            return
        worker = get_current_worker()
        last = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last > 0.5 and not worker.is_cancelled:
                last = time.monotonic()
                self.call_from_thread(self.runs_screen.show_index_progress, done, total)

        try:
            self.opening.index_for_search(progress, cancelled=lambda: worker.is_cancelled)
        except (sqlite3.Error, OSError):
            pass  # searches go on scanning
        if not worker.is_cancelled:
            self.call_from_thread(self.runs_screen.show_index_progress, None, None)

    def _open_requested(self) -> None:
        if self._pending_run is not None:
            run_id, self._pending_run = self._pending_run, None
            try:
                found = self.main_store().has_run(run_id)
            except TraceError as exc:
                notify_plain(self, str(exc), severity="error")
                found = None
            if found:
                self.open_run(run_id)
            elif found is not None:
                notify_plain(self, f"No run {jsonsafe.quoted(run_id)} in this file.", severity="error")
        if self._pending_failed:
            self._pending_failed = False
            self._open_latest_failed()

    @work(thread=True, exclusive=True, group="latest-failed")
    def _open_latest_failed(self) -> None:
        try:
            store = self.new_store()
            try:
                run = store.latest_failed_run()
            finally:
                store.close()
        except (sqlite3.Error, TraceError) as exc:
            self.call_from_thread(notify_plain, self, f"Cannot look up failed runs: {exc}", severity="error")
            return
        if run is None:
            self.call_from_thread(notify_plain, self, "No failed runs in this file.", severity="warning")
        else:
            self.call_from_thread(self.open_run, run.id, jump_to_failure=True)

    # -- a database's connection ------------------------------------------------------------------
    def on_source_lost(self, message: SourceLost) -> None:
        if self.reconnecting or not self.is_running:  # a store closed by the app's own exit is not lost
            return
        self.reconnecting = True
        self._reset_main_store()
        notify_plain(
            self,
            f"Lost the connection to the database ({message.problem}). Reconnecting…",
            severity="warning",
            timeout=4,  # no longer than "connected again"; the run list's status line says it meanwhile
        )
        self.runs_screen.connection_lost(message.problem)
        self._reconnect()

    @work(thread=True, exclusive=True, group="reconnect")
    def _reconnect(self) -> None:
        """Connect again, waiting longer after each failure (0.5 s, 1 s, 2 s … up to 15 s)."""
        worker = get_current_worker()
        delay = RECONNECT_FIRST
        # The app's exit ends the wait too: a worker started while the app was closing is never cancelled,
        # and the interpreter's exit waits for its thread (a test run hung there for the whole delay).
        while not worker.is_cancelled and self.is_running:
            try:
                store = self.opening.connect()
                try:
                    store.has_run("")  # one real round trip: an idle connection may be a dead one
                finally:
                    store.close()
            except TraceError:
                waited = 0.0
                while waited < delay and not worker.is_cancelled and self.is_running:
                    time.sleep(0.1)
                    waited += 0.1
                delay = min(delay * 2, RECONNECT_LONGEST)
                continue
            self.call_from_thread(self._reconnected)
            return

    def _reconnected(self) -> None:
        self.reconnecting = False
        notify_plain(self, "Connected to the database again.", timeout=4)
        for screen in self.screen_stack:
            restored = getattr(screen, "source_restored", None)
            if restored is not None:
                restored()

    # -- navigation -------------------------------------------------------------------------------
    def on_open_run(self, message: OpenRun) -> None:
        self.open_run(
            message.run_id, jump_to_failure=message.jump_to_failure, search=message.search, step_id=message.step_id
        )

    def on_compare_runs(self, message: CompareRuns) -> None:
        self.compare_runs(message.run_a, message.run_b)

    def on_jump_to_failed_run(self, message: JumpToFailedRun) -> None:
        def answer(other: str | None) -> None:
            if other is None:
                notify_plain(self, f"No {'next' if message.direction > 0 else 'previous'} failed run in the list.")
            else:
                self.open_run(other, jump_to_failure=True)

        self.runs_screen.run_list.ask_failed_run_next_to(message.run_id, message.direction, answer)

    def open_run(
        self, run_id: str, *, jump_to_failure: bool = False, search: str | None = None, step_id: str | None = None
    ) -> None:
        """Show one run: push its RunScreen, or replace the run screen already showing."""
        # Imported when first needed: the run list paints ~0.1 s sooner without the run and compare views.
        from .screens.run import RunScreen

        self.runs_screen.follow(run_id)
        live = self.live_state is not None
        screen = RunScreen(
            run_id, self.new_store, jump_to_failure=jump_to_failure, live=live, search=search, step_id=step_id
        )
        if isinstance(self.screen, RunScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def compare_runs(self, run_a: str | RunRef, run_b: str | RunRef) -> None:
        """Show two runs side by side: ids in the opened file, or RunRefs that say where they are."""
        from .screens.compare import CompareScreen

        self.push_screen(CompareScreen(run_a, run_b, self.new_store))

    async def action_quit(self) -> None:
        await self._stop_live()  # what was received is committed before the viewer goes
        # A file the viewer could not read ends like the CLI's bad input: exit status 2.
        self.exit(return_code=2 if self.import_error else 0)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # -- command palette --------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen: set[tuple[int, str]] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.action in ("command_palette", "app.command_palette") or not binding.description:
                continue
            if (id(active.node), binding.action) in seen:
                continue
            seen.add((id(active.node), binding.action))
            keys = binding.key_display or self.get_key_display(binding)
            yield SystemCommand(
                palette_text(binding.description),
                palette_text(f"{binding.tooltip or binding.description} — key: {keys}"),
                partial(self.run_action, binding.action, active.node),
            )
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            yield from commands()
