"""A folder of 2,000 Claude Code sessions (~1 GB), as `~/.claude/projects` is after months of use (issue 10).

    .venv/bin/python benchmarks/bench_folders.py [--out DIR] [--sessions 2000] [--mb 1000] [--runs 5]
        [--ttff PATH] [--no-ttff] [--json FILE] [--baseline TRACETUI]

Measures, on the folder make_claude_folder.py writes (generated once into --out, reused):

* first import: `tracetui list DIR --limit 50` with an empty cache, the whole process (start-up
  included): seconds, MB/s, CPU seconds of it and its worker processes, and peak memory of the
  biggest process and of all of them together (sampled from /proc every 50 ms);
* the same on a quarter of the folder, to show memory does not grow with the number of files;
* re-open with nothing changed: the same command again, cache warm (hyperfine when on PATH);
* one changed file: a turn appended to one session, then the same command (a session not written in
  the last 15 minutes, as most are: read whole, its Tail kept from then on);
* one grown file: a turn appended to the biggest session, whose Tail the folder's store keeps
  (tailstate.py: it grew once before, unmeasured), then the same command: only the turn is read;
* with --grown-mb MB: a folder of one Claude Code session of MB (bench_follow.grown_session), a turn
  appended to it each time, then the same command: read on from its Tail, and read whole (--baseline);
* first rows in a real terminal (ttff.sh, 160x48): from launching `tracetui open DIR` until the
  first rows show (the marker is the file column's "-home-dev-"), with an empty cache (the import
  goes on behind them) and with a warm one.

Each measured command runs with bytecode caching on, once unmeasured first. The load average is
printed before each case: the machine is shared, and other jobs slow every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from make_claude_folder import make  # noqa: E402

TRACETUI = os.path.join(ROOT, ".venv", "bin", "tracetui")
DEFAULT_TTFF = "/work/shared/tools/ttff.sh"
MARKER = "-home-dev-"

# Issue 10's targets.
FIRST_ROWS_S = 1.0
IMPORT_MB_S = 60.0
REOPEN_S = 0.3
CHANGED_S = 1.0
MEMORY_MB = 300.0


def env(cache: str, base: dict[str, str] | None = None) -> dict[str, str]:
    out = {k: v for k, v in (os.environ if base is None else base).items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["XDG_CACHE_HOME"] = cache
    return out


def folder_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


# -- a whole process, with its workers' memory and CPU ---------------------------------------------


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measured(cmd: list[str], cache: str, base_env: dict[str, str] | None = None) -> dict:
    """Wall seconds, CPU seconds (the process and its children), peak RSS of one process and of all.

    base_env: the environment to run it in (default: this process's), XDG_CACHE_HOME set to `cache`."""
    before = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env(cache, base_env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_one = peak_all = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_one, peak_all
        while not done.is_set():
            sizes = [_rss_mb(p) for p in _tree(proc.pid)]
            peak_one = max(peak_one, max(sizes, default=0.0))
            peak_all = max(peak_all, sum(sizes))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return {"seconds": wall, "cpu": cpu, "peak_mb": peak_one, "peak_all_mb": peak_all, "exit": code}


def timed(cmd: list[str], cache: str, runs: int) -> list[float]:
    """Seconds of `runs` runs of a command (hyperfine when on PATH)."""
    subprocess.run(cmd, env=env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run(
                ["hyperfine", "-N", "--warmup", "1", "--runs", str(runs), "--export-json", out.name, *[_quote(cmd)]],
                env=env(cache),
                stdout=subprocess.DEVNULL,
                check=True,
            )
            return json.load(open(out.name))["results"][0]["times"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def _quote(cmd: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(c) for c in cmd)


def ttff(tool: str, command: str, cache: str) -> float | None:
    line = f"env -u PYTHONDONTWRITEBYTECODE XDG_CACHE_HOME={cache} {command}"
    out = subprocess.run([tool, MARKER, "60", line], capture_output=True, text=True).stdout.strip()
    return None if out == "timeout" else int(out) / 1000


def sessions_of(folder: str) -> list[str]:
    return sorted(
        os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.endswith(".jsonl") and "/subagents" not in d
    )


def grow_one(folder: str, rnd: random.Random, path: str | None = None) -> str:
    """Append a user turn to one session file (as Claude Code does when the session goes on)."""
    path = path or rnd.choice(sessions_of(folder))
    with open(path) as f:
        last = json.loads(f.read().splitlines()[-1])
    line = {
        **{k: last[k] for k in ("isSidechain", "userType", "cwd", "sessionId", "version", "gitBranch") if k in last},
        "parentUuid": last.get("uuid"),
        "type": "user",
        "uuid": f"bench-{rnd.getrandbits(64):016x}",
        "timestamp": "2026-12-01T00:00:00.000Z",
        "message": {"role": "user", "content": "one more thing"},
    }
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")
    return path


def _summary(runs: list[dict]) -> str:
    wall = [r["seconds"] for r in runs]
    cpu = [r["cpu"] for r in runs]
    return (
        f"median {statistics.median(wall):.3f} s wall (min {min(wall):.3f}), CPU median {statistics.median(cpu):.3f} s"
    )


def _forget_tails(cache: str) -> None:
    """Drop the Tails the folder's store keeps: the next grown file is read whole, as before tailstate.py."""
    import sqlite3

    for where, _, names in os.walk(cache):
        for name in names:
            if name.startswith("folder-") and name.endswith(".db"):
                conn = sqlite3.connect(os.path.join(where, name))
                conn.execute("DELETE FROM tail_state")
                conn.commit()
                conn.close()


def big_grown(megabytes: float, runs: int, baseline: str | None) -> dict:
    """A folder of one big session, grown by a turn `runs` times: read on from its Tail, then read whole."""
    from bench_follow import grown_session

    work = tempfile.mkdtemp(prefix="tracetui-bench-grown-")
    try:
        path, turns = grown_session(work, megabytes, 2 * runs + 2)
        folder = os.path.dirname(os.path.dirname(path))
        cache = os.path.join(work, "cache")
        listing = [TRACETUI, "list", folder, "--limit", "50"]
        first = measured(listing, cache)
        print(f"a folder of one {os.path.getsize(path) / 1e6:.1f} MB session: first import {_summary([first])}")

        def grown(cmd: list[str], forget: bool) -> list[dict]:
            out = []
            for _ in range(runs):
                if forget:
                    _forget_tails(cache)
                with open(path, "ab") as f:
                    f.write(turns.pop())
                out.append(measured(cmd, cache))
            return out

        with open(path, "ab") as f:
            f.write(turns.pop())
        measured(listing, cache)  # its Tail is kept from its first read (written just now): warm the page cache
        print(f"  one turn appended, read on from its Tail ({load()})", flush=True)
        on = grown(listing, False)
        print(f"    {_summary(on)}")
        kind = f"by {baseline}" if baseline else "and its Tail kept again"
        print(f"  one turn appended, read whole ({kind}) ({load()})", flush=True)
        whole = grown([baseline or TRACETUI, *listing[1:]], True)
        print(f"    {_summary(whole)}")
        return {"bytes": os.path.getsize(path), "first": first, "read_on": on, "whole": whole}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--mb", type=float, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ttff", default=os.environ.get("TRACETUI_TTFF", DEFAULT_TTFF))
    ap.add_argument("--no-ttff", action="store_true")
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--grown-mb", type=float, help="also a folder of one session of this many MB, grown by a turn")
    ap.add_argument("--only-grown", action="store_true", help="only the --grown-mb case")
    ap.add_argument(
        "--baseline", help="a tracetui from before tailstate.py (e.g. main's), to read the grown file whole"
    )
    args = ap.parse_args(argv)

    if args.grown_mb:
        results = {"grown_big": big_grown(args.grown_mb, args.runs, args.baseline)}
        if args.only_grown:
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(results, f, indent=2)
            return 0
    folder = os.path.join(args.out, f"claude-{args.sessions}")
    if not os.path.isdir(folder):
        print(f"writing {folder} …", flush=True)
        make(folder, args.sessions, args.mb)
    quarter = os.path.join(args.out, f"claude-{args.sessions}-quarter")
    if not os.path.isdir(quarter):
        os.makedirs(quarter)
        for name in sorted(os.listdir(folder))[: max(1, len(os.listdir(folder)) // 4)]:
            shutil.copytree(os.path.join(folder, name), os.path.join(quarter, name), copy_function=os.link)
    size = folder_size(folder)
    files = sum(len(fs) for _, _, fs in os.walk(folder))
    print(f"{folder}: {files} files, {size / 1e6:.0f} MB; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    results: dict = {"files": files, "bytes": size, "date": time.strftime("%Y-%m-%d %H:%M")}
    work = tempfile.mkdtemp(prefix="tracetui-bench-folders-")
    rnd = random.Random(3)
    listing = [TRACETUI, "list", folder, "--limit", "50"]
    try:
        # Warm the bytecode and the page cache (the files were read lately, as a user's sessions are).
        warm = [TRACETUI, "list", quarter, "--limit", "1"]
        subprocess.run(warm, env=env(os.path.join(work, "warm")), stdout=subprocess.DEVNULL, check=False)
        for where, _, names in os.walk(folder):
            for name in names:
                with open(os.path.join(where, name), "rb") as f:
                    while f.read(1 << 20):
                        pass

        print(f"first import ({load()})", flush=True)
        first = [measured(listing, os.path.join(work, f"first-{i}")) for i in range(max(1, args.runs // 2))]
        best = min(first, key=lambda r: r["seconds"])
        mbs = size / 1e6 / statistics.median(r["seconds"] for r in first)
        results["first_import"] = {"runs": first, "mb_per_s": mbs}
        print(
            f"  {statistics.median(r['seconds'] for r in first):.2f} s = {mbs:.0f} MB/s (target ≥ {IMPORT_MB_S}),"
            f" CPU {best['cpu']:.1f} s, peak {best['peak_mb']:.0f} MB one process / {best['peak_all_mb']:.0f} MB all"
        )
        q = measured([TRACETUI, "list", quarter, "--limit", "50"], os.path.join(work, "quarter"))
        results["quarter_import"] = q
        print(f"  a quarter of it: {q['seconds']:.2f} s, peak {q['peak_mb']:.0f} MB / {q['peak_all_mb']:.0f} MB all")

        cache = os.path.join(work, "first-0")
        print(f"re-open, nothing changed ({load()})", flush=True)
        again = timed(listing, cache, args.runs * 2)
        results["reopen"] = again
        print(f"  median {statistics.median(again):.3f} s (min {min(again):.3f}) (target ≤ {REOPEN_S})")

        print(f"one changed file ({load()})", flush=True)
        changed = []
        for _ in range(args.runs):
            grow_one(folder, rnd)
            changed.append(measured(listing, cache))
        results["one_changed"] = changed
        print(f"  {_summary(changed)} (target ≤ {CHANGED_S})")

        biggest = max(sessions_of(folder), key=os.path.getsize)
        grow_one(folder, rnd, biggest)
        measured(listing, cache)  # its first growth: read whole, its Tail kept
        print(f"one grown file, {os.path.getsize(biggest) / 1e6:.1f} MB, read on from its Tail ({load()})", flush=True)
        grown = []
        for _ in range(args.runs):
            grow_one(folder, rnd, biggest)
            grown.append(measured(listing, cache))
        results["one_grown"] = grown
        print(f"  {_summary(grown)} (target ≤ {CHANGED_S})")
        baseline = [args.baseline or TRACETUI, *listing[1:]]
        kind = f"by {args.baseline}" if args.baseline else "and its Tail kept again"
        print(f"  the same file read whole ({kind}), for comparison ({load()})", flush=True)
        whole = []
        for _ in range(args.runs):
            _forget_tails(cache)
            grow_one(folder, rnd, biggest)
            whole.append(measured(baseline, cache))
        results["one_grown_whole"] = whole
        print(f"  {_summary(whole)}")

        if not args.no_ttff and os.path.exists(args.ttff):
            print(f"first rows in a terminal ({load()})", flush=True)
            cold = [
                ttff(args.ttff, f"{TRACETUI} open {folder}", os.path.join(work, f"tt-{i}")) for i in range(args.runs)
            ]
            warm = [ttff(args.ttff, f"{TRACETUI} open {folder}", cache) for _ in range(args.runs)]
            results["first_rows_cold"], results["first_rows_warm"] = cold, warm
            for name, values in (("empty cache", cold), ("nothing changed", warm)):
                ok = [v for v in values if v is not None]
                median = statistics.median(ok) if ok else float("nan")
                print(f"  {name}: median {median:.3f} s ({len(values) - len(ok)} timeouts) (target ≤ {FIRST_ROWS_S})")
        print(f"done ({load()})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
