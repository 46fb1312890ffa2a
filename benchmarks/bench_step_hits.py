"""Every matching step across runs (`R` after `/` in the run list, `list --grep --steps`) with 100k hits.

    .venv/bin/python benchmarks/bench_step_hits.py [--runs 2000] [--steps 50] [--out DIR] [--rounds 3]

Input, generated once into --out (default benchmarks/out, reused): a tracetui store of --runs runs of
--steps steps each, every step's input holding the query once among ~1 KB of other text (100k hits
by default), with the search index (as `tracetui import -o` writes it); and a copy without the index
(a store of an older tracetui: every search is a scan).

Measured (median of --rounds, CPU time beside the wall time):
  all hits     Store.steps_matching: every hit's run, id, name, kind and order (what the screen holds)
  first batch  the first list of hits a scan hands over (the screen shows rows from then on)
  one screen   step_snippet for 40 hits (the text around the match of one screen of rows)
  screen       the results screen headless at 160x48: from `R` to its first rows, and to every hit
  cli          `tracetui list PATH --grep Q --steps --limit 50` as a whole process
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QUERY = "needle-in-the-steps"


def timed(fn, rounds: int) -> tuple[float, float]:
    """Median wall and CPU seconds of `fn`."""
    walls, cpus = [], []
    for _ in range(rounds):
        began, began_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - began_cpu)
    return statistics.median(walls), statistics.median(cpus)


def make(out: str, runs: int, steps: int) -> tuple[str, str]:
    from tracetui.model import Run, Step, finalize_run
    from tracetui.store import StoreWriter

    os.makedirs(out, exist_ok=True)
    indexed = os.path.join(out, f"step_hits_{runs}x{steps}.db")
    scanned = os.path.join(out, f"step_hits_{runs}x{steps}_noindex.db")
    if not os.path.exists(indexed):
        filler = "lorem ipsum dolor sit amet " * 40
        writer = StoreWriter(indexed + ".part")
        for r in range(runs):
            run = Run(f"run-{r:05d}", status="completed", started_at=f"2026-11-{1 + r % 28:02d}T10:00:00Z")
            run.steps = [
                Step(f"s{s}", name=f"step {s}", kind="tool", seq=s, input=f"{filler[: 37 * (s % 20)]} {QUERY} {filler}")
                for s in range(steps)
            ]
            writer.add(finalize_run(run))
        writer.finish(search_index=True)
        os.replace(indexed + ".part", indexed)
    if not os.path.exists(scanned):
        shutil.copyfile(indexed, scanned)
        conn = sqlite3.connect(scanned)
        conn.execute("DROP TABLE step_text")
        conn.execute("DELETE FROM meta WHERE key IN ('search_index', 'search_indexed_to')")
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
    return indexed, scanned


async def screen_seconds(path: str) -> tuple[float, float]:
    """From `R` until the results screen shows its first rows, and until it has every hit."""
    from tracetui.loading import prepare
    from tracetui.store import RunFilter
    from tracetui.tui.app import TraceApp
    from tracetui.tui.pilot import settle, until
    from tracetui.tui.screens.step_hits import StepHitList, StepHitsScreen

    app = TraceApp(prepare(path))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count > 0, tries=100_000)
        await settle(pilot)  # the run list's own loading done
        app.runs_screen.run_list.flt = RunFilter(search=QUERY)  # as after `/` (its run list search not timed)
        began = time.perf_counter()
        app.runs_screen.action_step_results()  # what `R` runs (a pilot's key press waits for more than that)

        def shown() -> bool:
            screen = app.screen
            return isinstance(screen, StepHitsScreen) and bool(screen.query(StepHitList)) and bool(screen.hit_list.hits)

        while not shown():
            await asyncio.sleep(0.002)
        await pilot.pause()
        first = time.perf_counter() - began
        while app.screen.searching:
            await asyncio.sleep(0.005)
        await pilot.pause()
        return first, time.perf_counter() - began


def measure(label: str, path: str, rounds: int) -> None:
    from tracetui.loading import prepare

    store = prepare(path).connect()
    hits = [h for some in store.steps_matching(QUERY) for h in some]
    print(f"{label}: {path}  ({store.count_runs():,} runs, {len(hits):,} hits)")
    wall, cpu = timed(lambda: [h for some in store.steps_matching(QUERY) for h in some], rounds)
    print(f"  all hits      {wall:7.3f} s wall  {cpu:7.3f} s cpu")
    wall, cpu = timed(lambda: next(iter(store.steps_matching(QUERY))), rounds)
    print(f"  first batch   {wall:7.3f} s wall  {cpu:7.3f} s cpu")
    page = hits[:40]
    wall, cpu = timed(lambda: [store.step_snippet(h.run_id, h.step_id, QUERY) for h in page], rounds)
    print(f"  one screen    {wall:7.3f} s wall  {cpu:7.3f} s cpu  (40 snippets)")
    store.close()
    screens = [asyncio.run(screen_seconds(path)) for _ in range(rounds)]
    first, every = statistics.median(s[0] for s in screens), statistics.median(s[1] for s in screens)
    print(f"  screen        {first:7.3f} s wall to the first rows, {every:.3f} s to every hit counted")
    cli = [sys.executable, "-m", "tracetui", "list", path, "--grep", QUERY, "--steps", "--limit", "50"]
    wall, _ = timed(lambda: subprocess.run(cli, check=True, capture_output=True), rounds)
    print(f"  cli --limit 50 {wall:6.3f} s wall (whole process)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    indexed, scanned = make(args.out, args.runs, args.steps)
    print(f"load average {os.getloadavg()[0]:.1f}")
    measure("indexed", indexed, args.rounds)
    measure("no index (scan)", scanned, args.rounds)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
