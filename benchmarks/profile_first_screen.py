"""`tracetui open PATH` that quits as soon as the first run row is drawn: a start-up to profile.

    python benchmarks/profile_first_screen.py PATH [--phases FILE] [--stay] [--cprofile(-all) FILE] [--exit-now]
    python benchmarks/profile_first_screen.py --minimal [--phases FILE] [--cprofile(-all) FILE] [--exit-now]

Run it in a real terminal (a tmux pane), alone or under a profiler, for example
`python -X importtime benchmarks/profile_first_screen.py PATH 2> imports.txt` (every module imported
before the first rows show; note that Textual draws on stderr too, and that modules loaded with
importlib.import_module are not listed) or `py-spy record --idle --threads -- python …`.
The process is the real `tracetui open` (its entry point, the real driver); a few methods are
wrapped to note when they ran, and the app exits once the refresh that drew the first run row is
done. --phases appends one JSON line to FILE: milliseconds since the process started at which each
step of the start-up began and ended (imports, prepare, connect, app start, the run list's queries,
the first frames, and whether Textual wrote each to the terminal or dropped it inside its start-up
batch), and `first_rows`: wall and CPU milliseconds since the process started when the first frame
holding run rows was written to the terminal (CPU: user + sys of all threads, and the main thread's).
--stay keeps the viewer running after that, to watch the pane from outside. --cprofile FILE writes a
cProfile of the main thread from App.run until the first rows are written (the app's start-up
without the imports before it); --cprofile-all FILE the same from the script's start, imports included. --exit-now ends the process (os._exit) the moment the first rows are
written, before the phases are reported: everything it ran is start-up, which is what an instruction
count of the whole process (`valgrind --tool=callgrind`, unmoved by the machine's load) should
hold. It also moves the viewer's 1 s fallback for resuming garbage collection (app.STARTUP_GC_LIMIT) out
of the way: a process slowed fifty-fold by valgrind would otherwise reach it before its first rows. --minimal measures the minimal Textual app
(benchmarks/minimal_textual_app.py) the same way: its first frame written.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

_t0 = 0.0
_phases: list[tuple[str, float, float, str]] = []  # (what, start ms, end ms, thread)
_lock = threading.Lock()
_profiler = None  # --cprofile: a cProfile.Profile from App.run to the first rows written
_profile_to: str | None = None
_exit_now = False  # --exit-now: os._exit as soon as the first rows are written


def _start_profile() -> None:
    global _profiler
    if _profile_to is not None and _profiler is None:
        import cProfile

        _profiler = cProfile.Profile()
        _profiler.enable()


def _stop_profile() -> None:
    if _profiler is not None and _profile_to is not None:
        _profiler.disable()
        _profiler.dump_stats(_profile_to)


def _now() -> float:
    return (time.monotonic() - _t0) * 1000


def _note(what: str, start: float, end: float | None = None) -> None:
    with _lock:
        _phases.append(
            (what, round(start, 1), round(_now() if end is None else end, 1), threading.current_thread().name)
        )


def _timed(owner, name: str, label: str, first_only: bool = False) -> None:
    original = getattr(owner, name)
    seen: list[bool] = []

    def wrapper(*args, **kwargs):
        if first_only and seen:
            return original(*args, **kwargs)
        seen.append(True)
        start = _now()
        try:
            return original(*args, **kwargs)
        finally:
            _note(label, start)

    setattr(owner, name, wrapper)


def _cpu() -> dict[str, float]:
    """Wall and CPU milliseconds since the process started (CPU: user + sys of every thread; main: this one's)."""
    t = os.times()
    return {
        "wall_ms": round(_now(), 1),
        "cpu_ms": round((t.user + t.system) * 1000, 1),
        "main_thread_cpu_ms": round(time.thread_time() * 1000, 1),
    }


def minimal(report: str | None) -> None:
    """The minimal Textual app, the same way: the first frame written to the terminal is its first paint."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from minimal_textual_app import Minimal
    from textual.app import App

    display = App._display
    written: list[dict[str, float]] = []

    def timed_display(self, screen, renderable) -> None:
        dropped = bool(self._batch_count)
        display(self, screen, renderable)
        if renderable is not None and not dropped and not written:
            written.append(_cpu())
            _stop_profile()
            if report:
                with open(report, "a") as f:
                    f.write(json.dumps({"path": "minimal", "first_rows": written[0]}) + "\n")
            if _exit_now:
                os._exit(0)
            self.call_after_refresh(self.exit)

    App._display = timed_display  # type: ignore[method-assign]
    app = Minimal()
    _start_profile()
    app.run()


def main() -> None:
    global _t0, _profile_to, _exit_now
    args = sys.argv[1:]
    report = None
    if "--phases" in args:
        i = args.index("--phases")
        report = args[i + 1]
        del args[i : i + 2]
    whole = "--cprofile-all" in args  # from this script's first line, imports included
    if "--cprofile" in args or whole:
        i = args.index("--cprofile-all" if whole else "--cprofile")
        _profile_to = args[i + 1]
        del args[i : i + 2]
        if whole:
            _start_profile()
    _exit_now = "--exit-now" in args
    if _exit_now:
        args.remove("--exit-now")
    stay = "--stay" in args  # keep running after the first rows (to watch the screen from outside)
    if stay:
        args.remove("--stay")
    _t0 = time.monotonic() - _process_age()
    _note("interpreter start → this script runs", 0.0)
    if args == ["--minimal"]:
        minimal(report)
        return

    start = _now()
    try:
        from tracetui.launch import main as entry_point
    except ImportError:  # a version from before tracetui.launch (cpu_first_screen.py --against): click's
        from tracetui.cli import main as cli

        def entry_point() -> None:
            cli(sys.argv[1:], standalone_mode=False)

    from tracetui import first_page, loading, store

    _note("import the entry point, first_page, loading, store", start)
    start = _now()
    # In `tracetui open` this import comes after prepare(), while a thread reads the first page or
    # starts the import; here it comes first, so that its classes can be wrapped (its cost is the same,
    # but a first open's import then no longer overlaps it: measure first opens with ttff.sh too).
    from tracetui.tui import app as tui_app
    from tracetui.tui.screens.runs import RunsScreen
    from tracetui.tui.widgets.run_list import RunList

    _note("import textual + tracetui.tui.app", start)

    if _exit_now and hasattr(tui_app, "STARTUP_GC_LIMIT"):
        tui_app.STARTUP_GC_LIMIT = 3600.0  # (read when the app mounts)
    _timed(loading, "prepare", "prepare (detect format, cache lookup)")
    _timed(first_page, "read_top", "first_page.read_top (the first page, in its thread)", first_only=True)
    _timed(loading.Opening, "connect", "Opening.connect", first_only=True)
    _timed(store.Store, "count_runs", "Store.count_runs", first_only=True)
    _timed(store.Store, "run_ids", "Store.run_ids (first call: top page)", first_only=True)
    _timed(store.Store, "runs_by_ids", "Store.runs_by_ids", first_only=True)
    _time_the_writer_when_an_import_starts(loading.Opening)
    _timed(tui_app.TraceApp, "__init__", "TraceApp.__init__")
    _timed(tui_app.TraceApp, "_tell_notice", "TraceApp._tell_notice (the run list is mounted)", first_only=True)
    _timed(tui_app.TraceApp, "_index_for_search", "TraceApp._index_for_search started", first_only=True)
    _timed(tui_app.TraceApp, "_check_config", "TraceApp._check_config", first_only=True)
    app_mount, screen_mount = tui_app.TraceApp.on_mount, RunsScreen.on_mount

    async def timed_app_mount(self) -> None:  # handlers keep their signatures: Textual inspects them
        start = _now()
        await app_mount(self)
        _note("TraceApp.on_mount (pushes the run list)", start)

    def timed_screen_mount(self) -> None:
        start = _now()
        screen_mount(self)
        _note("RunsScreen.on_mount", start)

    tui_app.TraceApp.on_mount, RunsScreen.on_mount = timed_app_mount, timed_screen_mount
    _timed(RunList, "_show_top", "RunList._show_top (first rows handed to the list)", first_only=True)
    run = tui_app.TraceApp.run

    def timed_run(self, *a, **kw):
        _note("TraceApp.run called", _now(), _now())
        _start_profile()
        return run(self, *a, **kw)

    tui_app.TraceApp.run = timed_run
    display = tui_app.TraceApp._display
    frames: list[int] = []

    def timed_display(self, screen, renderable) -> None:
        # Inside Textual's start-up batch_update() a composed frame is dropped, not written.
        dropped = bool(self._batch_count)
        start = _now()
        display(self, screen, renderable)
        if renderable is not None and len(frames) < 8:
            frames.append(1)
            fate = "dropped (start-up batch)" if dropped else "written to the terminal"
            _note(f"frame {len(frames)} {fate}", start)
        if done and not dropped and renderable is not None and not rows_written:
            rows_written.append(_cpu())
            _stop_profile()
            if _exit_now:
                os._exit(0)
            _note("first run rows written to the terminal", _now(), _now())

    tui_app.TraceApp._display = timed_display
    end_batch = tui_app.TraceApp._end_batch
    batch_ended: list[bool] = []

    def noted_end_batch(self) -> None:
        end_batch(self)
        if not self._batch_count and not batch_ended:
            batch_ended.append(True)
            _note("Textual's start-up batch ended", _now(), _now())

    tui_app.TraceApp._end_batch = noted_end_batch
    render_line = RunList.render_line
    done: list[float] = []
    rows_written: list[dict[str, float]] = []

    def first_row_then_exit(self, y):
        if not done and not hasattr(self, "_profiled_first_line"):
            self._profiled_first_line = True
            _note("RunList: first line drawn (header or blank)", _now(), _now())
        strip = render_line(self, y)
        if not done and y >= 1 and self.run_at(round(self.scroll_offset.y) + y - 1) is not None:
            done.append(_now())
            _note("RunList: first run row drawn", done[0], done[0])
            self.app.call_after_refresh(finish, self.app)
        return strip

    def finish(app) -> None:
        if not rows_written and len(done) < 50:  # the frame that drew them was dropped: wait for the next
            done.append(_now())
            app.call_after_refresh(finish, app)
            return
        _note("after the refresh that drew it", _now(), _now())
        if report:
            with open(report, "a") as f:
                cpu = rows_written[0] if rows_written else None
                f.write(
                    json.dumps({"path": args[0], "first_rows": cpu, "phases": sorted(_phases, key=lambda p: p[1])})
                    + "\n"
                )
        if not stay:
            app.exit()

    RunList.render_line = first_row_then_exit
    sys.argv = ["tracetui", "open", *args]  # the real entry point: `open PATH` starts without click
    entry_point()


def _time_the_writer_when_an_import_starts(opening_class) -> None:
    """Wrap StoreWriter's steps once an import starts: imported here before, it would be imported by
    every start-up measured, although opening a file in the cache never needs it."""
    run_import = opening_class.run_import
    wrapped: list[bool] = []

    def timed_run_import(self, *args, **kwargs):
        with _lock:
            if not wrapped:
                wrapped.append(True)
                from tracetui.store.writer import StoreWriter

                _timed(StoreWriter, "__init__", "StoreWriter opened (a first import starts)", first_only=True)
                _timed(StoreWriter, "merge", "StoreWriter.merge: first block's runs committed", first_only=True)
                _timed(
                    StoreWriter, "commit", "StoreWriter.commit (serial import: first runs committed)", first_only=True
                )
        return run_import(self, *args, **kwargs)

    opening_class.run_import = timed_run_import


def _process_age() -> float:
    """Seconds since this process started, from /proc (Linux; 10 ms resolution), else 0."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


if __name__ == "__main__":
    main()
