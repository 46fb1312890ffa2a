"""Import speed of the value path (issue 9: validating values must not slow good input down).

    .venv/bin/python benchmarks/bench_import.py [--mb 200] [--repeat 3] [--out DIR] [--against SRC_DIR]

Generates (once, reused) an export JSONL of about --mb MB with realistic payloads, a dense one of
--mb / 4 MB (tiny steps: the per-step cost shows most) and the dense one as a JSON document
({"runs": [...]}), then times `tracetui import SRC -o STORE` in a subprocess: serially
(TRACETUI_WORKERS=1) and with the default workers. Prints the best of --repeat runs, wall time and
CPU time (user + system of the process and its workers: steadier than wall time on a busy machine).

--against DIR also times the tracetui package under DIR (say, `git archive main src | tar -x -C DIR`
then DIR/src), alternating the two so that both see the same load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_store import make_export  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def make_document(jsonl: str, path: str) -> None:
    if os.path.exists(path):
        return
    with open(jsonl) as src, open(path, "w") as out:
        out.write('{"export_type": "bench", "runs": [\n')
        for n, line in enumerate(src):
            out.write(("," if n else "") + line)
        out.write("]}\n")


def one_import(src: str, workers: str | None, package: str | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `tracetui import`, workers included."""
    env = dict(os.environ)
    if workers is not None:
        env["TRACETUI_WORKERS"] = workers
    if package is not None:
        env["PYTHONPATH"] = package
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "store.db")
        before = os.times()
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tracetui", "import", src, "-o", out], env=env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - t0
        after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"import {src} failed: {proc.stderr}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return elapsed, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--against", help="a src directory with another tracetui package, timed in turn with this one")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    export = os.path.join(args.out, f"export_{args.mb}mb.jsonl")
    dense = os.path.join(args.out, f"export_dense_{args.mb // 4}mb.jsonl")
    document = os.path.join(args.out, f"export_dense_{args.mb // 4}mb.json")
    print("generating inputs (reused when present)…", flush=True)
    make_export(export, args.mb)
    make_export(dense, args.mb // 4, dense=True)
    make_document(dense, document)
    packages = {"this": None} | ({"against": args.against} if args.against else {})
    for src in (export, dense, document):
        size = os.path.getsize(src) / 1e6
        for workers in ("1", None):
            best = {name: (float("inf"), float("inf")) for name in packages}
            for _ in range(args.repeat):
                for name, package in packages.items():
                    wall, cpu = one_import(src, workers, package)
                    best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
            label = "serial" if workers == "1" else "workers"
            for name, (wall, cpu) in best.items():
                print(
                    f"{os.path.basename(src):28} {label:8} {name:8} wall {wall:6.2f} s ({size / wall:5.1f} MB/s)"
                    f"  cpu {cpu:6.2f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
