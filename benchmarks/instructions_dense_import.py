"""Instructions a dense step costs in the parallel import, counted by valgrind (issue 15).

    .venv/bin/python benchmarks/instructions_dense_import.py [--src DIR/src ...] [--file FILE] [--mb 4]

CPU time on the shared 2-core machine moves by 10-20 % with the load; instruction counts do not. For
each tree (this one, or each --src), valgrind's cachegrind (`--cache-sim=no`, a system tool, not a
project dependency) counts the instructions of three runs of one process on the same block of --mb MB
of a dense export (default: benchmarks/out/dense_500000.jsonl, made by bench_throughput.py): reading
the block only; converting it as a worker does (parallel.convert_lines: decode, build, write the scratch
store); and that plus merging the scratch store into a new store and finishing it (the steps' indexes).
Prints instructions a step for the worker and for the merging process (the differences of the runs).
Takes a minute or two a tree (valgrind runs the interpreter ~50x slower).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# One process, one block: "none" reads it, "worker" converts it, "all" also merges it into a store.
CHILD = """
import os, sqlite3, sys, tempfile
from tracetui import parallel
from tracetui.store import StoreWriter
path, size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "rb") as f:
    f.seek(size)
    f.readline()
    block = f.read(size)
block = block[: block.rfind(b"\\n") + 1]
d = tempfile.mkdtemp()
out = os.path.join(d, "b.db")
if mode != "none":
    parallel.convert_lines("export", path, 1, block, False, out, True)
    if os.environ.get("COUNT_STEPS"):  # not in the counted runs
        print("steps", sqlite3.connect(out).execute("SELECT count(*) FROM steps").fetchone()[0])
if mode == "all":
    w = StoreWriter(os.path.join(d, "m.db"))
    w.defer_step_indexes()
    w.merge(out)
    w.finish()
"""


def count(src: str, path: str, size: int, mode: str) -> tuple[int, int]:
    """(instructions, steps) of one child run under cachegrind."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = src
    # First without valgrind: compiles the tree's bytecode (not counted) and counts the steps.
    warm = subprocess.run(
        [sys.executable, "-c", CHILD, path, str(size), mode],
        env={**env, "COUNT_STEPS": "1"},
        check=True,
        capture_output=True,
        text=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={tmp}/cg"]
        done = subprocess.run(
            [*cmd, sys.executable, "-c", CHILD, path, str(size), mode], env=env, capture_output=True, text=True
        )
    refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or refs is None:
        raise SystemExit(f"valgrind failed: {done.stderr[-500:]}")
    steps = re.search(r"steps (\d+)", warm.stdout)
    return int(refs.group(1).replace(",", "")), int(steps.group(1)) if steps else 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", action="append", help="a tracetui package's directory (PYTHONPATH); default: this tree")
    ap.add_argument("--file", default=os.path.join(HERE, "out", "dense_500000.jsonl"))
    ap.add_argument("--mb", type=float, default=4)
    args = ap.parse_args(argv)
    size = int(args.mb * (1 << 20))
    for src in args.src or [os.path.join(os.path.dirname(HERE), "src")]:
        none, _ = count(src, args.file, size, "none")
        worker, steps = count(src, args.file, size, "worker")
        merged, _ = count(src, args.file, size, "all")
        print(
            f"{src}: {steps:,} steps | worker {(worker - none) / steps:,.0f} instructions a step |"
            f" merge + indexes {(merged - worker) / steps:,.0f} | all {(merged - none) / steps:,.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
