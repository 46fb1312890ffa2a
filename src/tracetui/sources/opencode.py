"""OpenCode's database (`opencode.db`): sessions, their messages and the messages' parts.

Read in place and read-only. A run is a top-level session; a session with a `parent_id` is a
subagent, nested under the `task` tool call that started it (the call's `state.metadata.sessionId`
names it), or at the top of its parent's run when no call does. Steps: each user message; under it
the assistant messages that answer it (`parentID`); under each, one model call per
`step-start` … `step-finish` pair with its tool calls, text and reasoning. A `retry` part is an event
of its message; a message with an `error` is a failed step.

Tokens: per model call on the `step-finish` part (the message's own `tokens` is only its last
call's). OpenCode stores `input` without the cache reads and writes and `output` without the
reasoning, so tokens_in = input + cache.read + cache.write and tokens_out = output + reasoning.
OpenCode's own `cost` is the reported cost (a call without one is priced by tracetui, as an
estimate); the session table's cost and token columns, summed over a run's sessions, are the run's
reported totals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

from .. import normalize, usage
from ..model import Run, Step
from ..store import RUN_COLUMNS, STARTED, view_columns
from ..store.reader import RUN_ROWS
from . import Head, ProblemSink, SourceFile
from . import sqlsql as q
from .sqlite_steps import (
    KEY,
    CallSql,
    ModelCalls,
    Texts,
    cost_at,
    count,
    count_at,
    dig,
    duration_sql,
    epoch_time_sql,
    install_calls,
    install_odd_values,
    install_problems,
    install_steps,
    json_ident_sql,
    json_text_sql,
    money,
    obj,
    parse_json,
    read_in_place,
    run_totals,
    table_columns,
    time_at,
)

NAME = "opencode"
DESCRIPTION = "OpenCode database (opencode.db): sessions, subagent sessions, messages and their parts"
DETECTION = (
    "SQLite file with OpenCode's tables session(id, parent_id), message(session_id, data), part(message_id, data)"
)
PRIORITY = 80

_TOOL_STATUS = {"completed": "completed", "error": "failed", "running": "running", "pending": "pending"}
# Part types read into steps; the others (file, agent, snapshot, subtask, new ones) are counted in the
# message's extra.parts, so format drift shows.
_READ_PARTS = frozenset({"step-start", "step-finish", "text", "reasoning", "tool", "retry", "patch", "compaction"})


def sniff(head: Head) -> bool:
    tables = head.tables
    return (
        {"id", "parent_id"} <= set(tables.get("session", ()))
        and {"session_id", "data"} <= set(tables.get("message", ()))
        and {"message_id", "data"} <= set(tables.get("part", ()))
    )


def in_place(head: Head) -> bool:
    return sniff(head)


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    yield from read_in_place(head, report, views, _steps)


# -- the views ------------------------------------------------------------------------------------


def views(conn: sqlite3.Connection, known_sort_keys: dict | None = None) -> dict[str, str]:
    """TEMP views runs (top-level sessions), steps and problems over OpenCode's tables."""
    columns = table_columns(conn)
    session = columns.get("session", set())
    if not {"id", "parent_id"} <= session:
        raise sqlite3.DatabaseError("session lacks id or parent_id")
    path = conn.execute("PRAGMA database_list").fetchone()[2]

    def col(name: str) -> str:
        return f"s.{name}" if name in session else "NULL"

    # A top-level session, or one whose parent is not in the file; where parent links loop, the
    # loop's smallest id stands for it (the others nest under it), so no session goes unseen.
    ancestors = (
        "WITH RECURSIVE up(id) AS (SELECT s.parent_id UNION SELECT x.parent_id FROM session x JOIN up ON x.id = up.id)"
    )
    # A session without an id cannot be found under its parent: it is a run of its own (row-N). NOT IN
    # a list holding NULL is never true, so NULL ids are kept out of the list of parents.
    is_run = (
        "(s.id IS NULL OR s.parent_id IS NULL OR s.parent_id NOT IN (SELECT x.id FROM session x WHERE x.id IS NOT NULL)"
        f" OR ({ancestors} SELECT max(up.id = s.id) AND min(up.id) = s.id FROM up))"
    )
    last = (
        "(SELECT m.data FROM message m WHERE m.session_id = s.id"
        f" AND {q.json_at('m.data', 'role')} = 'assistant' ORDER BY m.time_created DESC, m.id DESC LIMIT 1)"
    )
    error = q.json_at(last, "error")
    name, message = q.json_at(last, "error", "name"), q.json_at(last, "error", "data", "message")
    started, ended = q.timestamp(col("time_created")), q.timestamp(col("time_updated"))
    first_text = (
        f"(SELECT {q.json_at('p.data', 'text')} FROM part p WHERE p.session_id = s.id"
        f" AND {q.json_at('p.data', 'type')} = 'text' ORDER BY p.message_id, p.id LIMIT 1)"
    )
    reported: dict[str, str] = {}
    usage = {
        "tokens_in": ("tokens_input", "tokens_cache_read", "tokens_cache_write"),
        "tokens_out": ("tokens_output", "tokens_reasoning"),
        "tokens_cache_read": ("tokens_cache_read",),
        "tokens_cache_write": ("tokens_cache_write",),
        "tokens_reasoning": ("tokens_reasoning",),
    }
    tree = (
        "WITH RECURSIVE tree(id) AS (SELECT s.id UNION SELECT c.id FROM session c JOIN tree ON c.parent_id = tree.id)"
    )
    for field, parts in usage.items():
        if set(parts) <= session:
            total = " + ".join(f"coalesce({q.count('x.' + p)}, 0)" for p in parts)
            reported[field] = f"({tree} SELECT sum({total}) FROM session x WHERE x.id IN tree)"
    if "cost" in session:
        reported["cost_usd"] = f"({tree} SELECT sum({q.money('x.cost')}) FROM session x WHERE x.id IN tree)"
    ids = q.run_id(conn, "session", "s", what="session", where=is_run)
    totals = install_steps(
        conn, NAME, _steps, runs_from="session s", run_id=ids.sql, key="s.id", started_at=started, where=is_run
    )
    summed = {name[len("steps_") :]: expr for name, expr in totals.items() if name.startswith("steps_")}
    runs = {
        "id": ids.sql,
        "session": "nullif(s.id, '')",  # a run is a top-level OpenCode session (its subagents' sessions nest in it)
        "agent": _project_name(col("directory")),
        "status": (
            f"CASE WHEN {error} IS NOT NULL THEN 'failed'"
            f" WHEN {last} IS NOT NULL AND {q.json_at(last, 'time', 'completed')} IS NULL THEN 'running'"
            " ELSE 'completed' END"
        ),
        "started_at": started,
        "ended_at": ended,
        "duration_ms": q.duration_ms(started, ended),
        "input": first_text,
        "error": f"CASE WHEN {error} IS NOT NULL THEN coalesce({name} || ': ' || {message}, {name}, {message}, 'error') END",
        **reported,
        "step_count": totals["step_count"],
        "failed_steps": totals["failed_steps"],
        **run_totals(reported, summed),
        "source_file": q.quote(path),
        "source_line": "s.rowid",
        "metadata": (
            f"json_object('title', {q.json_value(col('title'))}, 'directory', {q.json_value(col('directory'))},"
            f" 'project', {q.json_value(col('project_id'))}, 'version', {q.json_value(col('version'))},"
            f" 'slug', {q.json_value(col('slug'))})"
        ),
    }
    conn.execute(f"""
        CREATE TEMP VIEW runs AS SELECT
            {view_columns(RUN_COLUMNS, runs, also={KEY: "s.id", "started_key": col("time_created")})}
        FROM session s WHERE {is_run}
    """)
    problems = [ids.missing] if ids.missing else []
    problems += [
        f"SELECT {alias}.rowid AS line, {alias}.session_id AS run_id, '{table} ' || quote({alias}.id) ||"
        f" ': data is not a JSON object; {what}' AS message FROM {table} {alias}"
        f" WHERE CASE WHEN json_valid({alias}.data) THEN json_type({alias}.data) != 'object' ELSE 1 END"
        for table, alias, what in (
            ("message", "m", "its parts are shown under a message of unknown role"),
            ("part", "p", "left out"),
        )
    ]
    calls = _model_calls()
    calls.register(conn)
    install_problems(conn, problems, calls)
    install_odd_values(conn, _texts(ids.sql, q.run_id(conn, "session", "r", what="session").sql))
    # The sessions whose rows a run's tree reads: its own and its subagents' (their odd values are met with it).
    conn.execute(
        f"CREATE TEMP VIEW {RUN_ROWS} AS WITH RECURSIVE tree(run_key, row_key) AS (SELECT s.id, s.id FROM session s"
        f" WHERE {is_run} UNION SELECT tree.run_key, c.id FROM session c JOIN tree ON c.parent_id = tree.row_key)"
        " SELECT run_key, row_key FROM tree"
    )
    install_calls(conn, calls_select(ids.sql, is_run, started, calls))
    return {STARTED.name: "started_key"}  # epoch milliseconds sort as the times do, without converting each


def _texts(run_id: str, run_id_r: str) -> list[Texts]:
    """The tables whose values the views show, for odd_values; `run_id` a run's id over `session s`
    (`run_id_r`: over `session r`). A subagent session's rows are named by the run whose tree holds
    them: its topmost ancestor's (as RUN_ROWS has them)."""

    def run_of(session: str, fallback: str) -> str:
        top = (
            "WITH RECURSIVE up(id, parent, n) AS (SELECT x.id, x.parent_id, 0 FROM session x WHERE x.id ="
            f" {session} UNION ALL SELECT x.id, x.parent_id, up.n + 1 FROM session x JOIN up ON x.id = up.parent"
            " WHERE up.n < 64) SELECT id FROM up ORDER BY n DESC LIMIT 1"
        )
        return f"coalesce((SELECT {run_id_r} FROM session r WHERE r.id = ({top})), {fallback})"

    times = (time_at("time_created"), time_at("time_updated"))
    totals = tuple(count_at(f"tokens_{part}") for part in ("input", "output", "reasoning", "cache_read", "cache_write"))
    tokens = [("tokens", "input"), ("tokens", "output"), ("tokens", "reasoning"), ("tokens", "cache", "read")]
    tokens.append(("tokens", "cache", "write"))
    part = (*(count_at("data", *keys) for keys in tokens), cost_at("data", "cost"))
    part += (time_at("data", "state", "time", "start"), time_at("data", "state", "time", "end"))
    return [
        Texts(
            "session",
            "s",
            "session",
            "s.id",
            run_of("s.id", run_id),
            (*times, *totals, cost_at("cost")),
            run_key="s.id",
        ),
        Texts(
            "message",
            "m",
            "message",
            "m.id",
            run_of("m.session_id", "m.session_id"),
            (time_at("data", "time", "created"),),
            run_key="m.session_id",
        ),
        Texts("part", "p", "part", "p.id", run_of("p.session_id", "p.session_id"), part, run_key="p.session_id"),
        Texts("project", "x", "project", "x.id"),
    ]


def _model_calls() -> ModelCalls:
    """The step-finish parts, for the models under `w` whose calls OpenCode gave no cost and the price
    table has no price for (as _Session reads them); the run totals come from the trees."""
    tokens = "tokens"  # the part's tokens object, taken out of it once (CallSql)
    read, write = q.count(tokens, "cache", "read"), q.count(tokens, "cache", "write")
    given_in, given_out = q.count(tokens, "input"), q.count(tokens, "output")
    reasoning = q.count(tokens, "reasoning")
    session_start = "(SELECT x.time_created FROM session x WHERE x.id = m.session_id)"
    call = CallSql(
        values=(
            ("tokens", "(CASE WHEN json_valid(p.data) THEN p.data -> '$.tokens' END)"),
            ("message", "m.data"),
            ("started", epoch_time_sql(session_start)),  # (no time of its own: _Session)
        ),
        model=json_ident_sql("message", "modelID"),
        provider=json_ident_sql("message", "providerID"),
        tokens=(*_tokens_sql(given_in, given_out, read, write, reasoning), read, write, reasoning),
        started_at="started",
        where=(
            "(CASE WHEN json_valid(p.data) THEN json_type(p.data) = 'object'"
            " AND json_extract(p.data, '$.type') IS 'step-finish' END)"
            " AND (CASE WHEN json_valid(m.data) THEN json_type(m.data) != 'object'"
            " OR json_extract(m.data, '$.role') IS NOT 'user' ELSE 1 END)"
        ),
    )
    return ModelCalls(
        name=NAME,
        rows="part p JOIN message m ON m.id = p.message_id AND m.session_id = p.session_id",
        key="p.rowid",
        where="instr(p.data, 'step-finish') > 0",  # the part's type, first looked for as text
        reported=q.money("p.data", "cost"),
        call=call,
    )


def _tokens_sql(given_in: str, given_out: str, read: str, write: str, reasoning: str) -> tuple[str, str]:
    """Twin of _tokens' tokens in and out: OpenCode's input without the cache, its output without the reasoning."""
    cache = f"(coalesce({read}, 0) + coalesce({write}, 0))"
    tokens_in = f"(CASE WHEN {cache} != 0 THEN coalesce({given_in}, 0) + {cache} ELSE {given_in} END)"
    tokens_out = (
        f"(CASE WHEN coalesce({reasoning}, 0) != 0 THEN coalesce({given_out}, 0) + {reasoning} ELSE {given_out} END)"
    )
    return tokens_in, tokens_out


def calls_select(run_id: str, is_run: str, started: str, calls: ModelCalls) -> str:
    """The model and tool calls of the runs, as _Session reads them, for the calls view
    (sqlite_steps.install_calls). `run_id`, `is_run` and `started` (the run's start): over `session s`."""
    role = q.json_at("m.data", "role")
    # The sessions each run's tree reads: its own, then (as _Session does) those whose parent is one of
    # them and those a tool call in an assistant message of one of them names.
    is_object = (
        "(CASE WHEN json_valid(p.data) THEN json_type(p.data) = 'object' END)"  # (json_type fails on other text)
    )
    of_session = (
        "JOIN message m ON m.session_id = CAST(r.sid AS TEXT)"
        " JOIN part p ON p.message_id = m.id AND p.session_id = CAST(r.sid AS TEXT)"
    )
    answered = f"{role} IS NOT 'user' AND {is_object}"
    named = "(CASE WHEN json_valid(p.data) THEN json_extract(p.data, '$.state.metadata.sessionId') END)"
    # Each model call: a step-start, or a step-finish that no step-start opened (the part before it among
    # the message's step parts is none or a step-finish); its usage and cost are on its step-finish.
    message_failed = (
        "(CASE WHEN json_valid(c.mdata) THEN json_type(c.mdata, '$.error') = 'object'"
        " AND json_extract(c.mdata, '$.error') != '{}' END)"
    )
    message_done = (
        "(CASE WHEN json_valid(c.mdata) THEN coalesce(json_type(c.mdata, '$.time.completed'), 'null') != 'null' END)"
    )
    status = (
        "CASE WHEN c.finish IS NOT NULL THEN 'completed' WHEN c.next_type IS NOT NULL THEN 'running'"
        f" WHEN {message_failed} THEN 'failed' WHEN {message_done} THEN 'completed' ELSE 'running' END"
    )
    read, write = q.count("p.data", "tokens", "cache", "read"), q.count("p.data", "tokens", "cache", "write")
    given_in, given_out = q.count("p.data", "tokens", "input"), q.count("p.data", "tokens", "output")
    reasoning = q.count("p.data", "tokens", "reasoning")
    tokens_in, tokens_out = _tokens_sql(given_in, given_out, read, write, reasoning)
    model = json_ident_sql("m.data", "modelID")
    # A tree prices its calls at its run's start; ModelCalls at their own session's start: the same for
    # the run's own session.
    estimate = (
        f"CASE WHEN {model} IS NULL THEN NULL WHEN c.sid IS c.root THEN {calls.estimate()}"
        f" ELSE {calls.estimate(at='c.run_start')} END"
    )
    reported = q.money("p.data", "cost")
    state = ("state",)
    tool_status = " ".join(f"WHEN {q.quote(raw)} THEN {q.quote(value)}" for raw, value in _TOOL_STATUS.items())
    return f"""
        WITH RECURSIVE reach(run_id, run_start, root, sid) AS (
            SELECT {run_id}, {started}, s.id, s.id FROM session s WHERE {is_run}
            UNION
            SELECT r.run_id, r.run_start, r.root, x.id FROM reach r JOIN session x ON x.parent_id = CAST(r.sid AS TEXT)
            UNION
            SELECT r.run_id, r.run_start, r.root, x.id FROM reach r {of_session} JOIN session x ON x.id = {named}
            WHERE {answered} AND {q.json_at("p.data", "type")} = 'tool'
                AND (CASE WHEN json_valid(p.data) THEN json_type(p.data, '$.state.metadata.sessionId') = 'text' END)
        ),
        parts AS (
            SELECT r.run_id, r.run_start, r.root, r.sid, m.rowid AS message, m.data AS mdata, p.rowid AS prow,
                p.id AS pid, p.data AS pdata, {q.json_at("p.data", "type")} AS type
            FROM reach r {of_session} WHERE {answered}
        ),
        steps AS (
            SELECT *, lag(type) OVER w AS before, lead(type) OVER w AS next_type, lead(prow) OVER w AS next_row
            FROM parts WHERE type IN ('step-start', 'step-finish')
            WINDOW w AS (PARTITION BY run_id, message ORDER BY pid, prow)
        ),
        model_calls AS (
            SELECT *, CASE WHEN type = 'step-finish' THEN prow WHEN next_type = 'step-finish' THEN next_row END AS finish
            FROM steps WHERE type = 'step-start' OR before IS NOT 'step-start'
        )
        SELECT c.run_id, {json_text_sql("m.data", ("modelID",), "model call")} AS name, 'llm' AS kind, {model} AS model,
            {status} AS status, NULL AS duration_ms, {tokens_in} AS tokens_in, {tokens_out} AS tokens_out,
            {read} AS tokens_cache_read, NULL AS credits, coalesce({reported}, {estimate}) AS cost_usd,
            {reported} AS reported_cost
        FROM model_calls c JOIN message m ON m.rowid = c.message LEFT JOIN part p ON p.rowid = c.finish
        UNION ALL
        SELECT c.run_id, {json_text_sql("c.pdata", ("tool",), "tool")}, 'tool', NULL,
            CASE {json_ident_sql("c.pdata", *state, "status")} {tool_status} ELSE 'completed' END,
            {duration_sql(q.timestamp(q.json_at("c.pdata", *state, "time", "start")), q.timestamp(q.json_at("c.pdata", *state, "time", "end")))},
            NULL, NULL, NULL, NULL, NULL, NULL
        FROM parts c WHERE c.type = 'tool'
    """


def _project_name(directory: str) -> str:
    """SQL twin of sessions.project_name: the last part of the working directory, as the coding-agent
    sources name a session's agent."""
    path = f"rtrim(replace(trim({directory}), '\\', '/'), '/')"
    return f"coalesce(nullif(substr({path}, length(rtrim({path}, replace({path}, '/', ''))) + 1), ''), {directory})"


# -- a session's steps ----------------------------------------------------------------------------


def _steps(conn: sqlite3.Connection, session_id: Any) -> list[Step]:
    steps: list[Step] = []
    _Session(conn, steps, {session_id}).read(session_id, None)
    return steps


class _Session:
    """Reads sessions into one run's step list, nesting subagent sessions under their task calls."""

    def __init__(self, conn: sqlite3.Connection, steps: list[Step], seen: set[Any]):
        self.conn = conn
        self.steps = steps
        self.seen = seen  # sessions already read: a loop of parent links is read once

    def read(self, session_id: Any, parent: str | None) -> None:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        messages = cur.execute(
            "SELECT id, data FROM message WHERE session_id = CAST(? AS TEXT) ORDER BY time_created, id",
            (q.text_param(session_id),),
        ).fetchall()
        parts: dict[Any, list[dict]] = {}
        for row in cur.execute(
            "SELECT id, message_id, data FROM part WHERE session_id = CAST(? AS TEXT) ORDER BY message_id, id",
            (q.text_param(session_id),),
        ):
            data, ok = parse_json(row["data"], dict)
            if ok:
                parts.setdefault(row["message_id"], []).append({**data, "id": row["id"]})
        user_steps: dict[Any, str] = {}
        for row in messages:
            data, _ = parse_json(row["data"], dict)
            if data.get("role") == "user":
                step = self._user(row["id"], data, parts.get(row["id"], []), parent)
                user_steps[row["id"]] = step.id
            else:
                self._assistant(row["id"], data, parts.get(row["id"], []), user_steps.get(data.get("parentID"), parent))
        children = cur.execute(
            "SELECT id, title FROM session WHERE parent_id = CAST(? AS TEXT) ORDER BY time_created, id",
            (q.text_param(session_id),),
        )
        for child in children.fetchall():
            if child["id"] not in self.seen:  # a subagent no task call named: at the top of its parent
                self.subagent(child["id"], parent)

    def subagent(self, session_id: Any, parent: str | None) -> None:
        """A subagent session as an agent step, its messages under it."""
        self.seen.add(session_id)
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        row = cur.execute("SELECT * FROM session WHERE id = CAST(? AS TEXT)", (q.text_param(session_id),)).fetchone()
        if row is None:
            return
        info = dict(zip(row.keys(), row, strict=True))
        step = self._add(
            Step(
                id=str(session_id),
                parent_id=parent,
                name=normalize.text(info.get("title")) or "subagent",
                kind="agent",
                raw_type="session",
                started_at=normalize.timestamp(info.get("time_created")),
                ended_at=normalize.timestamp(info.get("time_updated")),
            )
        )
        step.extra = {k: info[k] for k in ("agent", "model", "cost", "directory") if info.get(k) not in (None, "")}
        self.read(session_id, step.id)

    def _add(self, step: Step) -> Step:
        step.seq = len(self.steps)
        self.steps.append(step)
        return step

    def _user(self, message_id: Any, data: dict, parts: list[dict], parent: str | None) -> Step:
        texts = [p["text"] for p in parts if p.get("type") == "text" and isinstance(p.get("text"), str)]
        prompt = "\n\n".join(texts)
        step = self._add(
            Step(
                id=str(message_id),
                parent_id=parent,
                name=(prompt.strip().splitlines() or ["user"])[0],
                kind="other",
                raw_type="turn",
                started_at=normalize.timestamp(dig(data, "time", "created")),
                input=prompt or None,
            )
        )
        step.extra = {k: v for k, v in data.items() if k not in ("role", "time")}
        _count_parts(step, parts)
        for part in parts:
            if part.get("type") == "compaction":
                self._compaction(part, step.id)
        return step

    def _assistant(self, message_id: Any, data: dict, parts: list[dict], parent: str | None) -> None:
        error = obj(data.get("error"))
        completed = dig(data, "time", "completed")
        step = self._add(
            Step(
                id=str(message_id),
                parent_id=parent,
                name=normalize.text(data.get("agent") or data.get("mode")) or "assistant",
                kind="agent",
                raw_type=normalize.ident(data.get("role")) or "message",
                status="failed" if error else ("completed" if completed is not None else "running"),
                started_at=normalize.timestamp(dig(data, "time", "created")),
                ended_at=normalize.timestamp(completed),
                error=error_text(error) if error else None,
            )
        )
        step.duration_ms = normalize.duration_between(step.started_at, step.ended_at)
        step.extra = {k: v for k, v in data.items() if k not in ("role", "time", "error", "parentID")}
        _count_parts(step, parts)
        call: Step | None = None  # the model call whose parts come now (step-start … step-finish)
        texts: list[str] = []
        for part in parts:
            kind = part.get("type")
            if kind == "step-start":
                call = self._call(part, data, step)
            elif kind == "step-finish":
                if call is None:
                    call = self._call(part, data, step)
                _finish(call, part)
                call = None
            elif kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
                target = call or step
                target.output = part["text"] if target.output is None else target.output + "\n\n" + part["text"]
            elif kind == "reasoning" and isinstance(part.get("text"), str):
                target = call or step
                target.extra["reasoning"] = (target.extra.get("reasoning", "") + "\n\n" + part["text"]).strip()
            elif kind == "tool":
                self._tool(part, (call or step).id)
            elif kind == "retry":
                step.events.append(
                    {
                        "name": "retry",
                        "attempt": part.get("attempt"),
                        "error": error_text(obj(part.get("error"))),
                        "time": normalize.timestamp(dig(part, "time", "created")),
                    }
                )
            elif kind == "patch":
                (call or step).extra.setdefault("patches", []).append({k: v for k, v in part.items() if k != "type"})
            elif kind == "compaction":
                self._compaction(part, step.id)
        if call is not None and call.status == "running" and step.status != "running":
            call.status = step.status if step.status == "failed" else "completed"
        if texts and step.output is None:
            step.output = texts[-1]

    def _call(self, part: dict, message: dict, step: Step) -> Step:
        model, provider = _model(message)
        return self._add(
            Step(
                id=str(part["id"]),
                parent_id=step.id,
                name=normalize.text(message.get("modelID")) or "model call",
                kind="llm",
                raw_type="step",
                status="running",
                model=model,
                provider=provider,
            )
        )

    def _tool(self, part: dict, parent: str) -> None:
        state = obj(part.get("state"))
        raw_status = normalize.ident(state.get("status"))
        step = self._add(
            Step(
                id=str(part.get("callID") or part["id"]),
                parent_id=parent,
                name=normalize.text(part.get("tool")) or "tool",
                kind="tool",
                raw_type="tool",
                status=_TOOL_STATUS.get(raw_status or "", "completed"),
                started_at=normalize.timestamp(dig(state, "time", "start")),
                ended_at=normalize.timestamp(dig(state, "time", "end")),
                input=normalize.text(state.get("input")),
                output=normalize.text(state.get("output")),
            )
        )
        step.duration_ms = normalize.duration_between(step.started_at, step.ended_at)
        if step.status == "failed":
            step.error = normalize.text(state.get("error")) or "error"
        step.extra = {k: v for k, v in state.items() if k not in ("status", "input", "output", "error", "time")}
        step.extra["part_id"] = part["id"]
        if raw_status not in _TOOL_STATUS:
            step.extra["raw_status"] = state.get("status")
        child = dig(state, "metadata", "sessionId")
        if isinstance(child, str) and child not in self.seen:
            self.subagent(child, step.id)

    def _compaction(self, part: dict, parent: str) -> None:
        step = self._add(
            Step(id=str(part["id"]), parent_id=parent, name="compaction", kind="other", raw_type="compaction")
        )
        step.extra = {k: v for k, v in part.items() if k not in ("id", "type")}


def _model(message: dict) -> tuple[str | None, str | None]:
    """The model and provider of an assistant message's calls."""
    return normalize.ident(message.get("modelID")), normalize.ident(message.get("providerID"))


def _tokens(part: dict) -> usage.Tokens:
    """A model call's usage, from its step-finish part."""
    tokens = obj(part.get("tokens"))
    cache = obj(tokens.get("cache"))
    return usage.counted(
        count(tokens.get("input")),
        count(tokens.get("output")),
        cache_read=count(cache.get("read")),
        cache_write=count(cache.get("write")),
        reasoning=count(tokens.get("reasoning")),
        input_has_cache=False,  # OpenCode takes the cache out of the provider's input count
        output_has_reasoning=False,  # and bills the reasoning apart from the output
    )


def _finish(call: Step, part: dict) -> None:
    """A model call's usage and cost from its step-finish part."""
    _tokens(part).apply(call)
    call.cost_usd = money(part.get("cost"))
    call.status = "completed"
    call.extra["finish_reason"] = part.get("reason")
    if part.get("id") != call.id:
        call.extra["finish_part_id"] = part.get("id")


def _count_parts(step: Step, parts: list[dict]) -> None:
    others: dict[str, int] = {}
    for part in parts:
        kind = str(part.get("type"))
        if kind not in _READ_PARTS:
            others[kind] = others.get(kind, 0) + 1
    if others:
        step.extra["parts"] = others


def error_text(error: dict) -> str:
    """'Name: message' of an OpenCode error object ({name, data: {message, …}})."""
    name, message = normalize.text(error.get("name")), normalize.text(dig(error, "data", "message"))
    return ": ".join(p for p in (name, message) if p) or "error"
