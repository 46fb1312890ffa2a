"""Import throughput: steps a second on dense files, MB a second on a folder of sessions (issues 15 and 10).

    .venv/bin/python benchmarks/bench_throughput.py [--steps 1000000] [--folder-mb 300] [--repeat 1]
        [--only dense|jsonl|folder] [--path FILE_OR_DIR ...] [--workers N] [--src DIR] [--json FILE]

Generates once into benchmarks/out (reused):
* a dense agent-trace export (JSON Lines, one run a line, ~15 tiny steps a run: ~150-byte payloads)
  of about --steps steps, and one of half as many (memory must not grow with the file);
* the same runs as tracetui's own JSON Lines (`tracetui export` of the imported dense file);
* a folder of Claude Code sessions of about --folder-mb MB (make_claude_folder.py: realistic
  sessions with tool results of 0.5-12 KB, subagent files, lines that are not conversation).

Then times the import a first open does (`tracetui list SRC --limit 1` with an empty cache; --index:
`tracetui import SRC -o STORE`, which also builds the search index) in a subprocess for each, with
the default workers (and --workers N if given), and prints for each: wall seconds, CPU seconds (user + system of the process
and every worker), steps/s and MB/s by wall and by CPU, peak RSS of the biggest process and of all
of them together (sampled from /proc every 50 ms), and the load average before and after.

The machine is shared, so wall time says how much of it tracetui got, not what it does. The figure
to judge by is CPU time: an import that needs C CPU seconds can at best finish in C / 2 seconds on
2 idle cores, and this estimate ("2-core est.") is steps / (C / 2), or MB / (C / 2). It is an upper
bound: it assumes both cores stay busy the whole import (the workers do, but the first block is
read alone and the merging process waits at the end), so on a quiet machine expect wall to be a
little above C / 2. --src DIR times another tracetui package (say `git worktree add` of main, then
DIR/src) instead, to compare before and after under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_folders import folder_size, load, measured  # noqa: E402
from bench_store import export_run  # noqa: E402
from make_claude_folder import make as make_folder  # noqa: E402


def make_dense(path: str, steps: int) -> None:
    """An export JSONL of at least `steps` steps (tool calls count: each is a step)."""
    if os.path.exists(path):
        return
    rnd = random.Random(2)
    written, i = 0, 0
    with open(path + ".part", "w") as f:
        while written < steps:
            run = export_run(i, rnd, rnd.randint(3, 25), dense=True)
            written += sum(1 + len(s.get("tool_calls", [])) for s in run["steps"])
            f.write(json.dumps(run) + "\n")
            i += 1
    os.replace(path + ".part", path)


def make_tracetui_jsonl(dense: str, path: str, env: dict) -> None:
    """The dense file's runs as tracetui's own JSON Lines (`tracetui export`, through an empty cache)."""
    if os.path.exists(path):
        return
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "tracetui", "export", dense, "-o", path + ".part"]
        subprocess.run(cmd, env={**env, "XDG_CACHE_HOME": tmp}, check=True)
    os.replace(path + ".part", path)


def counts(store: str) -> tuple[int, int]:
    conn = sqlite3.connect(store)
    try:
        return (
            conn.execute("SELECT count(*) FROM runs").fetchone()[0],
            conn.execute("SELECT count(*) FROM steps").fetchone()[0],
        )
    finally:
        conn.close()


def one_import(src: str, env: dict, index: bool) -> dict:
    """The first open's import (`tracetui list SRC --limit 1`, empty cache), or `tracetui import -o` (index:
    which also builds the search index when the import ends)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store.db")
        cache = os.path.join(tmp, "cache")
        args = ["import", src, "-o", store] if index else ["list", src, "--limit", "1"]
        before = load()
        result = measured([sys.executable, "-m", "tracetui", *args], cache, env)
        result["load_before"], result["load_after"] = before, load()
        if result["exit"] != 0:
            raise SystemExit(f"tracetui {' '.join(args)} failed (exit {result['exit']})")
        if not index:
            found = [os.path.join(d, f) for d, _, fs in os.walk(cache) for f in fs if f.endswith(".db")]
            store = max(found, key=os.path.getsize)
        result["runs"], result["steps"] = counts(store)
    return result


def report(name: str, src: str, result: dict) -> None:
    mb = (folder_size(src) if os.path.isdir(src) else os.path.getsize(src)) / 1e6
    wall, cpu, steps = result["seconds"], result["cpu"], result["steps"]
    est = cpu / 2
    result["mb"] = mb
    print(
        f"{name}: {result['runs']:,} runs, {steps:,} steps, {mb:.0f} MB | wall {wall:.1f} s, CPU {cpu:.1f} s |"
        f" {steps / wall:,.0f} steps/s, {mb / wall:.1f} MB/s by wall | 2-core est. {steps / est:,.0f} steps/s,"
        f" {mb / est:.1f} MB/s | peak RSS {result['peak_mb']:.0f} MB one process, {result['peak_all_mb']:.0f} MB all"
        f" | {result['load_before']} -> {result['load_after']}",
        flush=True,
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--folder-mb", type=float, default=300)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", choices=("dense", "jsonl", "folder"), action="append")
    ap.add_argument("--workers", help="also time with TRACETUI_WORKERS set to this")
    ap.add_argument("--src", help="time the tracetui package under this directory (PYTHONPATH)")
    ap.add_argument("--index", action="store_true", help="time `tracetui import -o` (builds the search index too)")
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument(
        "--path", action="append", default=[], help="also time this file or folder (say one of make_session_copies.py)"
    )
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
    dense = os.path.join(args.out, f"dense_{args.steps}.jsonl")
    half = os.path.join(args.out, f"dense_{args.steps // 2}.jsonl")
    jsonl = os.path.join(args.out, f"dense_{args.steps}.tracetui.jsonl")
    folder = os.path.join(args.out, f"claude-folder-{args.folder_mb:g}mb")
    print("generating inputs (reused when present)…", flush=True)
    only = set(args.only or (() if args.path else ("dense", "jsonl", "folder")))
    cases: list[tuple[str, str]] = []
    if "dense" in only:
        make_dense(dense, args.steps)
        make_dense(half, args.steps // 2)
        cases += [("dense export", dense), ("dense export, half", half)]
    if "jsonl" in only:
        make_dense(dense, args.steps)
        make_tracetui_jsonl(dense, jsonl, env)
        cases.append(("tracetui JSONL", jsonl))
    if "folder" in only:
        if not os.path.isdir(folder):
            make_folder(folder, max(1, int(args.folder_mb * 2)), args.folder_mb)
        cases.append(("Claude Code folder", folder))
    cases += [(os.path.basename(os.path.normpath(p)), p) for p in args.path]
    print(f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    settings = [("default workers", None)] + ([(f"{args.workers} workers", args.workers)] if args.workers else [])
    results = []
    for _ in range(args.repeat):
        for name, src in cases:
            for label, workers in settings:
                case_env = dict(env)
                if workers is not None:
                    case_env["TRACETUI_WORKERS"] = workers
                result = one_import(src, case_env, args.index)
                report(f"{name} ({label})", src, result)
                results.append({"case": name, "workers": label, **result})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
