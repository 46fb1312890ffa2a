"""Where a dense step's CPU goes in an import, phase by phase, in one process (issue 15).

    .venv/bin/python benchmarks/profile_dense_import.py [FILE] [--lines 2000] [--rounds 3]

Reads the first --lines lines of a dense export (default: benchmarks/out/dense_500000.jsonl, made
by bench_throughput.py) and does what a worker and the merging process do with them, one phase at
a time over all the lines, timing each with time.thread_time (CPU of this thread only, so steadier
than wall time on a shared machine): decode, build the runs, price, finalize, write them into a
scratch store, and merge that into a store. Prints microseconds a step, best of --rounds. Runs are
built as the parallel import builds them (step rows laid out by the format where it can), or with
--general as a serial import does (Step objects, finalize_run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial

import orjson

from tracetui import normalize, pricing
from tracetui.model import finalized, run_problems
from tracetui.sources import export
from tracetui.store import StoreWriter

try:
    from tracetui.store.writer import BOUND_NULL as NULL
except ImportError:  # a tree from before the plain rows (--src of bench_throughput.py)
    NULL = None

HERE = os.path.dirname(os.path.abspath(__file__))


def one_round(lines: list[bytes], tmp: str, general: bool) -> tuple[int, dict[str, float]]:
    times: dict[str, float] = {}

    def timed(name: str, work):  # noqa: ANN001, ANN202
        t0 = time.thread_time()
        result = work()
        times[name] = time.thread_time() - t0
        return result

    problems: list = []
    records = timed("decode", lambda: [orjson.loads(line) for line in lines])
    pricer = pricing.Pricer()
    normalize.take_notes()
    plain: list = []
    if hasattr(export, "rows_from_line") and not general:
        # The parallel import's way: step rows laid out by the format where its steps allow.
        made = timed(
            "build rows", lambda: [export.rows_from_line(n, r, problems.append, NULL) for n, r in enumerate(records, 1)]
        )
        runs = [run for run, rows in made if rows is None]
        plain = [(run, rows) for run, rows in made if rows is not None]
    else:
        runs = timed("build", lambda: [export.run_from_line(n, r, problems.append) for n, r in enumerate(records, 1)])

    def finalize_all() -> None:
        for run in runs:
            finalized(run, problems.append, partial(pricing.apply, pricer=pricer))
            problems.extend(run_problems(run))

    timed("price + finalize", finalize_all)
    scratch = os.path.join(tmp, "block.db")
    store = os.path.join(tmp, "store.db")
    for path in (scratch, store):
        if os.path.exists(path):
            os.remove(path)

    def write() -> None:
        writer = StoreWriter(scratch, scratch=True, commit_every=3600, batch_rows=50000, report=problems.append)
        for run in runs:
            writer.add(run)
        for run, rows in plain:
            if hasattr(export, "STEP_ROW_COLUMNS"):
                writer.add_rows(run, rows, export.STEP_ROW_COLUMNS)
            else:  # a tree from before the narrow rows
                writer.add_rows(run, rows)
        writer.finish()

    timed("write (scratch store)", write)
    main = StoreWriter(store)
    main.defer_step_indexes()
    timed("merge (store)", lambda: main.merge(scratch))
    timed("finish (indexes)", lambda: main.finish())
    return sum(r.step_count for r in runs) + sum(len(rows) for _, rows in plain), times


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", default=os.path.join(HERE, "out", "dense_500000.jsonl"))
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--general", action="store_true", help="every run through Step objects (as a serial import)")
    args = ap.parse_args(argv)
    with open(args.file, "rb") as f:
        lines = [f.readline() for _ in range(args.lines)]
    best: dict[str, float] = {}
    steps = 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            steps, times = one_round(lines, tmp, args.general)
            for name, seconds in times.items():
                best[name] = min(best.get(name, float("inf")), seconds)
    print(f"{steps:,} steps in {args.lines:,} runs; µs a step (best of {args.rounds}); load {os.getloadavg()[0]:.2f}")
    for name, seconds in best.items():
        print(f"  {name:24} {seconds / steps * 1e6:6.2f}")
    print(f"  {'all':24} {sum(best.values()) / steps * 1e6:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
