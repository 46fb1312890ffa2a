"""Grouping records that a format spreads across a file in any order, without holding the file in memory.

Formats such as OTLP, LangSmith runs or OpenAI Agents traces write one trace over many lines,
interleaved with other traces and children before parents. Records are staged in a temporary
SQLite file keyed by group (the trace id), then read back one group at a time, so memory holds
one trace, not the file. The temporary file is removed when the Staging is closed.

A format that stages offers the contract's GroupsInParallel hooks (stage, run_from_group); its
read() is read_staged(), and parallel.py runs the same two phases with worker processes.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import jsonsafe
from ..errors import UnusableInput
from ..model import Run
from .contract import Head, ProblemSink, SourceFile, StagedRecords, one_record

HELPER = True

_BATCH = 2000


class Staging:
    """Records grouped by key; groups come back in order of first appearance, records in insertion order."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="tracetui-staging-", suffix=".db")
        os.close(fd)
        self._conn = sqlite3.connect(self.path)
        self._conn.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE records (grp INTEGER NOT NULL, line INTEGER, data BLOB NOT NULL);
            """
        )
        self._pending: list[tuple[int, int | None, bytes]] = []
        # Group key -> its number in order of first appearance (trace ids only: small beside the records).
        self._groups: dict[str, int] = {}
        self._touched: dict[str, None] = {}  # groups added to since take_touched() (a followed file's)

    def __getstate__(self) -> dict:
        """The records staged go with the rest (tailstate.py keeps a Tail between processes)."""
        self._flush()
        with open(self.path, "rb") as f:
            data = f.read()
        return {**{k: v for k, v in self.__dict__.items() if k not in ("_conn", "path")}, "data": data}

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        data = state.pop("data")
        self.__dict__.update(state)
        fd, self.path = tempfile.mkstemp(prefix="tracetui-staging-", suffix=".db")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self._conn = sqlite3.connect(self.path)
        self._conn.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, group: str, record: Any, line: int | None = None) -> None:
        number = self._groups.get(group)
        if number is None:
            number = self._groups[group] = len(self._groups)
        self._touched[group] = None
        self._pending.append((number, line, jsonsafe.dumps_bytes(record)))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        with self._conn:
            self._conn.executemany("INSERT INTO records VALUES (?, ?, ?)", self._pending)
        self._pending.clear()

    def groups(self) -> Iterator[tuple[str, StagedRecords]]:
        """(group, [(line, record), ...]) for each group, in order of first appearance."""
        self.seal()
        yield from _read(self._conn, 0, list(self._groups))

    def take_touched(self) -> list[str]:
        """The groups records were added to since the last call, in order of first appearance."""
        touched, self._touched = self._touched, {}
        return sorted(touched, key=self._groups.__getitem__)

    def records_of(self, keys: list[str]) -> Iterator[tuple[str, StagedRecords]]:
        """(group, [(line, record), ...]) for each of these groups, as groups() gives them."""
        self.seal()
        for key in keys:
            rows = self._conn.execute(
                "SELECT line, data FROM records WHERE grp = ? ORDER BY rowid", (self._groups[key],)
            )
            yield key, [(line, jsonsafe.loads(data)[0]) for line, data in rows]

    def seal(self) -> None:
        """Write out what is pending and index it: the file can then be read by other processes."""
        self._flush()
        self._conn.execute("CREATE INDEX IF NOT EXISTS records_grp ON records (grp)")

    def group_sizes(self) -> Iterator[tuple[str, int]]:
        """(group, bytes staged) for each group, in order of first appearance; call seal() first."""
        keys = list(self._groups)
        for number, size in self._conn.execute("SELECT grp, sum(length(data)) FROM records GROUP BY grp ORDER BY grp"):
            yield keys[number], size

    def close(self) -> None:
        try:
            self._conn.close()
        finally:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass


def read_groups(path: str, first: int, keys: list[str]) -> Iterator[tuple[str, StagedRecords]]:
    """Like Staging.groups(), for the groups numbered first, first + 1, ... (keys) of a sealed staging file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield from _read(conn, first, keys)
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, first: int, keys: list[str]) -> Iterator[tuple[str, StagedRecords]]:
    # One query walking the index, not one per group: thousands of small queries add up.
    current = first
    batch: StagedRecords = []
    rows = conn.execute(
        "SELECT grp, line, data FROM records WHERE grp >= ? AND grp < ? ORDER BY grp, rowid", (first, first + len(keys))
    )
    for number, line, data in rows:
        if number != current:
            if batch:
                yield keys[current - first], batch
            current, batch = number, []
        batch.append((line, jsonsafe.loads(data)[0]))
    if batch:
        yield keys[current - first], batch


GroupOf = Callable[[int | None, Any], tuple[str, Any] | None]
"""A format's look at one record: (group key, what to stage), or None when it skipped (and reported) it."""


def stage_records(
    staging: Staging,
    records: Iterable[tuple[int | None, Any]],
    group_of: GroupOf,
    head: Head,
    what: str | None,
    report: ProblemSink | None = None,
) -> None:
    """The usual stage(): each record staged under the key group_of() gives it.

    Args:
        staging: where the records go.
        records: (line or item number, record) as the file gives them.
        group_of: the format's look at one record; it reports what it skips.
        head: the head of the file (its path names the file in the error).
        what: how the format is called in "looks like <what>, but none of its N records is usable",
            raised when no record could be staged; None to accept a file with nothing usable.
        report: where a record group_of() raises on is reported and skipped (without it, the error stops the file).

    Raises:
        UnusableInput: `what` is given and no record was staged.
    """
    staged = skipped = 0
    for line, record in records:
        if report is None:
            group = group_of(line, record)
        else:
            group = one_record(report, "a record", line, group_of, line, record)
        if group is None:
            skipped += 1
            continue
        staging.add(group[0], group[1], line)
        staged += 1
    if not staged and what is not None:
        raise UnusableInput(head.path, f"looks like {what}, but none of its {skipped} records is usable")


def first_line(records: StagedRecords) -> int | None:
    """The first line (or item) of the file a staged group came from: its run's source_line."""
    return min((line for line, _ in records if line is not None), default=None)


def read_staged(
    stage: Callable[[Head, ProblemSink, SourceFile, Staging], None],
    run_from_group: Callable[[str, StagedRecords, ProblemSink], Run | None],
    head: Head,
    report: ProblemSink,
    source: SourceFile,
) -> Iterator[Run]:
    """read() for a format with the GroupsInParallel hooks: stage the file, then one run per group."""
    with Staging() as staging:
        stage(head, report, source, staging)
        for key, records in staging.groups():
            run = one_record(
                report, f"group {jsonsafe.quoted(key)}", first_line(records), run_from_group, key, records, report
            )
            if run is not None:
                yield run
