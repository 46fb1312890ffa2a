"""Importing big one-run-per-line JSONL files on every core.

The file is cut into blocks of whole lines. Worker processes parse, normalise and finalize the runs
of a block into a scratch SQLite file; this process appends each scratch file to the store in file
order with INSERT … SELECT, so no row crosses a process boundary as Python objects. Used for formats
whose module offers one_run_per_line(head) and run_from_line(number, record, report).

Formats that spread a run over many lines (OTLP) offer stage(path, report, source, staging) and
run_from_group(key, records) instead: this process stages the file, then the workers turn ranges of
staged groups into runs in scratch files, merged in group order as above.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from importlib import import_module

from .model import Problem, finalize_run, tree_problems
from .sources import SourceFile
from .sources.records import parse_line
from .sources.staging import Staging, read_groups
from .store import StoreWriter

BLOCK = 8 << 20
FIRST_BLOCK = 1 << 20
MIN_SIZE = 32 << 20  # below this, starting processes costs more than it saves


def worker_count() -> int:
    """Processes to parse with: TRACETUI_WORKERS, else the cores this process may use."""
    if os.environ.get("TRACETUI_WORKERS", "").isdigit():
        return max(1, int(os.environ["TRACETUI_WORKERS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class WorkersUnavailable(Exception):
    """Worker processes could not be started; nothing was written, so a serial import can follow."""


def start_helpers() -> None:
    """Start multiprocessing's resource tracker now, while sys.stderr is the real one.

    Under the viewer sys.stderr is Textual's capture object, and the tracker, started lazily by the
    first worker, would be handed its invalid file descriptor ("bad value(s) in fds_to_keep").
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def usable(module, head, size: int) -> bool:
    check = getattr(module, "one_run_per_line", None)
    if size < MIN_SIZE or worker_count() < 2:
        return False
    return _staged(module) or (check is not None and check(head))


def _staged(module) -> bool:
    return hasattr(module, "stage") and hasattr(module, "run_from_group")


def blocks(f) -> Iterator[tuple[int, bytes, bool]]:
    """(first line number, whole lines, is the end of the file) blocks of about BLOCK bytes."""
    number, rest = 1, b""
    size = FIRST_BLOCK  # a small first block: the viewer shows the first runs sooner
    while True:
        data = f.read(size)
        size = BLOCK
        if not data:
            if rest:
                yield number, rest, True
            return
        data = rest + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            rest = data
            continue
        block, rest = data[:cut], data[cut:]
        yield number, block, False
        number += block.count(b"\n")


def _lines(first: int, block: bytes, at_end: bool) -> Iterator[tuple[int, bytes, bool]]:
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
        at_end = False  # the block ended with a newline: its last line is complete
    last = len(lines) - 1
    for i, raw in enumerate(lines):
        yield first + i, raw, not (at_end and i == last)


def convert(module_name: str, path: str, first: int, block: bytes, at_end: bool, out: str) -> list[Problem]:
    """In a worker: the runs of one block into the scratch store `out`; returns what was skipped."""
    module = import_module(module_name)
    problems: list[Problem] = []
    writer = StoreWriter(out, scratch=True, commit_every=3600, batch_rows=50000)
    for number, raw, complete in _lines(first, block, at_end):
        record = parse_line(number, raw, problems.append, complete=complete)
        if record is None:
            continue
        run = module.run_from_line(number, record, problems.append)
        if run is None:
            continue
        run.source_file = run.source_file or path
        writer.add(finalize_run(run))
        problems.extend(tree_problems(run))
    writer.finish()
    return problems


def convert_groups(
    module_name: str, path: str, staging_path: str, first: int, keys: list[str], out: str
) -> list[Problem]:
    """In a worker: the runs of staged groups first, first + 1, ... (keys) into the scratch store `out`."""
    module = import_module(module_name)
    writer = StoreWriter(out, scratch=True, commit_every=3600, batch_rows=50000)
    problems: list[Problem] = []
    for key, records in read_groups(staging_path, first, keys):
        run = module.run_from_group(key, records)
        if run is None:
            continue
        run.source_file = run.source_file or path
        writer.add(finalize_run(run))
        problems.extend(tree_problems(run))
    writer.finish()
    return problems


def _ready() -> None:
    """Submitted first: starts the workers while this process is still staging."""


def import_file(
    path: str,
    module,
    writer: StoreWriter,
    report: Callable[[Problem], None],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Stream path into writer with worker processes, in file order, at most a few blocks in flight."""
    from concurrent.futures import ProcessPoolExecutor  # here: 25 ms of start-up most runs never need
    from multiprocessing import get_context

    workers = worker_count()
    scratch = tempfile.mkdtemp(prefix="tracetui-import-")
    # spawn, not fork: the viewer imports from a thread, and forking a threaded process can deadlock.
    context = get_context("spawn")
    try:
        # Creating the pool starts multiprocessing's helpers (semaphores, the resource tracker);
        # submitting the first block starts the workers. Either can fail before anything is written.
        try:
            pool = ProcessPoolExecutor(workers, mp_context=context)
        except (OSError, ValueError) as exc:
            raise WorkersUnavailable(str(exc)) from exc
        if _staged(module):
            with pool:
                _import_staged(path, module, pool, scratch, writer, report, progress)
            return
        with open(path, "rb") as f, pool:
            pending: deque = deque()

            def drain_one() -> None:
                future, out, position = pending.popleft()
                for problem in future.result():
                    report(problem)
                writer.merge(out)
                os.remove(out)
                if progress is not None:
                    progress(position)

            for k, (first, block, at_end) in enumerate(blocks(f)):
                out = os.path.join(scratch, f"block-{k}.db")
                try:
                    future = pool.submit(convert, module.__name__, path, first, block, at_end, out)
                except (OSError, ValueError) as exc:  # processes are started by the first submit
                    if k == 0:
                        raise WorkersUnavailable(str(exc)) from exc
                    raise
                pending.append((future, out, f.tell()))
                while len(pending) > workers + 1:
                    drain_one()
            while pending:
                drain_one()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _import_staged(path, module, pool, scratch: str, writer: StoreWriter, report, progress) -> None:
    try:
        pool.submit(_ready)  # processes are started by the first submit
    except (OSError, ValueError) as exc:
        raise WorkersUnavailable(str(exc)) from exc
    source = SourceFile(path)
    with Staging() as staging:
        module.stage(path, report, source, staging)
        staging.seal()
        pending: deque = deque()

        def drain_one() -> None:
            future, out = pending.popleft()
            for problem in future.result():
                report(problem)
            writer.merge(out)
            os.remove(out)
            if progress is not None:
                progress(source.position)

        def submit(first: int, keys: list[str]) -> None:
            out = os.path.join(scratch, f"groups-{first}.db")
            pending.append((pool.submit(convert_groups, module.__name__, path, staging.path, first, keys, out), out))
            while len(pending) > worker_count() + 1:
                drain_one()

        first, keys, size = 0, [], 0
        for key, group_size in staging.group_sizes():
            keys.append(key)
            size += group_size
            if size >= BLOCK:
                submit(first, keys)
                first, keys, size = first + len(keys), [], 0
        if keys:
            submit(first, keys)
        while pending:
            drain_one()
