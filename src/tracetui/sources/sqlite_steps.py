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

Costs: model calls without a reported cost are priced as an import prices them (pricing.py). The
run list's cost sums, the calls view and the unpriced models under `w` come from SQL over the
format's tables (`ModelCalls`): SQL reads each call (`CallSql`, twins of the step builder) and applies
the rates of its model on its UTC day (pricing.sql_cost), which the price table gives once per model
and day (RateBook, kept in tracetui's cache: estimates.py), so sorting by cost and `stats` never build
every tree nor price each call in Python. A tree is priced before it is finalized, from the same
rates (none with --no-estimate), so its steps, subtree sums and run totals hold the same estimates.
"""

from __future__ import annotations

import json
import operator
import os
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .. import estimates, jsonsafe, normalize, pricing, usage
from ..memo import content_fingerprint
from ..model import (
    DERIVED_RUN_FIELDS,
    ESTIMATED_COST,
    FLAG_TOTAL_MISMATCH,
    SOURCE_RUN_FIELDS,
    Problem,
    Run,
    Step,
    finalize_run,
)
from ..sqlite_uri import ro_uri
from ..store import JSON_COLUMNS, RUN_COLUMNS, STEP_COLUMNS
from ..store.reader import ODD_NUMBERS, ODD_STEPS, RUN_KEY, rows_keys, run_rows, undecoded_text
from ..store.schema import PAYLOAD_COLUMNS, to_json
from . import sqlsql as q
from .contract import Head, ProblemSink

HELPER = True

StepBuilder = Callable[[sqlite3.Connection, Any], list[Step]]
"""The steps of one run (not yet finalized), from its key: a trace's rowid, a session's id."""

KEY = RUN_KEY
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
    """One run's priced and finalized steps as the views read them: the tree rows, each step's payloads,
    the totals. `started_at`: the run's start, the time of its calls that have none."""

    __slots__ = ("rows", "payloads", "totals", "odd")

    def __init__(
        self, steps: list[Step], started_at: str | None, pricer: pricing.Pricer | None, odd: list[str] | None = None
    ):
        run = finalize_run(pricing.apply(Run(id="", started_at=started_at, steps=steps), pricer))
        # jsonsafe: text of a file whose text is not all UTF-8 is read with its bytes as surrogates (\xNN in JSON).
        self.rows = _dumps([_row(_tree_values(s), _TREE_JSON) for s in run.steps])
        self.payloads = [_dumps(_row(_payload_values(s), _PAYLOAD_JSON)) for s in run.steps]
        self.totals = jsonsafe.dumps([getattr(run, name) for name in _TOTALS])
        self.odd = jsonsafe.dumps([*_odd_steps(run.steps), *(odd or [])])


def _dumps(rows: list) -> str:
    """The JSON the steps view reads a tree's rows from. SQLite's JSON gives a string only up to a NUL
    character (U+0000): a value holding one is given with each NUL as the text \\x00, as it is shown
    (a file's bytes that are not UTF-8 come the same way, as \\xNN), so the text after it is there to
    see and to search. (A JSON column's text holds its NUL escaped, which SQLite keeps.)"""
    text = jsonsafe.dumps(rows)
    if "\\u0000" not in text:
        return text
    return jsonsafe.dumps(_nul_shown(rows))


def _nul_shown(value: Any) -> Any:
    if type(value) is list:
        return [_nul_shown(item) for item in value]
    return value.replace("\0", "\\x00") if type(value) is str else value


def _odd_steps(steps: list[Step]) -> list[str]:
    """What each step shows with \\xNN (text that is not UTF-8, read with its bytes as surrogates)."""
    out = []
    for step in steps:
        names = [name for name in STEP_COLUMNS if _has_surrogate(getattr(step, name, None))]
        if names:
            out.append(f"step {jsonsafe.quoted(step.id)}: {', '.join(names)}: {NOT_UTF8}")
    return out


def _has_surrogate(value: Any, depth: int = 4) -> bool:
    if type(value) is str:
        return not value.isascii() and jsonsafe.has_surrogates(value)
    if depth and isinstance(value, dict):
        return any(_has_surrogate(k, 0) or _has_surrogate(v, depth - 1) for k, v in value.items())
    if depth and isinstance(value, list):
        return any(_has_surrogate(v, depth - 1) for v in value)
    return False


NOT_UTF8 = "text that is not UTF-8, shown with \\xNN"


def _row(values: tuple, json_positions: list[int]) -> list:
    row = list(values)
    for i in json_positions:
        row[i] = to_json(row[i])
    return row


class _Trees:
    """The trees of the runs asked for last, per connection, until the database changes."""

    def __init__(self, conn: sqlite3.Connection, build: StepBuilder, name: str):
        self.conn = conn
        self.build = build
        pricer = pricing.pricer_of(conn)
        self.pricer = None if pricer is None else _KeptPricer(pricer, conn, name)
        self.cache: OrderedDict[tuple[Any, int], _Tree] = OrderedDict()
        self.run_rows: tuple[int | None, dict[Any, list[Any]]] = (None, {})

    def rows(self, key: Any, started_at: Any) -> str:
        return self._get(key, started_at).rows

    def payloads(self, key: Any, started_at: Any, position: int) -> str | None:
        payloads = self._get(key, started_at).payloads
        return payloads[position] if 0 <= position < len(payloads) else None

    def totals(self, key: Any, started_at: Any) -> str:
        return self._get(key, started_at).totals

    def odd(self, key: Any, started_at: Any) -> str:
        return self._get(key, started_at).odd

    def _get(self, key: Any, started_at: Any) -> _Tree:
        key, started_at = _decoded(key), _decoded(started_at)  # text comes as bytes (_argument)
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        found = self.cache.get((key, version))
        if found is not None:
            self.cache.move_to_end((key, version))
            return found
        started = started_at if isinstance(started_at, str) else None
        try:
            found = _Tree(build_safely(self.build, self.conn, key), started, self.pricer, self._odd_numbers(key))
        except Exception as exc:  # the steps could not be written down: say so in their place
            found = _Tree(unreadable(exc), started, self.pricer)
        self.cache[(key, version)] = found
        while len(self.cache) > _CACHED_TREES:
            self.cache.popitem(last=False)
        return found

    def _odd_numbers(self, key: Any) -> list[str]:
        """The numbers and times of the run's own rows the views cannot use (install_odd_values), met
        with its tree as the text of its steps is (_odd_steps); [] for a format without them."""
        out = []
        try:
            version = self.conn.execute("PRAGMA data_version").fetchone()[0]
            if self.run_rows[0] != version:  # (a pass over the runs: kept while the database is the same)
                self.run_rows = (version, run_rows(self.conn))
            for one in rows_keys(self.conn, [key], self.run_rows[1]):  # (a subagent's rows: with its parent's tree)
                param = "CAST(? AS TEXT)" if isinstance(one, str) else "?"
                sql = f"SELECT message FROM {ODD_NUMBERS} WHERE {RUN_KEY} = {param}"
                out += [message for (message,) in self.conn.execute(sql, (q.text_param(one),))]
        except sqlite3.Error:
            return []
        return out


class _KeptPricer(pricing.Pricer):
    """The connection's Pricer, applying the rates of each model and day kept in tracetui's cache
    (RateBook: found by the model calls' SQL, of this command or an earlier one): a tree whose calls'
    rates were found before is priced without loading the price table."""

    def __init__(self, pricer: pricing.Pricer, conn: sqlite3.Connection, fmt: str) -> None:
        super().__init__()
        self.book = RateBook(pricer, conn, fmt)

    def cost(
        self, model: str | None, provider: str | None, counts: pricing.TokenCounts, when: str | None = None
    ) -> float | None:
        if not model:
            return None
        return self.book.cost(model, provider, counts, when)


_ESCAPED_ASCII = re.compile(rb"\\u00[2-7][0-9a-fA-F]")


def _escapes(data: bytes) -> bool:
    """Whether JSON text may spell a key with \\u escapes (its keys then read as _loads decodes them)."""
    return b"\\u00" in data and _ESCAPED_ASCII.search(data) is not None


def json_keys(data: Any) -> str | None:
    """q.JSON_KEYS: JSON text (as bytes) written again with its keys as plain text, where an escaped
    ASCII character may spell one (as Python's trees read them); None otherwise."""
    if type(data) is not bytes or _ESCAPED_ASCII.search(data) is None:
        return None
    value = _loads(data)
    return jsonsafe.dumps(value) if isinstance(value, (dict, list)) else None


def json_read(data: Any, how: Any, *keys: Any) -> Any:
    """q.JSON_READ: the value at `keys` inside JSON text (as bytes), the keys matched as JSON means them
    (escapes decoded), read as JSON_READS[how] reads it; None where there is none. Never raises: an
    exception here would end the whole query."""
    if type(data) is not bytes:
        return None
    try:
        value = _loads(data)
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        found = JSON_READS[how](value) if value is not None else None
        if type(found) is str and not found.isascii() and jsonsafe.has_surrogates(found):
            return jsonsafe.visible_surrogates(found)  # (sqlite3 cannot hand lone surrogates to SQLite)
        return found
    except Exception:
        return None


def _sql_json_value(value: Any) -> Any:
    """Twin of json_extract: strings as text, true/false as 1/0, objects and arrays as compact JSON."""
    if type(value) is bool:
        return int(value)
    if type(value) is int and not -(2**63) <= value < 2**63:
        return float(value)  # (as SQLite reads an integer beyond 64 bits)
    return jsonsafe.dumps(value) if isinstance(value, (dict, list)) else value


JSON_READS: dict[str, Callable[[Any], Any]] = {
    "value": _sql_json_value,  # sqlsql.json_at
    "count": lambda value: count(value),  # sqlsql.count
    "money": lambda value: money(value),  # sqlsql.money
    "ident": normalize.ident,  # json_ident_sql
    "text": normalize.text,  # json_text_sql
}
"""How JSON_READ reads a value, by name: each the Python twin of the SQL that reads it by SQLite's path.
A format adds its own (MLflow: an attribute's JSON-encoded value)."""


def install_json(conn: sqlite3.Connection) -> None:
    """The SQL functions of the views' reads inside JSON (sqlsql.escaped_keys_too, sqlsql.plain_keys)."""
    conn.create_function(q.JSON_READ, -1, json_read, deterministic=True)
    conn.create_function(q.JSON_KEYS, 1, json_keys, deterministic=True)


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


def _argument(sql: str) -> str:
    """sql as an argument of the views' Python functions: text as its bytes (_Trees decodes them), for
    sqlite3 does not call a function at all with text that is not UTF-8 (the whole query fails)."""
    return f"(CASE WHEN typeof({sql}) = 'text' THEN CAST({sql} AS BLOB) ELSE {sql} END)"


def _decoded(value: Any) -> Any:
    return value.decode("utf-8", "surrogateescape") if type(value) is bytes else value


def build_safely(build: StepBuilder, conn: sqlite3.Connection, key: Any) -> list[Step]:
    """The builder's steps; if it fails on input nobody foresaw, one failed step that says why.

    An exception inside an SQLite function surfaces only as "user-defined function raised
    exception" and ends the whole query; the run list and every other run must still show.
    """
    try:
        try:
            return build(conn, key)
        except sqlite3.OperationalError as exc:
            if "UTF-8" not in str(exc) or conn.text_factory is undecoded_text:
                raise
        # Text that is not UTF-8: read again with its bytes as surrogates (shown as \xNN), as Store does.
        factory, conn.text_factory = conn.text_factory, undecoded_text
        try:
            return build(conn, key)
        finally:
            conn.text_factory = factory
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
    started_at: str,
    where: str = "",
) -> dict[str, str]:
    """Create TEMP VIEW steps over build(); returns the SQL of the run totals (for the runs view).

    Args:
        conn: the read-only connection the views are made on (with tracetui_price: pricing.register).
        name: the format's name, for the SQL functions' names.
        build: makes the steps of one run from its key.
        runs_from: the FROM clause naming the run table (alias it), e.g. "traces t".
        run_id: the SQL of the run id over that table, e.g. "t.trace_id"; WHERE run_id = ? reaches it.
        key: the SQL of the builder's key over that table, e.g. "t.id".
        started_at: the SQL of the run's start over that table (as the runs view gives it): the time
            its model calls without one of their own are priced at.
        where: a condition on that table for the rows that are runs, if not all are.

    Returns:
        {derived run column: SQL over the same table}: step_count, failed_steps and the steps_* sums
        (estimated costs included) as finalize_run computes them from build()'s priced steps, for a
        format whose runs view has no cheaper way to the same numbers.
    """
    trees = _Trees(conn, build, name)
    install_json(conn)
    prefix = "tracetui_" + name.replace("-", "_")
    conn.create_function(f"{prefix}_steps", 2, trees.rows)
    conn.create_function(f"{prefix}_payloads", 3, trees.payloads)
    conn.create_function(f"{prefix}_totals", 2, trees.totals)
    conn.create_function(f"{prefix}_odd", 2, trees.odd)
    run = f"{_argument(key)}, {_argument(started_at)}"
    given = {"run_id": run_id}
    given |= {column: f"json_extract(j.value, '$[{i}]')" for i, column in enumerate(_TREE_COLUMNS)}
    # j.key is the step's position in the run: its payloads are fetched only when a query asks for them.
    given |= {
        column: f"json_extract({prefix}_payloads({run}, j.key), '$[{i}]')" for i, column in enumerate(_PAYLOAD_COLUMNS)
    }
    columns = {column: given[column] for column in STEP_COLUMNS}
    select = ",\n            ".join(f"{expr} AS {column}" for column, expr in columns.items())
    condition = f" WHERE {where}" if where else ""
    conn.execute(
        f"CREATE TEMP VIEW steps AS SELECT {select} FROM {runs_from}, json_each({prefix}_steps({run})) j{condition}"
    )
    # What a run's steps show with \\xNN, once its tree is built: Store.odd_steps lists them as met.
    conn.execute(
        f"CREATE TEMP VIEW {ODD_STEPS} AS SELECT {run_id} AS run_id, j.value AS message"
        f" FROM {runs_from}, json_each({prefix}_odd({run})) j{condition}"
    )
    return {field: f"json_extract({prefix}_totals({run}), '$[{i}]')" for i, field in enumerate(_TOTALS)}


# -- model calls priced in SQL: the run list's cost sums, the calls view, the unpriced models -------

_UNSEEN = object()


Call = tuple[str | None, str | None, pricing.TokenCounts, str | None]
"""A model call as pricing takes it: model, provider, token counts (in, out, cache read, cache write,
reasoning) and when it was made, as a format's Python reads it (model_call) where SQL cannot (the
PostgreSQL reader's estimates: contract.PricedCalls)."""


def model_call(model: str | None, provider: str | None, tokens: usage.Tokens, started_at: str | None) -> Call:
    """A call as a PricedCalls reader returns it, from what the step builder would set on its step."""
    counts = (
        tokens.tokens_in,
        tokens.tokens_out,
        tokens.tokens_cache_read,
        tokens.tokens_cache_write,
        tokens.tokens_reasoning,
    )
    return model, provider, counts, started_at


@dataclass(frozen=True)
class CallSql:
    """A format's model call in SQL over the rows of its ModelCalls: twins of what its step builder sets
    on the step, so that SQL prices it as the tree does (pricing.sql_cost), without Python reading each.

    The twins are SQL over `values`, which are read from the row once: JSON is parsed again by every
    json_* function (a 1.5 kB span's attributes ~1 µs each time), so what a call needs of it is taken
    out once (Leaves: one json_extract of several paths) and the twins read that small array."""

    values: tuple[tuple[str, str], ...]
    """(name, SQL over ModelCalls.rows): what the twins read, each computed once a row."""
    model: str
    provider: str
    tokens: tuple[str, str, str, str, str]
    """Tokens in, out, cache read, cache write and reasoning, in tracetui's convention (NULL if absent)."""
    started_at: str
    """The time it is priced at, as ISO text (sqlsql.timestamp, epoch_time_sql), or NULL (today's prices)."""
    where: str = "1"
    """SQL over ModelCalls.rows: which rows of ModelCalls.where hold a call at all (the builder's own
    test), if not every one."""

    def select(self) -> str:
        twins = (self.model, self.provider, *self.tokens, self.started_at)
        return ", ".join(f"{sql} AS {name}" for sql, name in zip(twins, _CALL, strict=True))


_CALL = ("call_model", "call_provider", "call_in", "call_out", "call_read", "call_write", "call_thought", "call_at")
"""The columns a CallSql gives, for pricing.sql_cost."""


class Leaves:
    """The values at several paths of a JSON column taken out with one parse (json_extract of several
    paths gives them as a JSON array), for CallSql.values: its twins then read that small array."""

    def __init__(self, column: str, *paths: tuple[str, ...]) -> None:
        self.column = column
        self.paths = list(paths)

    def sql(self) -> str:
        paths = ", ".join(q.json_path(*keys) for keys in self.paths)
        # (a key spelled with \\u escapes is that key; the text written again is JSON where the column is)
        return f"(CASE WHEN json_valid({self.column}) THEN json_extract({q.plain_keys(self.column)}, {paths}) END)"

    def at(self, *keys: str) -> str:
        """SQL: the JSON path, in the array named `leaves`, of the value at `keys`."""
        return q.quote(f"$[{self.paths.index(keys)}]")


def json_count_sql(column: str, path: str) -> str:
    """sqlsql.count of the value at a JSON path (SQL) in a column."""
    value, typed = f"json_extract({column}, {path})", f"json_type({column}, {path})"
    return (
        f"(CASE WHEN json_valid({column}) THEN (CASE WHEN {typed} IN ('integer', 'real') AND abs({value} + 0.0)"
        f" < {q.MAGNITUDE} THEN CAST({value} AS INTEGER) END) END)"
    )


def epoch_time_sql(expr: str) -> str:
    """Twin of normalize.timestamp for a column of epoch numbers (seconds, ms, µs or ns by magnitude) or ISO text."""
    number = f"({expr} + 0.0)"
    seconds = " ".join(
        f"WHEN {number} / {scale} < 1e11 THEN {number} / {scale}" for scale in ("1", "1e3", "1e6", "1e9")
    )
    return (
        f"(CASE WHEN typeof({expr}) IN ('integer', 'real') THEN (CASE WHEN {number} >= 0 THEN"
        f" strftime('%Y-%m-%dT%H:%M:%fZ', CASE {seconds} END, 'unixepoch') END) ELSE {q.timestamp(expr)} END)"
    )


@dataclass(frozen=True)
class ModelCalls:
    """Where a format's model calls are, so that the runs, calls and problems views price those without a
    reported cost as the trees do, without building the trees: SQL reads each call (`call`, the twins of
    the format's step builder) and applies the rates of its model and day (pricing.Pricer.rates: the price
    table asked once per model, provider and day, and kept in tracetui's cache for the next command).

    Their SQL functions are made on a connection by register(), after pricing.register.
    """

    name: str
    """The format's name, for the SQL functions' names."""
    rows: str
    """FROM clause (aliased) whose rows hold the model calls, e.g. "spans s"."""
    key: str
    """SQL of a row's identity among `rows`, its rowid, e.g. "s.id": the row's call is read by it."""
    where: str
    """Which of its rows may be model calls: a cheap condition asked first, e.g. a token column is set."""
    reported: str
    """SQL of the cost the source reported for the call, or NULL: only a call without one is priced."""
    call: CallSql
    """The call in a row, as the step builder reads it (its time: the step's, else its run's)."""
    of_run: str | None = None
    """The condition tying a row to its run, over `rows` and the run table of install_steps (e.g.
    "s.trace_rowid = t.id"), for cost_sums; None for a format whose run totals come from its trees."""

    def register(self, conn: sqlite3.Connection) -> None:
        """The SQL functions of the estimates and unpriced(): the rates of a model and day, the price of
        a call they cannot give (pricing.BY_CALL), the list of unpriced models."""
        pricer = pricing.pricer_of(conn)
        book = RateBook(pricer, conn, self.name) if pricer is not None else None

        def rates(model: Any, provider: Any, day: Any, tokens_in: Any) -> str | None:
            return None if book is None else book.sql(model, provider, day, tokens_in)

        def by_call(model: Any, provider: Any, *rest: Any) -> float | None:
            if pricer is None or model is None:
                return None
            *counts, when = rest
            return pricer.cost(
                _decoded(model),
                _decoded(provider) if provider is not None else None,
                tuple(n if type(n) is int else None for n in counts),  # type: ignore[arg-type]
                when if type(when) is str else None,
            )

        # The problems view is asked for its count each time the viewer's run list loads: the unpriced
        # models are found once (a pass over every call) until the database changes.
        listed: dict[int, str] = {}
        kept = _KeptUnpriced(conn, self.name) if book is not None else None

        def unpriced() -> str:
            if pricer is None:
                return "[]"
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version not in listed and kept is not None and version == kept.version:
                messages = kept.unpriced()  # kept for this content by an earlier command
                if messages is not None:
                    listed[version] = orjson.dumps(messages).decode()
            if version not in listed:
                groups = conn.execute(self._unpriced_groups()).fetchall()
                messages = [
                    pricing.unpriced_message(pricer, _decoded(model), _decoded(provider) or None, calls)
                    for model, provider, calls in groups
                ]
                if kept is not None and version == kept.version:
                    kept.put_unpriced(messages)
                listed.clear()
                listed[version] = orjson.dumps(messages).decode()
            return listed[version]

        conn.create_function(self._function("rates"), 4, rates, deterministic=True)
        conn.create_function(self._function("by_call"), 8, by_call, deterministic=True)
        conn.create_function(self._function("unpriced"), 0, unpriced)
        # The calls read and priced in a view of their own: its SQL is parsed apart from the views that ask
        # for it (the runs view names the cost sums several times; SQLite's parser has a bounded stack).
        # Each twin is computed once a row (the LIMIT -1 subquery: else SQLite would put its SQL in every
        # place the price names its column); a query by call_row reaches the row by its key.
        values = ", ".join(f"{sql} AS {name}" for name, sql in self.call.values)
        passed = ", ".join(f"x.{name} AS {name}" for name, _ in self.call.values)
        conn.execute(
            f"CREATE TEMP VIEW {self._view()} AS SELECT x.call_row, {self.call.select()},"
            f" (SELECT {self._cost()} FROM (SELECT {self.call.select()} FROM (SELECT {passed} LIMIT -1) LIMIT -1))"
            f" AS call_cost FROM (SELECT {self.key} AS call_row, {values} FROM {self.rows}) x"
        )

    def _view(self) -> str:
        return self._function("calls")

    def _function(self, what: str) -> str:
        return f"tracetui_{self.name.replace('-', '_')}_{what}"

    def _cost(self) -> str:
        """SQL of the estimate over the columns of CallSql.select()."""
        return pricing.sql_cost(self._function("rates"), self._function("by_call"), _CALL)

    def _to_price(self) -> str:
        """SQL: a row may be a call to price (`where`, and no reported cost). A CASE, to ask in this order:
        SQLite would move a term with a subquery (a cost looked up in another table) before the others."""
        return f"CASE WHEN {self._is_call()} THEN ({self.reported}) IS NULL ELSE 0 END"

    def _is_call(self) -> str:
        """SQL: the row holds a model call (`where`, then CallSql.where: asked in this order inside a CASE)."""
        return self.where if self.call.where == "1" else f"({self.where}) AND {self.call.where}"

    def _calls(self, where: str) -> str:
        """FROM clause of the calls (with call_cost) of the rows `where` keeps."""
        return f"FROM {self.rows} JOIN {self._view()} c ON c.call_row = {self.key} WHERE {where}"

    def _unpriced_groups(self) -> str:
        """(model, provider as bytes, calls) of the calls with token counts the estimates leave without a cost."""
        return (
            "SELECT CAST(call_model AS BLOB), CAST(call_provider AS BLOB), count(*) FROM"
            f" (SELECT c.call_model, c.call_provider, c.call_in, c.call_out, c.call_cost {self._calls(self._to_price())}"
            " LIMIT -1) WHERE call_model IS NOT NULL AND (call_in IS NOT NULL OR call_out IS NOT NULL)"
            " AND call_cost IS NULL GROUP BY call_model, call_provider ORDER BY call_model, call_provider"
        )

    def cost_sums(self, reported_sum: str) -> dict[str, str]:
        """The run's cost sums for the runs view: {cost_usd, cost_estimated_usd} (the names of the
        steps_* columns without the prefix). `reported_sum` is the SQL sum of the costs its calls
        reported (over the run table); the estimates of the others are added to it."""
        if self.of_run is None:
            raise ValueError("cost_sums needs of_run: how a call belongs to its run")
        estimated = f"(SELECT sum(c.call_cost) {self._calls(f'{self.of_run} AND {self._to_price()}')})"
        # Each sum once (a subquery named twice is computed twice); sum() of two NULLs is NULL.
        cost = f"(SELECT sum(part) FROM (SELECT {reported_sum} AS part UNION ALL SELECT {estimated}))"
        return {"cost_usd": cost, ESTIMATED_COST: estimated}

    def estimate(self, at: str | None = None) -> str:
        """SQL over `rows`: the estimated cost of a row's call, as its tree prices it (NULL for a row that is
        no model call or that the table cannot price); for a call without a reported cost, so ask it as
        coalesce(reported, estimate), which asks only when there is none. `at`: SQL of the time to
        price it at (ISO text), where its tree takes another than its own."""
        if at is None:
            found = f"(SELECT c.call_cost FROM {self._view()} c WHERE c.call_row = {self.key})"
        else:
            columns = ", ".join(f"c.{name}" for name in _CALL[:-1])
            found = (
                f"(SELECT {self._cost()} FROM (SELECT {columns}, {at} AS call_at FROM {self._view()} c"
                f" WHERE c.call_row = {self.key} LIMIT -1))"
            )
        return f"(CASE WHEN {self._is_call()} THEN {found} END)"

    def unpriced(self) -> str:
        """A SELECT of (n, message): one problem per model whose calls (with token counts and no
        reported cost) the price table did not price, in the order and words of an import."""
        return f"SELECT key AS n, value AS message FROM json_each({self._function('unpriced')}())"


class RateBook:
    """The rates of one connection's model calls by model, provider and UTC day (pricing.Pricer.rates):
    kept in tracetui's cache for the database (estimates.py), so a later command or viewer applies them
    without loading the price table; asked of the Pricer for a model and day not kept yet."""

    def __init__(self, pricer: pricing.Pricer, conn: sqlite3.Connection, fmt: str) -> None:
        self.pricer = pricer
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        self.cache = estimates.for_database(path, fmt, [f"prices={pricing.data_version()}"]) if path else None
        self._known: dict[estimates.Day, pricing.DayRates] | None = None
        self._by_sql: dict[tuple[Any, Any, Any], Any] = {}
        self._lock = threading.Lock()

    def rates(self, model: str, provider: str | None, day: str) -> pricing.DayRates:
        with self._lock:
            if self._known is None:
                self._known = self.cache.rates() if self.cache is not None else {}
            key = (model, provider, day)
            if key not in self._known:
                found = self._known[key] = self.pricer.rates(model, provider, day)
                if self.cache is not None:
                    self.cache.add_rates(key, found)
            return self._known[key]

    def sql(self, model: Any, provider: Any, day: Any, tokens_in: Any) -> str | None:
        """The SQL function of pricing.sql_cost: RATES_JSON of the call's tier, BY_CALL, or None. Called
        for every call: what it found is kept by the arguments as SQLite hands them over."""
        found = self._by_sql.get((model, provider, day), _UNSEEN)
        if found is _UNSEEN:
            if type(day) is not str or model is None:
                return pricing.BY_CALL
            found = self.rates(_decoded(model), _decoded(provider) if provider is not None else None, day)
            self._by_sql[(model, provider, day)] = found
        if found is None or type(found) is str:
            return found
        starts, regions = found
        return regions[sum(1 for start in starts if tokens_in > start)] if starts else regions[0]

    def cost(self, model: str, provider: str | None, counts: pricing.TokenCounts, when: str | None) -> float | None:
        """A call's cost as Pricer.cost gives it, from the kept rates where they apply."""
        day = pricing.utc_day(when)
        found = pricing.rated(self.rates(model, provider, day), counts) if day is not None else pricing.BY_CALL
        return self.pricer.cost(model, provider, counts, when) if isinstance(found, str) else found


class _KeptUnpriced:
    """The unpriced models a connection's ModelCalls list, kept in tracetui's cache by the database's
    content: an unchanged file lists them without a pass over its calls."""

    def __init__(self, conn: sqlite3.Connection, fmt: str) -> None:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        self.cache = estimates.for_database(path, fmt, [f"prices={pricing.data_version()}"]) if path else None
        # The content the connection saw first, by data_version: the unpriced models of this content
        # may be kept and taken from the cache; after a change they are found again.
        self.version = conn.execute("PRAGMA data_version").fetchone()[0]
        self.content: str | None = None
        if self.cache is not None:
            try:
                self.content = content_fingerprint(path, f"unpriced\0{fmt}")
            except OSError:
                pass

    def unpriced(self) -> list[str] | None:
        return self.cache.unpriced(self.content) if self.cache is not None and self.content else None

    def put_unpriced(self, messages: list[str]) -> None:
        if self.cache is not None and self.content:
            self.cache.put_unpriced(self.content, messages)


def run_totals(reported: dict[str, str], summed: dict[str, str]) -> dict[str, str]:
    """The runs view's steps_*, total_* and flags columns, from the SQL of the totals the source
    reported for the run (by field, e.g. {"cost_usd": ...}) and of its steps' sums (the same names,
    with cost_estimated_usd beside cost_usd). As the store holds them: a reported total wins, and a
    reported cost has no estimated part (model.Run.total)."""
    out = {f"steps_{name}": expr for name, expr in summed.items()}
    out |= {f"total_{name}": f"coalesce({reported.get(name, 'NULL')}, {expr})" for name, expr in summed.items()}
    if ESTIMATED_COST in summed:
        out[f"total_{ESTIMATED_COST}"] = (
            f"CASE WHEN {reported.get('cost_usd', 'NULL')} IS NULL THEN {summed[ESTIMATED_COST]} END"
        )
    out["flags"] = mismatch_flag(reported, summed)
    return out


def mismatch_flag(reported: dict[str, str], summed: dict[str, str]) -> str:
    """SQL of the flags column: total_mismatch where a reported total and the steps' sum differ.

    The rule of model.Run.mismatches, so a run read in place is flagged as its import would be: a
    reported cost is checked against what the steps reported, never against estimates.
    """
    sums = dict(summed)
    if "cost_usd" in sums and ESTIMATED_COST in sums:
        cost, estimated = sums["cost_usd"], sums[ESTIMATED_COST]
        sums["cost_usd"] = (
            f"CASE WHEN {estimated} IS NULL THEN {cost} WHEN {cost} != {estimated} THEN {cost} - {estimated} END"
        )
    # CASE, not a bare comparison: the sum (a subquery) is computed only for a total the source reported.
    differ = " OR ".join(
        f"CASE WHEN ({reported[name]}) IS NULL THEN 0"
        f" ELSE abs(({reported[name]}) - ({sums[name]})) > 1e-9 * max(1, abs({reported[name]})) END"
        for name in reported
        if name in sums
    )
    return f"CASE WHEN {differ} THEN '[\"{FLAG_TOTAL_MISMATCH}\"]' END" if differ else "NULL"


# -- odd values: text that is not UTF-8 (shown as \xNN), numbers and times the views cannot use (shown
# as -); each listed with the problems ---------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    """A value the views read as a number or a time, in a table of Texts: a column, or the value at
    `keys` inside the JSON it holds (after `inside`: the keys of a string holding JSON text itself, as
    MLflow encodes its attribute values). odd_values lists a row where it is there but cannot be read."""

    column: str
    keys: tuple[str, ...] = ()
    kind: str = "count"
    """'count': a number as sqlsql.count and sqlsql.money read one (no numeric text, nothing beyond
    sqlsql.MAGNITUDE); 'number': as normalize.number (numeric text too); 'time': as normalize.timestamp."""
    inside: tuple[str, ...] = ()
    then: str = "shown as -"
    """What becomes of such a value, for the message (a cost left out is priced as an estimate)."""

    @property
    def name(self) -> str:
        return ".".join((self.column, *self.inside, *self.keys))


def count_at(column: str, *keys: str, inside: tuple[str, ...] = ()) -> Read:
    return Read(column, keys, "count", inside)


def cost_at(column: str, *keys: str, inside: tuple[str, ...] = ()) -> Read:
    return Read(column, keys, "count", inside, "left out")


def time_at(column: str, *keys: str) -> Read:
    return Read(column, keys, "time")


@dataclass(frozen=True)
class Texts:
    """A table whose values a format shows, for install_odd_values(): its rows named in messages as
    `label` and the value of `key` (e.g. "span", "s.span_id"), each a row of the run whose id is
    `run_id` (SQL, or NULL). Its text is checked unless `text` is False; `reads` are its numbers and times."""

    table: str
    alias: str
    label: str
    key: str
    run_id: str = "NULL"
    reads: tuple[Read, ...] = ()
    text: bool = True
    run_key: str = "NULL"
    """SQL of the key (KEY of the runs view) of the run whose tree holds the row, where there is one: its
    odd numbers and times are then met with that tree (a column with an index, for one run's rows)."""
    where: str = ""
    """SQL: which of the table's rows `reads` are about, if not all (e.g. one key of a key-value table)."""


def _not_utf8(value: Any) -> bool:
    if type(value) is not bytes or value.isascii():
        return False
    try:
        value.decode()
    except UnicodeDecodeError:
        return True
    return False


# A value handed to Python by SQL, tagged with what it was: text and BLOBs as their bytes (sqlite3
# calls no function with text that is not UTF-8), JSON as its text; numbers as they are.
_TAGS = {b"t": "text", b"b": "blob", b"j": "json"}
_NUMBERS = "('integer', 'real')"
# Times as the formats write them (ISO text): fine without parsing each (Python's look at a text value).
_USUAL_TIME = re.compile(rb"\d{4}-[01]\d-[0-3]\d[T ][0-2]\d:[0-5]\d:[0-6]\d(\.\d{1,9})?(Z|[+-]\d\d:?\d\d)?")
_MISSING = object()


def _suspect(read: Read) -> re.Pattern[bytes]:
    """Where JSON text (or JSON inside one of its strings) may hold an odd value of `read`: its key with
    anything but a plain number (below sqlsql.MAGNITUDE for a count; an epoch time for a time) or null
    after it. Only such JSON is parsed (and JSON that may spell a key with \\u escapes: _escapes)."""
    name = re.escape(read.keys[-1].encode())
    digits = b"12" if read.kind == "count" else b"19"
    fine = rb"\s*(?:\d{1," + digits + rb"}(?:\.\d*)?|null)\s*[,}\]\\]"  # (a count or time below 0 is odd)
    return re.compile(name + rb'\\?"\s*:(?!' + fine + rb")")  # (a literal first: found as fast as `in`)


def _sql_fine(read: Read, x: str, typed: bool = False) -> str:
    """SQL: the value x is missing or fine as `read` reads it. `typed`: x is a number or a BLOB (its
    text is Python's to look at); else a time or a number of text is fine only if Python says so."""
    if read.kind == "time":
        usual = f"typeof({x}) IN {_NUMBERS} AND {x} >= 0 AND {x} < 1e20"
        if not typed:
            usual += f" OR (typeof({x}) = 'text' AND {x} GLOB '[0-9][0-9][0-9][0-9]-*' AND julianday({x}) IS NOT NULL)"
    elif read.kind == "count":
        usual = f"typeof({x}) IN {_NUMBERS} AND {x} >= 0 AND {x} < {q.MAGNITUDE}"
    else:
        usual = f"typeof({x}) IN {_NUMBERS} AND abs({x} + 0.0) < 1e308"
    return f"({x} IS NULL OR {x} = '' OR {usual})"


def _sql_tagged(read: Read, alias: str, typed: bool) -> str:
    """SQL: the value of `read` tagged for _odd_value where SQL cannot tell it is fine, else NULL.
    `typed`: only numbers and BLOBs (the row's text goes to Python whole)."""
    base = f"{alias}.{q.ident(read.column)}"
    if read.inside:
        base = q.json_at(base, *read.inside)
    if not read.keys:
        odd = f"NOT {_sql_fine(read, base, typed)}"
        if typed:
            odd = f"typeof({base}) != 'text' AND {odd}"
        tags = f"WHEN 'text' THEN CAST('t' || {base} AS BLOB) WHEN 'blob' THEN CAST('b' || {base} AS BLOB)"
        return f"CASE WHEN {odd} THEN (CASE typeof({base}) {tags} ELSE {base} END) END"
    path = q.json_path(*read.keys)
    # Only JSON that names the key is parsed; a key spelled with \\u escapes is read as the views read it,
    # from the text written again with its keys unescaped (q.plain_keys).
    escaped = q.escaped_ascii(base)
    text = q.plain_keys(base)
    value = f"json_extract({text}, {path})"
    fine = {"integer": _sql_fine(read, value), "real": _sql_fine(read, value)}
    if read.kind == "time":
        fine["text"] = _sql_fine(read, value)
    whens = " ".join(f"WHEN '{kind}' THEN NOT {sql}" for kind, sql in fine.items())
    odd = (
        f"(instr({base}, {q.quote(read.keys[-1])}) > 0 OR {escaped}) AND json_valid({text})"
        f" AND (CASE coalesce(json_type({text}, {path}), 'null') WHEN 'null' THEN 0 {whens} ELSE 1 END)"
    )
    return f"CASE WHEN {odd} THEN CAST('j' || ({text} -> {path}) AS BLOB) END"


def _sql_flags(reads: list[Read], alias: str, screens: _OddMessages) -> list[str]:
    """SQL conditions that together pick the rows where SQL cannot vouch for a value of `reads` (each
    then tagged by _sql_tagged): one per column read, one per JSON object of a column. The JSON of a
    row is parsed only where its text may hold an odd value: Python looks at the text once (_suspect,
    the full check's screen), where the text names the keys' last common key (or the object holding them)."""
    flags: list[str] = []
    groups: dict[tuple[str, tuple[str, ...]], list[Read]] = {}
    for read in reads:
        if read.keys:
            groups.setdefault((read.column, read.inside), []).append(read)
        else:
            flags.append(f"({_sql_tagged(read, alias, typed=False)}) IS NOT NULL")
    for (column, inside), group in groups.items():
        raw = f"{alias}.{q.ident(column)}"
        common = os.path.commonprefix([read.keys for read in group])
        needle = common[-1] if common else inside[-1] if inside else group[0].keys[-1]
        index = screens.add_suspects([_suspect(read) for read in group])
        # (GLOB, where the key allows: SQLite's GLOB finds a literal faster than instr does)
        named = (
            f"{raw} GLOB {q.quote(f'*{needle}*')}"
            if not re.search(r"[][*?]", needle)
            else f"instr({raw}, {q.quote(needle)}) > 0"
        )
        flags.append(
            f"CASE WHEN typeof({raw}) = 'text' AND ({named} OR {q.escaped_ascii(raw)})"
            f" THEN tracetui_odd_suspect({index}, CAST({raw} AS BLOB)) ELSE 0 END"
        )
    return flags


def _untagged(tagged: Any) -> Any:
    if type(tagged) is not bytes:
        return tagged
    tag, data = _TAGS.get(tagged[:1]), tagged[1:]
    if tag == "blob":
        return data
    text = data.decode("utf-8", "surrogateescape")
    return _loads(text) if tag == "json" else text


def _loads(text: str | bytes) -> Any:
    """JSON, as SQLite reads it (1e999 too, which orjson refuses); _MISSING when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return _MISSING


def _in_text(read: Read, data: bytes, parsed: dict[str, Any]) -> str | None:
    """The message for the value of `read` in its column's text `data`, or None when it is fine."""
    if not read.keys:
        return _judged(read, data.decode("utf-8", "surrogateescape"))
    if read.column not in parsed:
        parsed[read.column] = _loads(data)
    value = parsed[read.column]
    for n, key in enumerate((*read.inside, *read.keys)):
        if n == len(read.inside) and read.inside:
            value = _loads(value) if isinstance(value, str) else value  # (or the object itself)
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
    return None if value is _MISSING else _judged(read, value)


def _judged(read: Read, value: Any) -> str | None:
    """The message for a value `read` cannot use (shown as -), or None when it can or nothing is there."""
    if value is None or (type(value) is str and not value.strip()):
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if read.kind == "count":
        if number and 0 <= value < q.MAGNITUDE:
            return None
    elif _reads(read.kind, value):
        return None
    problem = "is not a time" if read.kind == "time" else "is out of range" if number else "is not a number"
    if read.kind == "count" and number and -q.MAGNITUDE < value < 0:
        problem = "is negative"
    return f"{read.name} {jsonsafe.short(value)} {problem}: {read.then}"


def _reads(kind: str, value: Any) -> bool:
    """Whether normalize reads the value (its notes about values it drops are not this check's to give)."""
    kept = normalize.take_notes()
    try:
        return (normalize.timestamp(value) if kind == "time" else normalize.number(value)) is not None
    finally:
        normalize.take_notes()
        for message in kept:
            normalize.note(message)


@dataclass(frozen=True)
class _Checked:
    """What odd_values' SQL function is handed for a row of one table (see install_odd_values)."""

    label: str
    texts: list[str]
    """The columns whose text (as bytes) comes first: checked for UTF-8, and for `in_text`."""
    in_text: list[tuple[int, Read, re.Pattern[bytes] | None]]
    """Reads checked on their column's text: the position of that column among `texts`, the read, and
    for a value inside JSON where it may be odd (_suspect: JSON where it is not is not parsed)."""
    in_sql: list[Read]
    """Reads whose values SQL hands over (tagged) when it cannot tell they are fine, after the texts."""
    text_first: bool = False
    """Numbers alone (no texts): the messages of values that were text come first, in the order the full
    check (texts checked in Python, then the typed values SQL handed over) says them."""


class _OddMessages:
    """The SQL function of odd_values: one row's message (None: nothing odd), by its table's index.
    Called for every row of a big table: the usual row (ASCII text, numbers SQL vouched for, times as
    usual) takes one pass over the values and no other call."""

    def __init__(self) -> None:
        self.tables: list[_Checked] = []
        self.suspects: list[list[re.Pattern[bytes]]] = []

    def add(self, checked: _Checked) -> int:
        self.tables.append(checked)
        return len(self.tables) - 1

    def add_suspects(self, patterns: list[re.Pattern[bytes]]) -> int:
        self.suspects.append(patterns)
        return len(self.suspects) - 1

    def suspect(self, index: int, data: bytes) -> bool:
        """Whether JSON text may hold an odd value of one of a group's reads (see _sql_flags)."""
        if _ESCAPED_ASCII.search(data) is not None:
            data = (json_keys(data) or "").encode("utf-8", "surrogateescape") or data
        return any(pattern.search(data) is not None for pattern in self.suspects[index])

    def screen(self, index: int, *texts: bytes | None) -> bool:
        """Whether a row may be odd, from its text (as the columns of _Checked.texts): text that is not
        UTF-8, or a value its reads look at that may be odd. A cheap look that keeps the full one
        (__call__) for the rows it flags."""
        for value in texts:
            if value is not None and not value.isascii():
                try:
                    value.decode()  # (text in other scripts is UTF-8: the usual row still)
                except UnicodeDecodeError:
                    return True
        parsed: dict[str, Any] = {}
        for at, read, needle in self.tables[index].in_text:
            data = texts[at]
            if data is None or (needle is not None and needle.search(data) is None and not _escapes(data)):
                continue
            if needle is None and read.kind == "time" and _USUAL_TIME.fullmatch(data):
                continue
            if _in_text(read, data, parsed) is not None:
                return True
        return False

    def __call__(self, index: int, key: Any, *values: Any) -> str | None:
        return self.message(index, key, values, text=True)

    def numbers(self, index: int, key: Any, *values: Any) -> str | None:
        """The message about the row's numbers and times alone (its text is said with its steps)."""
        return self.message(index, key, values, text=False)

    def message(self, index: int, key: Any, values: tuple, *, text: bool) -> str | None:
        table = self.tables[index]
        count = len(table.texts)
        parts = []
        for value in values[:count] if text else ():
            if value is not None and not value.isascii():
                names = [name for name, v in zip(table.texts, values, strict=False) if _not_utf8(v)]
                if names:
                    parts.append(f"{', '.join(names)}: {NOT_UTF8}")
                break
        parsed: dict[str, Any] = {}
        for at, read, needle in table.in_text:
            data = values[at]
            if data is None or (needle is not None and needle.search(data) is None and not _escapes(data)):
                continue
            if needle is None and read.kind == "time" and _USUAL_TIME.fullmatch(data):
                continue
            message = _in_text(read, data, parsed)
            if message is not None:
                parts.append(message)
        if len(values) > count:
            said = []
            for read, tagged in zip(table.in_sql, values[count:], strict=True):
                if tagged is not None:
                    message = _judged(read, _untagged(tagged))
                    if message is not None:
                        text = bool(read.keys) or (type(tagged) is bytes and tagged[:1] == b"t")
                        said.append((table.text_first and not text, message))
            parts += [message for _, message in sorted(said, key=operator.itemgetter(0))]
        if not parts:
            return None
        what = f"{table.label} {jsonsafe.quoted(_decoded(key))}" if key is not None else table.label
        return f"{what}: {'; '.join(parts)}"


def install_odd_values(conn: sqlite3.Connection, tables: list[Texts]) -> None:
    """TEMP VIEW odd_values (line, run_id, message), which Store.problems() lists: each row of `tables`
    holding text that is not UTF-8 (the views show it with \\xNN, as Store does for the formats it reads
    itself) or a number or time of its `reads` the views cannot use (shown as -), one problem per row.

    Read only when the problems are asked for: a pass over the tables, each row's text in one Python
    call (about a second for 200k spans; without it, Store.problems() would build every run's tree).
    The reads are checked on that text where they are text (or JSON text), by SQL where they are
    numbers; a table whose text is not checked is read by Python only where SQL finds an odd value.

    Also TEMP VIEW odd_numbers (line, run_id, run_key, message): the numbers and times alone, each
    message as odd_values words it. SQL picks the rows (every read checked in SQL, JSON too), Python
    words only those: a pass over a big file costs about what summing its numbers does, so `list`,
    `show` (one run's rows, by run_key) and `import` look at them every time.
    """
    messages = _OddMessages()
    conn.create_function("tracetui_odd_message", -1, messages, deterministic=True)
    conn.create_function("tracetui_odd_screen", -1, messages.screen, deterministic=True)
    conn.create_function("tracetui_odd_numbers", -1, messages.numbers, deterministic=True)
    conn.create_function("tracetui_odd_suspect", 2, messages.suspect, deterministic=True)
    install_json(conn)
    selects, numbers = [], []
    for texts in tables:
        columns = table_columns(conn, texts.table).get(texts.table)
        if not columns:
            continue
        a = texts.alias
        reads = [read for read in texts.reads if read.column in columns]
        line = f"{a}.rowid" if q.has_rowid(conn, texts.table) else "NULL"  # (a WITHOUT ROWID table has none)
        if reads:
            checked = [_sql_tagged(read, a, typed=False) for read in reads]
            index = messages.add(_Checked(texts.label, [], [], reads, text_first=texts.text))
            message = f"tracetui_odd_numbers({index}, {_argument(texts.key)}, {', '.join(checked)})"
            numbers.append(_select(texts, line, message, _sql_flags(reads, a, messages)))
        names = sorted(columns) if texts.text else []
        in_text = [
            (names.index(read.column), read, _suspect(read) if read.keys else None)
            for read in reads
            if read.column in names
        ]
        in_sql = [read for read in reads if not (texts.text and read.keys)]  # JSON in a BLOB goes unlisted
        # Text as its bytes (sqlite3 calls no function with text that is not UTF-8); nothing else is text.
        args = [f"CASE WHEN typeof({a}.{q.ident(c)}) = 'text' THEN CAST({a}.{q.ident(c)} AS BLOB) END" for c in names]
        tagged = [_sql_tagged(read, a, typed=texts.text) for read in in_sql]
        if not args and not tagged:
            continue
        index = messages.add(_Checked(texts.label, names, in_text, in_sql))
        flags = [f"({sql}) IS NOT NULL" for sql in tagged]
        if names:
            flags.append(f"tracetui_odd_screen({index}, {', '.join(args)})")
        message = f"tracetui_odd_message({index}, {_argument(texts.key)}, {', '.join([*args, *tagged])})"
        selects.append(_select(texts, line, message, flags))
    if selects:
        conn.execute(f"CREATE TEMP VIEW odd_values AS {' UNION ALL '.join(selects)}")
    if numbers:
        # One run's (WHERE run_key = ?: SQLite takes the condition into each table's SELECT, to its index).
        conn.execute(f"CREATE TEMP VIEW {ODD_NUMBERS} AS {' UNION ALL '.join(numbers)}")


def _select(texts: Texts, line: str, message: str, flags: list[str]) -> str:
    """One table's SELECT of odd_values: (line, run_id, run_key, message) of the rows `flags` pick."""
    return (
        f"SELECT line, run_id, run_key, message FROM (SELECT {line} AS line, {texts.run_id} AS run_id,"
        f" {texts.run_key} AS run_key, {message} AS message FROM main.{q.ident(texts.table)} {texts.alias}"
        f" WHERE ({' OR '.join(flags)}){f' AND ({texts.where})' if texts.where else ''}) WHERE message IS NOT NULL"
    )


def install_problems(conn: sqlite3.Connection, union: list[str], calls: ModelCalls | None = None) -> None:
    """TEMP VIEW problems (the store's problems table) over SELECTs of (line, run_id, message), by line;
    then, as an import reports them last, the models of `calls` the price table did not price."""
    parts = [f"SELECT 0 AS part, line, run_id, message FROM ({select})" for select in union]
    if calls is not None:
        parts.append(f"SELECT 1, n, NULL, message FROM ({calls.unpriced()})")
    if not parts:
        parts = ["SELECT 0 AS part, NULL AS line, NULL AS run_id, NULL AS message WHERE 0"]
    # The unpriced models' `line` is only their order, shown as none.
    conn.execute(
        "CREATE TEMP VIEW problems AS SELECT row_number() OVER (ORDER BY part, line) AS n,"
        f" CASE WHEN part = 0 THEN line END AS line, run_id, message FROM ({' UNION ALL '.join(parts)})"
    )


# -- read(): the same runs as Python objects, for `tracetui import` and `export` ---------------------

_RUN_FIELDS = [name for name in SOURCE_RUN_FIELDS if name in RUN_COLUMNS]


def read_in_place(
    head: Head, report: ProblemSink, views: Callable[[sqlite3.Connection], Any], build: StepBuilder
) -> Iterator[Run]:
    """A format's read(): its views on a connection of its own, its runs through read_runs.

    Nothing is priced here (the runs go to the importer, which prices them: pricing.apply), but the
    views call tracetui_price, so the connection has it, pricing nothing.
    """
    conn = sqlite3.connect(ro_uri(head.path), uri=True)
    try:
        pricing.register(conn, estimate=False)
        views(conn)
        yield from read_runs(conn, build, report)
    finally:
        conn.close()


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
        for line, run_id, message in _odd_numbers(conn):
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


def _odd_numbers(conn: sqlite3.Connection) -> list[tuple]:
    """Every row's numbers and times the views cannot use (imported as none: said by line); the text
    that is not UTF-8 the store writer says itself, as it stores it."""
    factory, conn.text_factory = conn.text_factory, undecoded_text  # a run id may be text that is not UTF-8
    try:
        rows = conn.execute(f"SELECT line, run_id, message FROM {ODD_NUMBERS}").fetchall()
    except sqlite3.OperationalError:
        return []  # a format without the view
    finally:
        conn.text_factory = factory
    out = []
    for line, run_id, message in rows:
        shown = jsonsafe.visible_surrogates(run_id) if type(run_id) is str else run_id
        out.append((line, shown, message if shown is None else f"run {jsonsafe.quoted(shown)}: {message}"))
    return out


# -- values as the views' SQL reads them (sqlsql.count and sqlsql.money are the twins) -------------


def count(value: Any) -> int | None:
    """A token count: a number (not a boolean, not numeric text, from 0 to below sqlsql.MAGNITUDE), as an integer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < q.MAGNITUDE:
        return None
    return int(value)


def money(value: Any) -> float | None:
    """An amount: a number (not a boolean, not numeric text, from 0 to below sqlsql.MAGNITUDE)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < q.MAGNITUDE:
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
    """(value, ok): a JSON column parsed, or the empty value of `kind` and False when it is not a `kind`.
    A value already parsed (PostgreSQL's JSONB) is taken as it is."""
    if isinstance(raw, kind):
        return raw, True
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


# -- the calls view: model and tool calls in SQL, for stats --by model / --by tool ------------------

CALLS = "calls"
"""The TEMP view of a format's model and tool calls (stats.CALL_COLUMNS), one SELECT per format over
its tables: store/stats.py aggregates over it instead of the steps view, which builds every run's tree."""


def install_calls(conn: sqlite3.Connection, select: str) -> None:
    """TEMP VIEW calls over `select`: the steps a run's tree would hold with a model or of kind 'tool', as
    the tree's Python reads them (the twins below), in the columns of stats.CALL_COLUMNS, except that
    `select` gives `reported_cost` (the cost the source reported) in place of cost_estimated. `select`
    may give other steps as well (the view keeps the calls): each column is then computed once a row."""
    from ..store.stats import CALL_COLUMNS

    columns = [c for c in CALL_COLUMNS if c != "cost_estimated"]
    # LIMIT -1 keeps SQLite from folding `select` into the outer query, which would name cost_usd twice
    # there and so ask twice for each estimate (a Python function).
    conn.execute(
        f"CREATE TEMP VIEW {CALLS} AS SELECT {', '.join(columns)},"
        f" reported_cost IS NULL AND cost_usd IS NOT NULL AS cost_estimated FROM ({select} LIMIT -1)"
        " WHERE model IS NOT NULL OR kind = 'tool'"
    )


def ident_sql(expr: str) -> str:
    """Twin of normalize.ident over a column's value: text as it is ('' none), a number as its text."""
    return (
        f"(CASE WHEN typeof({expr}) = 'text' THEN nullif({expr}, '') WHEN {expr} IS NULL THEN NULL"
        f" ELSE CAST({expr} AS TEXT) END)"
    )


def json_ident_sql(column: str, *keys: str, path: str | None = None) -> str:
    """Twin of normalize.ident(dig(<the JSON object in column>, *keys)): a string as it is ('' none), a
    boolean as Python writes it, a number as its text, an object or array as compact JSON. `path`: a
    JSON path (SQL) in place of the keys (a path into JSON whose keys are plain: Leaves); by keys, a key
    spelled with \\u escapes is that key (sqlsql.escaped_keys_too)."""
    at = path or q.json_path(*keys)
    value = f"json_extract({column}, {at})"
    read = (
        f"(CASE json_type({column}, {at}) WHEN 'text' THEN nullif({value}, '') WHEN 'true' THEN 'True'"
        f" WHEN 'false' THEN 'False' WHEN 'null' THEN NULL ELSE CAST({value} AS TEXT) END)"
    )
    if path or not keys:
        return f"(CASE WHEN json_valid({column}) THEN {read} END)"
    return q.escaped_keys_too(column, keys, "ident", read)


def json_text_sql(column: str, keys: tuple[str, ...], default: str) -> str:
    """Twin of `normalize.text(dig(<the JSON object in column>, *keys)) or default`: a string as it is,
    anything else as compact JSON; a key spelled with \\u escapes is that key (sqlsql.escaped_keys_too)."""
    path = q.json_path(*keys)
    value = f"json_extract({column}, {path})"
    text = (
        f"(CASE json_type({column}, {path}) WHEN 'text' THEN nullif({value}, '') WHEN 'true' THEN 'true'"
        f" WHEN 'false' THEN 'false' WHEN 'null' THEN NULL ELSE CAST({value} AS TEXT) END)"
    )
    return f"coalesce({q.escaped_keys_too(column, keys, 'text', text)}, {q.quote(default)})"


def text_sql(expr: str, default: str) -> str:
    """Twin of `normalize.text(value) or default` over a column's value."""
    return f"coalesce(nullif(CAST({expr} AS TEXT), ''), {q.quote(default)})"


def kind_sql(raw: str, table: dict[str, str]) -> str:
    """Twin of `table.get(raw.upper()) or normalize.kind(raw)` over the SQL `raw` (an ident_sql): the
    format's own kinds first, then tracetui's table of kinds and its suffixes."""
    from ..normalize import _KIND

    own = " ".join(f"WHEN {q.quote(k)} THEN {q.quote(v)}" for k, v in table.items())
    key = f"replace(replace(lower(trim({raw})), '-', '_'), ' ', '_')"
    known = " ".join(f"WHEN {q.quote(k)} THEN {q.quote(v)}" for k, v in _KIND.items())
    suffixes = " ".join(
        f"WHEN {key} LIKE '%\\_{suffix}' ESCAPE '\\' THEN {q.quote(kind)}"
        for suffix, kind in (("scan", "scan"), ("tool", "tool"), ("llm", "llm"), ("agent", "agent"))
    )
    return (
        f"(CASE WHEN {raw} IS NULL THEN 'other' ELSE coalesce((CASE upper({raw}) {own} END),"
        f" (CASE {key} {known} END), (CASE {suffixes} ELSE 'other' END)) END)"
    )


def duration_sql(start_iso: str, end_iso: str) -> str:
    """Twin of normalize.duration_between: whole milliseconds, none when the end is before the start."""
    # Written once (a CASE would compute it twice): a whole number of ms, so anything negative is -1 or less.
    return f"nullif(max({q.duration_ms(start_iso, end_iso)}, -1), -1)"
