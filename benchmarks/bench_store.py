"""Store and CLI speed on big inputs. Results go to docs/benchmarks.md by hand.

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
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_agent_traces import main as make_agent_traces  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TRACETUI = [sys.executable, "-m", "tracetui"]
BASE_MS = 1_793_000_000_000  # 2026-10-26


WORDS = "the agent called a tool to fetch the page then summarised results for the user query".split()


def prose(rnd: random.Random, size: int) -> str:
    out, n = [], 0
    while n < size:
        word = rnd.choice(WORDS)
        out.append(word)
        n += len(word) + 1
    return " ".join(out)


def payloads(rnd: random.Random, step_type: str, dense: bool) -> tuple[str, str]:
    """Input and output of a step. Realistic: model calls carry their prompt (system text, history,
    retrieved context: several KB) and tool calls return documents; dense: ~150-byte payloads."""
    if dense:
        return json.dumps({"q": prose(rnd, 60)}), json.dumps({"text": prose(rnd, 90)})
    if step_type == "prompt_call":
        messages = [
            {"role": "system", "content": prose(rnd, 600)},
            {"role": "user", "content": prose(rnd, rnd.randint(200, 1200))},
            {"role": "assistant", "content": prose(rnd, rnd.randint(100, 600))},
            {"role": "user", "content": prose(rnd, rnd.randint(500, 8000))},
        ]
        return json.dumps({"model": "gpt-x", "messages": messages}), json.dumps(
            {"text": prose(rnd, rnd.randint(200, 2500))}
        )
    return json.dumps({"query": prose(rnd, rnd.randint(30, 200))}), json.dumps(
        {"results": prose(rnd, rnd.randint(300, 6000))}
    )


def export_run(i: int, rnd: random.Random, steps: int, dense: bool = False) -> dict:
    start = BASE_MS + i * 60_000
    out = []
    for k in range(steps):
        s = start + k * 50
        step_type = rnd.choice(["prompt_call", "prompt_call", "web_search", "retrieval"])
        step_input, step_output = payloads(rnd, step_type, dense)
        step = {
            "agent_step_id": f"step-{k % 7}",
            "step_type": step_type,
            "status": "completed" if rnd.random() > 0.02 else "failed",
            "input": step_input,
            "output": step_output,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s / 1000)) + "Z",
            "duration_seconds": round(rnd.random() * 3, 3),
            "credits_used": 1.5,
            "prompt_tokens": rnd.randint(10, 900),
            "completion_tokens": rnd.randint(10, 400),
        }
        if k % 5 == 0:
            step["tool_calls"] = [
                {
                    "id": f"tc-{k}",
                    "function_name": "web_search",
                    "input": "{}",
                    "output": "ok",
                    "error": None,
                    "succeeded": True,
                    "credits_used": 0.5,
                    "duration_seconds": 0.2,
                    "round_index": 0,
                    "sequence": 0,
                }
            ]
        out.append(step)
    return {
        "run_id": f"run-{i:07d}",
        "agent_id": f"agent-{i % 9}",
        "status": "completed",
        "input": "question",
        "output": "answer",
        "credits": 1.5 * steps,
        "started_at": out[0]["started_at"] if out else None,
        "steps": out,
    }


def make_export(path: str, megabytes: int, dense: bool = False) -> None:
    if os.path.exists(path) and os.path.getsize(path) >= megabytes * 1_000_000 * 0.95:
        return
    rnd = random.Random(2)
    written, i = 0, 0
    with open(path, "w") as f:
        while written < megabytes * 1_000_000:
            line = json.dumps(export_run(i, rnd, rnd.randint(3, 25), dense)) + "\n"
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
        for _ in range(per_top - 1):
            n += 1
            kids.append(
                {
                    "agent_step_id": f"s{n}",
                    "step_type": "prompt_call",
                    "status": "completed",
                    "started_at": BASE_MS / 1000 + n * 0.01,
                    "duration_seconds": 0.01,
                    "prompt_tokens": 3,
                }
            )
        if t == 37:
            kids[-1]["status"] = "failed"
            kids[-1]["error"] = "deep failure"
        top.append(
            {
                "agent_step_id": f"top{t}",
                "step_type": "agent",
                "status": "failed" if t == 37 else "completed",
                "started_at": BASE_MS / 1000 + t,
                "duration_seconds": 1.0,
                "child_steps": kids,
            }
        )
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
    dense = os.path.join(args.out, f"export_dense_{args.mb // 5}mb.jsonl")
    big = os.path.join(args.out, f"big_run_{args.steps}.jsonl")
    print("generating inputs (reused when present)…", flush=True)
    if not os.path.exists(db):
        make_agent_traces(db, args.rows)
    make_export(export, args.mb)
    make_export(dense, args.mb // 5, dense=True)
    make_big_run(big, args.steps)
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="tracetui-bench-"))
    size_mb = os.path.getsize(export) / 1e6
    rows = []
    rows.append(("list --limit 50, agent_traces DB", args.rows, *measure(["list", db, "--limit", "50"], env)))
    rows.append(
        (
            "list --limit 50 --sort tokens --desc, agent_traces DB",
            args.rows,
            *measure(["list", db, "--limit", "50", "--sort", "tokens", "--desc"], env),
        )
    )
    first = measure(["list", export, "--limit", "50"], env)
    rows.append(
        (f"first import + list, export JSONL {size_mb:.0f} MB ({size_mb / first[0]:.0f} MB/s)", size_mb, *first)
    )
    rows.append(("cached list --limit 50, same export", size_mb, *measure(["list", export, "--limit", "50"], env)))
    dense_mb = os.path.getsize(dense) / 1e6
    first = measure(["list", dense, "--limit", "50"], env)
    rows.append(
        (
            f"first import + list, dense export JSONL {dense_mb:.0f} MB, ~150 B payloads "
            f"({dense_mb / first[0]:.0f} MB/s)",
            dense_mb,
            *first,
        )
    )
    measure(["list", big, "--limit", "1"], env)
    rows.append(
        (f"show, one run with {args.steps} steps (cached)", args.steps, *measure(["show", big, "big-run"], env))
    )
    rows.append(
        (
            f"show --json, one run with {args.steps} steps (cached)",
            args.steps,
            *measure(["show", big, "big-run", "--json"], env),
        )
    )
    print("\n| what | size | seconds | peak RSS MB |\n|---|---|---|---|")
    for name, size, secs, peak in rows:
        print(f"| {name} | {size:,.0f} | {secs:.2f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
