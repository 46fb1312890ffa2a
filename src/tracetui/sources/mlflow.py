"""MLflow tracing's SQLite tracking store (`mlflow.db`, the default backend since MLflow 3.7).

Read in place and read-only. A run is a trace (`trace_info`); its steps are the spans of the
`spans` table, whose `content` column holds MLflow's span JSON (attribute values JSON-encoded once
more: `"mlflow.spanType": "\"TOOL\""`). Assessments (feedback and expectations) are evaluation
pseudo-steps under the span they judge, or at the top of the run: value as score (numbers,
booleans as 1/0) or verdict (text, booleans), rationale as output; a judge that failed gives a
failed evaluation. The run list is SQL; a trace's tree is built in Python (sqlite_steps.py).

Tokens: `mlflow.chat.tokenUsage` on the model-call spans; MLflow's `input_tokens` already counts the
cache reads and writes (its Anthropic integration adds them in), so it is tokens_in as it stands.
Trace-level usage and cost (`trace_info` columns, or the `mlflow.trace.tokenUsage` and
`mlflow.trace.cost` metadata of older versions, read where a column is empty) are the run's
reported totals. Cost is MLflow's own figure (computed by MLflow from its price data), used as
reported; a model call without one is priced by tracetui, as an estimate (sqlite_steps.ModelCalls). Errors: MLflow leaves the status message empty; the text is in the span's
`exception` event.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from .. import normalize, usage
from ..model import ESTIMATED_COST, Run, Step
from ..store import RUN_COLUMNS, STARTED, view_columns
from . import Head, ProblemSink, SourceFile
from . import sqlsql as q
from .sqlite_steps import (
    JSON_READS,
    KEY,
    CallSql,
    Leaves,
    ModelCalls,
    Texts,
    cost_at,
    count,
    count_at,
    epoch_time_sql,
    ident_sql,
    install_calls,
    install_odd_values,
    install_problems,
    install_steps,
    json_ident_sql,
    kind_sql,
    money,
    obj,
    parse_json,
    read_in_place,
    run_totals,
    table_columns,
    text_sql,
    time_at,
)

NAME = "mlflow"
DESCRIPTION = "MLflow tracking store (mlflow.db): traces, their spans and assessments"
DETECTION = "SQLite file with MLflow's tables experiments and trace_info(request_id, experiment_id, ...)"
PRIORITY = 80

ASSESSMENT_SEQ = 10**9  # assessments come after the work they judge
_USAGE = "mlflow.chat.tokenUsage"
_TOKENS = {  # step field: key of MLflow's token usage
    "tokens_in": "input_tokens",
    "tokens_out": "output_tokens",
    "tokens_cache_read": "cache_read_input_tokens",
    "tokens_cache_write": "cache_creation_input_tokens",
}
_TRACE_TOKENS = {  # run field: trace_info column (the same names as the usage keys)
    "tokens_in": "input_tokens",
    "tokens_out": "output_tokens",
    "tokens_cache_read": "cache_read_input_tokens",
    "tokens_cache_write": "cache_creation_input_tokens",
}
_KIND = {
    "LLM": "llm",
    "CHAT_MODEL": "llm",
    "TOOL": "tool",
    "AGENT": "agent",
    "RETRIEVER": "retrieval",
    "EMBEDDING": "retrieval",
    "RERANKER": "retrieval",
    "EVALUATOR": "evaluation",
    "GUARDRAIL": "governance",
}
# Trace-level usage and cost as MLflow wrote them before trace_info had columns for them: JSON text in
# trace_request_metadata, under the keys of the columns (input_tokens, ..., total_cost).
_OLD_USAGE, _OLD_COST = "mlflow.trace.tokenUsage", "mlflow.trace.cost"
_MODEL_ATTRIBUTES = ("mlflow.llm.model", "mlflow.llm.provider")
_MAPPED_ATTRIBUTES = frozenset(
    {"mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.spanType", _USAGE, *_MODEL_ATTRIBUTES}
)
_SPAN_READ = (
    "span_id",
    "parent_span_id",
    "name",
    "type",
    "status",
    "start_time_unix_nano",
    "end_time_unix_nano",
    "content",
    "total_cost",
    "input_cost",
    "output_cost",
    "model_name",
    "model_provider",
)
_NOT_METADATA = ("mlflow.traceInputs", "mlflow.traceOutputs")


def sniff(head: Head) -> bool:
    tables = head.tables
    return {"request_id", "experiment_id", "timestamp_ms"} <= set(tables.get("trace_info", ())) and (
        "experiments" in tables
    )


def in_place(head: Head) -> bool:
    return sniff(head)


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    yield from read_in_place(head, report, views, _steps)


# -- the views ------------------------------------------------------------------------------------


def _usage(content: str) -> str:
    """The span's token usage object (JSON text), decoded from its JSON-encoded attribute value."""
    return q.json_at(content, "attributes", _USAGE)


def views(conn: sqlite3.Connection, known_sort_keys: dict | None = None) -> dict[str, str]:
    """TEMP views runs, steps and problems over MLflow's trace tables."""
    columns = table_columns(conn)
    info = columns.get("trace_info", set())
    if not {"request_id", "timestamp_ms"} <= info:
        raise sqlite3.DatabaseError("trace_info lacks request_id or timestamp_ms")
    span_columns = columns.get("spans", set())
    has_spans = {"trace_id", "span_id", "content"} <= span_columns
    assessment_columns = columns.get("assessments", set())
    has_assessments = {"trace_id", "assessment_id"} <= assessment_columns
    path = conn.execute("PRAGMA database_list").fetchone()[2]

    def ti(name: str) -> str:
        return f"ti.{name}" if name in info else "NULL"

    def meta(key: str) -> str:
        if "trace_request_metadata" not in columns:
            return "NULL"
        return f"(SELECT m.value FROM trace_request_metadata m WHERE m.request_id = ti.request_id AND m.key = {q.quote(key)})"

    def tag(key: str) -> str:
        if "trace_tags" not in columns:
            return "NULL"
        return f"(SELECT g.value FROM trace_tags g WHERE g.request_id = ti.request_id AND g.key = {q.quote(key)})"

    of_trace = "FROM spans s WHERE s.trace_id = ti.request_id"
    of_assessments = "FROM assessments a WHERE a.trace_id = ti.request_id"
    calls = _model_calls(span_columns) if has_spans else None
    sums = {name: "NULL" for name in (*_TOKENS, "cost_usd", ESTIMATED_COST)}
    if calls is not None:
        calls.register(conn)
        sums |= {name: f"(SELECT sum({q.count(_usage('s.content'), key)}) {of_trace})" for name, key in _TOKENS.items()}
        sums |= calls.cost_sums(f"(SELECT sum({calls.reported}) {of_trace})")
    old_usage, old_cost = meta(_OLD_USAGE), meta(_OLD_COST)  # before the trace_info columns existed
    reported = {
        name: f"coalesce({q.count(ti(column))}, {q.count(old_usage, column)})" for name, column in _TRACE_TOKENS.items()
    } | {"cost_usd": f"coalesce({q.money(ti('total_cost'))}, {q.money(old_cost, 'total_cost')})"}
    started = q.timestamp("ti.timestamp_ms")
    took = ti("execution_time_ms")
    ended = f"CASE WHEN typeof({took}) = 'integer' THEN {q.timestamp(f'(ti.timestamp_ms + {took})')} END"
    failed_assessment = "a.error IS NOT NULL AND a.error NOT IN ('', 'null')" if "error" in assessment_columns else "0"
    step_count = [f"(SELECT count(*) {of_trace})"] if has_spans else []
    failed = [f"(SELECT count(*) {of_trace} AND s.status = 'ERROR')"] if "status" in span_columns and has_spans else []
    if has_assessments:
        step_count.append(f"(SELECT count(*) {of_assessments})")
        failed.append(f"(SELECT count(*) {of_assessments} AND {failed_assessment})")
    root_error = "NULL"
    if has_spans and {"parent_span_id", "status"} <= span_columns:
        message = f"nullif({q.json_at('s.content', 'status', 'message')}, '')"
        events = q.json_at("s.content", "events")
        root_error = (
            f"(SELECT coalesce({message}, {q.exception_text(events)}, 'error') {of_trace}"
            " AND s.parent_span_id IS NULL AND s.status = 'ERROR' LIMIT 1)"
        )
    root_name = f"(SELECT s.name {of_trace} AND s.parent_span_id IS NULL LIMIT 1)" if has_spans else "NULL"
    status = q.status(ti("status"), "completed")
    metadata = "NULL"
    if "trace_request_metadata" in columns:
        skip = ", ".join(q.quote(k) for k in _NOT_METADATA)
        metadata = (
            f"(SELECT json_group_object({q.json_label('m.key')}, {q.json_value('m.value')}) FROM trace_request_metadata m"
            f" WHERE m.request_id = ti.request_id AND m.key NOT IN ({skip}))"
        )
    tags = "NULL"
    if "trace_tags" in columns:
        tags = (
            f"(SELECT json_group_object({q.json_label('g.key')}, {q.json_value('g.value')}) FROM trace_tags g"
            " WHERE g.request_id = ti.request_id)"
        )
    experiment = "e.name" if "name" in columns.get("experiments", set()) else "NULL"
    ids = q.run_id(conn, "trace_info", "ti", "request_id", what="trace")
    runs = {
        "id": ids.sql,
        "agent": f"coalesce({ti('trace_name')}, {tag('mlflow.traceName')}, {root_name})",
        "session": f"coalesce({ti('session_id')}, {meta('mlflow.trace.session')})",
        "status": status,
        "started_at": started,
        "ended_at": ended,
        "duration_ms": q.money(ti("execution_time_ms")),
        "input": ti("request_preview"),
        "output": ti("response_preview"),
        "error": f"CASE WHEN {status} = 'failed' THEN coalesce({root_error}, 'error') END",
        **reported,
        "step_count": " + ".join(step_count) or "0",
        "failed_steps": " + ".join(failed) or "0",
        **run_totals(reported, sums),
        "source_file": q.quote(path),
        "source_line": "ti.rowid",
        "metadata": metadata,
        "extra": (
            f"json_object('experiment', {q.json_value(experiment)}, 'experiment_id', {q.json_value(ti('experiment_id'))},"
            f" 'client_request_id', {q.json_value(ti('client_request_id'))}, 'tags', json({tags}))"
        ),
    }
    experiments = "LEFT JOIN experiments e ON e.experiment_id = ti.experiment_id" if experiment != "NULL" else ""
    conn.execute(f"""
        CREATE TEMP VIEW runs AS SELECT
            {view_columns(RUN_COLUMNS, runs, also={KEY: "ti.request_id", "started_key": "ti.timestamp_ms"})}
        FROM trace_info ti {experiments}
    """)
    install_steps(
        conn, NAME, _steps, runs_from="trace_info ti", run_id=ids.sql, key="ti.request_id", started_at=started
    )
    problems = [ids.missing] if ids.missing else []
    if has_spans:
        # A span of a trace shown as row-N is listed under that name.
        of_span = f"coalesce((SELECT {ids.sql} FROM trace_info ti WHERE ti.request_id = s.trace_id), s.trace_id)"
        problems.append(
            f"SELECT s.rowid AS line, {'s.trace_id' if ids.plain else of_span} AS run_id, 'span ' || quote(s.span_id) ||"
            " ': content is not a JSON object; only its table columns are shown' AS message FROM spans s"
            " WHERE CASE WHEN json_valid(s.content) THEN json_type(s.content) != 'object' ELSE 1 END"
        )
    install_problems(conn, problems, calls)
    install_odd_values(conn, _texts(ids))
    if calls is not None:
        install_calls(conn, calls_select(span_columns, calls, ids.sql))
    return {STARTED.name: "started_key"}  # epoch milliseconds sort as the times do, without converting each


def _texts(ids: q.RunId) -> list[Texts]:
    """The tables whose values the views show, for odd_values; `ids` the traces' run ids over `trace_info ti`."""
    of_trace = f"(SELECT {ids.sql} FROM trace_info ti WHERE ti.request_id = {{}})"
    trace = [time_at("timestamp_ms"), count_at("execution_time_ms"), cost_at("total_cost")]
    trace += [count_at(column) for column in _TRACE_TOKENS.values()]
    span = [time_at("start_time_unix_nano"), time_at("end_time_unix_nano"), cost_at("total_cost")]
    span += [count_at("content", key, inside=("attributes", _USAGE)) for key in _TOKENS.values()]
    span.append(cost_at("content", "total_cost", inside=("attributes", "mlflow.llm.cost")))
    return [
        Texts(
            "trace_info",
            "x",
            "trace",
            "x.request_id",
            of_trace.format("x.request_id"),
            tuple(trace),
            run_key="x.request_id",
        ),
        Texts("spans", "s", "span", "s.span_id", of_trace.format("s.trace_id"), tuple(span), run_key="s.trace_id"),
        Texts(
            "assessments",
            "a",
            "assessment",
            "a.assessment_id",
            of_trace.format("a.trace_id"),
            (time_at("created_timestamp"),),
            run_key="a.trace_id",
        ),
        Texts("trace_tags", "g", "tag", "g.key", of_trace.format("g.request_id")),
        Texts("trace_request_metadata", "m", "metadata", "m.key", of_trace.format("m.request_id")),
        *(
            Texts(
                "trace_request_metadata",
                "m",
                "metadata",
                "m.key",
                of_trace.format("m.request_id"),
                reads,
                text=False,  # (its text is checked above)
                run_key="m.request_id",
                where=f"m.key = {q.quote(key)}",
            )
            for key, reads in (
                (_OLD_USAGE, tuple(count_at("value", column) for column in _TRACE_TOKENS.values())),
                (_OLD_COST, (cost_at("value", "total_cost"),)),
            )
        ),
        Texts("experiments", "e", "experiment", "e.name"),
    ]


def _model_calls(span_columns: set[str]) -> ModelCalls:
    """The spans, for pricing in SQL the model calls MLflow gave no cost (as _span_step reads them)."""

    def col(name: str) -> str:
        return f"s.{name}" if name in span_columns else "NULL"

    trace_start = f"(SELECT {q.timestamp('x.timestamp_ms')} FROM trace_info x WHERE x.request_id = s.trace_id)"
    model_key, provider_key = _MODEL_ATTRIBUTES
    # The twins read the attributes they need, taken out of the span's content at once (CallSql).
    leaves = Leaves("s.content", ("attributes", _USAGE), ("attributes", model_key), ("attributes", provider_key))
    usage = f"json_extract(leaves, {leaves.at('attributes', _USAGE)})"
    tokens_in, tokens_out, read, write = (q.count(usage, key) for key in _TOKENS.values())
    call = CallSql(
        values=(
            ("leaves", leaves.sql()),
            ("model_name", col("model_name")),
            ("model_provider", col("model_provider")),
            ("started", f"coalesce({epoch_time_sql(col('start_time_unix_nano'))}, {trace_start})"),
        ),
        model=f"coalesce({ident_sql('model_name')}, {_attribute_sql('leaves', leaves.at('attributes', model_key))})",
        provider=(
            f"coalesce({ident_sql('model_provider')},"
            f" {_attribute_sql('leaves', leaves.at('attributes', provider_key))})"
        ),
        tokens=(tokens_in, tokens_out, read, write, "NULL"),  # (MLflow's input holds the cache already: _tokens)
        started_at="started",
    )
    return ModelCalls(
        name=NAME,
        rows="spans s",
        key="s.rowid",
        # No token usage, nothing to price (its key may be spelled with \\u escapes: q.escaped_ascii)
        where=f"(instr(s.content, {q.quote(_USAGE)}) > 0 OR {q.escaped_ascii('s.content')})",
        reported=_span_cost_sql(span_columns),
        call=call,
        of_run="s.trace_id = ti.request_id",
    )


def _attribute_sql(column: str, path: str) -> str:
    """ident of an attribute's value as _decoded reads it: the JSON inside a string, else the string.
    `path`: the JSON path (SQL) of the attribute in `column`."""
    inner = f"(CASE WHEN json_valid({column}) THEN json_extract({column}, {path}) END)"
    return (
        f"(CASE WHEN json_type({column}, {path}) = 'text' THEN (CASE WHEN"
        f" json_valid({inner}) THEN {json_ident_sql(inner)} ELSE nullif({inner}, '') END)"
        f" ELSE {json_ident_sql(column, path=path)} END)"
    )


_ATTRIBUTE = "mlflow_attribute"
"""How sqlsql.JSON_READ reads an attribute as _attribute_sql does (its twin: _model reads them so)."""


def _content_attribute_sql(key: str) -> str:
    """_attribute_sql of an attribute in the span's content, its keys matched as JSON means them
    (`attributes` or the attribute's own key spelled with \\u escapes too: sqlsql.escaped_keys_too)."""
    keys = ("attributes", key)
    return q.escaped_keys_too("s.content", keys, _ATTRIBUTE, _attribute_sql("s.content", q.json_path(*keys)))


def calls_select(span_columns: set[str], calls: ModelCalls, run_id: str) -> str:
    """The model and tool calls of the traces, as _span_step reads them, for the calls view
    (sqlite_steps.install_calls): a span with a model or of kind tool. `run_id`: over `trace_info ti`."""

    def col(name: str) -> str:
        return f"s.{name}" if name in span_columns else "NULL"

    model = f"coalesce({ident_sql(col('model_name'))}, {_content_attribute_sql(_MODEL_ATTRIBUTES[0])})"
    kind = kind_sql(f"coalesce({ident_sql(col('type'))}, {_content_attribute_sql('mlflow.spanType')})", _KIND)
    estimate = f"CASE WHEN {model} IS NOT NULL THEN {calls.estimate()} END"
    start, end = col("start_time_unix_nano"), col("end_time_unix_nano")
    status = f"CASE WHEN {end} IS NULL THEN 'running' WHEN {col('status')} = 'ERROR' THEN 'failed' ELSE 'completed' END"
    timed = f"typeof({start}) = 'integer' AND typeof({end}) = 'integer' AND {end} >= {start}"
    return f"""
        SELECT {run_id} AS run_id, {text_sql(col("name"), "span")} AS name, {kind} AS kind, {model} AS model,
            {status} AS status, CASE WHEN {timed} THEN ({end} - {start}) / 1e6 END AS duration_ms,
            {", ".join(f"{q.count(_usage('s.content'), _TOKENS[name])} AS {name}" for name in ("tokens_in", "tokens_out", "tokens_cache_read"))},
            NULL AS credits, coalesce({calls.reported}, {estimate}) AS cost_usd, {calls.reported} AS reported_cost
        FROM trace_info ti JOIN spans s ON s.trace_id = CAST(ti.request_id AS TEXT)
    """


def _span_cost_sql(span_columns: set[str]) -> str:
    from_attribute = q.money(q.json_at("s.content", "attributes", "mlflow.llm.cost"), "total_cost")
    return f"coalesce({q.money('s.total_cost')}, {from_attribute})" if "total_cost" in span_columns else from_attribute


# -- a trace's steps ----------------------------------------------------------------------------


def _decoded(value: Any) -> Any:
    """An attribute value as MLflow meant it: the JSON inside the string, or the string itself."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


JSON_READS[_ATTRIBUTE] = lambda value: normalize.ident(_decoded(value))


def _steps(conn: sqlite3.Connection, request_id: Any) -> list[Step]:
    columns = table_columns(conn, "spans", "assessments")
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    steps: list[Step] = []
    span_ids: set[str] = set()
    if {"trace_id", "span_id", "content"} <= columns.get("spans", set()):
        select = ", ".join(c if c in columns["spans"] else f"NULL AS {c}" for c in _SPAN_READ)
        sql = f"SELECT {select} FROM spans WHERE trace_id = CAST(? AS TEXT) ORDER BY start_time_unix_nano, span_id"
        for seq, row in enumerate(cur.execute(sql, (q.text_param(request_id),)).fetchall()):
            steps.append(_span_step(seq, row))
        span_ids = {s.id for s in steps}
    if {"trace_id", "assessment_id"} <= columns.get("assessments", set()):
        sql = "SELECT * FROM assessments WHERE trace_id = CAST(? AS TEXT) ORDER BY created_timestamp, assessment_id"
        for n, row in enumerate(cur.execute(sql, (q.text_param(request_id),)).fetchall()):
            steps.append(_assessment_step(n, dict(zip(row.keys(), row, strict=True)), span_ids))
    return steps


def _span_step(seq: int, row: sqlite3.Row) -> Step:
    content, ok = parse_json(row["content"], dict)
    attrs = {key: _decoded(value) for key, value in obj(content.get("attributes")).items()}
    token_usage = obj(attrs.get(_USAGE))
    raw_type = normalize.ident(row["type"]) or normalize.ident(attrs.get("mlflow.spanType"))
    status = obj(content.get("status"))
    events = content.get("events") if isinstance(content.get("events"), list) else []
    failed = row["status"] == "ERROR"
    cost = obj(attrs.get("mlflow.llm.cost"))
    step = Step(
        id=str(row["span_id"]),
        parent_id=normalize.ident(row["parent_span_id"]),
        seq=seq,
        name=normalize.text(row["name"]) or "span",
        kind=_KIND.get((raw_type or "").upper()) or normalize.kind(raw_type),
        raw_type=raw_type,
        status="failed" if failed else "completed",
        started_at=normalize.timestamp(row["start_time_unix_nano"]),
        ended_at=normalize.timestamp(row["end_time_unix_nano"]),
        input=normalize.text(attrs.get("mlflow.spanInputs")),
        output=normalize.text(attrs.get("mlflow.spanOutputs")),
        cost_usd=money(row["total_cost"]) if money(row["total_cost"]) is not None else money(cost.get("total_cost")),
        events=[e for e in events if isinstance(e, dict)],
    )
    step.model, step.provider = _model(row["model_name"], row["model_provider"], attrs)
    if row["end_time_unix_nano"] is None:
        step.status = "running"
    _tokens(token_usage).apply(step)
    start, end = row["start_time_unix_nano"], row["end_time_unix_nano"]
    if isinstance(start, int) and isinstance(end, int) and end >= start:
        step.duration_ms = (end - start) / 1e6
    if failed:
        step.error = normalize.text(status.get("message")) or _exception_text(step.events) or "error"
    step.extra = {key: value for key, value in attrs.items() if key not in _MAPPED_ATTRIBUTES}
    if token_usage:
        step.extra["token_usage"] = token_usage
    if not ok:
        step.extra["content"] = row["content"]
    return step


def _model(model_name: Any, model_provider: Any, attrs: dict) -> tuple[str | None, str | None]:
    """The span's model and provider: its columns, else its attributes (decoded)."""
    model_key, provider_key = _MODEL_ATTRIBUTES
    model = normalize.ident(model_name) or normalize.ident(attrs.get(model_key))
    return model, normalize.ident(model_provider) or normalize.ident(attrs.get(provider_key))


def _tokens(token_usage: dict) -> usage.Tokens:
    """Strict counts (numbers only), as the run list's SQL reads them; MLflow's input holds the cache."""
    tokens_in, tokens_out, read, write = (count(token_usage.get(key)) for key in _TOKENS.values())
    return usage.counted(
        tokens_in, tokens_out, cache_read=read, cache_write=write, input_has_cache=True, output_has_reasoning=True
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


def _assessment_step(n: int, row: dict[str, Any], span_ids: set[str]) -> Step:
    value = _decoded(row.get("value"))
    span = normalize.ident(row.get("span_id"))
    step = Step(
        id=str(row["assessment_id"]),
        parent_id=span if span in span_ids else None,
        seq=ASSESSMENT_SEQ + n,
        name=normalize.text(row.get("name")) or "assessment",
        kind="evaluation",
        raw_type=normalize.ident(row.get("assessment_type")),
        started_at=normalize.timestamp(row.get("created_timestamp")),
        output=normalize.text(row.get("rationale")),
    )
    if isinstance(value, bool):
        step.verdict = "true" if value else "false"
        step.score = 1.0 if value else 0.0
    elif isinstance(value, (int, float)):
        step.score = float(value)
    elif value is not None:
        step.verdict = normalize.text(value)
    error = row.get("error")
    if error not in (None, "", "null"):
        step.status = "failed"
        details, ok = parse_json(error, dict)
        parts = [details.get("error_code"), details.get("error_message")] if ok else [error]
        step.error = ": ".join(str(p) for p in parts if p not in (None, "")) or str(error)
    step.extra = {
        key: row[key]
        for key in ("source_type", "source_id", "run_id", "overrides", "valid")
        if row.get(key) is not None
    }
    if "valid" in step.extra:
        step.extra["valid"] = bool(step.extra["valid"])
    if span is not None and span not in span_ids:
        step.extra["span_id"] = span
    metadata, ok = parse_json(row.get("assessment_metadata"), dict)
    if metadata or (not ok and row.get("assessment_metadata") is not None):
        step.extra["metadata"] = metadata if ok else row["assessment_metadata"]
    return step
