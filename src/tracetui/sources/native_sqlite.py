"""tracetui's own SQLite store schema (what `tracetui import` writes; see docs/formats.md).

A complete store is queried in place, read-only; one written by an older tracetui (schema version 1,
without the columns added since) too, through TEMP views that give those columns as NULL. A database
in the same shape that was written by other tools (derived columns missing, no `meta` table) is read
row by row and imported instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import orjson

from ..model import SOURCE_RUN_FIELDS, SOURCE_STEP_FIELDS, Problem, Run, Step
from ..store import JSON_COLUMNS, RUN_COLUMNS, STEP_COLUMNS, view_columns
from ..store.schema import ADDED_RUN_COLUMNS, ADDED_STEP_COLUMNS
from . import Head, ProblemSink, SourceFile, ro_uri

NAME = "tracetui-sqlite"
DESCRIPTION = "tracetui's own SQLite store (tracetui import -o)"
DETECTION = "SQLite file with tables runs(id, ...) and steps(run_id, id, parent_id, ...)"
PRIORITY = 100

# Derived columns are left for finalize_run to compute again: another tool may have left them out.
_RUN_FIELDS = frozenset(SOURCE_RUN_FIELDS)
_STEP_FIELDS = frozenset(SOURCE_STEP_FIELDS)


def sniff(head: Head) -> bool:
    runs, steps = head.tables.get("runs"), head.tables.get("steps")
    return bool(runs and steps and "id" in runs and {"run_id", "id"} <= set(steps))


def in_place(head: Head) -> bool:
    tables = head.tables
    if not set(RUN_COLUMNS) - ADDED_RUN_COLUMNS <= set(tables.get("runs", ())):
        return False
    if not set(STEP_COLUMNS) - ADDED_STEP_COLUMNS <= set(tables.get("steps", ())):
        return False
    try:
        conn = sqlite3.connect(ro_uri(head.path), uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == "1"


def views(conn: sqlite3.Connection, known_sort_keys: dict | None = None) -> dict[str, str]:
    """Nothing to do when the tables are the store; a store of an older schema version gets TEMP views
    `runs` and `steps` over its tables (found before them by name) with NULL for the columns it lacks."""
    for table, columns in (("runs", RUN_COLUMNS), ("steps", STEP_COLUMNS)):
        present = {r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")}
        if set(columns) <= present:
            continue
        given = {col: f"t.{col}" for col in columns if col in present}
        conn.execute(f"CREATE TEMP VIEW {table} AS SELECT {view_columns(columns, given)} FROM main.{table} t")
    return {}


def _value(key: str, value):
    if key in JSON_COLUMNS and isinstance(value, (str, bytes)):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return {"raw": value} if key in ("extra", "metadata") else [value]
    return value


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    path = head.path
    conn = sqlite3.connect(ro_uri(path), uri=True)
    conn.row_factory = sqlite3.Row
    try:
        step_cols = [r[1] for r in conn.execute("PRAGMA table_info(steps)")]
        order = "seq" if "seq" in step_cols else "rowid"
        for row in conn.execute("SELECT rowid AS _rowid, * FROM runs ORDER BY rowid"):
            values = {k: _value(k, row[k]) for k in row.keys() if k in _RUN_FIELDS}
            for key in JSON_COLUMNS:
                if values.get(key) is None:
                    values.pop(key, None)
            try:
                run = Run(**values)
            except TypeError as exc:
                report(Problem(f"skipped run row: {exc}", line=row["_rowid"]))
                continue
            if run.id is None:
                report(Problem("skipped run row without an id", line=row["_rowid"]))
                continue
            run.id = str(run.id)
            run.source_file = run.source_file or path
            run.source_line = run.source_line if run.source_line is not None else row["_rowid"]
            for srow in conn.execute(f"SELECT * FROM steps WHERE run_id = ? ORDER BY {order}, rowid", (row["id"],)):
                svalues = {k: _value(k, srow[k]) for k in srow.keys() if k in _STEP_FIELDS}
                svalues["id"] = str(svalues.get("id"))
                for key in JSON_COLUMNS:
                    if svalues.get(key) is None:
                        svalues.pop(key, None)
                run.steps.append(Step(**svalues))
            yield run
    finally:
        conn.close()
