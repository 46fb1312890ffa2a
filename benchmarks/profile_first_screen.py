"""`tracetui open PATH` that quits as soon as the first run row is drawn: a start-up to profile.

    python benchmarks/profile_first_screen.py PATH [--phases FILE] [--stay]

Run it in a real terminal (a tmux pane), alone or under a profiler, for example
`python -X importtime benchmarks/profile_first_screen.py PATH 2> imports.txt` (every module imported
before the first rows show; note that Textual draws on stderr too, and that modules loaded with
importlib.import_module are not listed) or `py-spy record --idle --threads -- python …`.
The process is the real `tracetui open` (the click command, the real driver); a few methods are
wrapped to note when they ran, and the app exits once the refresh that drew the first run row is
done. --phases appends one JSON line to FILE: milliseconds since the process started at which each
step of the start-up began and ended (imports, prepare, connect, app start, the run list's queries,
the first frames, and whether Textual wrote each to the terminal or dropped it inside its start-up
batch). --stay keeps the viewer running after that, to watch the pane from outside.
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


def main() -> None:
    global _t0
    args = sys.argv[1:]
    report = None
    if "--phases" in args:
        i = args.index("--phases")
        report = args[i + 1]
        del args[i : i + 2]
    stay = "--stay" in args  # keep running after the first rows (to watch the screen from outside)
    if stay:
        args.remove("--stay")
    _t0 = time.monotonic() - _process_age()
    _note("interpreter start → this script runs", 0.0)

    start = _now()
    import tracetui.cli
    from tracetui import first_page, loading, store

    _note("import tracetui.cli", start)
    start = _now()
    # In `tracetui open` this import comes after prepare(), while a thread reads the first page or
    # starts the import; here it comes first, so that its classes can be wrapped (its cost is the same).
    from tracetui.tui import app as tui_app
    from tracetui.tui.screens.runs import RunsScreen
    from tracetui.tui.widgets.run_list import RunList

    _note("import textual + tracetui.tui.app", start)

    _timed(loading, "prepare", "prepare (detect format, cache lookup)")
    _timed(first_page, "read_top", "first_page.read_top (the first page, in its thread)", first_only=True)
    _timed(loading.Opening, "connect", "Opening.connect", first_only=True)
    _timed(store.Store, "count_runs", "Store.count_runs", first_only=True)
    _timed(store.Store, "run_ids", "Store.run_ids (first call: top page)", first_only=True)
    _timed(store.Store, "runs_by_ids", "Store.runs_by_ids", first_only=True)
    _timed(store.StoreWriter, "__init__", "StoreWriter opened (a first import starts)", first_only=True)
    _timed(store.StoreWriter, "merge", "StoreWriter.merge: first block's runs committed", first_only=True)
    _timed(store.StoreWriter, "commit", "StoreWriter.commit (serial import: first runs committed)", first_only=True)
    _timed(tui_app.TraceApp, "__init__", "TraceApp.__init__")
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

    tui_app.TraceApp._display = timed_display
    render_line = RunList.render_line
    done: list[float] = []

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
        _note("after the refresh that drew it", _now(), _now())
        if report:
            with open(report, "a") as f:
                f.write(json.dumps({"path": args[0], "phases": sorted(_phases, key=lambda p: p[1])}) + "\n")
        if not stay:
            app.exit()

    RunList.render_line = first_row_then_exit
    tracetui.cli.main(["open", *args], standalone_mode=False)


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
