"""CPU time to the first rows, for comparing versions on a busy machine (issue 15).

    .venv/bin/python benchmarks/cpu_first_screen.py [--runs 7] [--out DIR] [--against DIR/src] [CASE ...]

Wall-clock first-screen figures (bench_first_screen.py) move with the machine's load; the CPU a
process spends until its first rows are written moves far less. Each case runs
profile_first_screen.py in a 160x48 tmux pane (a real terminal and driver), which notes, at the
moment the first frame holding run rows is written to the terminal, the process's wall time since
it started, its CPU time (user + sys of all its threads) and its main thread's CPU time. The
minimal Textual app is measured the same way (its first frame written). Cases run interleaved,
bytecode caching on; the load average of each round is printed. Cases: minimal, sample, db, cached,
first (the 500 MB export with an empty cache; the inputs are those bench_first_screen.py generates
in --out: run it once first). --against DIR/src also runs every tracetui case with the tracetui
package in DIR/src (e.g. `git archive main src | tar -x -C /tmp/main`), interleaved: a before/after.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Case(NamedTuple):
    key: str
    args: list[str]
    source: str | None = None  # PYTHONPATH: another version's src directory
    fresh_cache: bool = False  # an empty cache for every run (a first open)


def cases(out: str, against: str | None) -> list[Case]:
    export = os.path.join(out, "export_500mb.jsonl")
    mine = [
        Case("sample", [os.path.join(ROOT, "sample_traces", "export.jsonl")]),
        Case("db", [os.path.join(out, "agent_traces_200000.db")]),
        Case("cached", [export]),
        Case("first", [export], fresh_cache=True),
    ]
    chosen = [Case("minimal", ["--minimal"])]
    for case in mine:
        chosen.append(case)
        if against:
            chosen.append(case._replace(key=f"{case.key} (against)", source=against))
    return chosen


def run_once(case: Case, cache: str, out: str, timeout: float = 60.0) -> dict[str, float] | None:
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        report = f.name
    if case.fresh_cache:
        cache = tempfile.mkdtemp(prefix="cpu-first-open-", dir=out)
    elif case.source:
        # A cache of its own: the detection memo is keyed on the format modules' times, so two versions
        # sharing one would each find the other's memo stale and detect (import every format) every time.
        cache += "-against"
    session = f"cpu-first-screen-{os.getpid()}"
    env = ["env", "-u", "PYTHONDONTWRITEBYTECODE", f"XDG_CACHE_HOME={cache}"]
    if case.source:
        env.append(f"PYTHONPATH={case.source}")
    command = [*env, sys.executable, os.path.join(HERE, "profile_first_screen.py"), *case.args, "--phases", report]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", " ".join(command)], check=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not os.path.getsize(report):
            time.sleep(0.05)
        time.sleep(0.05)
        with open(report) as f:
            line = f.readline()
        return json.loads(line)["first_rows"] if line else None
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        os.remove(report)
        if case.fresh_cache:
            _wait_for_exit(cache)  # the import's worker processes end with the viewer
            shutil.rmtree(cache, ignore_errors=True)


def _wait_for_exit(cache: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    needle = f"XDG_CACHE_HOME={cache}".encode()
    while time.monotonic() < deadline:
        busy = False
        for environ in glob.glob("/proc/[0-9]*/environ"):
            try:
                with open(environ, "rb") as f:
                    busy = needle in f.read().split(b"\0")
            except OSError:
                continue
            if busy:
                break
        if not busy:
            return
        time.sleep(0.1)


def measure(chosen: list[Case], samples: dict[str, list[dict[str, float]]], cache: str, out: str, runs: int) -> None:
    for case in chosen:
        run_once(case, cache, out)  # unmeasured: bytecode written, files in the page cache
    for n in range(runs):
        load = os.getloadavg()[0]
        line = []
        for case in chosen:
            result = run_once(case, cache, out)
            if result is not None:
                samples[case.key].append(result)
            line.append(f"{case.key} {result['cpu_ms']:.0f}" if result else f"{case.key} –")
        print(f"round {n + 1}/{runs} (load {load:.2f}), ms CPU: " + ", ".join(line), flush=True)


def report(samples: dict[str, list[dict[str, float]]], loads: tuple[float, float]) -> None:
    print(
        f"\nFirst rows written to the terminal (tmux 160x48), {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load average {loads[0]:.2f} -> {loads[1]:.2f}; medians, milliseconds since the process started.\n"
    )
    print("| case | wall | process CPU (user+sys) | main thread CPU | runs |")
    print("|---|---|---|---|---|")
    for key, got in samples.items():
        if not got:
            print(f"| {key} | – | – | – | 0 |")
            continue

        def med(field: str, got: list[dict[str, float]] = got) -> str:
            return f"{statistics.median(s[field] for s in got):.0f}"

        print(f"| {key} | {med('wall_ms')} | {med('cpu_ms')} | {med('main_thread_cpu_ms')} | {len(got)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--against", help="another version's src directory, measured interleaved with this one")
    ap.add_argument("case", nargs="*", help="cases to run: minimal, sample, db, cached, first (default: all)")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("cpu_first_screen: tmux is needed")
    out = os.path.abspath(args.out)
    cache = os.path.join(out, "first-screen-cache")
    against = os.path.abspath(args.against) if args.against else None
    chosen = [c for c in cases(out, against) if not args.case or c.key.split(" ")[0] in args.case]
    samples: dict[str, list[dict[str, float]]] = {c.key: [] for c in chosen}
    # A session of our own keeps the tmux server up between runs (see bench_first_screen.py).
    keeper = f"cpu-first-screen-keeper-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", keeper, "sleep 86400"], check=True)
    load_before = os.getloadavg()[0]
    try:
        measure(chosen, samples, cache, out, args.runs)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", keeper], capture_output=True)
    report(samples, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
