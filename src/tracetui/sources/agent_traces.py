"""The agent_traces table agent servers write: one row per agent turn, tool calls as a JSON array.

In a SQLite file it is queried in place through TEMP views (the file is opened read-only), so a
200k-row table opens at once; read() gives the same runs as Python objects, for `tracetui import`
and `export`. In a PostgreSQL database (JSONB or TEXT columns, timestamptz or text times) the run
list is the same mapping written in PostgreSQL's SQL (run_columns and step_columns take the
dialect), and an opened run's steps come from row_to_run, the Python twin, as on import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .. import jsonsafe, normalize
from ..model import Problem, Run, Step
from ..store import RUN_COLUMNS, STARTED, STEP_COLUMNS, view_columns
from ..store.reader import undecoded_text
from . import Catalog, DatabaseSource, Head, Place, ProblemSink, Relation, RunStart, SourceFile, pgsql, ro_uri
from . import sqlsql as q
from .contract import one_record

NAME = "agent-traces"
DESCRIPTION = "agent server SQLite database with an agent_traces table (one row per agent turn)"
DETECTION = (
    "SQLite file with a table named agent_traces, or a PostgreSQL table named so or with its columns"
    " (id, tool_calls, final_status); read in place, read-only"
)
PRIORITY = 90
TABLE = "agent_traces"

KNOWN = (
    "id",
    "session_id",
    "agent_id",
    "workspace_id",
    "started_at",
    "finished_at",
    "duration_ms",
    "prompt_tokens",
    "completion_tokens",
    "tool_calls",
    "circuit_breaker_events",
    "final_status",
    "error_message",
)
TOOL_KNOWN = ("toolName", "durationMs", "error", "timestamp")
FLAG_INVALID_TOOL_CALLS = "invalid_tool_calls"


def sniff(head: Head) -> bool:
    return TABLE in head.tables


def in_place(head: Head) -> bool:
    return sniff(head)


def views(conn: sqlite3.Connection, known_sort_keys: dict | None = None) -> dict[str, str]:
    """Create the TEMP views; returns sort-key overrides for the Store (pass them back to skip the scan)."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")]
    if "id" not in columns:
        raise sqlite3.DatabaseError("agent_traces has no id column")
    path = conn.execute("PRAGMA database_list").fetchone()[2]

    def col(name: str) -> str:
        return f"t.{q.ident(name)}" if name in columns else "NULL"

    # A row's number in the file: its rowid (a WITHOUT ROWID table has none to give).
    rowid = "t.rowid" if q.has_rowid(conn, TABLE) else "NULL"
    ids = q.run_id(conn, TABLE, "t")
    run_id = ids.sql
    extra_cols = [c for c in columns if c not in KNOWN]
    extra_pairs = ", ".join(f"{q.quote(c)}, {q.json_value('t.' + q.ident(c))}" for c in extra_cols)
    extra = (
        f"json_object('final_status', {q.json_value(col('final_status'))}{', ' + extra_pairs if extra_pairs else ''})"
    )
    events = q.json_array(col("circuit_breaker_events"))
    runs = run_columns(q, col, run_id) | {
        "source_file": q.quote(path),
        "source_line": rowid,
        "metadata": f"json_object('workspace_id', {q.json_value(col('workspace_id'))})",
        "events": f"CASE WHEN json_array_length({events}) > 0 THEN {events} END",
        "extra": extra,
    }
    # Two ways to sort by start time without normalising every row (see _start_sort_key).
    started = runs["started_at"]
    cheap_start = (
        f"CASE WHEN typeof({col('started_at')}) = 'text' AND {col('started_at')} GLOB '{_CANONICAL}'"
        f" THEN {col('started_at')} ELSE {started} END"
    )
    start_keys = {"started_key": col("started_at"), "started_cheap": cheap_start}
    conn.execute(f"""
        CREATE TEMP VIEW runs AS SELECT
            {view_columns(RUN_COLUMNS, runs, also=start_keys)}
        FROM {TABLE} t
    """)
    if known_sort_keys is None:
        known_sort_keys = _start_sort_key(conn, columns)
    sort_keys = known_sort_keys
    conn.execute(f"""
        CREATE TEMP VIEW steps AS SELECT
            {view_columns(STEP_COLUMNS, step_columns(q, col, "j", run_id))}
        FROM {TABLE} t, {q.each(q.json_array(col("tool_calls")), "j")}
    """)
    _odd_values(conn, col, rowid, run_id)
    if ids.missing:
        conn.execute(f"CREATE TEMP VIEW problems AS SELECT line AS n, line, run_id, message FROM ({ids.missing})")
    return sort_keys


# -- the mapping, once for SQLite (sqlsql) and PostgreSQL (pgsql.Postgres) ---------------------------


def run_columns(d: Any, col: Callable[[str], str], run_id: str | None = None) -> dict[str, str]:
    """The run list's columns as SQL of dialect `d` (sqlsql, or a pgsql.Postgres) over the table `t`;
    col(name) is the SQL of one of its columns, NULL when it has none; run_id the SQL of a run's id
    when not the id column as text. row_to_run is the Python twin."""
    tools = d.json_array(col("tool_calls"))
    started, ended = d.timestamp(col("started_at")), d.timestamp(col("finished_at"))
    tokens_in, tokens_out = d.integer(col("prompt_tokens")), d.integer(col("completion_tokens"))
    return {
        "id": run_id or d.text(col("id")),
        "agent": d.text(col("agent_id")),
        "session": d.text(col("session_id")),
        "status": d.status(col("final_status"), "completed"),
        "started_at": started,
        "ended_at": ended,
        "duration_ms": f"coalesce({d.number(col('duration_ms'))}, {d.duration_ms(started, ended)})",
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "step_count": d.array_length(tools),
        "failed_steps": d.count_objects_with(tools, "error"),
        "total_tokens_in": tokens_in,
        "total_tokens_out": tokens_out,
        "error": d.text(col("error_message")),
        "flags": f"""CASE WHEN {d.not_json_array(col("tool_calls"))} THEN '["{FLAG_INVALID_TOOL_CALLS}"]' END""",
    }


def step_columns(d: Any, col: Callable[[str], str], each: str, run_id: str | None = None) -> dict[str, str]:
    """The tool steps' columns as SQL of dialect `d`, one row per element `each` of d.each(tool_calls)."""
    obj = d.as_object(each)
    tool_ms = d.get_number(obj, "durationMs")
    tool_end = (
        f"CASE WHEN {d.is_number(obj, 'timestamp')} AND {tool_ms} IS NOT NULL THEN "
        + d.epoch(f"({d.get_number(obj, 'timestamp')} + {tool_ms})")
        + " END"
    )
    error = f"CASE WHEN {d.has_value(obj, 'error')} THEN {d.get(obj, 'error')} END"
    rest = d.without(obj, TOOL_KNOWN)
    position = d.position(each)
    return {
        "run_id": run_id or d.text(col("id")),
        "id": f"'call-' || ({position} + 1)",
        "seq": position,
        "ord": position,
        "depth": "0",
        "size": "1",
        "child_count": "0",
        "name": f"coalesce({d.get(obj, 'toolName')}, 'tool call')",
        "kind": "'tool'",
        "raw_type": "'tool_call'",
        "status": f"CASE WHEN {error} IS NOT NULL THEN 'failed' ELSE 'completed' END",
        "started_at": d.timestamp(d.get(obj, "timestamp")),
        "ended_at": tool_end,
        "duration_ms": tool_ms,
        "error": error,
        "extra": f"CASE WHEN {d.nonempty_object(rest)} THEN {rest} END",
    }


def _odd_values(conn: sqlite3.Connection, col, rowid: str, run_id: str) -> None:
    """The TEMP view odd_values: values the views cannot use (shown as '-'), which Store.problems() lists.

    Read only when the problems are asked for (it scans the table, in one pass of cheap tests first).
    """
    checks = []
    for name in ("duration_ms", "prompt_tokens", "completion_tokens"):
        raw = col(name)
        if raw != "NULL":
            checks.append(
                (
                    f"typeof({raw}) NOT IN ('null', 'integer', 'real')",
                    f"'{name} ' || quote({raw}) || ' is not a number: shown as -'",
                )
            )
            checks.append(
                (
                    f"typeof({raw}) IN ('integer', 'real') AND {raw} < 0",
                    f"'{name} ' || quote({raw}) || ' is negative: shown as -'",
                )
            )
    for name in ("started_at", "finished_at"):
        raw = col(name)
        if raw != "NULL":
            usual = f"typeof({raw}) IN ('null', 'integer', 'real') OR {raw} GLOB '{_CANONICAL}'"
            checks.append(
                (
                    f"NOT ({usual}) AND {raw} != '' AND {q.timestamp(raw)} IS NULL",
                    f"'{name} ' || quote({raw}) || ' is not a time: shown as -'",
                )
            )
    selects = [
        f"SELECT {rowid} AS line, {run_id} AS run_id, {message} AS message FROM {TABLE} t WHERE {where}"
        for where, message in checks
    ]
    if selects:
        conn.execute("CREATE TEMP VIEW odd_values AS " + " UNION ALL ".join(selects))


_CANONICAL = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"


def _start_sort_key(conn: sqlite3.Connection, columns: list[str]) -> dict[str, str]:
    """How to sort by start time without normalising every row's timestamp (0.6 s at 200k rows).

    The raw column sorts like the normalised one when it holds ISO text throughout, and can then
    walk an index. With an index on started_at, the smallest and largest values tell (SQLite orders
    numbers before text) at the cost of two index look-ups; without one, a single cheap scan does.
    Mixed columns sort on a key that normalises only the rows that are not canonical text.
    """
    if "started_at" not in columns:
        return {}
    indexed = any(
        conn.execute(f"PRAGMA index_info({q.ident(index[1])})").fetchone()[2] == "started_at"
        for index in conn.execute(f"PRAGMA index_list({TABLE})")
    )
    if indexed:
        # Two queries: SQLite answers a lone min() or max() from an index, but not both at once.
        ends = [conn.execute(f"SELECT {fn}(started_at) FROM {TABLE}").fetchone()[0] for fn in ("min", "max")]
        iso_only = all(isinstance(v, str) and v[10:11] == "T" for v in ends)
    else:
        iso_only = (
            conn.execute(
                f"SELECT 1 FROM {TABLE} WHERE typeof(started_at) NOT IN ('text', 'null')"
                " OR substr(started_at, 11, 1) != 'T' LIMIT 1"
            ).fetchone()
            is None
        )
    return {STARTED.name: "started_key" if iso_only else "started_cheap"}


def _loads(value: Any) -> Any:
    if value is None or not isinstance(value, (str, bytes)):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return _INVALID


_INVALID = object()


def row_to_run(row: dict[str, Any], path: str, report: ProblemSink) -> Run:
    """The Python twin of the views above (used by import/export; tests keep the two in step)."""
    run_id = normalize.ident(row.get("id")) or f"row-{row.get('rowid')}"
    if row.get("id") in (None, ""):
        report(Problem(f"the row has no id: shown as {run_id}", line=row.get("rowid"), run_id=run_id))
    started, ended = normalize.timestamp(row.get("started_at")), normalize.timestamp(row.get("finished_at"))
    run = Run(
        id=run_id,
        agent=normalize.ident(row.get("agent_id")),
        session=normalize.ident(row.get("session_id")),
        status=normalize.status(row.get("final_status"), step=False),
        started_at=started,
        ended_at=ended,
        duration_ms=normalize.number(row.get("duration_ms")),
        tokens_in=normalize.integer(row.get("prompt_tokens")),
        tokens_out=normalize.integer(row.get("completion_tokens")),
        error=normalize.text(row.get("error_message")),
        metadata={"workspace_id": row.get("workspace_id")},
        source_file=path,
        source_line=row.get("rowid"),
    )
    if run.duration_ms is None:
        run.duration_ms = normalize.duration_between(started, ended)
    run.extra = {"final_status": row.get("final_status")}
    run.extra.update({k: v for k, v in row.items() if k not in KNOWN and k != "rowid"})
    events = _loads(row.get("circuit_breaker_events"))
    if isinstance(events, list):
        run.events = events
    calls = _loads(row.get("tool_calls"))
    if row.get("tool_calls") is not None and not isinstance(calls, list):
        run.flags.append(FLAG_INVALID_TOOL_CALLS)
        report(
            Problem(
                f"run {jsonsafe.quoted(run_id)}: tool_calls is not a JSON array; no tool steps shown",
                line=row.get("rowid"),
                run_id=run_id,
            )
        )
        calls = []
    for n, call in enumerate(calls or []):
        if not isinstance(call, dict):
            call = {"value": call}
        error = call.get("error")
        started_ms = call.get("timestamp")
        dur = normalize.number(call.get("durationMs"))
        step = Step(
            id=f"call-{n + 1}",
            seq=n,
            name=normalize.text(call.get("toolName")) or "tool call",
            kind="tool",
            raw_type="tool_call",
            status="failed" if error is not None else "completed",
            started_at=normalize.timestamp(started_ms),
            duration_ms=dur,
            error=normalize.text(error),
            extra={k: v for k, v in call.items() if k not in TOOL_KNOWN},
        )
        if isinstance(started_ms, (int, float)) and not isinstance(started_ms, bool) and dur is not None:
            step.ended_at = normalize.timestamp(started_ms + dur)
        run.steps.append(step)
    return run


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    conn = sqlite3.connect(ro_uri(head.path), uri=True)
    conn.row_factory = sqlite3.Row
    conn.text_factory = undecoded_text  # text that is not UTF-8 is kept; the store writer shows it as \xNN
    try:
        rowid = "rowid" if q.has_rowid(conn, TABLE) else "NULL"
        for row in conn.execute(f"SELECT {rowid} AS rowid, * FROM {TABLE} ORDER BY {rowid}, id"):
            values = dict(row)
            run = one_record(report, "the row", values.get("rowid"), row_to_run, values, head.path, report)
            if run is not None:
                yield run
    finally:
        conn.close()


# -- in a PostgreSQL database --------------------------------------------------------------------

_SHAPE = frozenset({"id", "tool_calls", "final_status"})
_NUMBERS = ("smallint", "integer", "bigint", "numeric", "real", "double precision")


def database_places(catalog: Catalog) -> list[Place]:
    """Tables named agent_traces, and tables with its key columns under another name."""
    return [
        Place(schema, table, NAME)
        for (schema, table), columns in catalog.tables.items()
        if "id" in columns and (table == TABLE or _SHAPE <= set(columns))
    ]


def database_source(catalog: Catalog, place: Place) -> DatabaseSource:
    columns = catalog.columns(place)
    d = pgsql.Postgres(catalog.server_version, {f"t.{pgsql.ident(c)}": kind for c, kind in columns.items()})

    def col(name: str) -> str:
        return f"t.{pgsql.ident(name)}" if name in columns else "NULL::text"

    def raw(name: str, *types: str) -> list[str]:
        """The raw column, when it orders as the mapped one does (and so can use an index)."""
        kind = columns.get(name)
        return [col(name)] if kind is not None and (not types or kind.startswith(types)) else []

    table = pgsql.qualified(place.schema, place.table)
    source_file = f"{catalog.label}#{place}"
    where = f"{col('id')} IS NOT NULL"
    runs = Relation(run_columns(d, col) | {"source_file": pgsql.quote(source_file)}, f"{table} t", where)
    order = {}
    # Times kept as text may mix ISO and epoch numbers: those sort by the normalised value (no index).
    for key, expr in (
        ("started", raw("started_at", "timestamp", "date", *_NUMBERS)),
        ("duration", raw("duration_ms", *_NUMBERS)),
        ("agent", raw("agent_id", "text", "character")),
        ("error", raw("error_message", "text", "character")),
        ("id", [col("id")]),
    ):
        if expr:
            order[key] = expr[0]
    if columns.get("prompt_tokens", "").startswith(_NUMBERS) and columns.get("completion_tokens", "").startswith(
        _NUMBERS
    ):
        order["tokens"] = f"(coalesce({col('prompt_tokens')}, 0) + coalesce({col('completion_tokens')}, 0))"
    run_id = d.text(col("id"))
    by_id = f"{col('id')} = %s" if run_id == col("id") else f"{run_id} = %s"
    steps = step_columns(d, col, "j")
    each_call = f"{table} t CROSS JOIN LATERAL {d.each(d.json_array(col('tool_calls')), 'j')}"
    calls = Relation(
        {name: steps[name] for name in ("run_id", "name", "kind", "status", "duration_ms")}, each_call, where
    )
    problems = (
        f"SELECT NULL::bigint AS line, {run_id} AS run_id, 'run ' || quote_literal({run_id})"
        f" || ': tool_calls is not a JSON array; no tool steps shown' AS message"
        f" FROM {table} t WHERE {where} AND {d.not_json_array(col('tool_calls'))}"
    )
    started = order.get("started", runs.columns["started_at"])

    def read_run(conn: Any, run_id: str, report: ProblemSink, payloads: bool) -> Run | None:
        # to_jsonb gives the row as the JSON values row_to_run reads from SQLite: times as ISO text,
        # JSONB as lists, TEXT as the text (which row_to_run parses, or reports).
        row = conn.execute(f"SELECT to_jsonb(t) FROM {table} t WHERE {by_id}", (run_id,)).fetchone()
        return None if row is None else row_to_run(row[0], source_file, report)

    # The start of a run with many tool calls: the row without them, its first calls and where the
    # failed ones are, worked out by the server in one query (the run view shows a screenful first).
    call_array = d.json_array(col("tool_calls"))
    first = f"jsonb_path_query_array({call_array}, '$[0 to $last]', jsonb_build_object('last', %s::int - 1))"
    failed = (
        f"(SELECT coalesce(array_agg(e.n - 1 ORDER BY e.n), '{{}}') FROM {d.each(call_array, 'e')}"
        f" WHERE jsonb_typeof(e.value) = 'object' AND {d.has_value('e.value', 'error')})"
    )
    start = (
        f"SELECT to_jsonb(t) - 'tool_calls', {first}, jsonb_array_length({call_array}), {failed},"
        f" {d.not_json_array(col('tool_calls'))} FROM {table} t WHERE {by_id}"
    )

    def read_start(conn: Any, run_id: str, report: ProblemSink, limit: int) -> RunStart | None:
        row = conn.execute(start, (limit, run_id)).fetchone()
        if row is None or row[4]:
            return None  # not there, or tool_calls is not an array: read_run says what it is
        values, calls_read, total, failed_at, _ = row
        run = row_to_run({**values, "tool_calls": calls_read}, source_file, report)
        return RunStart(run, total, [(f"call-{n + 1}", n, 1) for n in failed_at])

    def read_runs(conn: Any, report: ProblemSink) -> Iterator[Run]:
        with conn.transaction(), conn.cursor(name="tracetui_agent_traces") as cursor:
            cursor.itersize = 256
            cursor.execute(
                f"SELECT to_jsonb(t) FROM {table} t WHERE {where} ORDER BY {started} ASC NULLS LAST, {col('id')}"
            )
            for (row,) in cursor:
                yield row_to_run(row, source_file, report)

    return DatabaseSource(
        place=place,
        runs=runs,
        by_id=by_id,
        tie=col("id"),
        read_run=read_run,
        read_runs=read_runs,
        order=order,
        calls=calls,
        problems=problems,
        read_start=read_start,
        steps=Relation(steps, each_call, where),
    )
