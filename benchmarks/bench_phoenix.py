"""A Phoenix database of 200k spans read in place: the run list, a sort over every trace, stats, one trace.

Usage: python benchmarks/bench_phoenix.py [--spans N]   (the database is made once in benchmarks/out/)
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


def measure(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one `tracetui` process, measured by GNU time."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M"] + TRACETUI + args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tracetui {' '.join(args)} failed: {proc.stderr}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1]) / 1024


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
    trace = f"{7:032x}"
    for label, command in (
        ("list --limit 50", ["list", db, "--limit", "50"]),
        ("list --limit 50 --sort tokens --desc", ["list", db, "--limit", "50", "--sort", "tokens", "--desc"]),
        ("stats", ["stats", db]),
        ("show (one trace of 10 spans)", ["show", db, trace]),
    ):
        seconds, peak = min(measure(command, env) for _ in range(3))
        print(f"{label:40s} {seconds:6.2f} s  {peak:6.0f} MB", flush=True)
    big_trace(db)


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
