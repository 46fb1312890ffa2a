"""The agent_traces table agent servers write: one row per agent turn, tool calls as a JSON array.

Queried in place through TEMP views (the file is opened read-only), so a 200k-row table opens at
once. read() gives the same runs as Python objects, for `tracetui import` and `export`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from .. import normalize
from ..model import Problem, Run, Step
from ..store import RUN_COLUMNS, STARTED, STEP_COLUMNS, view_columns
from ..store.reader import undecoded_text
from . import Head, ProblemSink, SourceFile, ro_uri
from . import sqlsql as q
from .contract import one_record

NAME = "agent-traces"
DESCRIPTION = "agent server SQLite database with an agent_traces table (one row per agent turn)"
DETECTION = "SQLite file with a table named agent_traces (read in place, read-only)"
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
    # A row without an id is shown as row-N, not hidden (id IS NULL is answered from the key's index).
    no_id = "(t.id IS NULL OR t.id = '')"
    null_ids = rowid != "NULL" and conn.execute(f"SELECT 1 FROM {TABLE} t WHERE {no_id} LIMIT 1").fetchone()
    run_id = f"coalesce(nullif(t.id, ''), 'row-' || {rowid})" if null_ids else "t.id"
    tools = q.json_array(col("tool_calls"))
    started, ended = q.timestamp(col("started_at")), q.timestamp(col("finished_at"))
    extra_cols = [c for c in columns if c not in KNOWN]
    extra_pairs = ", ".join(f"{q.quote(c)}, {q.json_value('t.' + q.ident(c))}" for c in extra_cols)
    extra = (
        f"json_object('final_status', {q.json_value(col('final_status'))}{', ' + extra_pairs if extra_pairs else ''})"
    )
    failed_calls = (
        f"(SELECT count(*) FROM json_each({tools}) WHERE type = 'object' AND json_type(value, '$.error') != 'null')"
    )
    bad_tools = f"({col('tool_calls')} IS NOT NULL AND NOT (json_valid({col('tool_calls')}) AND json_type({col('tool_calls')}) = 'array'))"
    events = q.json_array(col("circuit_breaker_events"))
    runs = {
        "id": run_id,
        "agent": col("agent_id"),
        "session": col("session_id"),
        "status": q.status(col("final_status"), "completed"),
        "started_at": started,
        "ended_at": ended,
        "duration_ms": f"coalesce({col('duration_ms')}, {q.duration_ms(started, ended)})",
        "tokens_in": col("prompt_tokens"),
        "tokens_out": col("completion_tokens"),
        "step_count": f"json_array_length({tools})",
        "failed_steps": failed_calls,
        "total_tokens_in": col("prompt_tokens"),
        "total_tokens_out": col("completion_tokens"),
        "error": col("error_message"),
        "flags": f"""CASE WHEN {bad_tools} THEN '["invalid_tool_calls"]' END""",
        "source_file": q.quote(path),
        "source_line": rowid,
        "metadata": f"json_object('workspace_id', {q.json_value(col('workspace_id'))})",
        "events": f"CASE WHEN json_array_length({events}) > 0 THEN {events} END",
        "extra": extra,
    }
    # Two ways to sort by start time without normalising every row (see _start_sort_key).
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
    # A non-object array element becomes {"value": element}, as row_to_run() does.
    obj = "(CASE WHEN j.type = 'object' THEN j.value ELSE json_object('value', j.value) END)"
    tool_start = q.timestamp(f"json_extract({obj}, '$.timestamp')")
    tool_ms = f"json_extract({obj}, '$.durationMs')"
    tool_end = (
        f"CASE WHEN json_type({obj}, '$.timestamp') IN ('integer', 'real') AND {tool_ms} IS NOT NULL THEN "
        + q.timestamp(f"(json_extract({obj}, '$.timestamp') + {tool_ms})")
        + " END"
    )
    error = f"CASE WHEN json_type({obj}, '$.error') != 'null' THEN json_extract({obj}, '$.error') END"
    rest = f"json_remove({obj}, " + ", ".join(f"'$.{k}'" for k in TOOL_KNOWN) + ")"
    steps = {
        "run_id": run_id,
        "id": "'call-' || (j.key + 1)",
        "seq": "j.key",
        "ord": "j.key",
        "depth": "0",
        "size": "1",
        "child_count": "0",
        "name": f"coalesce(json_extract({obj}, '$.toolName'), 'tool call')",
        "kind": "'tool'",
        "raw_type": "'tool_call'",
        "status": f"CASE WHEN {error} IS NOT NULL THEN 'failed' ELSE 'completed' END",
        "started_at": tool_start,
        "ended_at": tool_end,
        "duration_ms": tool_ms,
        "error": error,
        "extra": f"CASE WHEN {rest} != '{{}}' THEN {rest} END",
    }
    conn.execute(f"""
        CREATE TEMP VIEW steps AS SELECT
            {view_columns(STEP_COLUMNS, steps)}
        FROM {TABLE} t, json_each({tools}) j
    """)
    _odd_values(conn, col, rowid, run_id)
    if null_ids:
        conn.execute(f"""
            CREATE TEMP VIEW problems AS SELECT
                t.rowid AS n, t.rowid AS line, 'row-' || t.rowid AS run_id,
                'the row has no id: shown as row-' || t.rowid AS message
            FROM {TABLE} t WHERE {no_id}
        """)
    return sort_keys


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
    run_id = normalize.ident(row.get("id")) or f"row-{row['rowid']}"
    if row.get("id") in (None, ""):
        report(Problem(f"the row has no id: shown as {run_id}", line=row["rowid"], run_id=run_id))
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
        source_line=row["rowid"],
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
        run.flags.append("invalid_tool_calls")
        report(
            Problem(
                f"run {run_id!r}: tool_calls is not a JSON array; no tool steps shown", line=row["rowid"], run_id=run_id
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
