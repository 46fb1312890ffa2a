"""Reading one file's runs into a store that keeps track of its files (store/files.py): all of the file,
or only what was appended to it since the last read.

Used for each file of a folder (folder_import.py, in this process or a worker process) and by
loading.Opening.refresh() for the store of one file. Whatever goes wrong with a file becomes a
problem recorded against it; the other files of a folder are read all the same.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import filestate, pricing, sources
from .errors import UnusableInput
from .filestate import Read, Signature
from .model import Problem, Run, finalize_run, report_negatives, tree_problems
from .sources.records import parse_line
from .store.files import RUNS, UNREADABLE, Diff, FileRecord, FileWriter
from .tailing import Tail, Tails


@dataclass
class FileResult:
    """What reading one file did to the store."""

    key: str
    runs: int = 0
    diff: Diff = field(default_factory=Diff)
    appended: bool = False  # only the lines appended since the last read were read
    restarted: bool = False  # the file was truncated or replaced since the last read (filestate.replaced)
    problem: str | None = None  # why nothing (or not everything) could be read


def can_append(module: sources.Source, head: sources.Head) -> bool:
    """Whether a file that grew can be read from where the last read ended: one whole run per line.

    Other formats build a run from the whole file (a session is one run that grows) or from records
    anywhere in it, so a grown file of theirs is read again from the start.
    """
    return sources.lines_in_parallel(module, head)


def read_file(
    conn: sqlite3.Connection,
    path: str,
    key: str | None,
    fmt: str,
    pricer,
    *,
    previous: FileRecord | None = None,
    tails: Tails | None = None,
) -> FileResult:
    """Put the runs of the file at `path` into the store in place of what it held of the file.

    The runs are read, then written in a transaction of their own (see prepare_file)."""
    return prepare_file(conn, path, key, fmt, pricer, previous=previous, tails=tails)()


def prepare_file(
    conn: sqlite3.Connection,
    path: str,
    key: str | None,
    fmt: str,
    pricer,
    *,
    previous: FileRecord | None = None,
    tails: Tails | None = None,
) -> Callable[[], FileResult]:
    """Read the runs of the file at `path`; what is returned writes them (read_file's work, in two).

    Called in an open transaction (store/files.transaction), the writing joins it: a worker writes
    a batch of small files in one (a commit per file was a fifth of the time for tiny files).
    A file with many rows has written some of them already, in transactions of their own.

    key: the file's row in the files table (None: the store of this one file, whose row is its path).
    previous: the file's row from the last read; when the file only grew since and its format has one
    run per line, only the lines from the last whole line read on are read.
    tails: a followed source's readers (tailing.py): a file of a Resumable format is read on from
    where its Tail ended, and only the runs and steps the appended lines change are written.
    """
    record = FileRecord(key if key is not None else os.path.abspath(path), RUNS, fmt)
    result = FileResult(record.path)
    problems: list[Problem] = []
    writer: FileWriter | None = None
    tail: Tail | None = None
    built: list[tuple[str, Run]] = []
    try:
        module = sources.by_name(fmt)
        read = filestate.measure(path)
        if previous is not None and previous.read is not None:
            result.restarted = filestate.replaced(previous.read, path, read.sig)
        head = sources.read_head(path)
        tail = tails.tail(path, module, head) if tails is not None else None
        record.was_read(read)
        record.companions = {c: Signature.stat(c) for c in companions(path, module, head)}
        if tail is not None:
            result.appended = tail.written
            whole = tail.whole
            finished = tail.catch_up(read, problems.append, pricer)
            only = None if whole else tail.stored_ids([run for run, _ in finished])
            writer = FileWriter(conn, key, only=only, steps=tail.step_rows)
            record.restart, record.restart_line = tail.offset, tail.lines
            for run, kept in finished:
                built.append((run.id, run))
                writer.add(run, kept=kept)  # (which may write it: its id may become id~2)
                tail.problems[built[-1][0]] = tail.tree_problems(run)
            problems[:0] = tail.line_problems
            problems.extend(p for tree in tail.problems.values() for p in tree)
        else:
            since = _append_point(path, module, head, previous)
            writer = FileWriter(conn, key, since_line=None if since is None else since[1] + 1)
            if since is None:
                runs = module.read(head, problems.append, sources.SourceFile(path))
            else:
                result.appended = True
                runs = _appended_runs(path, module, since, read, record, problems)
            for run in runs:
                run.source_file = run.source_file or path
                built.append((run.id, run))
                report_negatives(run, problems.append)
                writer.add(finalize_run(pricing.apply(run, pricer)))
                problems.extend(tree_problems(run))
    except UnusableInput as exc:
        result.problem = exc.problem
    except OSError as exc:
        result.problem = f"cannot read: {exc.strerror or exc}"
    except sqlite3.Error:
        raise  # the store, not the file: the caller decides
    except Exception as exc:  # a reader's bug must not stop the other files
        result.problem = f"import failed ({type(exc).__name__}: {exc})"
    if result.problem is not None:
        record.role, record.problem = UNREADABLE, result.problem
        problems.append(Problem(result.problem))
        if writer is None or writer.since_line is not None or tail is not None:
            writer = FileWriter(conn, key)  # a failed append: what was read of the file is replaced
        if tails is not None:
            tails.drop(path)  # read from the start next time
            tail = None
    assert writer is not None
    done = writer

    def write() -> FileResult:
        try:
            result.diff = done.finish(record, problems)
        except BaseException:
            if tails is not None:
                tails.drop(path)  # what it wrote is not known: the next read starts again
            raise
        if tail is not None:
            tail.written = True
            tail.stored.update((original, run.id) for original, run in built)
        result.runs = record.runs
        return result

    return write


def companions(path: str, module: sources.Source, head: sources.Head) -> list[str]:
    """The files besides `path` whose change means its runs must be read again: the format's companions,
    and a SQLite database's `-wal` (a program writing it commits there first; absent is recorded too)."""
    found = sources.companions(module, head)
    return [*found, path + "-wal"] if head.is_sqlite else found


def _append_point(
    path: str, module: sources.Source, head: sources.Head, previous: FileRecord | None
) -> tuple[int, int] | None:
    """(offset, lines before it) to read on from, when the file only grew and its format allows it."""
    if previous is None or previous.role != RUNS or previous.read is None or previous.format != module.NAME:
        return None
    if not can_append(module, head):
        return None
    change, _ = filestate.compare(previous.read, path)
    if change is not filestate.Change.GREW:
        return None
    if previous.restart is not None and previous.restart_line is not None:
        return previous.restart, previous.restart_line
    return filestate.line_start(path, previous.read.sig.size)


def _appended_runs(
    path: str,
    module: sources.Source,
    since: tuple[int, int],
    read: Read,
    record: FileRecord,
    problems: list[Problem],
) -> Iterator[Run]:
    """The runs on the lines from `since` on; leaves in `record` where the next append starts."""
    assert isinstance(module, sources.LinesInParallel)
    offset, number = since
    restart, restart_line = offset, number
    with open(path, "rb") as f:
        f.seek(offset)
        position = offset
        for raw in f:
            number += 1
            position += len(raw)
            complete = raw.endswith(b"\n")
            if complete and position <= read.sig.size:
                restart, restart_line = position, number
            rec = parse_line(number, raw, problems.append, complete=complete)
            if rec is None:
                continue
            run = module.run_from_line(number, rec, problems.append)
            if run is not None:
                run.source_line = run.source_line or number
                yield run
    record.restart, record.restart_line = restart, restart_line
