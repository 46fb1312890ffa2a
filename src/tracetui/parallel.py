"""Importing big files on every core, for the formats that offer a parallel-import hook.

Which hooks there are, and what they promise, is in sources/contract.py:
- LinesInParallel (one whole run per JSON line): the file is cut into blocks of whole lines and
  each worker process turns a block into runs;
- GroupsInParallel (a run spread over many records in any order): this process stages the file,
  then each worker turns a range of staged groups into runs.
Either way a worker normalises and finalizes its runs into a scratch SQLite file, and this process
appends the scratch files to the store in order with INSERT … SELECT, so no row crosses a process
boundary as Python objects and the store is the one a serial import makes.

Settings, from the environment: TRACETUI_WORKERS (processes; default: the cores this process may
use), TRACETUI_PARALLEL_MIN_BYTES (smaller files are read in this process) and
TRACETUI_PARALLEL_BLOCK_BYTES (about how much input each worker's share holds).
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from . import jsonsafe, normalize, sources
from .model import Problem, Run, finalized, run_problems
from .pricing import UnpricedTally
from .sources import GroupsInParallel, Head, LinesInParallel, Source, SourceFile
from .sources.contract import RowsFromLines, one_record
from .sources.records import parse_line
from .sources.staging import Staging, first_line, read_groups
from .store import StoreWriter
from .store.writer import BOUND_NULL

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor
    from io import BufferedIOBase

    from .pricing import Pricer

BLOCK = 8 << 20
FIRST_BLOCK = 64 << 10  # a tiny first block (a run or a few): the viewer shows the first runs sooner
MIN_SIZE = 32 << 20  # below this, starting processes costs more than it saves
YIELDING_NICENESS = 10  # how much less CPU the workers of an import a viewer shows get (see import_file)


def worker_count() -> int:
    """Processes to parse with: TRACETUI_WORKERS, else the cores this process may use."""
    if os.environ.get("TRACETUI_WORKERS", "").isdigit():
        return max(1, int(os.environ["TRACETUI_WORKERS"]))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _bytes_setting(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def min_size() -> int:
    """Files smaller than this are read in this process: TRACETUI_PARALLEL_MIN_BYTES, else MIN_SIZE."""
    return _bytes_setting("TRACETUI_PARALLEL_MIN_BYTES", MIN_SIZE)


def block_size() -> int:
    """About how many bytes of input one worker's share holds: TRACETUI_PARALLEL_BLOCK_BYTES, else BLOCK."""
    return max(1, _bytes_setting("TRACETUI_PARALLEL_BLOCK_BYTES", BLOCK))


class WorkersUnavailable(Exception):
    """Worker processes could not be started, so a serial import must follow; `written`: the first
    block's runs were stored already (the serial import starts on an empty store)."""

    def __init__(self, problem: str, *, written: bool = False) -> None:
        super().__init__(problem)
        self.written = written


def start_helpers() -> None:
    """Start multiprocessing's resource tracker now, while sys.stderr is the real one.

    Under the viewer sys.stderr is Textual's capture object, and the tracker, started lazily by the
    first worker, would be handed its invalid file descriptor ("bad value(s) in fds_to_keep").
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def usable(source: Source, head: Head, size: int) -> bool:
    """Whether a file of `size` bytes in this format is worth reading with worker processes."""
    if size < min_size() or worker_count() < 2:
        return False
    return sources.groups_in_parallel(source) or sources.lines_in_parallel(source, head)


def blocks(
    f: BufferedIOBase, size: int | None = None, first_size: int | None = None
) -> Iterator[tuple[int, memoryview, bool]]:
    """(first line number, whole lines, is the end of the file) blocks of about `size` bytes (block_size()).

    A block is a view of a buffer the next block is read into: copy what must outlive the step. (The
    importer only needs the first block's bytes, and the others' lengths: its workers read them from
    the file. Cutting 400 MB as copies took ~0.7 s of its CPU, now ~0.25.)"""
    size = size or block_size()
    read = first_size or min(FIRST_BLOCK, size)
    number, buf, kept = 1, bytearray(), 0  # buf[:kept]: the start of a line the last read cut
    while True:
        if len(buf) < kept + read:
            # A new buffer, not a bigger one: a view of the old one may still be held.
            buf = buf[:kept] + bytearray(read)
        got = f.readinto(memoryview(buf)[kept : kept + read])
        if not got:
            if kept:
                yield number, memoryview(buf)[:kept], True
            return
        end = kept + got
        cut = buf.rfind(b"\n", kept, end) + 1
        if cut == 0:
            kept = end
            read = min(2 * read, size)  # the first block is the first whole line(s), however long
            continue
        yield number, memoryview(buf)[:cut], False
        number += buf.count(b"\n", 0, cut)
        buf[: end - cut] = buf[cut:end]
        kept = end - cut
        read = size


def _lines(first: int, block: bytes, at_end: bool) -> Iterator[tuple[int, bytes, bool]]:
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
        at_end = False  # the block ended with a newline: its last line is complete
    last = len(lines) - 1
    for i, raw in enumerate(lines):
        yield first + i, raw, not (at_end and i == last)


# -- in a worker process --------------------------------------------------------------------------


class Share(NamedTuple):
    """What a worker's share gives back besides its scratch store."""

    problems: list[Problem]
    unpriced: list[tuple[str, str | None, int]]  # pricing.unpriced_calls() of the share's model calls


def convert_span(
    fmt: str, path: str, first: int, offset: int, length: int, at_end: bool, out: str, estimate: bool = True
) -> Share:
    """convert_lines() of the `length` bytes at `offset` of the file, read here: a block handed to a
    worker as its place in the file costs no copy through a pipe (pickled, sent, received: ~1 µs a
    dense step) and is not held by this process while it waits."""
    with open(path, "rb") as f:
        f.seek(offset)
        block = f.read(length)
    return convert_lines(fmt, path, first, block, at_end, out, estimate)


def convert_lines(
    fmt: str, path: str, first: int, block: bytes, at_end: bool, out: str, estimate: bool = True
) -> Share:
    """The runs of one block of lines into the scratch store `out`."""
    source = sources.by_name(fmt)
    assert isinstance(source, LinesInParallel)
    problems: list[Problem] = []
    laid_out = source if isinstance(source, RowsFromLines) else None  # step rows laid out by the format
    columns = laid_out.STEP_ROW_COLUMNS if laid_out is not None else ()

    def runs() -> Iterator[Run | tuple[Run, list | None] | None]:
        for number, raw, complete in _lines(first, block, at_end):
            record = parse_line(number, raw, problems.append, complete=complete)
            if record is None:
                continue
            if laid_out is not None:
                yield one_record(
                    problems.append,
                    "the line",
                    number,
                    laid_out.rows_from_line,
                    number,
                    record,
                    problems.append,
                    BOUND_NULL,
                )
            else:
                yield one_record(
                    problems.append, "the line", number, source.run_from_line, number, record, problems.append
                )

    return _write_runs(runs(), path, out, problems, estimate, columns)


def convert_groups(
    fmt: str, path: str, staging_path: str, first: int, keys: list[str], out: str, estimate: bool = True
) -> Share:
    """The runs of staged groups first, first + 1, ... (keys) into the scratch store `out`."""
    source = sources.by_name(fmt)
    assert isinstance(source, GroupsInParallel)
    problems: list[Problem] = []
    runs = (
        one_record(
            problems.append,
            f"group {jsonsafe.quoted(key)}",
            first_line(records),
            source.run_from_group,
            key,
            records,
            problems.append,
        )
        for key, records in read_groups(staging_path, first, keys)
    )
    return _write_runs(runs, path, out, problems, estimate)


def _write_runs(
    runs: Iterable[Run | tuple[Run, list | None] | None],
    path: str,
    out: str,
    problems: list[Problem],
    estimate: bool,
    columns: tuple[str, ...] = (),
) -> Share:
    """Price and finalize runs into the scratch store `out`, as loading.Opening does into the store;
    returns what was reported and the share's unpriced model calls (reported once, for the whole file,
    by the importer)."""
    from . import pricing

    writer = StoreWriter(out, scratch=True, commit_every=3600, batch_rows=50000, report=problems.append)
    pricer = pricing.Pricer() if estimate else None
    normalize.take_notes()
    # Python's cycle collector, off for the share: it traversed the rows waiting for their batch (tens
    # of thousands of lists) again and again, ~2 µs a dense step. Reading runs makes no reference cycles;
    # any a format did make would wait for the end of the share (bounded: one block's runs).
    collecting = gc.isenabled()
    gc.disable()
    try:
        _add_runs(runs, path, writer, problems, pricer, columns)
    finally:
        if collecting:
            gc.enable()
    unpriced = writer.unpriced_calls() if estimate else []
    writer.finish()
    return Share(problems, unpriced)


def _add_runs(
    runs: Iterable[Run | tuple[Run, list | None] | None],
    path: str,
    writer: StoreWriter,
    problems: list[Problem],
    pricer: Pricer | None,
    columns: tuple[str, ...],
) -> None:
    """columns: those of the step rows a format lays out itself (RowsFromLines.STEP_ROW_COLUMNS)."""
    from . import pricing

    for item in runs:
        if item is None:
            continue
        run, rows = item if isinstance(item, tuple) else (item, None)
        run.source_file = run.source_file or path
        if rows is not None:  # laid out and finalized by the format: no model calls to price
            writer.add_rows(run, rows, columns)
            problems.extend(run_problems(run))
            continue
        if finalized(run, problems.append, partial(pricing.apply, pricer=pricer)):
            writer.add(run)
            problems.extend(run_problems(run))


def _yield_cpu() -> None:
    try:
        os.nice(YIELDING_NICENESS)
    except OSError:
        pass  # not allowed here: run at the usual priority


def _ready() -> None:
    """Submitted first: starts the workers while this process is still staging."""


# -- in this process ------------------------------------------------------------------------------


class _InOrder:
    """Scratch stores the workers are writing, merged into the store in the order they were submitted.

    At most a few are in flight, so scratch files and finished work do not pile up.
    """

    def __init__(
        self, writer: StoreWriter, report: Callable[[Problem], None], progress: Callable[[int], None] | None
    ) -> None:
        self.writer, self.report, self.progress = writer, report, progress
        self.limit = worker_count() + 1
        self.pending: deque[tuple[Future[Share], str, int]] = deque()
        self.unpriced = UnpricedTally()

    def add(self, future: Future[Share], out: str, position: int) -> None:
        self.pending.append((future, out, position))
        while len(self.pending) > self.limit:
            self._merge_one()

    def finish(self) -> None:
        while self.pending:
            self._merge_one()

    def _merge_one(self) -> None:
        future, out, position = self.pending.popleft()
        share = future.result()
        for problem in share.problems:
            self.report(problem)
        self.unpriced.add(share.unpriced)
        self.writer.merge(out)
        os.remove(out)
        if self.progress is not None:
            self.progress(position)


def import_file(
    path: str,
    source: Source,
    head: Head,
    writer: StoreWriter,
    report: Callable[[Problem], None],
    progress: Callable[[int], None] | None = None,
    *,
    estimate: bool = True,
    yielding: bool = False,
) -> list[tuple[str, str | None, int]] | None:
    """Read path into writer with worker processes, in file order, at most a few shares in flight.

    Returns pricing.unpriced_calls() of the store, counted by the workers share by share (no scan of
    every step at the end, on one core), when the store was empty before; else None: ask the store.

    yielding: the workers run at a lower CPU priority (os.nice), so a viewer showing the import stays
    quick on a machine with few cores; on an idle one they still get every core the viewer leaves.
    """
    from concurrent.futures import ProcessPoolExecutor  # here: 25 ms of start-up most runs never need
    from multiprocessing import get_context

    scratch = tempfile.mkdtemp(prefix="tracetui-import-")
    # spawn, not fork: the viewer imports from a thread, and forking a threaded process can deadlock.
    context = get_context("spawn")
    try:
        # Creating the pool starts multiprocessing's helpers (semaphores, the resource tracker);
        # submitting the first task starts the workers. Either can fail before anything is written.
        try:
            initializer = _yield_cpu if yielding else None
            pool = ProcessPoolExecutor(worker_count(), mp_context=context, initializer=initializer)
        except (OSError, ValueError) as exc:
            raise WorkersUnavailable(str(exc)) from exc
        merged = _InOrder(writer, report, progress)
        was_empty = writer.run_count == 0
        writer.defer_step_indexes()  # up while runs come in id order, else built by writer.finish()
        with pool:
            if sources.groups_in_parallel(source):
                _import_groups(path, source, head, pool, scratch, merged, report, estimate)
            else:
                _import_lines(path, source, pool, scratch, merged, estimate)
            merged.finish()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return merged.unpriced.rows() if was_empty else None


def _import_lines(
    path: str, source: Source, pool: ProcessPoolExecutor, scratch: str, merged: _InOrder, estimate: bool
) -> None:
    with open(path, "rb") as f:
        offset = 0
        for k, (first, block, at_end) in enumerate(blocks(f)):
            out = os.path.join(scratch, f"block-{k}.db")
            if k == 0:
                # The tiny first block is converted and stored here, before any worker starts: a viewer
                # starting at the same time shows its runs without waiting for a fresh interpreter, and
                # the workers' start-up (their imports, on every core) does not slow its own.
                merged.add(
                    _done(convert_lines, source.NAME, path, first, bytes(block), at_end, out, estimate), out, f.tell()
                )
                merged.finish()
                offset += len(block)
                continue
            args = (source.NAME, path, first, offset, len(block), at_end, out, estimate)
            offset += len(block)
            try:
                future = pool.submit(convert_span, *args)  # processes are started by the first submit
            except (OSError, ValueError) as exc:
                if k == 1:
                    raise WorkersUnavailable(str(exc), written=True) from exc
                raise
            merged.add(future, out, f.tell())


def _done(work: Callable[..., Share], *args: object) -> Future[Share]:
    """`work(*args)` run here, as a finished Future (its result, or what it raised)."""
    from concurrent.futures import Future

    future: Future[Share] = Future()
    try:
        future.set_result(work(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


def _import_groups(
    path: str,
    source: Source,
    head: Head,
    pool: ProcessPoolExecutor,
    scratch: str,
    merged: _InOrder,
    report: Callable[[Problem], None],
    estimate: bool,
) -> None:
    assert isinstance(source, GroupsInParallel)
    try:
        pool.submit(_ready)  # processes are started by the first submit
    except (OSError, ValueError) as exc:
        raise WorkersUnavailable(str(exc)) from exc
    reader = SourceFile(path)
    with Staging() as staging:
        source.stage(head, report, reader, staging)
        staging.seal()

        def submit(first: int, keys: list[str]) -> None:
            out = os.path.join(scratch, f"groups-{first}.db")
            future = pool.submit(convert_groups, source.NAME, path, staging.path, first, keys, out, estimate)
            merged.add(future, out, reader.position)

        first, size, share = 0, 0, block_size()
        keys: list[str] = []
        for key, group_size in staging.group_sizes():
            keys.append(key)
            size += group_size
            if size >= share:
                submit(first, keys)
                first, keys, size = first + len(keys), [], 0
        if keys:
            submit(first, keys)
        # The staging file must outlive the workers reading it.
        merged.finish()
