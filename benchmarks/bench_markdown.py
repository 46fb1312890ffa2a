"""`tracetui show` of one big run as text, JSON and Markdown. Results go to docs/benchmarks.md by hand.

    .venv/bin/python benchmarks/bench_markdown.py [--steps 50000] [--out DIR]

Uses bench_store.py's one-run export (--steps steps, 50 agent steps with nested children, one failure
deep inside; generated once, reused) and times the real commands in subprocesses, cached import
first: wall time and peak RSS of the child, Python start-up included. The viewer's `Y` and `x`
write the same Markdown (share.document), so these times are theirs too, minus start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_store import HERE, make_big_run, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    big = os.path.join(args.out, f"big_run_{args.steps}.jsonl")
    make_big_run(big, args.steps)
    env = dict(os.environ, XDG_CACHE_HOME=tempfile.mkdtemp(prefix="tracetui-bench-"))
    measure(["list", big, "--limit", "1"], env)  # the import, not timed
    cases = [
        ("show (text)", ["show", big, "big-run"]),
        ("show --format json", ["show", big, "big-run", "--format", "json"]),
        ("show --format markdown", ["show", big, "big-run", "--format", "markdown"]),
        (
            "show --format markdown --max-payload 0",
            ["show", big, "big-run", "--format", "markdown", "--max-payload", "0"],
        ),
        ("show --format markdown --step top37", ["show", big, "big-run", "--format", "markdown", "--step", "top37"]),
    ]
    print(f"\n| what, one run of {args.steps:,} steps (cached) | seconds | peak RSS MB |\n|---|---|---|")
    for name, command in cases:
        secs, peak = measure(command, env)
        print(f"| `{name}` | {secs:.2f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
