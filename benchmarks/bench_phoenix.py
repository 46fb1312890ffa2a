"""A Phoenix database of 200k spans read in place: the run list, sorts over every trace, stats, one trace;
then the same database without Phoenix's costs (every model call priced by tracetui, in place).

Usage: python benchmarks/bench_phoenix.py [--spans N]   (the databases are made once in benchmarks/out/)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from make_phoenix import main as make_phoenix  # noqa: E402

TRACETUI = [sys.executable, "-m", "tracetui"]


def measure(args: list[str], env: dict) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of one `tracetui` process, measured by GNU time. CPU
    time varies less than wall time on a machine other jobs share."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M"] + TRACETUI + args, env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tracetui {' '.join(args)} failed: {proc.stderr}")
    user, system, peak = proc.stderr.strip().splitlines()[-1].split()
    return elapsed, float(user) + float(system), int(peak) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    args = ap.parse_args()
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    db = os.path.join(HERE, "out", f"phoenix_{args.spans}.db")
    if not os.path.exists(db):
        print("generating the database…", flush=True)
        make_phoenix(db, args.spans)
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="tracetui-bench-"))
    for name, path in (("Phoenix's costs", db), ("no costs: all estimated", without_costs(db))):
        print(f"-- {name}", flush=True)
        for label, command in commands(path):
            runs = [measure(command, env) for _ in range(3)]
            seconds, cpu, peak = min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)
            print(f"{label:40s} {seconds:6.2f} s  (CPU {cpu:5.2f} s)  {peak:6.0f} MB", flush=True)
    big_trace(db)


def commands(db: str) -> list[tuple[str, list[str]]]:
    return [
        ("list --limit 50", ["list", db, "--limit", "50"]),
        ("list --limit 50 --sort cost --desc", ["list", db, "--limit", "50", "--sort", "cost", "--desc"]),
        ("list --limit 50 --sort tokens --desc", ["list", db, "--limit", "50", "--sort", "tokens", "--desc"]),
        ("stats", ["stats", db]),
        ("show (one trace of 10 spans)", ["show", db, f"{7:032x}"]),
    ]


def without_costs(db: str) -> str:
    """A copy of the database without span_costs: as if Phoenix had no price for any of its models."""
    import shutil
    import sqlite3

    copy = db.replace(".db", "_no_costs.db")
    if not os.path.exists(copy):
        shutil.copyfile(db, copy)
        conn = sqlite3.connect(copy)
        conn.execute("DELETE FROM span_costs")
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    return copy


def big_trace(db: str, spans: int = 20_000) -> None:
    """One trace of `spans` spans (a copy of the database with the first spans moved into trace 1)."""
    import shutil
    import sqlite3

    from tracetui.loading import open_store

    copy = os.path.join(HERE, "out", f"phoenix_one_trace_{spans}.db")
    if not os.path.exists(copy):
        shutil.copyfile(db, copy)
        conn = sqlite3.connect(copy)
        conn.execute(
            "UPDATE spans SET trace_rowid = 1, parent_id = '0000000000000001' WHERE id > 1 AND id <= ?", (spans,)
        )
        conn.commit()
        conn.close()
    store = open_store(copy)
    trace = f"{0:032x}"
    for label, query in (
        ("its tree, first time (built in Python)", lambda: store.children(trace, None)),
        ("a page of 250 children, then", lambda: store.children(trace, "0000000000000001", limit=250)),
        ("its first failure", lambda: store.first_failed_step(trace)),
    ):
        t0 = time.perf_counter()
        query()
        print(f"trace of {spans} spans: {label:38s} {time.perf_counter() - t0:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
