"""SQL expressions that normalise values inside PostgreSQL, mirroring sqlsql.py (SQLite) and normalize.py.

A format that can be read from both SQLite and PostgreSQL writes its mapping once, as a function of
a dialect: `sqlsql` (a module) or a `Postgres` (an object, which knows the server's version and the
types of the table's columns, because PostgreSQL's SQL is typed where SQLite's is not). Both offer
the same names with the same meaning; what differs is only how each database says it.

Every expression here is safe on any value a column may hold: JSON kept as TEXT that does not parse,
times as text, numbers as text. Such a value becomes NULL (or an empty array) instead of failing
the query, so one bad row never hides the others (PostgreSQL 16 and later; older servers have no
`IS JSON`, and a TEXT column with malformed JSON stops the query there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import normalize

HELPER = True

ISO = '\'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\''  # to_char's form of normalize.iso (the session is in UTC)
_TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")
_NUMBER_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")
_NUMERIC_TEXT = r"'^\s*-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?\s*$'"
_ISO_TEXT = r"'^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?\s*([Zz]|[-+][0-9]{2}(:?[0-9]{2})?)?\s*$'"
# Counts and amounts beyond this are not real: left out, as sqlsql.MAGNITUDE.
MAGNITUDE = 10**12


# -- NUL: the one character PostgreSQL's text cannot hold -------------------------------------------
#
# A value holding NUL (U+0000) is stored with each NUL as the text `\x00`, the form display.safe shows
# it in, so that it reads the same wherever the server hands it back as it is (stats groups, search
# hits). A backslash that starts `x00` or `x5c` in such a value is stored as `\x5c`, so the stored
# text reads back as exactly the value (nul_text undoes nul_escaped). Which values were stored so is
# kept beside them (tracetui's tables: the ESCAPED column lists a row's columns that were).

ESCAPED = "escaped"
_NUL_OR_TOKEN = re.compile(r"\x00|\\(?=x00|x5c)")
_TOKEN = re.compile(r"\\x00|\\x5c")


def nul_escaped(text: str) -> str:
    """text, which holds NUL, as PostgreSQL can store it (see above)."""
    return _NUL_OR_TOKEN.sub(lambda m: "\\x00" if m.group() == "\x00" else "\\x5c", text)


def nul_text(stored: str) -> str:
    """The value nul_escaped() stored."""
    return _TOKEN.sub(lambda m: "\x00" if m.group() == "\\x00" else "\\", stored)


def unescaped(values: dict[str, Any], escaped: str | None) -> dict[str, Any]:
    """A row's values by column, those its ESCAPED column lists put back as they were."""
    if escaped:
        for column in escaped.split(","):
            if isinstance(values.get(column), str):
                values[column] = nul_text(values[column])
    return values


def parameter(value: Any) -> Any:
    """A query parameter as the server compares it: text with NUL in its stored form (never an error)."""
    if isinstance(value, str):
        return nul_escaped(value) if "\x00" in value else value
    if isinstance(value, list):
        return [parameter(item) for item in value]
    return value


def quote(text: str) -> str:
    """A string literal (standard_conforming_strings, on since PostgreSQL 9.1)."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{ident(schema)}.{ident(table)}"


class Postgres:
    """The PostgreSQL dialect for one table: `types` maps its column expressions (as the mapping writes
    them, e.g. `t."started_at"`) to their types, as format_type() names them."""

    def __init__(self, server_version: int, types: Mapping[str, str] | None = None, schema: str = "public") -> None:
        self.server_version = server_version
        self.types = dict(types or {})
        self.schema = schema

    param = "%s"  # a query parameter (psycopg)

    @staticmethod
    def named(name: str) -> str:
        """A named query parameter."""
        return f"%({name})s"

    def table(self, name: str) -> str:
        """A table of the schema read, qualified."""
        return qualified(self.schema, name)

    def type_of(self, expr: str) -> str | None:
        return self.types.get(expr)

    # -- the names sqlsql offers too -------------------------------------------------------------
    quote = staticmethod(quote)
    ident = staticmethod(ident)

    def text(self, expr: str) -> str:
        """The value as text (ids, names): SQLite keeps its own type, PostgreSQL's typed rows are cast."""
        return expr if self._is_text(expr) else f"({expr})::text"

    def status(self, expr: str, default: str) -> str:
        """CASE mapping raw status text to the model's statuses, as normalize.status() does."""
        key = f"replace(replace(lower(trim({self.text(expr)})), '-', '_'), ' ', '_')"
        whens = " ".join(f"WHEN {quote(raw)} THEN {quote(value)}" for raw, value in normalize._STATUS.items())
        return (
            f"(CASE WHEN {expr} IS NULL THEN {quote(default)} ELSE (CASE {key} {whens} ELSE {quote(default)} END) END)"
        )

    def timestamp(self, expr: str) -> str:
        """ISO-8601 UTC text (ms precision) from a time column, ISO text or epoch seconds/ms/µs/ns."""
        kind = self.type_of(expr)
        if kind in _TIME_TYPES:
            return f"to_char({expr}, {ISO})"
        if kind in _NUMBER_TYPES:
            return self.epoch(f"({expr})::float8")
        value = self.text(expr)
        return (
            f"(CASE WHEN {value} ~ {_NUMERIC_TEXT} THEN {self.epoch(f'({value})::float8')}"
            f" WHEN {value} ~ {_ISO_TEXT} THEN to_char(({value})::timestamptz, {ISO}) END)"
        )

    @staticmethod
    def epoch(number: str) -> str:
        """ISO text of an epoch number read as seconds, ms, µs or ns by its magnitude (normalize._from_epoch)."""
        seconds = (
            f"CASE WHEN {number} < 1e11 THEN {number} WHEN {number} < 1e14 THEN {number} / 1e3"
            f" WHEN {number} < 1e17 THEN {number} / 1e6 ELSE {number} / 1e9 END"
        )
        return f"(CASE WHEN {number} >= 0 AND {number} < 1e20 THEN to_char(to_timestamp({seconds}), {ISO}) END)"

    @staticmethod
    def duration_ms(start_iso: str, end_iso: str) -> str:
        """Milliseconds between two ISO texts made by timestamp() (so the casts cannot fail)."""
        return f"round((extract(epoch FROM ({end_iso})::timestamptz - ({start_iso})::timestamptz) * 1000)::numeric)::float8"

    def json_array(self, expr: str) -> str:
        """expr as a jsonb array if it holds one, else an empty array."""
        return f"(CASE WHEN {self._is_array(expr)} THEN {self._jsonb(expr)} ELSE '[]'::jsonb END)"

    def not_json_array(self, expr: str) -> str:
        """The value is there but is not a JSON array (malformed JSON, an object, a number)."""
        return f"({expr} IS NOT NULL AND NOT coalesce({self._is_array(expr)}, false))"

    def json_object(self, expr: str) -> str:
        """expr as a jsonb object if it holds one, else NULL."""
        return f"(CASE WHEN {self._is_kind(expr, 'object')} THEN {self._jsonb(expr)} END)"

    def json_at(self, column: str, *keys: str) -> str:
        """The value at keys inside a JSON column as text (objects as JSON text); NULL when not there."""
        return f"({self.json_object(column)} #>> {self._path(keys)})"

    def count(self, column: str, *keys: str) -> str:
        """A token count: a JSON number (column value, or at keys in its JSON) truncated to an integer."""
        return self._number(column, keys, integer=True)

    def money(self, column: str, *keys: str) -> str:
        """An amount: a JSON number (column value, or at keys in its JSON), else NULL."""
        return self._number(column, keys, integer=False)

    def number(self, expr: str) -> str:
        """A number from a number column or numeric text (normalize.number), as float8."""
        if self.type_of(expr) in _NUMBER_TYPES:
            return f"({expr})::float8"
        value = self.text(expr)
        return f"(CASE WHEN {value} ~ {_NUMERIC_TEXT} THEN ({value})::float8 END)"

    def integer(self, expr: str) -> str:
        """normalize.integer: a number truncated to an integer."""
        number = self.number(expr)
        return f"(CASE WHEN abs({number}) < {MAGNITUDE} THEN trunc({number})::bigint END)"

    def exception_text(self, events: str) -> str:
        """'type: message' of the first `exception` event in a JSON array of OpenTelemetry events, or NULL."""
        kind, message = (f"nullif(e.value #>> '{{attributes,exception.{k}}}', '')" for k in ("type", "message"))
        return (
            f"(SELECT coalesce({kind} || ': ' || {message}, {kind}, {message})"
            f" FROM jsonb_array_elements({self.json_array(events)}) e(value)"
            " WHERE jsonb_typeof(e.value) = 'object' AND e.value ->> 'name' = 'exception' LIMIT 1)"
        )

    # -- arrays of JSON objects (one step per element) -------------------------------------------
    @staticmethod
    def array_length(array: str) -> str:
        return f"jsonb_array_length({array})"

    @staticmethod
    def count_objects_with(array: str, key: str) -> str:
        """How many elements of a jsonb array are objects whose `key` is there and not null."""
        return (
            f"(SELECT count(*) FROM jsonb_array_elements({array}) e(value)"
            f" WHERE jsonb_typeof(e.value) = 'object' AND jsonb_typeof(e.value -> {quote(key)}) <> 'null')"
        )

    @staticmethod
    def each(array: str, alias: str) -> str:
        """A FROM item giving one row per element: `alias.value` (jsonb) and `alias.position` (0-based)."""
        return f"jsonb_array_elements({array}) WITH ORDINALITY {alias}(value, n)"

    @staticmethod
    def position(alias: str) -> str:
        return f"({alias}.n - 1)"

    @staticmethod
    def as_object(alias: str) -> str:
        """The element if it is an object, else {"value": element} (as agent_traces.row_to_run does)."""
        return f"(CASE WHEN jsonb_typeof({alias}.value) = 'object' THEN {alias}.value ELSE jsonb_build_object('value', {alias}.value) END)"

    @staticmethod
    def get(obj: str, key: str) -> str:
        """A key's value inside a JSON object, as text."""
        return f"({obj} ->> {quote(key)})"

    @staticmethod
    def has_value(obj: str, key: str) -> str:
        """The key is there and not JSON null."""
        return f"(jsonb_typeof({obj} -> {quote(key)}) <> 'null')"

    def get_number(self, obj: str, key: str) -> str:
        """A key's value as float8 when it is a number or numeric text (normalize.number), else NULL."""
        value = self.get(obj, key)
        # Nested CASEs: PostgreSQL may evaluate the parts of an AND in any order, a CASE's branches it may not.
        return (
            f"(CASE WHEN jsonb_typeof({obj} -> {quote(key)}) IN ('number', 'string')"
            f" THEN (CASE WHEN {value} ~ {_NUMERIC_TEXT} THEN ({value})::float8 END) END)"
        )

    @staticmethod
    def is_number(obj: str, key: str) -> str:
        return f"(jsonb_typeof({obj} -> {quote(key)}) = 'number')"

    # -- helpers ---------------------------------------------------------------------------------
    def _is_text(self, expr: str) -> bool:
        kind = self.type_of(expr)
        return kind is not None and (kind == "text" or kind.startswith(("character varying", "character(")))

    def _jsonb(self, expr: str) -> str:
        return expr if self.type_of(expr) == "jsonb" else f"({expr})::jsonb"

    def _is_array(self, expr: str) -> str:
        return self._is_kind(expr, "array")

    def _is_kind(self, expr: str, kind: str) -> str:
        column_type = self.type_of(expr)
        if column_type == "jsonb":
            return f"(jsonb_typeof({expr}) = {quote(kind)})"
        if column_type == "json":
            return f"(json_typeof({expr}) = {quote(kind)})"
        if column_type is None:
            return f"(jsonb_typeof(({expr})::jsonb) = {quote(kind)})"  # an expression over JSONB columns
        if self.server_version >= 160000:
            return f"({expr} IS JSON {kind.upper()})"
        return f"(jsonb_typeof(({expr})::jsonb) = {quote(kind)})"  # no IS JSON before 16: bad JSON stops the query

    @staticmethod
    def _path(keys: tuple[str, ...]) -> str:
        return quote("{" + ",".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys) + "}")

    def _number(self, column: str, keys: tuple[str, ...], *, integer: bool) -> str:
        if keys:
            value = f"({self.json_object(column)} #> {self._path(keys)})"
        elif self.type_of(column) in _NUMBER_TYPES:
            kept = f"trunc({column})::bigint" if integer else f"({column})::float8"
            # (nothing below zero, as sqlsql reads them; ::numeric: abs() of an integer type's least value fails)
            return f"(CASE WHEN {column}::numeric >= 0 AND {column}::numeric < {MAGNITUDE} THEN {kept} END)"
        else:
            value = f"to_jsonb({column})"
        number = f"({value} #>> '{{}}')::numeric"
        kept = f"trunc({number})::bigint" if integer else f"({number})::float8"
        fine = f"{number} >= 0 AND {number} < {MAGNITUDE}"
        return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN (CASE WHEN {fine} THEN {kept} END) END)"

    @staticmethod
    def without(obj: str, keys: tuple[str, ...]) -> str:
        """The object with these keys removed."""
        return "(" + obj + "".join(f" - {quote(k)}" for k in keys) + ")"

    @staticmethod
    def nonempty_object(obj: str) -> str:
        return f"{obj} <> '{{}}'::jsonb"

    @staticmethod
    def json_value(expr: str) -> str:
        """expr as a value of build_object(): any PostgreSQL value will do."""
        return expr

    @staticmethod
    def build_object(pairs: list[tuple[str, str]]) -> str:
        """A JSON object (as text) of (key, SQL value) pairs."""
        return "jsonb_build_object(" + ", ".join(f"{quote(key)}, {value}" for key, value in pairs) + ")::text"
