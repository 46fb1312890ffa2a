"""Grouping records that a format spreads across a file in any order, without holding the file in memory.

Formats such as OTLP, LangSmith runs or OpenAI Agents traces write one trace over many lines,
interleaved with other traces and children before parents. Records are staged in a temporary
SQLite file keyed by group (the trace id), then read back one group at a time, so memory holds
one trace, not the file. The temporary file is removed when the Staging is closed.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from typing import Any

import orjson

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
        self._pending: list[tuple[str, int | None, bytes]] = []
        # Group key -> its number in order of first appearance (trace ids only: small beside the records).
        self._groups: dict[str, int] = {}

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, group: str, record: Any, line: int | None = None) -> None:
        number = self._groups.get(group)
        if number is None:
            number = self._groups[group] = len(self._groups)
        self._pending.append((number, line, orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        with self._conn:
            self._conn.executemany("INSERT INTO records VALUES (?, ?, ?)", self._pending)
        self._pending.clear()

    def groups(self) -> Iterator[tuple[str, list[tuple[int | None, Any]]]]:
        """(group, [(line, record), ...]) for each group, in order of first appearance."""
        self.seal()
        yield from _read(self._conn, 0, list(self._groups))

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


def read_groups(path: str, first: int, keys: list[str]) -> Iterator[tuple[str, list[tuple[int | None, Any]]]]:
    """Like Staging.groups(), for the groups numbered first, first + 1, ... (keys) of a sealed staging file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield from _read(conn, first, keys)
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, first: int, keys: list[str]) -> Iterator[tuple[str, list[tuple[int | None, Any]]]]:
    # One query walking the index, not one per group: thousands of small queries add up.
    current, batch = None, []
    rows = conn.execute(
        "SELECT grp, line, data FROM records WHERE grp >= ? AND grp < ? ORDER BY grp, rowid", (first, first + len(keys))
    )
    for number, line, data in rows:
        if number != current:
            if batch:
                yield keys[current - first], batch
            current, batch = number, []
        batch.append((line, orjson.loads(data)))
    if batch:
        yield keys[current - first], batch
