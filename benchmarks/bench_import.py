"""Import speed of the value path (issue 9: validating values must not slow good input down).

    .venv/bin/python benchmarks/bench_import.py [--mb 200] [--repeat 3] [--out DIR]

Generates (once, reused) an export JSONL of about --mb MB with realistic payloads, a dense one of
--mb / 4 MB (tiny steps: the per-step cost shows most) and the dense one as a JSON document
({"runs": [...]}), then times `tracetui import SRC -o STORE` in a subprocess: serially
(TRACETUI_WORKERS=1) and with the default workers. Prints the best of --repeat runs.
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


def best_import(src: str, repeat: int, workers: str | None) -> float:
    env = dict(os.environ)
    if workers is not None:
        env["TRACETUI_WORKERS"] = workers
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "store.db")
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "tracetui", "import", src, "-o", out], env=env, capture_output=True, text=True
            )
            elapsed = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"import {src} failed: {proc.stderr}")
        best = min(best, elapsed)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    export = os.path.join(args.out, f"export_{args.mb}mb.jsonl")
    dense = os.path.join(args.out, f"export_dense_{args.mb // 4}mb.jsonl")
    document = os.path.join(args.out, f"export_dense_{args.mb // 4}mb.json")
    print("generating inputs (reused when present)…", flush=True)
    make_export(export, args.mb)
    make_export(dense, args.mb // 4, dense=True)
    make_document(dense, document)
    for src in (export, dense, document):
        size = os.path.getsize(src) / 1e6
        for workers in ("1", None):
            seconds = best_import(src, args.repeat, workers)
            label = "serial" if workers == "1" else "workers"
            print(f"{os.path.basename(src):32} {label:8} {seconds:6.2f} s  {size / seconds:6.1f} MB/s", flush=True)


if __name__ == "__main__":
    main()
