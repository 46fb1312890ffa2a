"""Stats and estimated costs on big inputs: the stats screen, `tracetui stats`, pricing itself.

    .venv/bin/python benchmarks/bench_stats.py [--rows 200000] [--out DIR] [--rounds 3]

Inputs, generated once into --out (default benchmarks/out, reused):
  agent_traces_<rows>.db  make_agent_traces.py's table, read in place through TEMP views (no models)
  models_<rows>.db        a tracetui store of <rows> runs, each two model calls (five models, one the
                          price table does not know) and a tool call, priced as an import prices them

Measured:
  screen   the viewer headless (run_test, 160x48): `t` pressed on the run list until the stats screen
           is on screen, until each section's numbers are in, and the longest the event loop went
           without running a 20 ms timer meanwhile (how responsive the screen stays while it computes)
  cli      `tracetui stats PATH --by …` as a whole process (median of --rounds)
  pricing  µs per model call: genai_prices.calc_price against tracetui's Pricer (same results); and
           importing a JSONL of model calls with estimation on and off (--no-estimate)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_agent_traces import main as make_agent_traces  # noqa: E402

from tracetui import pricing  # noqa: E402
from tracetui.loading import prepare  # noqa: E402
from tracetui.model import Run, Step, finalize_run  # noqa: E402
from tracetui.normalize import iso  # noqa: E402
from tracetui.sources import tracetui_jsonl  # noqa: E402
from tracetui.store import StoreWriter  # noqa: E402

MODELS = (("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", None), ("gemini-2.5-flash", None), ("gpt-4.1", None))
UNKNOWN = ("acme-router-7b", None)
TOOLS = ("search", "read_file", "write_file", "run_tests", "http_get")
T0 = datetime(2026, 10, 1, tzinfo=UTC).timestamp()


def model_runs(n: int, seed: int = 3):
    rnd = random.Random(seed)
    for i in range(n):
        start = T0 + i * 6.0  # 200k runs span two weeks
        model, provider = UNKNOWN if i % 50 == 0 else rnd.choice(MODELS)
        run = Run(
            f"run-{i:07d}",
            agent=rnd.choice(("planner", "coder", "reviewer", "support-bot")),
            status="failed" if rnd.random() < 0.08 else "completed",
            started_at=iso(datetime.fromtimestamp(start, UTC)),
            duration_ms=float(rnd.randint(300, 30_000)),
        )
        for k in range(2):
            tin = rnd.randint(200, 40_000)
            run.steps.append(
                Step(
                    f"llm-{k}",
                    name="chat",
                    kind="llm",
                    model=model,
                    provider=provider,
                    started_at=iso(datetime.fromtimestamp(start + k, UTC)),
                    duration_ms=float(rnd.randint(200, 8000)),
                    tokens_in=tin,
                    tokens_out=rnd.randint(20, 2000),
                    tokens_cache_read=rnd.randint(0, tin // 2),
                )
            )
        run.steps.append(Step("tool", name=rnd.choice(TOOLS), kind="tool", duration_ms=float(rnd.randint(5, 4000))))
        yield run


def make_models_store(path: str, n: int) -> None:
    pricer = pricing.Pricer()
    writer = StoreWriter(path)
    for run in model_runs(n):
        writer.add(finalize_run(pricing.apply(run, pricer)))
    writer.finish(prices=pricing.describe(dated=False))


def inputs(out: str, rows: int) -> dict[str, str]:
    os.makedirs(out, exist_ok=True)
    traces = os.path.join(out, f"agent_traces_{rows}.db")
    if not os.path.exists(traces):
        print(f"writing {traces} …", flush=True)
        make_agent_traces(traces, rows)
    models = os.path.join(out, f"models_{rows}.db")
    if not os.path.exists(models):
        print(f"writing {models} …", flush=True)
        began = time.perf_counter()
        make_models_store(models + ".part", rows)
        os.replace(models + ".part", models)
        print(f"  {time.perf_counter() - began:.1f} s", flush=True)
    return {"agent_traces (in place)": traces, "tracetui store with models": models}


# -- the screen -----------------------------------------------------------------------------------


async def screen_times(path: str) -> dict[str, float]:
    from tracetui.tui.app import TraceApp
    from tracetui.tui.pilot import settle, until
    from tracetui.tui.screens.stats import StatsScreen

    opening = prepare(path)
    app = TraceApp(opening)
    marks: dict[str, float] = {}
    original_show, original_mount = StatsScreen._show, StatsScreen.on_mount

    def timed_show(self, section):
        now = time.perf_counter()
        if section.name in marks:
            marks.setdefault(f"{section.name} p50/p95", now)  # totals and agents come again with percentiles
        else:
            marks[section.name] = now
        original_show(self, section)

    def timed_mount(self):
        original_mount(self)
        self.call_after_refresh(lambda: marks.setdefault("screen painted", time.perf_counter()))

    StatsScreen._show = timed_show  # type: ignore[method-assign]
    StatsScreen.on_mount = timed_mount  # type: ignore[method-assign]
    lags: list[float] = []
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            last = [time.perf_counter()]

            def tick() -> None:
                now = time.perf_counter()
                lags.append(now - last[0])
                last[0] = now

            timer = app.set_interval(0.02, tick)
            began = time.perf_counter()
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, StatsScreen) and app.screen.done, tries=100_000)
            done = time.perf_counter()
            timer.stop()
    finally:
        StatsScreen._show, StatsScreen.on_mount = original_show, original_mount  # type: ignore[method-assign]
    out = {f"{name} in": at - began for name, at in sorted(marks.items(), key=lambda item: item[1])}
    out["all in"] = done - began
    out["longest event-loop gap"] = max(lags, default=0.0)
    return out


# -- the CLI --------------------------------------------------------------------------------------


def cli_time(path: str, by: str, rounds: int) -> float:
    exe = os.path.join(os.path.dirname(sys.executable), "tracetui")
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run([exe, "stats", path, "--by", by], check=True, capture_output=True)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


# -- pricing --------------------------------------------------------------------------------------


def pricing_times(rounds: int) -> dict[str, float]:
    from genai_prices import Usage, calc_price

    rnd = random.Random(5)
    calls = []
    for _ in range(2000):
        tin = rnd.randint(200, 40_000)
        calls.append((rnd.choice(MODELS)[0], (tin, rnd.randint(20, 2000), rnd.randint(0, tin // 2), 0, 0)))
    when = datetime(2026, 11, 1, tzinfo=UTC)
    began = time.perf_counter()
    for model, (tin, tout, read, write, _) in calls:
        usage = Usage(input_tokens=tin, output_tokens=tout, cache_read_tokens=read, cache_write_tokens=write)
        calc_price(usage, model, genai_request_timestamp=when)
    library = (time.perf_counter() - began) / len(calls) * 1e6
    pricer = pricing.Pricer()
    stamp = iso(when)
    for model, counts in calls[:50]:
        pricer.cost(model, None, counts, stamp)  # the table loaded and each price's coefficients read
    began = time.perf_counter()
    for _ in range(10):
        for model, counts in calls:
            pricer.cost(model, None, counts, stamp)
    ours = (time.perf_counter() - began) / (10 * len(calls)) * 1e6
    out = {"genai_prices.calc_price, µs a call": library, "Pricer.cost, µs a call": ours}
    exe = os.path.join(os.path.dirname(sys.executable), "tracetui")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "calls.jsonl")
        with open(src, "wb") as f:
            for run in model_runs(20_000, seed=9):
                f.write(tracetui_jsonl.dumps(run))
        samples: dict[bool, list[float]] = {True: [], False: []}
        for k in range(rounds):  # interleaved, each a whole `tracetui import` process
            for estimate in (True, False):
                began = time.perf_counter()
                argv = [exe, "import", src, "-o", os.path.join(tmp, f"s-{estimate}-{k}.db")]
                subprocess.run(argv + ([] if estimate else ["--no-estimate"]), check=True, capture_output=True)
                samples[estimate].append(time.perf_counter() - began)
        for estimate, times in samples.items():
            label = "`tracetui import` of 20k runs (40k model calls), " + (
                "estimating" if estimate else "--no-estimate"
            )
            out[label + ", s"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    for label, path in inputs(args.out, args.rows).items():
        print(f"\n== {label}: {args.rows:,} runs", flush=True)
        for _ in range(args.rounds):
            times = asyncio.run(screen_times(path))
            print("  screen: " + " · ".join(f"{k} {v:.2f}s" for k, v in times.items()), flush=True)
        for by in ("agent", "model", "tool", "day"):
            print(f"  tracetui stats --by {by}: {cli_time(path, by, args.rounds):.2f} s", flush=True)
    print("\n== pricing", flush=True)
    for label, value in pricing_times(args.rounds).items():
        print(f"  {label}: {value:.2f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
