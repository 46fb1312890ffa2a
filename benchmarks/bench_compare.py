"""How fast two 10k-step runs are compared on screen, and what each part costs.

Writes two runs of ~10,000 steps each into a tracetui store (in a temp dir unless --out): an
agent loop of ~2,000 turns, each an agent step with 3–5 llm/tool children. The second run is
the first one re-run with changes scattered through it: outputs and statuses changed, steps
retried, inserted and missing, a few turns nested differently. Then, headless at 160x48:
  open    pushing the compare screen → the first aligned rows painted (what the user waits for)
and, without the viewer, the parts of it:
  load    reading both runs with their payloads from SQLite
  align   compare_runs() on the two loaded runs
and `tracetui compare --json` as a whole (in-process, output discarded).

    .venv/bin/python benchmarks/bench_compare.py [--steps 10000] [--flat] [--out DIR]

--flat puts every step directly under the run (one 10k sibling list: the alignment's worst case).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time

from tracetui.loading import prepare
from tracetui.model import Run, Step, finalize_run
from tracetui.store import StoreWriter

NAMES = ("plan", "search", "read", "write", "check")


def make_run(run_id: str, steps: int, seed: int, flat: bool, changed: bool) -> Run:
    rng = random.Random(seed)  # the same seed for both runs: B is A with changes
    out: list[Step] = []
    turn = 0
    while len(out) < steps:
        turn_id = f"turn-{turn}"
        parent = None if flat else turn_id
        if not flat:
            out.append(Step(id=turn_id, name="turn", kind="agent", duration_ms=rng.uniform(100, 900)))
        for k in range(rng.choice((3, 4, 4, 5))):
            name = NAMES[k]
            kind = "llm" if name in ("plan", "write") else "tool"
            output = f"{name} output for turn {turn}\nline two\nline three"
            # Every random draw happens for every step, so both runs stay in step after a change.
            tokens, duration, roll = rng.randint(50, 2000), rng.uniform(5, 3000), rng.random()
            status, tokens = "completed", tokens if kind == "llm" else None
            if changed and roll < 0.03:
                output += "\nchanged in the re-run"
            elif changed and roll < 0.04:
                status = "failed"
            elif changed and roll < 0.045:
                out.append(Step(id=f"{turn_id}-{k}-retry", parent_id=parent, name=name, kind=kind, status="failed"))
            elif changed and roll < 0.05:
                continue  # missing in the re-run
            elif changed and roll < 0.055:
                out.append(Step(id=f"{turn_id}-{k}-extra", parent_id=parent, name="extra", kind="tool"))
            out.append(
                Step(
                    id=f"{turn_id}-{k}",
                    parent_id=parent,
                    name=name,
                    kind=kind,
                    status=status,
                    output=output,
                    input=f"input {turn}/{k}",
                    duration_ms=duration,
                    tokens_in=tokens,
                    tokens_out=tokens and tokens // 5,
                )
            )
        turn += 1
    return finalize_run(Run(id=run_id, agent="bench", steps=out))


def write(path: str, steps: int, flat: bool) -> None:
    writer = StoreWriter(path)
    writer.add(make_run("run-a", steps, 1, flat, changed=False))
    writer.add(make_run("run-b", steps, 1, flat, changed=True))
    writer.finish(source="bench", format="tracetui-sqlite")


async def on_screen(path: str) -> tuple[float, float, int]:
    from tracetui.tui.app import TraceApp
    from tracetui.tui.screens.compare import CompareScreen
    from tracetui.tui.widgets.pair_list import PairList

    painted: list[float] = []
    render_line = PairList.render_line

    def timed_render_line(self, y):
        if not painted and self.pairs:
            painted.append(time.perf_counter())
        return render_line(self, y)

    PairList.render_line = timed_render_line
    try:
        app = TraceApp(prepare(path))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause()
            started, cpu = time.perf_counter(), time.process_time()
            app.compare_runs("run-a", "run-b")
            while not painted:
                await asyncio.sleep(0.002)
            cpu = time.process_time() - cpu
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            return painted[0] - started, cpu, len(screen.comparison.pairs)
    finally:
        PairList.render_line = render_line


def parts(path: str) -> tuple[float, float]:
    from tracetui.compare import compare_runs

    store = prepare(path).connect()
    started = time.perf_counter()
    a, b = store.run_tree("run-a"), store.run_tree("run-b")
    loaded = time.perf_counter()
    compare_runs(a, b)
    aligned = time.perf_counter()
    store.close()
    return loaded - started, aligned - loaded


def cli_json(path: str) -> float:
    from click.testing import CliRunner

    from tracetui.cli import main

    started = time.perf_counter()
    result = CliRunner().invoke(main, ["compare", path, "run-a", "run-b", "--json"])
    assert result.exit_code == 0, result.output
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--flat", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    folder = args.out or tempfile.mkdtemp(prefix="tracetui-bench-compare-")
    path = os.path.join(folder, f"compare-{args.steps}{'-flat' if args.flat else ''}.db")
    if not os.path.exists(path):
        write(path, args.steps, args.flat)
    load, align = parts(path)
    seconds, cpu, pairs = asyncio.run(on_screen(path))
    shape = "flat" if args.flat else "nested"
    print(f"two {args.steps:,}-step runs ({shape}), {pairs:,} aligned rows")
    print(f"  load both runs      {load:.3f} s")
    print(f"  align               {align:.3f} s")
    # CPU time too: on a busy machine the wall time mostly measures the other processes.
    print(f"  on screen (open)    {seconds:.3f} s  ({cpu:.3f} s CPU)")
    print(f"  compare --json      {cli_json(path):.3f} s")


if __name__ == "__main__":
    main()
