"""Arize Phoenix's own database (`phoenix.db`): projects, traces, spans with OpenInference attributes.

Read in place and read-only. A run is a trace; its steps are its spans, with Phoenix's annotations
as evaluation pseudo-steps: under the span they judge, at the top of the run for trace annotations,
and at the top of every run of the session for session annotations. The run list is SQL over
Phoenix's tables (a 200k-span database lists at once); a trace's tree is built in Python when it is
asked for (sqlite_steps.py), and `tracetui import` reads the same views.

Tokens: OpenInference's `llm.token_count.prompt` counts every input token, the cache reads and
writes in `prompt_details` included, and `completion` counts the reasoning in `completion_details`:
tracetui's convention already, so the details are kept as the parts. Cost: what Phoenix stored in
`span_costs` is the source's own figure (Phoenix prices a call from its model price table when the
span arrives) and is used as reported; a call Phoenix could not price is priced by tracetui, as an
estimate (sqlite_steps.ModelCalls).
"""

from __future__ import annotations

import copy
import functools
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .. import normalize, usage
from ..model import DERIVED_RUN_FIELDS, FAILED_STATUSES, Run, Step, finalize_run
from ..store import RUN_COLUMNS, STARTED, view_columns
from . import Catalog, DatabaseSource, Head, Place, ProblemSink, Relation, SourceFile, pgsql
from . import sqlsql as q
from .contract import PricedCalls, RunStart
from .otlp import _OPENINFERENCE_KIND
from .sqlite_steps import (
    KEY,
    Call,
    CallSql,
    Leaves,
    ModelCalls,
    Read,
    Texts,
    cost_at,
    count,
    count_at,
    dig,
    duration_sql,
    ident_sql,
    install_calls,
    install_odd_values,
    install_problems,
    install_steps,
    json_count_sql,
    json_ident_sql,
    kind_sql,
    model_call,
    money,
    obj,
    parse_json,
    read_in_place,
    run_totals,
    table_columns,
    text_sql,
    time_at,
)

NAME = "phoenix"
DESCRIPTION = "Arize Phoenix database (phoenix.db): traces, spans with OpenInference attributes, annotations"
DETECTION = (
    "SQLite file, or PostgreSQL schema, with Phoenix's tables projects, traces(trace_id) and"
    " spans(span_id, trace_rowid, attributes)"
)
PRIORITY = 80

_SPAN_COLUMNS = frozenset({"span_id", "trace_rowid", "parent_id", "attributes", "span_kind"})
_SPAN_READ = (
    "id",
    "span_id",
    "parent_id",
    "name",
    "span_kind",
    "start_time",
    "end_time",
    "attributes",
    "events",
    "status_code",
    "status_message",
    "llm_token_count_prompt",
    "llm_token_count_completion",
)
ANNOTATION_SEQ = 10**9  # annotations come after the work they judge
_COST_COLUMNS = frozenset({"span_rowid", "total_cost", "prompt_cost", "completion_cost"})  # of span_costs

# Where the token parts sit inside a span's (nested) OpenInference attributes.
_PARTS = {
    "tokens_cache_read": ("llm", "token_count", "prompt_details", "cache_read"),
    "tokens_cache_write": ("llm", "token_count", "prompt_details", "cache_write"),
    "tokens_reasoning": ("llm", "token_count", "completion_details", "reasoning"),
}
# (table, raw_type, which of its rows belong to the trace whose rowid is :t)
_ANNOTATIONS = (
    ("span_annotations", "span_annotation", "a.span_rowid IN (SELECT s.id FROM {spans} s WHERE s.trace_rowid = :t)"),
    ("trace_annotations", "trace_annotation", "a.trace_rowid = :t"),
    (
        "project_session_annotations",
        "session_annotation",
        "a.project_session_id = (SELECT x.project_session_rowid FROM {traces} x WHERE x.id = :t)",
    ),
)
_ANNOTATION_EXTRA = ("annotator_kind", "source", "identifier", "user_id", "updated_at")


def sniff(head: Head) -> bool:
    tables = head.tables
    return (
        _SPAN_COLUMNS <= set(tables.get("spans", ()))
        and "trace_id" in tables.get("traces", ())
        and "projects" in tables
    )


def in_place(head: Head) -> bool:
    return sniff(head)


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    yield from read_in_place(head, report, views, _steps)


# -- the views ------------------------------------------------------------------------------------


def views(conn: sqlite3.Connection, known_sort_keys: dict | None = None) -> dict[str, str]:
    """TEMP views runs, steps and problems over Phoenix's tables; the run list sorts by raw start time."""
    columns = table_columns(conn)
    span_columns = columns.get("spans", set())
    if not _SPAN_COLUMNS <= span_columns or "trace_id" not in columns.get("traces", set()):
        raise sqlite3.DatabaseError("not Phoenix's spans and traces tables")
    path = conn.execute("PRAGMA database_list").fetchone()[2]

    def col(name: str, alias: str = "s") -> str:
        return f"{alias}.{name}" if name in span_columns else "NULL"

    calls = _model_calls(columns, col)
    calls.register(conn)
    ids = q.run_id(conn, "traces", "t", "trace_id", what="trace")
    runs = run_columns(q, columns, calls.cost_sums, ids.sql) | {"source_file": q.quote(path), "source_line": "t.id"}
    started = runs["started_at"]
    conn.execute(f"""
        CREATE TEMP VIEW runs AS SELECT
            {view_columns(RUN_COLUMNS, runs, also={"started_key": "t.start_time", KEY: "t.id"})}
        FROM traces t
    """)
    install_steps(conn, NAME, _steps, runs_from="traces t", run_id=ids.sql, key="t.id", started_at=started)
    indexes = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'index'")}
    problems = [*([ids.missing] if ids.missing else []), *_problem_queries(columns, indexes, ids.sql)]
    install_problems(conn, problems, calls)
    install_odd_values(conn, _texts(ids.sql))
    install_calls(conn, calls_select(span_columns, calls, ids.sql))
    return {STARTED.name: "started_key"}


def calls_select(span_columns: set[str], calls: ModelCalls, run_id: str) -> str:
    """The model and tool calls of the traces, as _span_step reads them, for the calls view
    (sqlite_steps.install_calls): a span with a model or of kind tool. `run_id`: over `traces t`."""

    def col(name: str) -> str:
        return f"s.{name}" if name in span_columns else "NULL"

    model = json_ident_sql("s.attributes", "llm", "model_name")
    kind = kind_sql(ident_sql(col("span_kind")), _OPENINFERENCE_KIND)
    estimate = f"CASE WHEN {model} IS NOT NULL THEN {calls.estimate()} END"
    return f"""
        SELECT {run_id} AS run_id, {text_sql(col("name"), "span")} AS name, {kind} AS kind, {model} AS model,
            CASE WHEN {col("status_code")} = 'ERROR' THEN 'failed' ELSE 'completed' END AS status,
            {duration_sql(q.timestamp(col("start_time")), q.timestamp(col("end_time")))} AS duration_ms,
            {q.count(col("llm_token_count_prompt"))} AS tokens_in,
            {q.count(col("llm_token_count_completion"))} AS tokens_out,
            {q.count("s.attributes", *_PARTS["tokens_cache_read"])} AS tokens_cache_read, NULL AS credits,
            coalesce({calls.reported}, {estimate}) AS cost_usd, {calls.reported} AS reported_cost
        FROM traces t JOIN spans s ON s.trace_rowid = t.id
    """


def _texts(run_id: str) -> list[Texts]:
    """The tables whose values the views show, for odd_values; `run_id` the SQL of a trace's run id over `traces t`."""
    of_trace = f"(SELECT {run_id} FROM traces t WHERE t.id = {{}})"
    times = (time_at("start_time"), time_at("end_time"))
    annotation = (Read("score", kind="number"), time_at("created_at"))
    tokens = [count_at("llm_token_count_prompt"), count_at("llm_token_count_completion")]
    tokens += [count_at("attributes", *keys) for keys in _PARTS.values()]
    costs = tuple(cost_at(column) for column in ("total_cost", "prompt_cost", "completion_cost"))
    return [
        Texts("traces", "x", "trace", "x.trace_id", of_trace.format("x.id"), times, run_key="x.id"),
        Texts(
            "spans",
            "s",
            "span",
            "s.span_id",
            of_trace.format("s.trace_rowid"),
            (*tokens, *times),
            run_key="s.trace_rowid",
        ),
        Texts(
            "span_costs",
            "c",
            "cost of span",
            "(SELECT s.span_id FROM spans s WHERE s.id = c.span_rowid)",
            of_trace.format("c.trace_rowid"),
            costs,
            text=False,
            run_key="c.trace_rowid",
        ),
        Texts(
            "span_annotations",
            "a",
            "span annotation",
            "a.name",
            of_trace.format("(SELECT s.trace_rowid FROM spans s WHERE s.id = a.span_rowid)"),
            annotation,
        ),
        Texts(
            "trace_annotations",
            "a",
            "trace annotation",
            "a.name",
            of_trace.format("a.trace_rowid"),
            annotation,
            run_key="a.trace_rowid",
        ),
        Texts("project_session_annotations", "a", "session annotation", "a.name", reads=annotation),
        Texts("projects", "p", "project", "p.name"),
        Texts("project_sessions", "p", "session", "p.session_id"),
    ]


# -- the run mapping, once for SQLite (sqlsql) and PostgreSQL (pgsql.Postgres) -----------------------


def run_columns(
    d: Any,
    columns: dict[str, set[str]],
    cost_sums: Callable[[str], dict[str, str]] | None = None,
    run_id: str = "t.trace_id",
) -> dict[str, str]:
    """The runs' columns as SQL of dialect `d` over `traces t`: sums, counts and the root span's fields
    as subqueries over the spans (so a count or a sort of the run list never looks at the spans).
    `columns` are the tables there with their columns. _steps and _span_step are the Python side.
    `cost_sums` makes the cost sums from the SQL of the reported ones (SQLite prices the other calls
    in SQL, ModelCalls.cost_sums); without it, the costs are what Phoenix reported. `run_id`: the SQL
    of a run's id (sqlsql.run_id: row-N for a trace without one)."""
    span_columns = columns.get("spans", set())
    spans = d.table("spans")

    def col(name: str, alias: str = "s") -> str:
        return f"{alias}.{name}" if name in span_columns else "NULL"

    of_trace = f"FROM {spans} s WHERE s.trace_rowid = t.id"
    in_order = "ORDER BY s.start_time, s.id LIMIT 1"

    def root(column: str) -> str:
        return f"(SELECT s.{column} {of_trace} AND s.parent_id IS NULL {in_order})"

    def first(column: str) -> str:
        return f"(SELECT s.{column} {of_trace} {in_order})"

    def root_at(*keys: str) -> str:
        # (read inside the subquery: a read of JSON names its text several times, each a run of the subquery)
        return f"(SELECT {d.json_at('s.attributes', *keys)} {of_trace} AND s.parent_id IS NULL {in_order})"

    failed = f"{col('status_code')} = 'ERROR'"
    started, ended = d.timestamp("t.start_time"), d.timestamp("t.end_time")
    annotations = [
        f"(SELECT count(*) FROM {d.table(table)} a WHERE {_where(where, d, 't.id')})"
        for table, _, where in _ANNOTATIONS
        if table in columns
    ]
    cost = "NULL"
    if _COST_COLUMNS <= columns.get("span_costs", set()):
        cost = (
            f"(SELECT sum({d.money('c.total_cost')}) FROM {d.table('span_costs')} c JOIN {spans} s"
            " ON s.id = c.span_rowid WHERE s.trace_rowid = t.id)"
        )
    sums = {
        "tokens_in": f"(SELECT sum({d.count(col('llm_token_count_prompt'))}) {of_trace})",
        "tokens_out": f"(SELECT sum({d.count(col('llm_token_count_completion'))}) {of_trace})",
        **{part: f"(SELECT sum({d.count('s.attributes', *keys)}) {of_trace})" for part, keys in _PARTS.items()},
        **(cost_sums(cost) if cost_sums is not None else {"cost_usd": cost}),
    }
    error = (
        f"(SELECT coalesce(nullif({col('status_message')}, ''), {d.exception_text(col('events'))}, 'error')"
        f" {of_trace} AND s.parent_id IS NULL AND {failed} {in_order})"
    )
    session = "NULL"
    if "project_sessions" in columns:
        session = f"(SELECT ps.session_id FROM {d.table('project_sessions')} ps WHERE ps.id = t.project_session_rowid)"
    return {
        "id": run_id,
        "agent": f"coalesce({root_at('agent', 'name')}, {root('name')}, {first('name')})",
        "session": session,
        # Phoenix stores a span when it ends, the root last: a trace without one is still running.
        "status": (
            f"CASE WHEN EXISTS (SELECT 1 {of_trace} AND s.parent_id IS NULL AND {failed}) THEN 'failed'"
            f" WHEN EXISTS (SELECT 1 {of_trace} AND s.parent_id IS NULL) THEN 'completed' ELSE 'running' END"
        ),
        "started_at": started,
        "ended_at": ended,
        "duration_ms": d.duration_ms(started, ended),
        # Strings as they are and objects as compact JSON, as normalize.text does.
        "input": root_at("input", "value"),
        "output": root_at("output", "value"),
        "error": error,
        "step_count": " + ".join([f"(SELECT count(*) {of_trace})", *annotations]),
        "failed_steps": f"(SELECT count(*) {of_trace} AND {failed})",
        **run_totals({}, sums),
        "metadata": d.build_object(
            [
                ("project", d.json_value(f"(SELECT p.name FROM {d.table('projects')} p WHERE p.id = t.project_rowid)")),
                ("user", root_at("user", "id")),
            ]
        ),
    }


def _where(where: str, d: Any, trace_rowid: str) -> str:
    """An _ANNOTATIONS condition with its tables named in `d` and the trace's rowid put in."""
    return where.format(spans=d.table("spans"), traces=d.table("traces")).replace(":t", trace_rowid)


def _model_calls(columns: dict[str, set[str]], col: Callable[[str], str]) -> ModelCalls:
    """The spans, for pricing in SQL the model calls Phoenix gave no cost (as _span_step reads them)."""
    reported = "NULL"
    if _COST_COLUMNS <= columns.get("span_costs", set()):
        reported = f"(SELECT sum({q.money('c.total_cost')}) FROM span_costs c WHERE c.span_rowid = s.id)"
    prompt, completion = col("llm_token_count_prompt"), col("llm_token_count_completion")
    trace_start = f"(SELECT {q.timestamp('x.start_time')} FROM traces x WHERE x.id = s.trace_rowid)"
    # The twins read the attributes they need, taken out of the span's attributes at once (CallSql).
    names = [("llm", "model_name"), ("llm", "provider"), ("llm", "system")]
    leaves = Leaves("s.attributes", *names, *_PARTS.values())
    read, write, reasoning = (json_count_sql("leaves", leaves.at(*keys)) for keys in _PARTS.values())
    call = CallSql(
        values=(
            ("leaves", leaves.sql()),
            ("prompt", prompt),
            ("completion", completion),
            ("started", f"coalesce({q.timestamp('s.start_time')}, {trace_start})"),
        ),
        model=json_ident_sql("leaves", path=leaves.at(*names[0])),
        provider=_provider_sql("leaves", leaves.at(*names[1]), leaves.at(*names[2])),
        tokens=(q.count("prompt"), q.count("completion"), read, write, reasoning),  # (the convention: _tokens)
        started_at="started",
    )
    return ModelCalls(
        name=NAME,
        rows="spans s",
        key="s.id",
        where=f"{prompt} IS NOT NULL OR {completion} IS NOT NULL",  # no token counts, nothing to price
        reported=reported,
        call=call,
        of_run="s.trace_rowid = t.id",
    )


def _call(attributes: Any, prompt: Any, completion: Any, start_time: Any, trace_start: str | None) -> Call:
    """The model call of a span, as _span_step reads it (its time: the span's, else its trace's): the
    Python twin of _model_calls' CallSql, for the PostgreSQL reader's estimates (_priced_calls)."""
    attrs, _ = parse_json(attributes, dict)
    model, provider = _model(obj(attrs.get("llm")))
    return model_call(
        model, provider, _tokens(attrs, prompt, completion), normalize.timestamp(start_time) or trace_start
    )


def _provider_sql(column: str, provider: str, system: str) -> str:
    """Twin of _model's provider, from the JSON paths (SQL) of the provider and system in a column: the
    provider where it is there (not null, false, 0, "" or empty), else the system."""
    value = f"json_extract({column}, {provider})"
    given = (
        f"(CASE WHEN json_valid({column}) THEN (CASE json_type({column}, {provider})"
        f" WHEN 'true' THEN 1 WHEN 'integer' THEN {value} != 0 WHEN 'real' THEN {value} != 0"
        f" WHEN 'text' THEN {value} != '' WHEN 'array' THEN json_array_length({column}, {provider}) > 0"
        f" WHEN 'object' THEN {value} != '{{}}' ELSE 0 END) ELSE 0 END)"
    )
    return (
        f"(CASE WHEN {given} THEN {json_ident_sql(column, path=provider)}"
        f" ELSE {json_ident_sql(column, path=system)} END)"
    )


def _problem_queries(columns: dict[str, set[str]], indexes: set[str], run_id: str) -> list[str]:
    """Span rows whose JSON columns cannot be read: the span still shows, the raw text in extra.

    One scan of the spans for both columns (at 200k spans a scan is most of the cost). Phoenix indexes
    values inside `attributes` (ix_spans_session_id), so SQLite itself refuses to store attributes
    that are not JSON there: only the first character then needs a look.
    """
    span_columns = columns["spans"]
    checks = []
    for column, kind in (("attributes", "object"), ("events", "array")):
        if column not in span_columns:
            continue
        bad = f"(CASE WHEN json_valid(s.{column}) THEN json_type(s.{column}) != '{kind}' ELSE 1 END)"
        if column == "attributes" and "ix_spans_session_id" in indexes:
            bad = f"(substr(s.attributes, 1, 1) != '{{' AND {bad})"
        checks.append((bad, f"{column} is not a JSON {kind}"))
    if not checks:
        return []
    what = " || ' and ' || ".join(f"CASE WHEN {bad} THEN {q.quote(text)} END" for bad, text in checks)
    if len(checks) == 2:
        (bad_a, text_a), (bad_b, text_b) = checks
        what = f"CASE WHEN {bad_a} AND {bad_b} THEN {q.quote(text_a + '; ' + text_b)} WHEN {bad_a} THEN {q.quote(text_a)} ELSE {q.quote(text_b)} END"
    return [
        f"SELECT s.id AS line, (SELECT {run_id} FROM traces t WHERE t.id = s.trace_rowid) AS run_id,"
        f" 'span ' || quote(s.span_id) || ': ' || {what} || '; kept as text in the step''s extra' AS message"
        f" FROM spans s WHERE {' OR '.join(bad for bad, _ in checks)}"
    ]


# -- a trace's steps ----------------------------------------------------------------------------


def _steps(conn: sqlite3.Connection, trace_rowid: Any) -> list[Step]:
    columns = table_columns(conn, "spans", "span_costs", *(table for table, _, _ in _ANNOTATIONS))
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    return read_steps(q, lambda sql, params: cur.execute(sql, params).fetchall(), columns, trace_rowid)


Ask = Callable[[str, Any], Sequence[Mapping[str, Any]]]
"""Runs one query of a dialect's SQL with its parameters; rows by column name (sqlite3.Row, dict)."""


def read_steps(d: Any, ask: Ask, columns: dict[str, set[str]], trace_rowid: Any) -> list[Step]:
    """A trace's steps: its spans, then its annotations, read with dialect `d` (sqlsql or pgsql)."""
    select = ", ".join(c if c in columns["spans"] else f"NULL AS {c}" for c in _SPAN_READ)
    sql = f"SELECT {select} FROM {d.table('spans')} WHERE trace_rowid = {d.param} ORDER BY start_time, id"
    rows = ask(sql, [trace_rowid])
    costs: dict[Any, tuple] = {}
    if _COST_COLUMNS <= columns.get("span_costs", set()):
        sql = (
            f"SELECT c.span_rowid AS span, sum({d.money('c.total_cost')}) AS total,"
            f" sum({d.money('c.prompt_cost')}) AS prompt, sum({d.money('c.completion_cost')}) AS completion"
            f" FROM {d.table('span_costs')} c JOIN {d.table('spans')} s ON s.id = c.span_rowid"
            f" WHERE s.trace_rowid = {d.param} GROUP BY c.span_rowid"
        )
        costs = {r["span"]: (r["total"], r["prompt"], r["completion"]) for r in ask(sql, [trace_rowid])}
    steps = [_span_step(seq, row, costs.get(row["id"])) for seq, row in enumerate(rows)]
    span_ids = {row["id"]: row["span_id"] for row in rows}
    return steps + _annotation_steps(d, ask, columns, trace_rowid, span_ids)


def _annotation_steps(d: Any, ask: Ask, columns: dict[str, set[str]], trace_rowid: Any, span_ids: dict) -> list[Step]:
    """A trace's annotations as steps (`span_ids`: the span ids of its span rowids)."""
    steps: list[Step] = []
    for table, raw_type, where in _ANNOTATIONS:
        if table in columns:
            sql = f"SELECT a.* FROM {d.table(table)} a WHERE {_where(where, d, d.named('t'))} ORDER BY a.id"
            for row in ask(sql, {"t": trace_rowid}):
                steps.append(_annotation_step(dict(row), raw_type, span_ids, ANNOTATION_SEQ + len(steps)))
    return steps


def read_spans(d: Any, ask: Ask, columns: dict[str, set[str]], rowids: list[Any]) -> dict[Any, Callable[[int], Step]]:
    """Some spans of a trace read whole, by rowid: {rowid: its step given its seq}."""
    if not rowids:
        return {}
    select = ", ".join(c if c in columns["spans"] else f"NULL AS {c}" for c in _SPAN_READ)
    rows = ask(f"SELECT {select} FROM {d.table('spans')} WHERE id = ANY({d.param})", [rowids])
    costs: dict[Any, tuple] = {}
    if _COST_COLUMNS <= columns.get("span_costs", set()):
        sql = (
            f"SELECT c.span_rowid AS span, sum({d.money('c.total_cost')}) AS total,"
            f" sum({d.money('c.prompt_cost')}) AS prompt, sum({d.money('c.completion_cost')}) AS completion"
            f" FROM {d.table('span_costs')} c WHERE c.span_rowid = ANY({d.param}) GROUP BY c.span_rowid"
        )
        costs = {r["span"]: (r["total"], r["prompt"], r["completion"]) for r in ask(sql, [rowids])}
    return {row["id"]: functools.partial(_span_step, row=row, cost=costs.get(row["id"])) for row in rows}


def _span_step(seq: int, row: Mapping[str, Any], cost: tuple | None) -> Step:
    attrs, attrs_ok = parse_json(row["attributes"], dict)
    events, events_ok = parse_json(row["events"], list)
    raw_kind = normalize.ident(row["span_kind"])
    llm = obj(attrs.get("llm"))
    failed = row["status_code"] == "ERROR"
    step = Step(
        id=str(row["span_id"]),
        parent_id=normalize.ident(row["parent_id"]),
        seq=seq,
        name=normalize.text(row["name"]) or "span",
        kind=_OPENINFERENCE_KIND.get((raw_kind or "").upper()) or normalize.kind(raw_kind),
        raw_type=raw_kind,
        status="failed" if failed else "completed",
        started_at=normalize.timestamp(row["start_time"]),
        ended_at=normalize.timestamp(row["end_time"]),
        input=normalize.text(dig(attrs, "input", "value") or llm.get("input_messages")),
        output=normalize.text(dig(attrs, "output", "value") or llm.get("output_messages")),
        events=[e for e in events if isinstance(e, dict)],
    )
    step.model, step.provider = _model(llm)
    step.duration_ms = normalize.duration_between(step.started_at, step.ended_at)
    _tokens(attrs, row["llm_token_count_prompt"], row["llm_token_count_completion"]).apply(step)
    if failed:
        step.error = normalize.text(row["status_message"]) or _exception_text(step.events) or "error"
    if cost is not None:
        step.cost_usd = money(cost[0])
        step.extra["cost"] = {"prompt": cost[1], "completion": cost[2], "computed_by": "phoenix"}
    step.extra["attributes"] = attrs if attrs_ok else row["attributes"]
    if not events_ok and row["events"] is not None:
        step.extra["events"] = row["events"]
    if row["status_code"] not in ("OK", "ERROR", "UNSET"):
        step.extra["status_code"] = row["status_code"]
    return step


def _model(llm: dict) -> tuple[str | None, str | None]:
    return normalize.ident(llm.get("model_name")), normalize.ident(llm.get("provider") or llm.get("system"))


def _tokens(attrs: dict, prompt: Any, completion: Any) -> usage.Tokens:
    """Strict counts (numbers only), as the run list's SQL reads them; OpenInference's hold the parts."""
    read, write, reasoning = (count(dig(attrs, *keys)) for keys in _PARTS.values())
    return usage.counted(
        count(prompt),
        count(completion),
        cache_read=read,
        cache_write=write,
        reasoning=reasoning,
        input_has_cache=True,
        output_has_reasoning=True,
    )


def _exception_text(events: list[dict]) -> str | None:
    """Twin of sqlsql.exception_text."""
    for event in events:
        attrs = event.get("attributes")
        if event.get("name") == "exception" and isinstance(attrs, dict):
            parts = [attrs.get("exception.type"), attrs.get("exception.message")]
            text = ": ".join(str(p) for p in parts if p not in (None, ""))
            if text:
                return text
    return None


def _annotation_step(values: dict[str, Any], raw_type: str, span_ids: dict[Any, Any], seq: int) -> Step:
    step = Step(
        id=f"{raw_type}-{values.get('id')}",
        parent_id=normalize.ident(span_ids.get(values.get("span_rowid"))),
        seq=seq,
        name=normalize.text(values.get("name")) or "annotation",
        kind="evaluation",
        raw_type=raw_type,
        started_at=normalize.timestamp(values.get("created_at")),
        score=normalize.number(values.get("score")),
        verdict=normalize.text(values.get("label")),
        output=normalize.text(values.get("explanation")),
    )
    step.extra = {k: values[k] for k in _ANNOTATION_EXTRA if values.get(k) not in (None, "")}
    metadata, ok = parse_json(values.get("metadata"), dict)
    if metadata or (not ok and values.get("metadata") is not None):
        step.extra["metadata"] = metadata if ok else values["metadata"]
    return step


# -- in a PostgreSQL database (Phoenix's own schema there: JSONB attributes, timestamptz times) ---------

_ALIASES = {"s": "spans", "t": "traces", "c": "span_costs"}
_KIND_SQL = " ".join(f"WHEN {pgsql.quote(raw)} THEN {pgsql.quote(kind)}" for raw, kind in _OPENINFERENCE_KIND.items())


def database_places(catalog: Catalog) -> list[Place]:
    schemas = sorted({schema for schema, _ in catalog.tables})
    return [
        Place(schema, "traces", NAME)
        for schema in schemas
        if _SPAN_COLUMNS <= set(catalog.columns((schema, "spans")))
        and "trace_id" in catalog.columns((schema, "traces"))
        and catalog.columns((schema, "projects"))
    ]


def call_columns(d: Any, columns: dict[str, set[str]]) -> dict[str, str]:
    """The model and tool calls as SQL, for stats on the server (the SQL side of _span_step)."""
    spans = columns.get("spans", set())

    def col(name: str) -> str:
        return f"s.{name}" if name in spans else "NULL"

    cost = "NULL"
    if {"span_rowid", "total_cost"} <= columns.get("span_costs", set()):
        cost = f"(SELECT sum({d.money('c.total_cost')}) FROM {d.table('span_costs')} c WHERE c.span_rowid = s.id)"
    return {
        "run_id": "t.trace_id",
        "name": f"coalesce(nullif({col('name')}, ''), 'span')",
        "kind": f"(CASE upper({col('span_kind')}) {_KIND_SQL} ELSE 'other' END)",
        "model": d.json_at("s.attributes", "llm", "model_name"),
        "status": f"(CASE WHEN {col('status_code')} = 'ERROR' THEN 'failed' ELSE 'completed' END)",
        "duration_ms": d.duration_ms(d.timestamp("s.start_time"), d.timestamp("s.end_time")),
        "tokens_in": d.count(col("llm_token_count_prompt")),
        "tokens_out": d.count(col("llm_token_count_completion")),
        "tokens_cache_read": d.count("s.attributes", *_PARTS["tokens_cache_read"]),
        "cost_usd": cost,
        "cost_estimated": "0",
    }


def database_source(catalog: Catalog, place: Place) -> DatabaseSource:
    from psycopg.rows import dict_row

    from ..store import RUN_COLUMNS
    from ..store.schema import RUN_TOTAL_COLUMNS

    schema = place.schema
    columns = {table: set(cols) for (where, table), cols in catalog.tables.items() if where == schema}
    types = {
        f"{alias}.{c}": kind
        for alias, table in _ALIASES.items()
        for c, kind in catalog.columns((schema, table)).items()
    }
    d = pgsql.Postgres(catalog.server_version, types, schema)
    source_file = f"{catalog.label}#{place}"
    mapping = run_columns(d, columns) | {"source_file": pgsql.quote(source_file), "source_line": "t.id"}
    traces = f"{d.table('traces')} t"
    calls = call_columns(d, columns)
    model_or_tool = f"({calls['model']} IS NOT NULL OR upper(s.span_kind) = 'TOOL')"
    whole_run = Relation(mapping, traces).select(RUN_COLUMNS, also={"rowid": "t.id"})

    def read_run(conn: Any, run_id: str, report: ProblemSink, payloads: bool) -> Run | None:
        row = conn.execute(f"{whole_run} WHERE t.trace_id = %s", [run_id]).fetchone()
        if row is None:
            return None
        values = dict(zip([*RUN_COLUMNS, "rowid"], row, strict=True))
        rowid = values.pop("rowid")
        for column in RUN_TOTAL_COLUMNS:
            values.pop(column, None)
        for column in ("metadata", "flags", "events", "extra"):
            raw = values.get(column)
            values[column] = parse_json(raw, dict if column in ("metadata", "extra") else list)[0]
        run = Run(**values)
        cursor = conn.cursor(row_factory=dict_row)
        run.steps = read_steps(d, lambda sql, params: cursor.execute(sql, params).fetchall(), columns, rowid)
        return run

    def read_start(conn: Any, run_id: str, report: ProblemSink, limit: int) -> RunStart | None:
        # A big trace: its tree laid out from the spans' ids and parents only (not their attributes,
        # most of the bytes), then only its first `limit` steps (and roots) read whole.
        row = conn.execute(f"{whole_run} WHERE t.trace_id = %s", [run_id]).fetchone()
        if row is None:
            return None
        values = dict(zip([*RUN_COLUMNS, "rowid"], row, strict=True))
        rowid = values.pop("rowid")
        tree = f"SELECT id, span_id, parent_id, status_code FROM {d.table('spans')} WHERE trace_rowid = %s"
        spans = conn.execute(f"{tree} ORDER BY start_time, id", [rowid]).fetchall()
        if len(spans) <= limit:
            return None  # read whole (read_run)
        cursor = conn.cursor(row_factory=dict_row)
        ask = lambda sql, params: cursor.execute(sql, params).fetchall()  # noqa: E731
        annotations = _annotation_steps(d, ask, columns, rowid, {r[0]: r[1] for r in spans})
        laid_out = [
            Step(
                id=str(span_id),
                parent_id=normalize.ident(parent),
                seq=seq,
                status="failed" if code == "ERROR" else "completed",
            )
            for seq, (_, span_id, parent, code) in enumerate(spans)
        ] + [copy.copy(step) for step in annotations]
        finalize_run(Run(id=run_id, steps=laid_out))
        position = {id(step): i for i, step in enumerate(laid_out)}
        in_order = sorted(laid_out, key=lambda s: s.ord)
        first = in_order[:limit]
        later = [s for s in in_order[limit:] if s.parent_id is None][
            : max(0, limit - sum(s.parent_id is None for s in first))
        ]
        read = [position[id(s)] for s in [*first, *later] if position[id(s)] < len(spans)]
        whole = read_spans(d, ask, columns, [spans[i][0] for i in read])
        steps = {
            i: whole[spans[i][0]](i) if i < len(spans) else annotations[i - len(spans)]
            for i in (position[id(s)] for s in [*first, *later])
        }
        for s in later:
            kept = steps[position[id(s)]]
            kept.ord, kept.size, kept.depth, kept.child_count, kept.seq = s.ord, s.size, s.depth, s.child_count, s.seq
            kept.run_id = run_id
        for column in RUN_TOTAL_COLUMNS:
            values.pop(column, None)
        for column in ("metadata", "flags", "events", "extra"):
            values[column] = parse_json(values.get(column), dict if column in ("metadata", "extra") else list)[0]
        run = Run(**values)
        totals = {name: getattr(run, name) for name in DERIVED_RUN_FIELDS if name.startswith("steps_")}
        run.steps = [steps[position[id(s)]] for s in first]
        failed = [(s.id, s.ord, s.size) for s in in_order if s.status in FAILED_STATUSES]
        roots = sum(s.parent_id is None for s in laid_out)
        layout = {s.id: (s.size, s.child_count) for s in first}
        return RunStart(run, len(laid_out), failed, roots, [steps[position[id(s)]] for s in later], totals, layout)

    def read_runs(conn: Any, report: ProblemSink) -> Iterator[Run]:
        ids = [r[0] for r in conn.execute(f"SELECT trace_id FROM {traces} ORDER BY t.start_time, t.id")]
        for run_id in ids:
            run = read_run(conn, run_id, report, True)
            if run is not None:
                yield run

    return DatabaseSource(
        place=place,
        runs=Relation(mapping, traces),
        by_id="t.trace_id = %s",
        tie="t.trace_id",
        read_run=read_run,
        read_runs=read_runs,
        read_start=read_start,
        order={"started": "t.start_time"},
        calls=Relation(calls, f"{d.table('spans')} s JOIN {traces} ON t.id = s.trace_rowid", model_or_tool),
        steps=Relation({c: f"x.{c}" for c in _SEARCHED_STEP}, f"({searched_steps(d, columns, calls)}) x"),
        priced_calls=_priced_calls(d, columns, calls),
    )


_PRICED_VALUES = ("attributes", "prompt", "completion", "start_time", "trace_start")


def _priced_calls(d: Any, columns: dict[str, set[str]], calls: dict[str, str]) -> PricedCalls:
    """The model calls Phoenix gave no cost, read by _call as _model_calls has SQLite read them: of the
    attributes only what a price needs (the model and the token counts, not the messages)."""
    span_columns = columns.get("spans", set())

    def col(name: str) -> str:
        return f"s.{name}" if name in span_columns else "NULL"

    attributes = d.json_object("s.attributes")
    llm = ", ".join(f"'{key}', {attributes} #> '{{llm,{key}}}'" for key in ("model_name", "provider", "system"))
    tokens = f"{attributes} #> '{{llm,token_count}}'"
    prompt, completion = col("llm_token_count_prompt"), col("llm_token_count_completion")
    relation = Relation(
        {
            "key": "s.id",
            "run_id": calls["run_id"],
            **{name: calls[name] for name in ("model", "name", "kind")},
            "attributes": f"jsonb_build_object('llm', jsonb_build_object({llm}, 'token_count', {tokens}))::text",
            "prompt": prompt,
            "completion": completion,
            "start_time": d.timestamp("s.start_time"),
            "trace_start": d.timestamp("t.start_time"),
        },
        f"{d.table('spans')} s JOIN {d.table('traces')} t ON t.id = s.trace_rowid",
        f"({prompt} IS NOT NULL OR {completion} IS NOT NULL) AND {calls['cost_usd']} IS NULL"
        f" AND {calls['model']} IS NOT NULL",
    )
    return PricedCalls(relation, _PRICED_VALUES, _call)


_SEARCHED_STEP = ("run_id", "id", "name", "kind", "ord", "model", "error", "input", "output")


def searched_steps(d: Any, columns: dict[str, set[str]], calls: dict[str, str]) -> str:
    """The steps' searched text as SQL (the SQL side of _span_step and _annotation_step), so that a search
    runs on the server: each span, then the annotations. `ord` is a step's place in its trace by start
    time, the annotations after the spans (as the tree orders them when no two subtrees overlap in time)."""
    spans, traces = d.table("spans"), d.table("traces")
    span_columns = columns.get("spans", set())

    def col(name: str) -> str:
        return f"s.{name}" if name in span_columns else "NULL"

    def text(*keys: str) -> str:
        return f"nullif({d.json_at('s.attributes', *keys)}, '')"

    count_spans = f"(SELECT count(*) FROM {spans} y WHERE y.trace_rowid = t.id)"
    error = f"coalesce(nullif({col('status_message')}, ''), {d.exception_text(col('events'))}, 'error')"
    parts = [
        f"""SELECT t.trace_id::text AS run_id, s.span_id::text AS id, {calls["name"]} AS name, {calls["kind"]} AS kind,
            (SELECT count(*) FROM {spans} y WHERE y.trace_rowid = s.trace_rowid
                AND (y.start_time, y.id) < (s.start_time, s.id)) AS ord,
            {calls["model"]} AS model, (CASE WHEN {col("status_code")} = 'ERROR' THEN {error} END) AS error,
            coalesce({text("input", "value")}, {text("llm", "input_messages")}) AS input,
            coalesce({text("output", "value")}, {text("llm", "output_messages")}) AS output
        FROM {spans} s JOIN {traces} t ON t.id = s.trace_rowid"""
    ]
    joins = {
        "span_annotations": f"{spans} s ON s.id = a.span_rowid JOIN {traces} t ON t.id = s.trace_rowid",
        "trace_annotations": f"{traces} t ON t.id = a.trace_rowid",
        "project_session_annotations": f"{traces} t ON t.project_session_rowid = a.project_session_id",
    }
    before = "0"  # the trace's annotations of the kinds read before (read_steps' order)
    for table, raw_type, where in _ANNOTATIONS:
        if table not in columns:
            continue
        earlier = f"(SELECT count(*) FROM {d.table(table)} b WHERE {_where(where, d, 't.id').replace('a.', 'b.')} AND b.id < a.id)"
        parts.append(
            f"""SELECT t.trace_id::text, {d.quote(raw_type + "-")} || a.id, coalesce(nullif(a.name, ''), 'annotation'),
                'evaluation', {count_spans} + {before} + {earlier}, NULL, NULL, NULL, a.explanation
            FROM {d.table(table)} a JOIN {joins[table]}"""
        )
        before += f" + (SELECT count(*) FROM {d.table(table)} b WHERE {_where(where, d, 't.id').replace('a.', 'b.')})"
    return " UNION ALL ".join(parts)
