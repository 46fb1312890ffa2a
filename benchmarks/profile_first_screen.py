"""`tracetui open PATH` that quits as soon as the first run row is drawn: a start-up to profile.

    python benchmarks/profile_first_screen.py PATH [--seconds-to FILE]

Run it in a real terminal (a tmux pane), under whatever profiler you like, for example
`python -X importtime benchmarks/profile_first_screen.py PATH 2> imports.txt` (every module imported
before the first rows show) or `pyinstrument benchmarks/profile_first_screen.py PATH`. The process
is the real `tracetui open` (the click command, the real driver); only RunList.render_line is wrapped,
to exit after the first line that holds a run. --seconds-to appends the seconds from interpreter
start to that line to FILE.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    args = sys.argv[1:]
    report = None
    if "--seconds-to" in args:
        i = args.index("--seconds-to")
        report = args[i + 1]
        del args[i : i + 2]
    started = time.monotonic() - _process_age()

    from tracetui.cli import main as cli
    from tracetui.tui.widgets.run_list import RunList

    render_line = RunList.render_line
    done: list[float] = []

    def first_row_then_exit(self, y):
        strip = render_line(self, y)
        if not done and y >= 1 and self.run_at(round(self.scroll_offset.y) + y - 1) is not None:
            done.append(time.monotonic())
            self.app.call_after_refresh(self.app.exit)  # after this frame reaches the terminal
        return strip

    RunList.render_line = first_row_then_exit
    try:
        cli(["open", *args], standalone_mode=False)
    finally:
        if report and done:
            with open(report, "a") as f:
                f.write(f"{done[0] - started:.3f}\n")


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
