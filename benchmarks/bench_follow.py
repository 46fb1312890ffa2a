"""Following files (`tracetui open PATH --follow`): write→visible latency in the viewer, keeping up with a fast
writer, and what reading a grown session again costs.

    python benchmarks/bench_follow.py latency [RUNS]     a writer process appends one run a line to an export
                                                         file, a line every ~0.3 s; the time from each write to
                                                         the run in the viewer's run list (headless, run_test),
                                                         with watchfiles and with polling only
    python benchmarks/bench_follow.py rate [MB_PER_S] [SECONDS]
                                                         a writer appending export lines at MB_PER_S; how far
                                                         behind the store is when the writer stops, and how long
                                                         the follower then takes to catch up
    python benchmarks/bench_follow.py session [TURNS]    a Claude Code session growing turn by turn: the time of
                                                         each refresh()
    python benchmarks/bench_follow.py grow [MB] [TURNS] [GAP]
                                                         a Claude Code session of MB (20) followed (watchfiles)
                                                         while a writer process appends TURNS (40) turns, one
                                                         line at a time, a turn every GAP (0.5) s: append →
                                                         visible (committed in the store and announced to the
                                                         viewer) p50/p95, and the follower's CPU; read on from
                                                         where the last read ended (tailing.py), then the same
                                                         with the session read again whole at each look
    python benchmarks/bench_follow.py looks [MB] [LINES] a Claude Code, a Codex and a Gemini CLI session of MB (3)
                                                         each, followed (Opening.refresh with its Tails) while
                                                         LINES (40) more lines are appended one at a time, a look
                                                         after each: the CPU of a look (median, min, max). Run it
                                                         with PYTHONPATH=OTHER/src to measure another tree

Each prints what it measured; docs/benchmarks.md has the numbers.
"""

from __future__ import annotations

import asyncio
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

WRITER = r"""
import sys, time
path, lines, gap = sys.argv[1], sys.argv[2], float(sys.argv[3])
log = open(sys.argv[4], "w")
for line in open(lines, "rb"):
    with open(path, "ab") as f:
        f.write(line)
    log.write(f"{time.time()}\n")
    log.flush()
    time.sleep(gap)
"""


def export_lines(n: int, prefix: str, steps: int = 8) -> bytes:
    """n runs of `steps` steps each, as `tracetui export` writes them (one run a line)."""
    from builders import run, step, write_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            run(f"{prefix}-{i:06d}", *(step(f"s{j}", tokens_in=100, tokens_out=20) for j in range(steps)))
            for i in range(n)
        ]
        return open(write_jsonl(os.path.join(tmp, "lines.jsonl"), runs), "rb").read()


def bench_latency(runs: int) -> None:
    for watch in (True, False):
        _latency(runs, watch)


def _latency(runs: int, watch: bool) -> None:
    from tracetui.follow import Follower
    from tracetui.loading import prepare
    from tracetui.tui.app import TraceApp

    work = tempfile.mkdtemp(prefix="tracetui-follow-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")
    path = os.path.join(work, "runs.jsonl")
    with open(path, "wb") as f:
        f.write(export_lines(1, "first"))
    lines = os.path.join(work, "lines")
    with open(lines, "wb") as f:
        f.write(export_lines(runs, "run"))
    log = os.path.join(work, "written")
    opening = prepare(path)
    app = TraceApp(opening, live=Follower(opening, watch=watch))
    seen: dict[str, float] = {}

    async def main() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            pager = app.runs_screen.run_list.pager
            while app.importing or pager.count < 1:
                await pilot.pause(0.05)
            writer = subprocess.Popen([sys.executable, "-c", WRITER, path, lines, "0.3", log])
            deadline = None
            while len(seen) < runs:
                await pilot.pause(0.005)
                now = time.time()
                for i in range(min(pager.count, 50)):
                    run_id = pager.id_at(i)
                    if run_id is not None and run_id.startswith("run-") and run_id not in seen:
                        seen[run_id] = now
                if writer.poll() is not None:
                    deadline = deadline or time.monotonic() + 10
                    if time.monotonic() > deadline:
                        break

    asyncio.run(main())
    written = [float(line) for line in open(log)]
    delays = sorted(seen[f"run-{i:06d}"] - t for i, t in enumerate(written) if f"run-{i:06d}" in seen)
    missing = len(written) - len(delays)
    p95 = delays[min(len(delays) - 1, int(len(delays) * 0.95))]
    how = "watchfiles" if watch else "polling (1 s)"
    print(
        f"latency, {how}: {len(written)} runs written, {missing} never seen; write→visible p50"
        f" {statistics.median(delays) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )


def bench_rate(mb_per_s: float, seconds: float) -> None:
    from tracetui.follow import Follower
    from tracetui.loading import prepare

    work = tempfile.mkdtemp(prefix="tracetui-follow-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")
    path = os.path.join(work, "runs.jsonl")
    with open(path, "wb") as f:
        f.write(export_lines(1, "first"))
    opening = prepare(path)
    opening.run_import()
    block = export_lines(200, "run")  # ~200 runs of 8 steps
    follower = Follower(opening)
    changes: queue.Queue = queue.Queue()
    thread = threading.Thread(target=follower.run, args=(changes.put,), daemon=True)
    thread.start()
    per_write = len(block)
    written = 0
    cpu = time.process_time()  # this process: the follower's thread, and the writer's few writes
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        with open(path, "ab") as f:
            f.write(block.replace(b'"run-', f'"w{written // per_write:05d}-'.encode()))
        written += per_write
        ahead = began + written / (mb_per_s * 1e6) - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    wrote_for = time.monotonic() - began
    stopped = time.monotonic()
    total = written // per_write * 200 + 1

    def stored() -> int:
        store = opening.connect()
        try:
            return store.count_runs()
        finally:
            store.close()

    behind = total - stored()
    while stored() < total:
        time.sleep(0.05)
    caught_up = time.monotonic() - stopped
    cpu = time.process_time() - cpu
    follower.close()
    thread.join()
    print(
        f"rate: {written / 1e6:.0f} MB appended in {wrote_for:.1f} s ({written / 1e6 / wrote_for:.1f} MB/s),"
        f" {total - 1:,} runs; {behind:,} runs not yet stored when the writer stopped, all stored"
        f" {caught_up:.2f} s later; {cpu:.1f} s of CPU = {written / 1e6 / cpu:.1f} MB per CPU second"
    )


def bench_session(turns: int) -> None:
    import shutil

    import orjson
    from agents import claude

    from tracetui.loading import prepare

    work = tempfile.mkdtemp(prefix="tracetui-follow-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")
    path = shutil.copy(claude(2), os.path.join(work, "session.jsonl"))
    opening = prepare(path)
    opening.run_import()
    lines = open(path, "rb").read().splitlines()
    last = orjson.loads(lines[-1])
    print(f"session: {claude(2).name}, {len(lines)} lines to start")
    times = []
    for n in range(turns):
        turn = []
        for k, line in enumerate(lines[1:]):  # the session's turns again, with new ids
            rec = orjson.loads(line)
            if "uuid" in rec:
                rec["uuid"] = f"{rec['uuid']}-{n}-{k}"
                rec["parentUuid"] = last.get("uuid")
            last = rec
            turn.append(orjson.dumps(rec) + b"\n")
        with open(path, "ab") as f:
            f.write(b"".join(turn))
        began = time.perf_counter()
        opening.refresh()
        times.append((os.path.getsize(path), time.perf_counter() - began))
    for size, seconds in times[:: max(1, len(times) // 8)] + times[-1:]:
        print(f"  {size / 1e6:7.2f} MB  refresh {seconds * 1000:7.0f} ms")


def repeated_session(source: str, megabytes: float, extra: int) -> tuple[bytes, list[bytes]]:
    """A fixture session's turns repeated (ids made new each time) to `megabytes`, and `extra` lines more.

    Codex: the lines from the first task_started on, its turn and call ids renamed; Gemini CLI (JSON
    Lines): every line after the first but the rewind, its message and tool call ids renamed."""
    import re

    lines = open(source, "rb").read().splitlines(keepends=True)
    codex = b'"session_meta"' in lines[0]
    start = next(i for i, line in enumerate(lines) if b"task_started" in line) if codex else 1
    head, body = lines[:start], [line for line in lines[start:] if b"$rewindTo" not in line]
    ids = re.compile(rb'"(turn-|call_|g2-m|write_file-|replace-)')
    renamed = rb'"\1r%d-'
    out: list[bytes] = []
    n, size = 0, sum(map(len, head))
    while size < megabytes * 1e6 or len(out) < extra:
        n += 1
        for line in body:
            line = ids.sub(renamed % n, line)
            out.append(line)
            if size < megabytes * 1e6:
                size += len(line)
    first = len(out) - extra
    return b"".join(head + out[:first]), out[first:]


def bench_looks(megabytes: float, lines: int) -> None:
    import shutil

    from agents import CODEX_MAIN, GEMINI_JSONL

    from tracetui.loading import prepare
    from tracetui.tailing import Tails

    sys.path.insert(0, HERE)
    print(f"looks: {lines} lines appended one at a time, a look after each; load {os.getloadavg()[0]:.1f}")
    for name in ("claude-code", "codex", "gemini-cli"):
        work = tempfile.mkdtemp(prefix="tracetui-looks-")
        os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")
        if name == "claude-code":
            path, more = grown_session(work, megabytes, max(4, lines // 4))
            rest = b"".join(more).splitlines(keepends=True)[:lines]
        else:
            source = CODEX_MAIN if name == "codex" else GEMINI_JSONL
            data, rest = repeated_session(str(source), megabytes, lines)
            path = os.path.join(work, source.name)
            with open(path, "wb") as f:
                f.write(data)
        opening = prepare(path)
        opening.run_import()
        opening.tails = Tails()
        began = time.process_time()
        opening.refresh()  # the first look: the file read once into its Tail
        first = time.process_time() - began
        size, count = os.path.getsize(path), open(path, "rb").read().count(b"\n")
        cpu = []
        for line in rest:
            with open(path, "ab") as f:
                f.write(line)
            began = time.process_time()
            opening.refresh()
            cpu.append(time.process_time() - began)
        opening.tails.close()
        cpu.sort()
        print(
            f"  {name}: {size / 1e6:.1f} MB, {count:,} lines; first look {first * 1000:.0f} ms CPU; a look after"
            f" one line: median {statistics.median(cpu) * 1000:.1f} ms, min {cpu[0] * 1000:.1f},"
            f" max {cpu[-1] * 1000:.1f} ms CPU ({len(cpu)} looks); load {os.getloadavg()[0]:.1f}"
        )
        shutil.rmtree(work, ignore_errors=True)


GROW_WRITER = r"""
import sys, time
path, turns, gap, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), open(sys.argv[4], "w")
for n, turn in enumerate(open(turns, "rb").read().split(b"\0")):
    began = time.monotonic()
    with open(path, "ab") as f:
        for line in turn.splitlines(keepends=True):
            f.write(line)  # one write a line, as Claude Code writes
            f.flush()
    log.write(f"{n} {time.time()}\n")
    log.flush()
    time.sleep(max(0.0, gap - (time.monotonic() - began)))
"""


def grown_session(work: str, megabytes: float, turns: int) -> tuple[str, list[bytes]]:
    """A Claude Code session of `megabytes` (make_claude_folder's shapes), and `turns` more turns to append."""
    import random
    from datetime import UTC, datetime

    from make_claude_folder import WORDS, Session

    rnd = random.Random(12)
    session = Session(rnd, "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e99", "/home/dev/shop", datetime(2026, 10, 1, tzinfo=UTC))

    def turn(n: int) -> None:
        session.prompt(f"Turn {n}: " + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 30))))
        for _ in range(rnd.randint(1, 4)):
            for tool_id, _ in session.response(rnd.choice((1, 1, 2))):
                session.result(tool_id, rnd.random() < 0.04)
        session.response(0)

    n, size = 0, 0
    while size < megabytes * 1e6:
        n += 1
        turn(n)
        size = sum(len(line) + 1 for line in session.lines)
    project = os.path.join(work, "projects", "-home-dev-shop")
    os.makedirs(project)
    path = os.path.join(project, f"{session.session_id}.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(session.lines) + "\n")
    more = []
    for _ in range(turns):
        session.lines.clear()
        n += 1
        turn(n)
        more.append(("\n".join(session.lines) + "\n").encode())
    return path, more


def bench_grow(megabytes: float, turns: int, gap: float) -> None:
    import shutil

    sys.path.insert(0, HERE)
    work = tempfile.mkdtemp(prefix="tracetui-grow-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(work, "cache")
    path, more = grown_session(work, megabytes, turns)
    blob = os.path.join(work, "turns")
    with open(blob, "wb") as f:
        f.write(b"\0".join(more))
    original = open(path, "rb").read()
    lines = original.count(b"\n")
    print(
        f"grow: a Claude Code session of {len(original) / 1e6:.1f} MB, {lines:,} lines; {turns} turns of"
        f" ~{sum(map(len, more)) / turns / 1e3:.0f} KB appended, a line at a time, one turn every {gap} s"
    )
    for mode in ("read on (tailing)", "read again whole"):
        with open(path, "wb") as f:
            f.write(original)
        shutil.rmtree(os.path.join(work, "cache"), ignore_errors=True)
        _grow(path, blob, gap, whole=mode == "read again whole", label=mode)


def _grow(path: str, blob: str, gap: float, *, whole: bool, label: str) -> None:
    import sqlite3

    import orjson

    from tracetui import normalize
    from tracetui.follow import Follower
    from tracetui.loading import prepare

    turns = open(blob, "rb").read().split(b"\0")
    # A turn is visible once the run's end is its last line's time (each line is a second or so later).
    stamps = [normalize.timestamp(orjson.loads(t.splitlines()[-1])["timestamp"]) for t in turns]
    opening = prepare(path)
    began = time.perf_counter()
    opening.run_import()
    imported = time.perf_counter() - began
    follower = Follower(opening)
    if whole:
        opening.tails = None  # as before tailing.py: every look reads the session again from the start
    seen: dict[int, float] = {}
    looks: list[float] = []

    def changed(change) -> None:
        now = time.time()
        looks.append(now)
        conn = sqlite3.connect(f"file:{opening.db_path}?mode=ro", uri=True)
        try:
            ended = conn.execute("SELECT ended_at FROM runs").fetchone()[0]
        finally:
            conn.close()
        for i, stamp in enumerate(stamps):
            if i not in seen and stamp <= ended:
                seen[i] = now

    thread = threading.Thread(target=follower.run, args=(changed,), daemon=True)
    cpu = time.process_time()
    thread.start()
    time.sleep(1.0)
    while len(looks) < 1:  # the first look (it reads the session once into its Tail)
        time.sleep(0.05)
    primed = time.process_time() - cpu
    log = os.path.join(os.path.dirname(blob), "written")
    load = os.getloadavg()[0]
    cpu = time.process_time()
    writer = subprocess.Popen([sys.executable, "-c", GROW_WRITER, path, blob, str(gap), log])
    writer.wait()
    deadline = time.monotonic() + 60
    while len(seen) < len(turns) and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = time.process_time() - cpu
    follower.close()
    thread.join()
    written = {int(n): float(t) for n, t in (line.split() for line in open(log))}
    delays = sorted(seen[i] - written[i] for i in written if i in seen)
    p95 = delays[min(len(delays) - 1, int(len(delays) * 0.95))]
    print(
        f"  {label}: import {imported:.1f} s, first look {primed:.1f} s CPU; {len(written)} turns, "
        f"{len(written) - len(delays)} never seen; append → visible p50 {statistics.median(delays) * 1000:.0f} ms,"
        f" p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms; {len(looks) - 1} looks,"
        f" {cpu:.1f} s of follower CPU ({cpu / max(1, len(looks) - 1) * 1000:.0f} ms a look); load {load:.1f}"
    )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "latency"
    args = [float(a) for a in sys.argv[2:]]
    if what == "latency":
        bench_latency(int(args[0]) if args else 40)
    elif what == "rate":
        bench_rate(args[0] if args else 5.0, args[1] if len(args) > 1 else 10.0)
    elif what == "session":
        bench_session(int(args[0]) if args else 200)
    elif what == "looks":
        bench_looks(args[0] if args else 3.0, int(args[1]) if len(args) > 1 else 40)
    elif what == "grow":
        bench_grow(args[0] if args else 20.0, int(args[1]) if len(args) > 1 else 40, args[2] if len(args) > 2 else 0.5)
    else:
        raise SystemExit(__doc__)
