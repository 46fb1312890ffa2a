"""tracetui's own store in a PostgreSQL database: what `tracetui import SRC -o postgresql://…` writes.

The tables are the SQLite store's (store.schema: runs and steps with the same columns, priced and
finalized at import) in a schema of their own (postgres/writer.py), so the run list and a run's
steps are plain SQL over them, by index. A database is never a file: sniff never claims one, and
read() says so (use `tracetui export` to write a database's runs to a file).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .. import jsonsafe
from ..errors import UnusableInput
from ..model import FAILED_STATUSES, Problem, Run, Step
from ..store.schema import RUN_COLUMNS, RUN_LIST_COLUMNS, RUN_TOTAL_COLUMNS, STEP_COLUMNS, STEP_TREE_COLUMNS
from . import Catalog, DatabaseSource, Head, Place, ProblemSink, Relation, RunStart, SourceFile
from .pgsql import ESCAPED, ident, parameter, qualified, unescaped

NAME = "tracetui-postgres"
DESCRIPTION = "tracetui's own store in a PostgreSQL database (tracetui import SRC -o postgresql://…)"
DETECTION = "PostgreSQL schema with tables runs and steps in tracetui's columns, and imports (read in place, read-only)"
PRIORITY = 100

_JSON_DEFAULTS: dict[str, type] = {"flags": list, "metadata": dict, "events": list, "extra": dict}
_FAILED = sorted(FAILED_STATUSES)
_CALLS = (
    *("run_id", "name", "kind", "model", "status", "duration_ms", "tokens_in", "tokens_out"),
    *("tokens_cache_read", "credits", "cost_usd", "cost_estimated"),
)


def sniff(head: Head) -> bool:
    return False  # never a file: found in a database by database_places


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    raise UnusableInput(head.path, "tracetui-postgres is read from a PostgreSQL database, not a file")


def database_places(catalog: Catalog) -> list[Place]:
    places = []
    for (schema, table), columns in catalog.tables.items():
        if table != "runs" or not {*RUN_COLUMNS, "import_key"} <= set(columns):
            continue
        if set(STEP_COLUMNS) <= set(catalog.columns((schema, "steps"))) and catalog.columns((schema, "imports")):
            places.append(Place(schema, "runs", NAME))
    return places


def database_source(catalog: Catalog, place: Place) -> DatabaseSource:
    runs_table, steps_table = qualified(place.schema, "runs"), qualified(place.schema, "steps")
    problems = f"SELECT line, run_id, message FROM {qualified(place.schema, 'problems')} ORDER BY import_key, n"
    # Text holding NUL is stored as \x00, and the row's ESCAPED column says which (postgres/writer.py);
    # tables an earlier tracetui wrote have no such column.
    escaped = ident(ESCAPED) if ESCAPED in catalog.columns((place.schema, "steps")) else "NULL::text"
    run_escaped = ident(ESCAPED) if ESCAPED in catalog.columns(place) else "NULL::text"
    listed_escaped = {ESCAPED: f"t.{run_escaped}"} if ESCAPED in catalog.columns(place) else {}
    step_escaped = {ESCAPED: f"s.{escaped}"} if ESCAPED in catalog.columns((place.schema, "steps")) else {}
    run_columns = ", ".join([*map(ident, RUN_COLUMNS), run_escaped])
    tree_columns = ", ".join([*map(ident, STEP_TREE_COLUMNS), escaped])
    all_columns = ", ".join([*map(ident, STEP_COLUMNS), escaped])

    def read_run(conn: Any, run_id: str, report: ProblemSink, payloads: bool) -> Run | None:
        values = conn.execute(f"SELECT {run_columns} FROM {runs_table} WHERE id = %s", [parameter(run_id)]).fetchone()
        if values is None:
            return None
        run = _run(values)
        columns, names = (all_columns, STEP_COLUMNS) if payloads else (tree_columns, STEP_TREE_COLUMNS)
        rows = conn.execute(f"SELECT {columns} FROM {steps_table} WHERE run_id = %s ORDER BY ord", [values[0]])
        run.steps = [_step(names, r) for r in rows]
        return run

    def read_start(conn: Any, run_id: str, report: ProblemSink, limit: int) -> RunStart | None:
        # The first steps by position (the index on (run_id, ord)), and what the run view needs of the
        # rest: how many are roots and the first of them (the index on (run_id, parent_id, seq)), which failed.
        values = conn.execute(f"SELECT {run_columns} FROM {runs_table} WHERE id = %s", [parameter(run_id)]).fetchone()
        if values is None:
            return None
        run, run_id = _run(values), values[0]  # (the id as stored)
        first = f"SELECT {tree_columns} FROM {steps_table} WHERE run_id = %s AND ord < %s ORDER BY ord"
        run.steps = [_step(STEP_TREE_COLUMNS, r) for r in conn.execute(first, [run_id, limit])]
        roots = f"SELECT count(*) FROM {steps_table} WHERE run_id = %s AND parent_id IS NULL"
        (root_count,) = conn.execute(roots, [run_id]).fetchone()
        later = f"SELECT {tree_columns} FROM {steps_table} WHERE run_id = %s AND parent_id IS NULL AND ord >= %s"
        later += " ORDER BY seq LIMIT %s"
        later_roots = [
            _step(STEP_TREE_COLUMNS, r)
            for r in conn.execute(later, [run_id, limit, max(0, limit - sum(s.parent_id is None for s in run.steps))])
        ]
        failed = (
            f"SELECT id, ord, size, {escaped} FROM {steps_table} WHERE run_id = %s AND status = ANY(%s) ORDER BY ord"
        )
        failed_at = [
            (unescaped({"id": step_id}, marks)["id"], at, size)
            for step_id, at, size, marks in conn.execute(failed, [run_id, _FAILED])
        ]
        # step_count: every step (stored, finalized)
        return RunStart(run, run.step_count, failed_at, root_count, later_roots)

    def read_step(conn: Any, run_id: str, step_id: str) -> Step | None:
        sql = f"SELECT {all_columns} FROM {steps_table} WHERE run_id = %s AND id = %s"
        values = conn.execute(sql, [parameter(run_id), parameter(step_id)]).fetchone()
        return None if values is None else _step(STEP_COLUMNS, values)

    def read_runs(conn: Any, report: ProblemSink) -> Iterator[Run]:
        for line, run_id, message in conn.execute(problems).fetchall():
            report(Problem(message, line=line, run_id=run_id))
        with conn.transaction(), conn.cursor(name="tracetui_runs") as cursor:
            cursor.itersize = 256
            cursor.execute(f"SELECT id FROM {runs_table} ORDER BY started_at ASC NULLS LAST, id")
            for (run_id,) in cursor:
                run = read_run(conn, run_id, report, True)
                if run is not None:
                    yield run

    return DatabaseSource(
        place=place,
        runs=Relation({c: f"t.{ident(c)}" for c in RUN_LIST_COLUMNS} | listed_escaped, f"{runs_table} t"),
        by_id="t.id = %s",
        tie="t.id",
        read_run=read_run,
        read_runs=read_runs,
        calls=Relation(
            {c: f"s.{ident(c)}" for c in _CALLS}, f"{steps_table} s", "s.model IS NOT NULL OR s.kind = 'tool'"
        ),
        problems=problems,
        finalized=True,
        read_step=read_step,
        read_start=read_start,
        steps=Relation({c: f"s.{ident(c)}" for c in STEP_COLUMNS} | step_escaped, f"{steps_table} s"),
    )


def decoded(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON columns of a run or step decoded (text as tracetui writes them; JSON a server hands back)."""
    for key, default in _JSON_DEFAULTS.items():
        if key in values:
            value = values[key]
            if isinstance(value, str) and value:
                try:
                    values[key] = orjson.loads(value)
                except orjson.JSONDecodeError:  # deeper than orjson reads (a 1,200-deep record's metadata)
                    values[key] = jsonsafe.loads(value)[0]
            else:
                values[key] = value or default()
    return values


def _run(row: tuple) -> Run:
    """A run from its row: RUN_COLUMNS, then ESCAPED."""
    values = decoded(unescaped(dict(zip(RUN_COLUMNS, row, strict=False)), row[-1]))
    for column in RUN_TOTAL_COLUMNS:
        values.pop(column, None)
    return Run(**values)


def _step(names: Any, row: tuple) -> Step:
    """A step from its row: the columns `names`, then ESCAPED."""
    values = decoded(unescaped(dict(zip(names, row, strict=False)), row[-1]))
    values["cost_estimated"] = bool(values.get("cost_estimated"))
    return Step(**values)
