"""tracetui's own SQLite store schema (what `tracetui import` writes; see docs/formats.md).

A complete store is queried in place, read-only; one written by an older tracetui (schema version 1,
without the columns added since) too, through TEMP views that give those columns as NULL. A database
in the same shape that was written by other tools (derived columns missing, no `meta` table) is read
row by row and imported instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from .. import jsonsafe, normalize
from ..model import SOURCE_RUN_FIELDS, SOURCE_STEP_FIELDS, Problem, Run, Step
from ..store import JSON_COLUMNS, RUN_COLUMNS, STEP_COLUMNS, view_columns
from ..store.reader import undecoded_text
from ..store.schema import ADDED_RUN_COLUMNS, ADDED_STEP_COLUMNS, typed
from . import Head, ProblemSink, SourceFile, ro_uri
from . import sqlsql as q

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
    """Nothing to do when the tables are the store; else TEMP views `runs` and `steps` over its tables
    (found before them by name).

    A store of an older schema version gets NULL for the columns it lacks. A run row without an id
    is shown as row-N (its rowid) and listed with the problems; `id IS NULL` is answered from the
    primary key's index, so a file without such rows pays nothing.
    """
    ids = q.run_id(conn, "runs", "t", what="run row")
    for table, columns in (("runs", RUN_COLUMNS), ("steps", STEP_COLUMNS)):
        present = {r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")}
        given = {col: f"t.{q.ident(col)}" for col in columns if col in present}
        if table == "runs" and not ids.plain:
            given["id"] = ids.sql
        elif set(columns) <= present:
            continue
        conn.execute(f"CREATE TEMP VIEW {table} AS SELECT {view_columns(columns, given)} FROM main.{table} t")
    if ids.missing:
        has_problems = conn.execute("SELECT 1 FROM main.sqlite_master WHERE name = 'problems'").fetchone()
        stored = "SELECT n, line, run_id, message FROM main.problems UNION ALL " if has_problems else ""
        conn.execute(f"CREATE TEMP VIEW problems AS {stored}SELECT NULL, line, run_id, message FROM ({ids.missing})")
    return {}


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    """Runs of a store in tracetui's shape that another tool wrote: every value made its field's type."""
    path = head.path
    conn = sqlite3.connect(ro_uri(path), uri=True)
    conn.row_factory = sqlite3.Row
    conn.text_factory = undecoded_text
    try:
        step_cols = [r[1] for r in conn.execute("PRAGMA table_info(steps)")]
        rowid = "rowid" if q.has_rowid(conn, "runs") else "NULL"
        step_rowid = "rowid" if q.has_rowid(conn, "steps") else "NULL"
        order = "seq" if "seq" in step_cols else step_rowid
        for row in conn.execute(f"SELECT {rowid} AS _rowid, * FROM runs ORDER BY {rowid}, id"):
            values = {k: row[k] for k in row.keys() if k in _RUN_FIELDS}
            line = row["_rowid"]
            if values.get("id") in (None, ""):
                values["id"] = f"row-{line}"
                report(Problem(f"the run row has no id: shown as {values['id']}", line=line, run_id=values["id"]))
            _typed(values, line, report)
            run = Run(**values)
            run.source_file = run.source_file or path
            run.source_line = run.source_line if run.source_line is not None else line
            for srow in conn.execute(
                f"SELECT * FROM steps WHERE run_id = CAST(? AS TEXT) ORDER BY {order}, {step_rowid}",
                (q.text_param(row["id"]),),
            ):
                svalues = {k: srow[k] for k in srow.keys() if k in _STEP_FIELDS}
                svalues["id"] = normalize.ident(svalues.get("id")) or f"step-{len(run.steps) + 1}"
                _typed(svalues, line, report, run.id)
                run.steps.append(Step(**svalues))
            yield run
    finally:
        conn.close()


def _typed(values: dict, line: int | None, report: ProblemSink, run_id: str | None = None) -> None:
    """Each value its field's type (schema.typed); JSON columns that are NULL take their field's default."""
    for key in JSON_COLUMNS:
        if values.get(key) is None:
            values.pop(key, None)
    changes = typed(values, undecoded=True)
    if changes:
        where = (
            f"run {jsonsafe.quoted(values['id'])}"
            if run_id is None
            else f"run {jsonsafe.quoted(run_id)}, step {jsonsafe.quoted(values['id'])}"
        )
        report(Problem(f"{where}: {'; '.join(changes)}", line=line, run_id=run_id or values["id"]))
