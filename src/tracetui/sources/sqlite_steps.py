"""In-place SQLite sources whose step trees are built in Python, read through TEMP views.

The run list of such a source is plain SQL (a view over its tables, fast at any size). A run's step
tree needs more than SQL says well (JSON inside columns, nesting rules, the tree order of
finalize_run), so the format builds it in Python (the same code `read()` uses for import and export)
and hands it to SQLite as JSON through an application-defined function. The `steps` view joins that
function to the run table, so SQLite calls it only for the runs a query asks for: `WHERE run_id = ?`
reaches the run table's index. The trees built last are kept per connection until the database
changes (PRAGMA data_version), so expanding a big tree node by node does not rebuild it each time.

A function registered on a connection lives as long as the connection; the views are TEMP, so
nothing is ever written to the source file.
"""

from __future__ import annotations

import operator
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ..model import DERIVED_RUN_FIELDS, FLAG_TOTAL_MISMATCH, SOURCE_RUN_FIELDS, Problem, Run, Step, finalize_run
from ..store import JSON_COLUMNS, RUN_COLUMNS, STEP_COLUMNS
from ..store.schema import PAYLOAD_COLUMNS, to_json
from . import sqlsql as q
from .contract import ProblemSink

HELPER = True

StepBuilder = Callable[[sqlite3.Connection, Any], list[Step]]
"""The steps of one run (not yet finalized), from its key: a trace's rowid, a session's id."""

KEY = "run_key"
"""The extra column of a `runs` view that holds the key its StepBuilder takes."""

# The payload columns travel apart from the rest, so that listing a big tree never parses them.
_TREE_COLUMNS = [c for c in STEP_COLUMNS if c != "run_id" and c not in PAYLOAD_COLUMNS]
_PAYLOAD_COLUMNS = list(PAYLOAD_COLUMNS)
_tree_values = operator.attrgetter(*_TREE_COLUMNS)
_payload_values = operator.attrgetter(*_PAYLOAD_COLUMNS)
_TREE_JSON = [i for i, c in enumerate(_TREE_COLUMNS) if c in JSON_COLUMNS]
_PAYLOAD_JSON = [i for i, c in enumerate(_PAYLOAD_COLUMNS) if c in JSON_COLUMNS]
_TOTALS = list(DERIVED_RUN_FIELDS)
_CACHED_TREES = 16


class _Tree:
    """One run's finalized steps as the views read them: the tree rows, each step's payloads, the totals."""

    __slots__ = ("rows", "payloads", "totals")

    def __init__(self, steps: list[Step]):
        run = finalize_run(Run(id="", steps=steps))
        self.rows = orjson.dumps([_row(_tree_values(s), _TREE_JSON) for s in run.steps]).decode()
        self.payloads = [orjson.dumps(_row(_payload_values(s), _PAYLOAD_JSON)).decode() for s in run.steps]
        self.totals = orjson.dumps([getattr(run, name) for name in _TOTALS]).decode()


def _row(values: tuple, json_positions: list[int]) -> list:
    row = list(values)
    for i in json_positions:
        row[i] = to_json(row[i])
    return row


class _Trees:
    """The trees of the runs asked for last, per connection, until the database changes."""

    def __init__(self, conn: sqlite3.Connection, build: StepBuilder):
        self.conn = conn
        self.build = build
        self.cache: OrderedDict[tuple[Any, int], _Tree] = OrderedDict()

    def rows(self, key: Any) -> str:
        return self._get(key).rows

    def payloads(self, key: Any, position: int) -> str | None:
        payloads = self._get(key).payloads
        return payloads[position] if 0 <= position < len(payloads) else None

    def totals(self, key: Any) -> str:
        return self._get(key).totals

    def _get(self, key: Any) -> _Tree:
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        found = self.cache.get((key, version))
        if found is not None:
            self.cache.move_to_end((key, version))
            return found
        try:
            found = _Tree(build_safely(self.build, self.conn, key))
        except Exception as exc:  # the steps could not be written down: say so in their place
            found = _Tree(unreadable(exc))
        self.cache[(key, version)] = found
        while len(self.cache) > _CACHED_TREES:
            self.cache.popitem(last=False)
        return found


def unreadable(exc: Exception) -> list[Step]:
    """One failed step that says why a run's steps could not be read."""
    return [
        Step(
            id="unreadable",
            name="the steps of this run could not be read",
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
        )
    ]


def build_safely(build: StepBuilder, conn: sqlite3.Connection, key: Any) -> list[Step]:
    """The builder's steps; if it fails on input nobody foresaw, one failed step that says why.

    An exception inside an SQLite function surfaces only as "user-defined function raised
    exception" and ends the whole query; the run list and every other run must still show.
    """
    try:
        return build(conn, key)
    except Exception as exc:  # a last resort: the builders check what they read
        return unreadable(exc)


def install_steps(
    conn: sqlite3.Connection,
    name: str,
    build: StepBuilder,
    *,
    runs_from: str,
    run_id: str,
    key: str,
    where: str = "",
) -> dict[str, str]:
    """Create TEMP VIEW steps over build(); returns the SQL of the run totals (for the runs view).

    Args:
        conn: the read-only connection the views are made on.
        name: the format's name, for the SQL functions' names.
        build: makes the steps of one run from its key.
        runs_from: the FROM clause naming the run table (alias it), e.g. "traces t".
        run_id: the SQL of the run id over that table, e.g. "t.trace_id"; WHERE run_id = ? reaches it.
        key: the SQL of the builder's key over that table, e.g. "t.id".
        where: a condition on that table for the rows that are runs, if not all are.

    Returns:
        {derived run column: SQL over the same table}: step_count, failed_steps and the steps_* sums
        as finalize_run computes them from build()'s steps, for a format whose runs view has no
        cheaper way to the same numbers.
    """
    trees = _Trees(conn, build)
    prefix = "tracetui_" + name.replace("-", "_")
    conn.create_function(f"{prefix}_steps", 1, trees.rows)
    conn.create_function(f"{prefix}_payloads", 2, trees.payloads)
    conn.create_function(f"{prefix}_totals", 1, trees.totals)
    given = {"run_id": run_id}
    given |= {column: f"json_extract(j.value, '$[{i}]')" for i, column in enumerate(_TREE_COLUMNS)}
    # j.key is the step's position in the run: its payloads are fetched only when a query asks for them.
    given |= {
        column: f"json_extract({prefix}_payloads({key}, j.key), '$[{i}]')" for i, column in enumerate(_PAYLOAD_COLUMNS)
    }
    columns = {column: given[column] for column in STEP_COLUMNS}
    select = ",\n            ".join(f"{expr} AS {column}" for column, expr in columns.items())
    condition = f" WHERE {where}" if where else ""
    conn.execute(
        f"CREATE TEMP VIEW steps AS SELECT {select} FROM {runs_from}, json_each({prefix}_steps({key})) j{condition}"
    )
    return {field: f"json_extract({prefix}_totals({key}), '$[{i}]')" for i, field in enumerate(_TOTALS)}


def mismatch_flag(reported: dict[str, str], summed: dict[str, str]) -> str:
    """SQL of the flags column: total_mismatch where a reported total and the steps' sum differ.

    The rule of model.Run.mismatches, so a run read in place is flagged as its import would be.
    """
    differ = " OR ".join(
        f"abs(({reported[name]}) - ({summed[name]})) > 1e-9 * max(1, abs({reported[name]}))"
        for name in reported
        if name in summed
    )
    return f"CASE WHEN {differ} THEN '[\"{FLAG_TOTAL_MISMATCH}\"]' END" if differ else "NULL"


def install_problems(conn: sqlite3.Connection, union: list[str]) -> None:
    """TEMP VIEW problems (the store's problems table) over SELECTs of (line, run_id, message)."""
    body = " UNION ALL ".join(union) if union else "SELECT NULL, NULL, NULL WHERE 0"
    conn.execute(
        "CREATE TEMP VIEW problems AS SELECT row_number() OVER (ORDER BY line) AS n, line, run_id, message"
        f" FROM ({body})"
    )


# -- read(): the same runs as Python objects, for `tracetui import` and `export` ---------------------

_RUN_FIELDS = [name for name in SOURCE_RUN_FIELDS if name in RUN_COLUMNS]


def read_runs(
    conn: sqlite3.Connection,
    build: StepBuilder,
    report: ProblemSink,
    *,
    order: str = "source_line",
) -> Iterator[Run]:
    """Every run of the views made on `conn`, with its steps, in one consistent snapshot.

    The runs come from the `runs` view (its KEY column names each run's key for `build`) and the
    problems from the `problems` view, so import reads exactly what the viewer shows in place.
    """
    conn.execute("BEGIN")  # one read transaction: a writer's commits meanwhile are not half seen
    try:
        for line, run_id, message in conn.execute("SELECT line, run_id, message FROM problems ORDER BY n").fetchall():
            report(Problem(message, line=line, run_id=run_id))
        cursor = conn.execute(f"SELECT {', '.join(_RUN_FIELDS)}, {KEY} FROM runs ORDER BY {order}")
        while rows := cursor.fetchmany(256):
            for row in rows:
                values = dict(zip(_RUN_FIELDS, row[:-1], strict=True))
                for column in JSON_COLUMNS & set(values):
                    values[column] = orjson.loads(values[column]) if values[column] else _EMPTY[column]()
                run = Run(**values)
                run.steps = build_safely(build, conn, row[-1])
                yield run
    finally:
        conn.rollback()


_EMPTY: dict[str, Callable[[], Any]] = {"flags": list, "metadata": dict, "events": list, "extra": dict}


# -- values as the views' SQL reads them (sqlsql.count and sqlsql.money are the twins) -------------


def count(value: Any) -> int | None:
    """A token count: a number (not a boolean, not numeric text, below sqlsql.MAGNITUDE), as an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < q.MAGNITUDE:
        return None
    return int(value)


def money(value: Any) -> float | None:
    """An amount: a number (not a boolean, not numeric text, below sqlsql.MAGNITUDE)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) < q.MAGNITUDE:
        return None
    return float(value)


def obj(value: Any) -> dict:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def dig(obj: Any, *keys: str) -> Any:
    """The value at keys inside nested objects, or None."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def parse_json(raw: Any, kind: type) -> tuple[Any, bool]:
    """(value, ok): a JSON column parsed, or the empty value of `kind` and False when it is not a `kind`."""
    if isinstance(raw, (str, bytes)):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return kind(), False
        if isinstance(value, kind):
            return value, True
    return kind(), False


def table_columns(conn: sqlite3.Connection, *only: str) -> dict[str, set[str]]:
    """The tables of the main database (or those of `only` that exist) with their columns."""
    names = [r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")]
    wanted = [name for name in names if not only or name in only]
    return {name: {r[1] for r in conn.execute(f"PRAGMA main.table_info({q.ident(name)})")} for name in wanted}
