"""Search speed, index size and import overhead. Results go to docs/benchmarks.md by hand.

    .venv/bin/python benchmarks/bench_search.py [--mb 500] [--out DIR]

Generates (once, reused) in --out an export JSONL of about --mb MB shaped like bench_store.py's (same
runs, steps and payload sizes) but with text of a 20,000-word vocabulary, so the trigram index is as
big as it is on real prose (bench_store's 16-word prose would give a tiny one), and a rare command
(NEEDLE) planted in about one step in 5,000. Then:

- the first import (cold cache) as `tracetui list --limit 1` runs it, whole process (no index: the
  viewer builds it afterwards, in the background);
- searches without the index (scans): in this process a rare substring, a common word, a two-character
  query, one run's steps; and cached `tracetui list --grep` as a whole process;
- building the index into the cache (search.build_index, what the viewer runs), its size;
- the same searches again with the index.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import sqlite3
import string
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_store  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRACETUI = [sys.executable, "-m", "tracetui"]
NEEDLE = "rm -rf /var/lib/postgresql"


def varied_prose():
    rnd = random.Random(7)
    lexicon = ["".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(2, 11))) for _ in range(20_000)]
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(lexicon))))  # Zipf-like

    def prose(rnd: random.Random, size: int) -> str:
        words = rnd.choices(lexicon, cum_weights=weights, k=max(1, size // 6))
        if rnd.random() < 0.0002:
            words.insert(len(words) // 2, NEEDLE)
        return " ".join(words)

    return prose, lexicon[0]


def timed(args: list[str], env: dict) -> float:
    began = time.perf_counter()
    subprocess.run(TRACETUI + args, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    export = os.path.join(args.out, f"search_export_{args.mb}mb.jsonl")
    bench_store.prose, common = varied_prose()
    bench_store.make_export(export, args.mb)

    cache = tempfile.mkdtemp(prefix="tracetui-bench-search-")
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    first = timed(["list", export, "--limit", "1"], env)
    [db] = [
        os.path.join(cache, "tracetui", f) for f in os.listdir(os.path.join(cache, "tracetui")) if f.endswith(".db")
    ]
    print(f"input {os.path.getsize(export) / 1e6:.0f} MB; first import + list: {first:.2f} s")

    from tracetui.loading import open_store
    from tracetui.store import search

    os.environ["XDG_CACHE_HOME"] = cache
    store = open_store(export)
    runs, steps = store.conn.execute("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM steps)").fetchone()
    print(f"{runs:,} runs, {steps:,} steps")
    queries = (("rare", NEEDLE), ("common word", common), ("two characters", "zq"))

    def measure(label: str) -> None:
        for what, query in queries:
            hits: dict = {}

            def run(query: str = query, hits: dict = hits) -> None:
                hits.clear()
                hits.update(store.runs_matching(query))

            print(f"{label}: runs_matching {what} {query!r}: {best(run, 3):.3f} s, {len(hits):,} runs")
        biggest = store.conn.execute("SELECT id, step_count FROM runs ORDER BY step_count DESC LIMIT 1").fetchone()
        found: list = []
        seconds = best(lambda: found.__init__(store.find_in_run(biggest[0], common)))
        print(
            f"{label}: find_in_run {common!r}, a run of {biggest[1]} steps: {seconds * 1000:.1f} ms, {len(found)} steps"
        )
        grep = min(timed(["list", export, "--grep", NEEDLE], env) for _ in range(3))
        print(f"{label}: cached `list --grep {NEEDLE!r}` (whole process): {grep:.3f} s")

    measure("no index (scan)")
    store.close()

    without = os.path.getsize(db)
    conn = sqlite3.connect(db, isolation_level=None)
    began, cpu = time.perf_counter(), time.process_time()
    search.build_index(conn)
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    conn.close()
    with_index = os.path.getsize(db)
    print(
        f"store {without / 1e6:.0f} MB without the index, {with_index / 1e6:.0f} MB with it:"
        f" index {(with_index - without) / 1e6:.0f} MB ({(with_index - without) / without:.0%})"
    )
    print(f"building the index: {wall:.1f} s wall, {cpu:.1f} s CPU (load average now {os.getloadavg()[0]:.1f})")
    store = open_store(export)
    assert search.has_index(store.conn)
    measure("indexed")
    store.close()
    shutil.rmtree(cache, ignore_errors=True)
    big_run(args.out)


def big_run(out: str, steps: int = 50_000) -> None:
    """`/` in the run view on bench_store's run of 50,000 steps (the failure's error, deep inside)."""
    from tracetui.loading import prepare

    path = os.path.join(out, f"big_run_{steps}.jsonl")
    bench_store.make_big_run(path, steps)
    cache = tempfile.mkdtemp(prefix="tracetui-bench-search-")
    os.environ["XDG_CACHE_HOME"] = cache
    opening = prepare(path)
    opening.run_import()
    for label in ("no index (scan)", "indexed"):
        if label == "indexed":
            assert opening.index_for_search()
        store = opening.connect()
        found: list = []
        seconds = best(lambda store=store, found=found: found.__init__(store.find_in_run("big-run", "deep failure")))
        print(f"{label}: find_in_run in the run of {steps:,} steps: {seconds * 1000:.1f} ms, {len(found)} steps")
        store.close()
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
