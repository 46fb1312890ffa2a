"""Importing a big OTLP JSON Lines file (target: >= 30 MB/s, memory flat).

    .venv/bin/python benchmarks/bench_otlp.py [--mb 200] [--out DIR]

The input repeats the real pydantic-ai fixture (tests/fixtures/frameworks/pydantic_ai_otlp.jsonl)
with fresh trace ids per copy, so each copy is a new set of traces spread over several lines, as
the Collector's file exporter writes them. Times `tracetui list` (first import) with GNU time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "frameworks", "pydantic_ai_otlp.jsonl")
TRACE_ID = re.compile(rb'"traceId":"([0-9a-f]{32})"')


def make(path: str, megabytes: int) -> None:
    if os.path.exists(path) and os.path.getsize(path) >= megabytes * 1_000_000 * 0.95:
        return
    lines = open(FIXTURE, "rb").read().splitlines()
    written, copy = 0, 0
    with open(path, "wb") as f:
        while written < megabytes * 1_000_000:
            suffix = f"{copy:08x}".encode()
            for line in lines:
                out = TRACE_ID.sub(lambda m, s=suffix: b'"traceId":"' + m.group(1)[:24] + s + b'"', line) + b"\n"
                f.write(out)
                written += len(out)
            copy += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"otlp_{args.mb}mb.jsonl")
    make(path, args.mb)
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="tracetui-bench-otlp-"))
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "tracetui", "list", path, "--limit", "5"],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    peak = int(proc.stderr.strip().splitlines()[-1]) / 1024
    size = os.path.getsize(path) / 1e6
    print(
        f"| first import + list, OTLP JSONL {size:.0f} MB | {elapsed:.2f} s | {size / elapsed:.0f} MB/s | {peak:.0f} MB peak |"
    )


if __name__ == "__main__":
    main()
