"""Time from starting the viewer to the first run rows painted, for a 200k-row agent_traces DB.

Usage: python benchmarks/bench_open.py [ROWS]   (the database is generated once, in /tmp)
       python benchmarks/bench_open.py PATH     (any trace file; a JSON/JSONL one should already be
                                                 in the cache, e.g. after `tracetui list PATH`)
       python benchmarks/bench_open.py PATH --no-cache   (a JSON/JSONL file's first open: the rows
                                                 painted while the import is still running)
Runs the app headless (App.run_test) at 160x48; prints seconds for: importing Textual and the
app, opening the source, and app start → first rows on screen.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from make_agent_traces import main as make_db  # noqa: E402


async def first_paint(path: str, use_cache: bool = True) -> float:
    from tracetui.loading import prepare
    from tracetui.tui.app import TraceApp
    from tracetui.tui.widgets.run_list import RunList

    painted: list[float] = []
    render_line = RunList.render_line

    def timed_render_line(self, y):
        # The first line drawn with a real run in it: what the user sees as "the runs are there".
        if not painted and y >= 1 and self.run_at(round(self.scroll_offset.y) + y - 1) is not None:
            painted.append(time.perf_counter())
        return render_line(self, y)

    RunList.render_line = timed_render_line
    try:
        started = time.perf_counter()
        app = TraceApp(prepare(path, use_cache=use_cache))
        async with app.run_test(size=(160, 48)):
            while not painted:
                await asyncio.sleep(0.002)
        return painted[0] - started
    finally:
        RunList.render_line = render_line


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--no-cache"]
    use_cache = "--no-cache" not in sys.argv
    arg = args[0] if args else "200000"
    if arg.isdigit():
        rows = int(arg)
        path = os.path.join(tempfile.gettempdir(), f"tracetui-bench-agent-traces-{rows}.db")
        if not os.path.exists(path):
            print(f"generating {rows:,} agent_traces rows in {path} …")
            make_db(path, rows)
        what = f"{rows:,}-row agent_traces DB"
    else:
        path, what = arg, arg + ("" if use_cache else ", first open, importing")
    t = time.perf_counter()
    import tracetui.tui.app  # noqa: F401

    print(f"import textual + tracetui.tui.app: {time.perf_counter() - t:.3f} s")
    for attempt in range(3):
        print(
            f"app start → first rows painted ({what}, run {attempt + 1}): {asyncio.run(first_paint(path, use_cache)):.3f} s"
        )


if __name__ == "__main__":
    main()
