"""Store and CLI speed on big inputs (issue 2). Results go to docs/benchmarks.md by hand.

    .venv/bin/python benchmarks/bench_store.py [--mb 500] [--rows 200000] [--steps 50000] [--out DIR]

Generates (once, reused) in --out: a 200k-row agent_traces DB, an export JSONL of about --mb MB and
a one-run export with --steps steps, then times the real `tracetui` commands in subprocesses
(wall time and peak RSS of the child, so Python start-up is included, as a user would feel it).
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
TRACETUI = [sys.executable, "-m", "tracetui"]
BASE_MS = 1_793_000_000_000  # 2026-10-26


def make_agent_traces(path: str, rows: int) -> None:
    if os.path.exists(path):
        return
    rnd = random.Random(1)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE agent_traces (id TEXT PRIMARY KEY, session_id TEXT, agent_id TEXT, workspace_id TEXT,"
        " started_at TEXT, finished_at TEXT, duration_ms INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,"
        " total_tokens INTEGER, tool_calls TEXT, circuit_breaker_events TEXT, final_status TEXT, error_message TEXT)"
    )
    conn.execute("CREATE INDEX agent_traces_started ON agent_traces (started_at)")
    agents = [f"agent-{i}" for i in range(12)]
    batch = []
    for i in range(rows):
        start = BASE_MS + i * 1500
        calls = [
            {"toolName": rnd.choice(["web_search", "file_read", "sql", "http"]), "durationMs": rnd.randint(5, 900),
             "error": None if rnd.random() > 0.05 else "tool failed", "timestamp": start + k * 100}
            for k in range(rnd.randint(0, 6))
        ]
        status = rnd.choices(["completed", "error", "timeout"], [90, 7, 3])[0]
        dur = rnd.randint(200, 30000)
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start / 1000)) + ".000Z"
        end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((start + dur) / 1000)) + ".000Z"
        batch.append((f"tr_{i:07d}", f"ses_{i // 5}", rnd.choice(agents), "ws", iso, end, dur,
                      rnd.randint(100, 5000), rnd.randint(10, 900), None, json.dumps(calls), "[]", status,
                      "provider error" if status == "error" else None))
        if len(batch) == 10000:
            conn.executemany("INSERT INTO agent_traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            batch.clear()
    conn.executemany("INSERT INTO agent_traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    conn.commit()
    conn.close()


def export_run(i: int, rnd: random.Random, steps: int) -> dict:
    start = BASE_MS + i * 60_000
    out = []
    for k in range(steps):
        s = start + k * 50
        step = {
            "agent_step_id": f"step-{k % 7}",
            "step_type": rnd.choice(["prompt_call", "web_search", "retrieval", "transform"]),
            "status": "completed" if rnd.random() > 0.02 else "failed",
            "input": json.dumps({"query": "x" * rnd.randint(50, 800), "k": k}),
            "output": json.dumps({"text": "y" * rnd.randint(100, 2500)}),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s / 1000)) + "Z",
            "duration_seconds": rnd.random() * 3,
            "credits_used": 1.5,
            "prompt_tokens": rnd.randint(10, 900),
            "completion_tokens": rnd.randint(10, 400),
        }
        if k % 5 == 0:
            step["tool_calls"] = [{"id": f"tc-{k}", "function_name": "web_search", "input": "{}", "output": "ok",
                                   "error": None, "succeeded": True, "credits_used": 0.5, "duration_seconds": 0.2,
                                   "round_index": 0, "sequence": 0}]
        out.append(step)
    return {"run_id": f"run-{i:07d}", "agent_id": f"agent-{i % 9}", "status": "completed", "input": "question",
            "output": "answer", "credits": 1.5 * steps, "started_at": out[0]["started_at"] if out else None,
            "steps": out}


def make_export(path: str, megabytes: int) -> None:
    if os.path.exists(path) and os.path.getsize(path) >= megabytes * 1_000_000 * 0.95:
        return
    rnd = random.Random(2)
    written, i = 0, 0
    with open(path, "w") as f:
        while written < megabytes * 1_000_000:
            line = json.dumps(export_run(i, rnd, rnd.randint(3, 25))) + "\n"
            f.write(line)
            written += len(line)
            i += 1


def make_big_run(path: str, steps: int) -> None:
    if os.path.exists(path):
        return
    rnd = random.Random(3)
    run = export_run(0, rnd, 0)
    run["run_id"] = "big-run"
    # A wide and deep tree: 50 agent steps, each with nested children, one failure deep inside.
    per_top = steps // 50
    top = []
    n = 0
    for t in range(50):
        kids = []
        for k in range(per_top - 1):
            n += 1
            kids.append({"agent_step_id": f"s{n}", "step_type": "prompt_call", "status": "completed",
                         "started_at": BASE_MS / 1000 + n * 0.01, "duration_seconds": 0.01, "prompt_tokens": 3})
        if t == 37:
            kids[-1]["status"] = "failed"
            kids[-1]["error"] = "deep failure"
        top.append({"agent_step_id": f"top{t}", "step_type": "agent", "status": "failed" if t == 37 else "completed",
                    "started_at": BASE_MS / 1000 + t, "duration_seconds": 1.0, "child_steps": kids})
    run["steps"] = top
    with open(path, "w") as f:
        f.write(json.dumps(run) + "\n")


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
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    db = os.path.join(args.out, f"agent_traces_{args.rows}.db")
    export = os.path.join(args.out, f"export_{args.mb}mb.jsonl")
    big = os.path.join(args.out, f"big_run_{args.steps}.jsonl")
    print("generating inputs (reused when present)…", flush=True)
    make_agent_traces(db, args.rows)
    make_export(export, args.mb)
    make_big_run(big, args.steps)
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="tracetui-bench-"))
    size_mb = os.path.getsize(export) / 1e6
    rows = []
    rows.append(("list --limit 50, agent_traces DB", args.rows, *measure(["list", db, "--limit", "50"], env)))
    rows.append(("list --limit 50 --sort tokens --desc, agent_traces DB", args.rows,
                 *measure(["list", db, "--limit", "50", "--sort", "tokens", "--desc"], env)))
    first = measure(["list", export, "--limit", "50"], env)
    rows.append((f"first import + list, export JSONL {size_mb:.0f} MB ({size_mb / first[0]:.0f} MB/s)", size_mb, *first))
    rows.append(("cached list --limit 50, same export", size_mb, *measure(["list", export, "--limit", "50"], env)))
    measure(["list", big, "--limit", "1"], env)
    rows.append((f"show, one run with {args.steps} steps (cached)", args.steps, *measure(["show", big, "big-run"], env)))
    rows.append((f"show --json, one run with {args.steps} steps (cached)", args.steps,
                 *measure(["show", big, "big-run", "--json"], env)))
    print(f"\n| what | size | seconds | peak RSS MB |\n|---|---|---|---|")
    for name, size, secs, peak in rows:
        print(f"| {name} | {size:,.0f} | {secs:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
