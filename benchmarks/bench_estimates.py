"""Estimated costs of a database read in place, command after command: a Phoenix database whose 60,000
model calls carry no cost (bench_phoenix.py's 200k-span file without span_costs), so tracetui prices
every call. Each command runs first with an empty cache directory (the first command on the file),
then again (every later command: the estimates kept in tracetui's cache, estimates.py).

Usage: python benchmarks/bench_estimates.py [--spans N] [--python PATH] [--rounds R]
  --python: the interpreter of another checkout (e.g. main's .venv/bin/python) for a before/after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_phoenix import without_costs  # noqa: E402
from make_phoenix import main as make_phoenix  # noqa: E402


def measure(python: str, args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one `tracetui` process, by GNU time."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S", python, "-m", "tracetui", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"tracetui {' '.join(args)} failed: {proc.stderr}")
    user, system = proc.stderr.strip().splitlines()[-1].split()
    return elapsed, float(user) + float(system)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", help="only the commands whose label starts with this")
    args = ap.parse_args()
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    db = os.path.join(HERE, "out", f"phoenix_{args.spans}.db")
    if not os.path.exists(db):
        print("generating the database…", flush=True)
        make_phoenix(db, args.spans)
    db = without_costs(db)
    commands = [
        ("list --limit 50", ["list", db, "--limit", "50"]),
        ("list --limit 50 --sort cost --desc", ["list", db, "--limit", "50", "--sort", "cost", "--desc"]),
        ("stats", ["stats", db]),
        ("stats --by model", ["stats", db, "--by", "model"]),
        ("stats --by agent", ["stats", db, "--by", "agent"]),
        ("stats --by session", ["stats", db, "--by", "session"]),
        ("stats --by day", ["stats", db, "--by", "day"]),
        ("show (one trace of 10 spans)", ["show", db, f"{7:032x}"]),
    ]
    print(f"python {args.python}; best of {args.rounds}; load average before: {load()}", flush=True)
    for label, command in commands:
        if args.only and not label.startswith(args.only):
            continue
        first, later = [], []
        for _ in range(args.rounds):
            cache = tempfile.mkdtemp(prefix="tracetui-bench-")
            env = dict(os.environ, XDG_CACHE_HOME=cache)
            first.append(measure(args.python, command, env))
            later.append(measure(args.python, command, env))
            shutil.rmtree(cache)
        print(
            f"{label:38s} first {min(w for w, _ in first):5.2f} s wall ({min(c for _, c in first):5.2f} s CPU)"
            f"   next {min(w for w, _ in later):5.2f} s wall ({min(c for _, c in later):5.2f} s CPU)"
            f"   load {load()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
