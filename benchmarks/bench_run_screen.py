"""How fast the run view is on a big run: time until the step tree is on screen, and `f` time.

Generates 50,000-step runs of two shapes into a tracetui store (in a temp dir unless --out):
  nested  500 agent turns, each a tree of ~100 steps up to 5 deep; the root-cause failure sits
          deep in turn 480 (its ancestors are collapsed and not read yet when `f` is pressed)
  flat    50,000 steps side by side under the run (an agent_traces-like turn with huge tool use);
          the failure is step 49,000, far beyond the first page the tree shows
and opens each in the viewer headless (Textual's run_test, 160x48), printing the times.

    .venv/bin/python benchmarks/bench_run_screen.py [--steps 50000] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC

from tracetui.loading import prepare
from tracetui.model import Run, Step, finalize_run
from tracetui.normalize import iso
from tracetui.store import StoreWriter
from tracetui.tui.app import TraceApp
from tracetui.tui.widgets.step_tree import StepTree

BASE = 1_800_000_000.0  # seconds since the epoch: a fixed start, no clock involved


def _ts(ms: float) -> str:
    from datetime import datetime

    return iso(datetime.fromtimestamp(BASE + ms / 1000, tz=UTC))


def nested_run(n: int) -> tuple[Run, str]:
    run = Run("bench-nested", agent="bench", status="failed", started_at=_ts(0))
    steps: list[Step] = []
    turns = max(1, n // 100)
    t = 0.0
    target = ""
    for turn in range(turns):
        turn_id = f"turn-{turn}"
        steps.append(
            Step(turn_id, name=f"turn {turn}", kind="agent", raw_type="agent", started_at=_ts(t), duration_ms=99.0)
        )
        count = 1
        for a in range(3):
            a_id = f"{turn_id}/llm-{a}"
            steps.append(
                Step(
                    a_id,
                    parent_id=turn_id,
                    name="plan",
                    kind="llm",
                    started_at=_ts(t),
                    duration_ms=30.0,
                    tokens_in=100,
                    tokens_out=20,
                    credits=0.01,
                )
            )
            count += 1
            for b in range(5):
                b_id = f"{a_id}/tool-{b}"
                steps.append(Step(b_id, parent_id=a_id, name="search", kind="tool", started_at=_ts(t), duration_ms=5.0))
                count += 1
                for c in range(5):
                    c_id = f"{b_id}/fetch-{c}"
                    steps.append(
                        Step(c_id, parent_id=b_id, name="fetch", kind="tool", started_at=_ts(t), duration_ms=1.0)
                    )
                    count += 1
        while count < 100:
            steps.append(
                Step(
                    f"{turn_id}/note-{count}",
                    parent_id=turn_id,
                    name="note",
                    kind="reasoning",
                    started_at=_ts(t),
                    duration_ms=1.0,
                )
            )
            count += 1
        t += 100.0
    target = f"turn-{min(480, turns - 1)}/llm-2/tool-3/fetch-4"
    by_id = {s.id: s for s in steps}
    failing = target
    while failing:
        by_id[failing].status = "failed"
        by_id[failing].error = "boom"
        failing = by_id[failing].parent_id
    run.steps = steps[:n]
    run.ended_at = _ts(t)
    return finalize_run(run), target


def flat_run(n: int) -> tuple[Run, str]:
    run = Run("bench-flat", agent="bench", status="failed", started_at=_ts(0), ended_at=_ts(n))
    run.steps = [Step(f"call-{i}", name="tool", kind="tool", started_at=_ts(i), duration_ms=1.0) for i in range(n)]
    target = run.steps[min(49_000, n - 1)]
    target.status, target.error = "failed", "boom"
    return finalize_run(run), target.id


def write(path: str, runs: list[Run]) -> None:
    writer = StoreWriter(path)
    for run in runs:
        writer.add(run)
    writer.finish()


class _Frames:
    """Counts StepTree frames: a row on screen means render_lines ran after the rows arrived."""

    def __init__(self) -> None:
        self.count = 0
        original = StepTree.render_lines

        def counted(tree, crop):
            strips = original(tree, crop)
            if tree.run is not None:
                self.count += 1
            return strips

        StepTree.render_lines = counted

    async def next(self, after: int) -> None:
        while self.count <= after:
            await asyncio.sleep(0.0005)


async def measure(path: str, run_id: str, target: str) -> tuple[float, float, int]:
    """Times as the user sees them: from the request until a frame of the tree is drawn.

    Keys are not sent through Pilot.press, which adds its own waits; the actions are called the
    way the key binding calls them.
    """
    frames = _Frames()
    app = TraceApp(prepare(path))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        app.open_run(run_id)
        await frames.next(0)
        on_screen = time.perf_counter() - start
        for _ in range(3):
            await pilot.pause()
        screen = app.screen
        tree = screen.query_one(StepTree)
        seen = frames.count
        start = time.perf_counter()
        screen.action_first_failure()
        while tree.step_at_cursor() is None or tree.step_at_cursor().id != target:
            await asyncio.sleep(0.0005)
        await frames.next(seen)
        jump = time.perf_counter() - start
        return on_screen, jump, len(tree.nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--out", help="directory for the generated store (default: a temp dir)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="tracetui-bench-")
    os.makedirs(out, exist_ok=True)
    for name, make in (("nested", nested_run), ("flat", flat_run)):
        run, target = make(args.steps)
        path = os.path.join(out, f"run-{name}-{args.steps}.db")
        if not os.path.exists(path):
            write(path, [run])
        on_screen, jump, loaded = asyncio.run(measure(path, run.id, target))
        print(
            f"{name:6} {run.step_count:,} steps: tree on screen {on_screen * 1000:.0f} ms, "
            f"`f` to the root cause {jump * 1000:.0f} ms ({loaded:,} step rows in the tree)"
        )


if __name__ == "__main__":
    main()
