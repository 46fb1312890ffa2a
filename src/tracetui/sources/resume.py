"""Reading a growing JSON Lines file on from where the last read ended: the pieces the Resumable formats share.

* `Window`: a SourceFile of some whole lines of a file (the bytes appended since the last read), so a
  format's usual line loop (`records.json_lines`) reads them with their true line numbers.
* `LineFile`: a file a Resumed reads besides its own (a session's subagent file): each call reads the
  whole lines appended since the last, or starts again when the file was truncated or replaced.
* `StagedResume`: the Resumed of every GroupsInParallel format (event logs, OTLP): the staging file
  stays open, appended lines are staged into it, and only the groups they touched are built again.

A last line without its newline is never read: it may be half-written, and is read once it ends.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from typing import IO, Generic, Protocol, TypeVar

from .. import jsonsafe
from ..errors import UnusableInput
from ..model import Problem, Run
from .contract import Head, ProblemSink, SourceFile, StagedRecords, one_record
from .records import json_lines
from .staging import Staging, first_line

HELPER = True


class Window(SourceFile):
    """Whole lines of `path` held in memory, the first of them line number `first_line` of the file."""

    def __init__(self, path: str, data: bytes, first_line: int, offset: int) -> None:
        super().__init__(path)
        self.data, self.first_line, self.offset = data, first_line, offset

    def open(self) -> IO[bytes]:
        self._file = io.BytesIO(self.data)
        return self._file

    @property
    def lines(self) -> int:
        return self.data.count(b"\n")


def whole_lines(path: str, offset: int) -> bytes:
    """The bytes of `path` from `offset` to the end of its last whole line (b"" when none ended yet).
    Raises OSError."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    return data[: data.rfind(b"\n") + 1]


class LineFile:
    """A file read line by line as it grows: `catch_up()` gives the window of whole lines appended since
    the last call, after `restarted` says whether everything read from it before must be forgotten."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0
        self._ident: tuple[int, int] | None = None

    def catch_up(self) -> tuple[bool, Window | None]:
        """(restarted, window): restarted when the file is shorter than what was read or is another file
        (truncated, rotated); the window of new whole lines, None when there are none. Raises OSError."""
        st = os.stat(self.path)
        ident = (st.st_ino, st.st_dev)
        restarted = self._ident is not None and (ident != self._ident or st.st_size < self.offset)
        if restarted:
            self.offset = self.lines = 0
        self._ident = ident
        data = whole_lines(self.path, self.offset) if st.st_size > self.offset else b""
        if not data:
            return restarted, None
        window = Window(self.path, data, self.lines + 1, self.offset)
        self.offset += len(data)
        self.lines += window.lines
        return restarted, window


class LineReader(Protocol):
    def line(self, number: int, rec: dict) -> None: ...


R = TypeVar("R", bound=LineReader)


class Companions(Generic[R]):
    """The other files a Resumed reads (a session's subagents, a thread's subagent rollouts), each into
    a reader of its own (`make(report, path)`, fed line by line) that goes on with what is appended,
    and starts again when its file is truncated or replaced. Each file's line problems are kept, to be
    reported with every build (read_file writes a file's problems whole)."""

    def __init__(self, make: Callable[[ProblemSink, str], R]) -> None:
        self.make = make
        self._files: dict[str, tuple[LineFile, R, list[Problem]]] = {}
        self._restarts: dict[str, int] = {}

    def caught_up(self, path: str, report: ProblemSink) -> R | None:
        """The file's reader with every whole line of it read, its line problems reported to `report`;
        None when the file cannot be read now (gone since it was listed)."""
        if path not in self._files:
            problems: list[Problem] = []
            self._files[path] = (LineFile(path), self.make(problems.append, path), problems)
        tail, reader, problems = self._files[path]
        try:
            restarted, window = tail.catch_up()
        except OSError:
            return None
        if restarted:
            self._restarts[path] = self._restarts.get(path, 0) + 1
            problems.clear()
            reader = self.make(problems.append, path)
            self._files[path] = (tail, reader, problems)
        if window is not None:
            for number, rec in json_lines(window, functools.partial(report_located, problems.append, path)):
                reader.line(number, rec)
        for problem in problems:
            report(problem)
        return reader

    def where(self, path: str) -> tuple[int, int, tuple[int, int] | None] | None:
        """How far the file's reader is (times it started again, the offset read to, the file read):
        changed by a caught_up() that read something or started again; None for a file not read yet."""
        if path not in self._files:
            return None
        tail = self._files[path][0]
        return self._restarts.get(path, 0), tail.offset, tail._ident

    def line_files(self) -> list[LineFile]:
        """Where each file's reader is (tailstate.py checks, before reading on, that the bytes are still those)."""
        return [tail for tail, _, _ in self._files.values()]

    def keep_only(self, paths: list[str]) -> None:
        """Forget the files no longer listed."""
        for gone in set(self._files) - set(paths):
            del self._files[gone]
            self._restarts.pop(gone, None)


def report_located(report: ProblemSink, path: str, problem: Problem) -> None:
    """`report` the problem as one of the file at `path` (unless it names a file already)."""
    problem.source_file = problem.source_file or path
    report(problem)


Stage = Callable[[Head, ProblemSink, SourceFile, Staging], None]
RunFromGroup = Callable[[str, StagedRecords, ProblemSink], "Run | None"]


class StagedResume:
    """A GroupsInParallel format read on as its file grows: records of the appended lines are staged in
    the staging file kept from the last read, and only the groups they went to are built again."""

    whole = False

    def __init__(self, stage: Stage, run_from_group: RunFromGroup, head: Head, report: ProblemSink) -> None:
        self.stage, self.run_from_group, self.head, self.report = stage, run_from_group, head, report
        self.staging = Staging()
        self.windows = 0
        self.built: dict[str, list[Problem]] = {}  # group -> the problems of building its run, as last built

    def read(self, source: SourceFile) -> None:
        self.windows += 1
        try:
            self.stage(self.head, self.report, source, self.staging)
        except UnusableInput:
            if self.windows == 1:
                raise  # the file as first read: what a read of it from the start says
            # appended lines none of which is usable: each was reported

    def runs(self, report: ProblemSink) -> list[Run]:
        keys = self.staging.take_touched()
        out: list[Run] = []
        for key, records in self.staging.records_of(keys):
            problems: list[Problem] = []
            run = one_record(
                problems.append,
                f"group {jsonsafe.quoted(key)}",
                first_line(records),
                self.run_from_group,
                key,
                records,
                problems.append,
            )
            self.built[key] = problems
            if run is not None:
                out.append(run)
        for problems in self.built.values():
            for problem in problems:
                report(problem)
        return out

    def close(self) -> None:
        self.staging.close()
