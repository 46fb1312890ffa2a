"""The run list grouped by session on 200k runs: the ordered sessions, one screen of their summaries,
and `tracetui list --by session`.

    .venv/bin/python benchmarks/bench_sessions.py [--rows 200000] [--out DIR] [--rounds 3]

Inputs, generated once into --out (default benchmarks/out, reused):
  agent_traces_<rows>.db  make_agent_traces.py's table (ten runs a session), read in place (TEMP views)
  sessions_<rows>.db      the same runs imported into a tracetui store (with its index on session)

Measured (median of --rounds, in this process unless said):
  keys      Store.session_keys: every session in order, for each sort key (what the viewer loads)
  page      Store.session_rows for the first 50 sessions (what one screen draws)
  members   the runs of one session (Enter on a session row)
  cli       `tracetui list PATH --by session --limit 50` and `tracetui stats PATH --by session [--json]`
            (every session) as whole processes
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_agent_traces import main as make_agent_traces  # noqa: E402

from tracetui.loading import prepare  # noqa: E402
from tracetui.store import RunFilter  # noqa: E402


def median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def inputs(out: str, rows: int) -> dict[str, str]:
    os.makedirs(out, exist_ok=True)
    in_place = os.path.join(out, f"agent_traces_{rows}.db")
    if not os.path.exists(in_place):
        make_agent_traces(in_place, rows)
    imported = os.path.join(out, f"sessions_{rows}.db")
    if not os.path.exists(imported):
        prepare(in_place, output=imported).run_import()
    return {"in place (agent_traces)": in_place, "imported (tracetui store)": imported}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    for label, path in inputs(args.out, args.rows).items():
        measure(label, path, args.rounds)


def measure(label: str, path: str, rounds: int) -> None:
    opening = prepare(path)
    opening.run_import()
    store = opening.connect()
    print(f"{label}: {path}  ({store.count_runs():,} runs, {store.count_sessions():,} sessions)")
    for sort in ("started", "duration", "tokens", "status"):
        seconds = median_time(lambda s=sort: store.session_keys(sort=s, desc=True), rounds)
        print(f"  keys, sort {sort:9} {seconds:6.3f} s")
    keys = store.session_keys(sort="started", desc=True)
    page = keys[:50]
    print(f"  page of 50 summaries {median_time(lambda: store.session_rows(page), rounds):6.3f} s")
    one = next(k for k in keys if k.session is not None)
    print(f"  runs of one session  {median_time(lambda: store.run_ids(RunFilter(session=one.session)), rounds):6.3f} s")
    cli = [sys.executable, "-m", "tracetui.cli", "list", path, "--by", "session", "--limit", "50"]
    seconds = median_time(lambda: subprocess.run(cli, check=True, capture_output=True), rounds)
    print(f"  cli list --by session --limit 50  {seconds:6.3f} s")
    for output in ([], ["--json"]):
        wall, cpu = timed([sys.executable, "-m", "tracetui.cli", "stats", path, "--by", "session", *output], rounds)
        print(f"  cli stats --by session {' '.join(output):6} {wall:6.2f} s wall, {cpu:5.2f} s CPU (every session)")
    store.close()


def timed(command: list[str], rounds: int) -> tuple[float, float]:
    """Median wall and CPU seconds (user + system, from GNU time) of a command: CPU varies less on a
    machine other jobs share."""
    walls, cpus = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%U %S", *command], check=True, capture_output=True, text=True)
        walls.append(time.perf_counter() - began)
        cpus.append(sum(float(x) for x in proc.stderr.strip().splitlines()[-1].split()))
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    main()
