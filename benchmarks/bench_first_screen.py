"""First screen in a real terminal (issue 15): tracetui next to VisiData and a minimal Textual app.

    .venv/bin/python benchmarks/bench_first_screen.py [--runs 7] [--mb 500] [--rows 200000]
        [--ttff PATH] [--out DIR] [--no-visidata] [--no-dense] [--max-load L] [--json FILE]

A first-screen figure is the milliseconds from launching the command in a 160x48 tmux pane until a
marker shows on the screen, as measured by ttff.sh (--ttff, else $TRACETUI_TTFF, else the team's
copy in /work/shared/tools: the tool is not part of the project, so its path is a parameter).
Markers are the start every run id of that file shares ("run-00" in the sample, "run-0" in the
generated files): they show only once rows do, in every tool, whichever rows come first.

Rounds are interleaved (each round runs every case once), so load from other processes falls on
all tools alike; the load average of each round is printed (--max-load waits for a quieter machine
before each round). Bytecode caching is on for every measured command (PYTHONDONTWRITEBYTECODE is
removed from their environment and each command runs once unmeasured first), as users have it
after their first run.

Inputs are generated once in --out (reused): the 200k-row agent_traces DB (make_agent_traces.py),
the ~500 MB export and the dense export (bench_store.py's generators). VisiData is installed into
its own virtualenv in --out, never into the project's. Whole-process timings (`--help`, `list`) use
hyperfine when it is on PATH, else repeated subprocess runs.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_store import make_export  # noqa: E402
from make_agent_traces import main as make_agent_traces  # noqa: E402
from minimal_textual_app import MARKER as MINIMAL_MARKER  # noqa: E402

DEFAULT_TTFF = "/work/shared/tools/ttff.sh"
VISIDATA = "visidata==3.4"
TIMEOUT_S = 30

# Issue 15's targets, in seconds.
SLACK_OVER_MINIMAL = 0.10
FIRST_OPEN_TARGET = 0.6
HELP_TARGET = 0.12
LIST_TARGET = 0.2
DENSE_STEPS_TARGET = 100_000


@dataclass
class Case:
    key: str
    label: str
    argv: list[str]
    marker: str
    fresh_cache: bool = False  # a new, empty cache directory for every run (first open)
    samples: list[float] = field(default_factory=list)
    timeouts: int = 0

    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


def measured_env(cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_CACHE_HOME"] = cache
    return env


def shell_prefix(cache: str) -> list[str]:
    # The tmux server may be older than this process and have its own environment: say it all here.
    return ["env", "-u", "PYTHONDONTWRITEBYTECODE", f"XDG_CACHE_HOME={cache}"]


def ttff(tool: str, marker: str, argv: list[str], cache: str) -> float | None:
    command = [shlex.quote(a) for a in shell_prefix(cache) + argv]
    out = subprocess.run([tool, marker, str(TIMEOUT_S), *command], capture_output=True, text=True).stdout.strip()
    return int(out) / 1000 if out.isdigit() else None


def wait_for_exit(cache: str, limit: float = 30.0) -> None:
    """Wait until no process still works in `cache` (a killed first open's import workers)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy = False
        for environ in glob.glob("/proc/[0-9]*/environ"):
            try:
                with open(environ, "rb") as f:
                    if f"XDG_CACHE_HOME={cache}".encode() in f.read().split(b"\0"):
                        busy = True
                        break
            except OSError:
                continue
        if not busy:
            return
        time.sleep(0.1)
    print(f"  warning: processes still use {cache} after {limit:.0f} s", flush=True)


def visidata_command(out: str) -> list[str]:
    venv = os.path.join(out, "visidata-venv")
    vd = os.path.join(venv, "bin", "vd")
    if not os.path.exists(vd):
        print(f"installing {VISIDATA} into {venv} (not a project dependency)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", VISIDATA], check=True)
    return [vd]


def tracetui_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "tracetui")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "tracetui"]


def whole_process(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    """Seconds of each of `runs` runs of a whole process (after two unmeasured ones)."""
    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as report:
            subprocess.run(
                [
                    "hyperfine",
                    "-N",
                    "--warmup",
                    "2",
                    "--runs",
                    str(runs),
                    "--export-json",
                    report.name,
                    shlex.join(argv),
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            return json.load(open(report.name))["results"][0]["times"]
    times = []
    for i in range(runs + 2):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return times


def dense_import(tracetui: list[str], path: str, out: str, runs: int) -> tuple[int, list[float]]:
    """(steps in the file, seconds of each first import + `list --limit 1` with an empty cache)."""
    times, steps = [], 0
    for _ in range(runs):
        cache = tempfile.mkdtemp(prefix="dense-cache-", dir=out)
        try:
            t0 = time.perf_counter()
            subprocess.run(
                tracetui + ["list", path, "--limit", "1"], env=measured_env(cache), check=True, capture_output=True
            )
            times.append(time.perf_counter() - t0)
            (db,) = glob.glob(os.path.join(cache, "tracetui", "*.db"))
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                steps = conn.execute("SELECT count(*) FROM steps").fetchone()[0]
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return steps, times


def run_case(tool: str, case: Case, cache: str, out: str) -> float | None:
    run_cache = tempfile.mkdtemp(prefix="first-open-", dir=out) if case.fresh_cache else cache
    result = ttff(tool, case.marker, case.argv, run_cache)
    if case.fresh_cache:
        wait_for_exit(run_cache)  # a killed import must not load the next case
        shutil.rmtree(run_cache, ignore_errors=True)
    return result


def wait_for_quiet(max_load: float | None, limit: float = 300.0) -> None:
    """Wait (up to `limit` s) until the 1-minute load average is below max_load."""
    deadline = time.monotonic() + limit
    while max_load is not None and os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(2)


def measure_rounds(args, cases: list[Case], cache: str, out: str) -> list[float]:
    """Every case once unmeasured (bytecode written, files in the page cache), then args.runs rounds."""
    for case in cases:
        if run_case(args.ttff, case, cache, out) is None:
            raise SystemExit(f"bench_first_screen: {case.label}: {case.marker!r} never showed (see ttff's last screen)")
    loads = []
    for round_no in range(args.runs):
        wait_for_quiet(args.max_load)
        loads.append(os.getloadavg()[0])
        line = []
        for case in cases:
            result = run_case(args.ttff, case, cache, out)
            if result is None:
                case.timeouts += 1
            else:
                case.samples.append(result)
            line.append(f"{case.key} {fmt_s(result)}")
        print(f"round {round_no + 1}/{args.runs} (load {loads[-1]:.2f}): " + ", ".join(line), flush=True)
    return loads


def fmt_s(x: float | None) -> str:
    return "timeout" if x is None else f"{x:.3f}"


def spread(samples: list[float], timeouts: int = 0) -> str:
    lost = f", {timeouts} timed out" if timeouts else ""
    if not samples:
        return "–" + lost
    return f"{statistics.median(samples):.3f} ({min(samples):.3f}–{max(samples):.3f}{lost})"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("pass" if ok else "**fail**")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="measured runs of every case (≥ 5)")
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--ttff", default=os.environ.get("TRACETUI_TTFF", DEFAULT_TTFF))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--no-visidata", action="store_true")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense import (steps/s) measurement")
    ap.add_argument(
        "--max-load", type=float, help="before each round, wait for the 1-minute load average to drop below this"
    )
    ap.add_argument("--json", help="also write every sample here")
    args = ap.parse_args()
    if not os.access(args.ttff, os.X_OK):
        raise SystemExit(f"bench_first_screen: no ttff.sh at {args.ttff} (pass --ttff or set TRACETUI_TTFF)")
    if not shutil.which("tmux"):
        raise SystemExit("bench_first_screen: tmux is needed")
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)

    sample = os.path.join(ROOT, "sample_traces", "export.jsonl")
    db = os.path.join(out, f"agent_traces_{args.rows}.db")
    export = os.path.join(out, f"export_{args.mb}mb.jsonl")
    dense = os.path.join(out, f"export_dense_{args.mb // 5}mb.jsonl")
    print("generating inputs (reused when present)…", flush=True)
    if not os.path.exists(db):
        make_agent_traces(db, args.rows)
    make_export(export, args.mb)
    if not args.no_dense:
        make_export(dense, args.mb // 5, dense=True)
    export_mb = os.path.getsize(export) / 1e6
    with open(export, "rb") as f:
        export_runs = sum(1 for _ in f)

    cache = os.path.join(out, "first-screen-cache")  # the cached store of the export lives here
    tracetui = tracetui_command()
    env = measured_env(cache)
    print("warming up: bytecode, and the sample and the export imported into the cache once…", flush=True)
    # By `list`, which ends when the import has: a viewer is killed as soon as its first rows show,
    # before a first import has finished, and would leave the next open a first open again.
    for path in (sample, export):
        subprocess.run(tracetui + ["list", path, "--limit", "1"], env=env, check=True, capture_output=True)

    cases = [
        Case(
            "minimal",
            "minimal Textual app (a Static)",
            [sys.executable, os.path.join(HERE, "minimal_textual_app.py")],
            MINIMAL_MARKER,
        ),
        Case("tt-sample", "tracetui open, sample export", tracetui + ["open", sample], "run-00"),
        Case("tt-db", f"tracetui open, {args.rows:,}-row agent_traces DB", tracetui + ["open", db], "run-0"),
        Case("tt-cached", f"tracetui open, {export_mb:.0f} MB export, cached", tracetui + ["open", export], "run-0"),
        Case(
            "tt-first",
            f"tracetui open, {export_mb:.0f} MB export, first open (empty cache)",
            tracetui + ["open", export],
            "run-0",
            fresh_cache=True,
        ),
    ]
    if not args.no_visidata:
        vd = visidata_command(out)
        cases += [
            Case("vd-sample", "VisiData, sample export", vd + [sample], "run-00"),
            Case("vd-db", f"VisiData, {args.rows:,}-row agent_traces DB", vd + [db, "+:agent_traces:1:1"], "run-0"),
            Case("vd-export", f"VisiData, {export_mb:.0f} MB export", vd + [export], "run-0"),
        ]

    # ttff.sh ends its tmux session after each run; were it the only one, the tmux server would exit
    # with it and the next run's new session could race the dying server (and time out).
    keeper = f"bench-first-screen-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", keeper, "sleep 86400"], check=True)
    try:
        loads = measure_rounds(args, cases, cache, out)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", keeper], capture_output=True)

    print("whole processes: --help, list --limit 50 on the cached export…", flush=True)
    python_floor = whole_process([sys.executable, "-c", "pass"], env, args.runs)
    help_times = whole_process(tracetui + ["--help"], env, args.runs)
    list_times = whole_process(tracetui + ["list", export, "--limit", "50"], env, args.runs)
    dense_steps, dense_times = (0, []) if args.no_dense else dense_import(tracetui, dense, out, min(args.runs, 3))

    by = {c.key: c for c in cases}
    floor = by["minimal"].median()

    def row(tt_key: str, vd_key: str | None, what: str, target_s: float | None = None) -> str:
        tt, vd = by[tt_key], by.get(vd_key) if vd_key else None
        t, v = tt.median(), vd.median() if vd else None
        vs_min = f"{t / floor:.2f}× (+{t - floor:.3f} s)" if t and floor else "–"
        vs_vd = f"{t / v:.2f}×" if t and v else "–"
        if target_s is None:
            near_floor = t is not None and floor is not None and t - floor <= SLACK_OVER_MINIMAL
            not_slower = None if v is None else (t is not None and t <= v)
            ok = f"≤ minimal + 0.10 s: {verdict(near_floor)}; ≤ VisiData: {verdict(not_slower)}"
        else:
            ok = f"≤ {target_s:.1f} s: {verdict(t is not None and t <= target_s)}"
        return f"| {what} | {spread(tt.samples, tt.timeouts)} | {spread(vd.samples, vd.timeouts) if vd else '–'} | {vs_min} | {vs_vd} | {ok} |"

    print(
        f"\nFirst screen in a real terminal (ttff.sh, tmux 160x48), {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, bytecode cached, {args.runs} runs each, "
        f"load average during the rounds {min(loads):.2f}–{max(loads):.2f}. Seconds: median (min–max).\n"
    )
    print(f"Minimal Textual app (a Static), first paint: {spread(by['minimal'].samples, by['minimal'].timeouts)}\n")
    print("| first rows on screen | tracetui | VisiData | tracetui / minimal app | tracetui / VisiData | target |")
    print("|---|---|---|---|---|---|")
    print(row("tt-sample", "vd-sample", "sample export (15 runs)"))
    print(row("tt-db", "vd-db", f"agent_traces DB, {args.rows:,} rows"))
    print(row("tt-cached", "vd-export", f"{export_mb:.0f} MB export ({export_runs:,} runs), cached"))
    print(row("tt-first", "vd-export", "same export, first open (empty cache)", FIRST_OPEN_TARGET))

    print("\n| whole process | seconds: median (min–max) | target |\n|---|---|---|")
    print(f"| `python -c pass` (interpreter floor) | {spread(python_floor)} | – |")
    print(
        f"| `tracetui --help` | {spread(help_times)} | ≤ {HELP_TARGET} s: {verdict(statistics.median(help_times) <= HELP_TARGET)} |"
    )
    print(
        f"| `tracetui list PATH --limit 50`, cached {export_mb:.0f} MB export | {spread(list_times)} | "
        f"≤ {LIST_TARGET} s: {verdict(statistics.median(list_times) <= LIST_TARGET)} |"
    )
    if dense_times:
        rate = dense_steps / statistics.median(dense_times)
        print(
            f"| first import + `list --limit 1`, dense export {os.path.getsize(dense) / 1e6:.0f} MB, {dense_steps:,} steps "
            f"| {spread(dense_times)} = **{rate:,.0f} steps/s** | ≥ {DENSE_STEPS_TARGET:,} steps/s: "
            f"{verdict(rate >= DENSE_STEPS_TARGET)} |"
        )

    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "date": time.strftime("%Y-%m-%d %H:%M"),
                    "loads": loads,
                    "first_screen": {
                        c.key: {"label": c.label, "marker": c.marker, "samples": c.samples} for c in cases
                    },
                    "python_floor": python_floor,
                    "help": help_times,
                    "list": list_times,
                    "dense": {"steps": dense_steps, "times": dense_times},
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
