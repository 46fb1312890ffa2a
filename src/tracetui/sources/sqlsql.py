"""SQL expressions that normalise values inside SQLite, mirroring normalize.py, for in-place views."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import normalize

HELPER = True


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def status(expr: str, default: str) -> str:
    """CASE mapping raw status text to the model's statuses, as normalize.status() does."""
    key = f"replace(replace(lower(trim({expr})), '-', '_'), ' ', '_')"
    whens = " ".join(f"WHEN {quote(raw)} THEN {quote(value)}" for raw, value in normalize._STATUS.items())
    return f"(CASE WHEN {expr} IS NULL THEN {quote(default)} ELSE (CASE {key} {whens} ELSE {quote(default)} END) END)"


def timestamp(expr: str) -> str:
    """ISO-8601 UTC text (ms precision) from ISO text or epoch seconds/milliseconds."""
    numeric = f"strftime('%Y-%m-%dT%H:%M:%fZ', CASE WHEN abs({expr} + 0.0) >= 1e11 THEN ({expr} + 0.0) / 1000.0 ELSE {expr} + 0.0 END, 'unixepoch')"
    return (
        f"(CASE WHEN {expr} IS NULL OR {expr} = '' OR typeof({expr}) = 'blob' THEN NULL "
        f"WHEN typeof({expr}) IN ('integer', 'real') OR ({expr} NOT GLOB '*[^0-9.]*' AND {expr} GLOB '*[0-9]*') THEN {numeric} "
        f"ELSE strftime('%Y-%m-%dT%H:%M:%fZ', {expr}) END)"
    )


def duration_ms(start_iso: str, end_iso: str) -> str:
    # Timestamps carry milliseconds; julianday arithmetic is off by microseconds, so round to whole ms.
    return f"round((julianday({end_iso}) - julianday({start_iso})) * 86400000.0)"


def text_param(value: Any) -> Any:
    """value to bind where SQL says CAST(? AS TEXT): text read with bytes that are not UTF-8 (kept as
    surrogates, see store.reader.undecoded_text) goes back as those bytes, which sqlite3 cannot bind as text."""
    if type(value) is str and not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape")
    return value


def json_array(expr: str) -> str:
    """expr if it holds a JSON array, else an empty array (json_each fails on malformed JSON)."""
    return f"(CASE WHEN json_valid({expr}) AND json_type({expr}) = 'array' THEN {expr} ELSE '[]' END)"


def json_value(expr: str) -> str:
    """expr as an argument of json_object(): SQLite refuses BLOBs there, so their bytes are taken as text."""
    return f"(CASE WHEN typeof({expr}) = 'blob' THEN CAST({expr} AS TEXT) ELSE {expr} END)"


def json_label(expr: str) -> str:
    """expr as a key of json_object() / json_group_object(), which refuse anything but text."""
    return f"coalesce(CAST({expr} AS TEXT), '')"


def has_rowid(conn, table: str) -> bool:
    """False for a WITHOUT ROWID table of the main database (its rows have no rowid to number them by)."""
    import sqlite3

    try:
        conn.execute(f"SELECT rowid FROM main.{ident(table)} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True


class RunId(NamedTuple):
    """How the rows of a run table name their runs (run_id())."""

    sql: str
    """The run id over the aliased table."""
    missing: str | None
    """SELECT line, run_id, message: the rows without an id, each shown as row-N; None when there are none."""
    plain: bool
    """The id column as it is: every id is text (and `sql` reaches the column's index)."""


def run_id(conn, table: str, alias: str, column: str = "id", what: str = "row", where: str = "") -> RunId:
    """The run id of a table's rows (`alias`.`column`), always text: a row whose id is NULL or empty is
    shown as row-N (N: its rowid) and listed with the problems ("the {what} has no id"), never hidden;
    an id that is a number or a BLOB is shown as its text (and found by it).

    Only a file that holds such an id pays for it: SQLite orders NULL < numbers < text < BLOBs, so
    whether there is one is answered from the column's index (every format's id column has one), and
    WHERE id = ? reaches that index otherwise. A WITHOUT ROWID table has no rowid to number a row by.
    `where`: which of the table's rows are runs, if not all.
    """
    raw = f"{alias}.{ident(column)}"
    source = f"main.{ident(table)} {alias}"
    runs = f" AND {where}" if where else ""
    odd = f"({raw} IS NULL OR {raw} <= '' OR {raw} >= x''){runs}"
    if not has_rowid(conn, table) or conn.execute(f"SELECT 1 FROM {source} WHERE {odd} LIMIT 1").fetchone() is None:
        return RunId(raw, None, True)
    shown = f"'row-' || {alias}.rowid"
    no_id = f"({raw} IS NULL OR {raw} = '' OR {raw} = x''){runs}"
    missing = None
    if conn.execute(f"SELECT 1 FROM {source} WHERE {no_id} LIMIT 1").fetchone() is not None:
        missing = (
            f"SELECT {alias}.rowid AS line, {shown} AS run_id,"
            f" {quote(f'the {what} has no id: shown as ')} || {shown} AS message FROM {source} WHERE {no_id}"
        )
    return RunId(f"coalesce(nullif(CAST({raw} AS TEXT), ''), {shown})", missing, False)


def json_path(*keys: str) -> str:
    """A quoted JSON path to nested object keys (each key quoted, so dots inside keys are literal)."""
    return quote("$" + "".join(f'."{key}"' for key in keys))


def json_at(column: str, *keys: str) -> str:
    """The value at keys inside a JSON column, as json_extract gives it (a key spelled with \\u escapes
    too: escaped_keys_too); NULL when the column is not valid JSON."""
    if not keys:
        return f"(CASE WHEN json_valid({column}) THEN json_extract({column}, '$') END)"
    return escaped_keys_too(column, keys, "value", f"json_extract({column}, {json_path(*keys)})")


# Counts and amounts beyond this are not real (a trillion tokens in one call): left out, so a sum over
# a million of them still fits SQLite's 64-bit integers.
MAGNITUDE = 10**12


def _number(value: str, typed: str, as_integer: bool) -> str:
    kept = f"CAST({value} AS INTEGER)" if as_integer else f"({value} + 0.0)"
    # A count, an amount or a duration below zero is not one either (shown as -, listed as odd).
    return f"(CASE WHEN {typed} IN ('integer', 'real') AND {value} >= 0 AND {value} < {MAGNITUDE} THEN {kept} END)"


# -- keys spelled with \u escapes: the one place SQL over JSON text matches them ---------------------
# JSON means "\u0074okens" as the key "tokens", and Python (every tree) reads it so; SQLite's JSON paths
# match a key only as it is written. SQL that reads inside JSON by keys goes through escaped_keys_too
# (a read done many times a row) or plain_keys (a read done once a row), never through a bare path.

JSON_READ = "tracetui_json_read"
"""The SQL function (sqlite_steps.json_read) that reads the value at keys inside JSON text (given as a
BLOB), the keys matched as JSON means them, the way its second argument names (sqlite_steps.JSON_READS:
a twin of the SQL it stands in for)."""

JSON_KEYS = "tracetui_json_keys"
"""The SQL function (sqlite_steps.json_keys) that writes JSON text (given as a BLOB) again with its keys
spelled plainly, as Python reads them; NULL for text that is not a JSON object or array, or has no escape.
Both functions are made on the connection of every format that reads inside JSON (sqlite_steps.install_json)."""


def escaped_ascii(text: str) -> str:
    """SQL: `text` holds an escaped printable ASCII character (\\u0020-\\u007f), as a key spelled with
    escapes does; JSON writers escape none of them but <, > and & (Go), so this stays rare."""
    # (GLOB, not instr: SQLite looks for the rare first character alone, at a tenth of instr's cost here)
    return f"({text} GLOB '*\\u00[2-7]*')"


def escaped_keys_too(column: str, keys: tuple[str, ...], how: str, read: str) -> str:
    """SQL: the value at `keys` inside the JSON text of `column` (NULL when it is not JSON): `read`, SQL
    that reads it where SQLite's path finds it; where the path finds nothing and a key may be spelled
    with escapes, Python's reading of the same value, `how` names it (JSON_READ). The usual JSON pays
    one GLOB where the keys find nothing."""
    # (Python reads the value rather than SQL reading the text written again, and one CASE holds it all:
    # reads nest, as in MLflow's JSON inside JSON strings, and SQLite's parser has a bounded stack)
    again = f"{JSON_READ}(CAST({column} AS BLOB), {quote(how)}, {', '.join(quote(key) for key in keys)})"
    return (
        f"(CASE WHEN NOT json_valid({column}) THEN NULL WHEN json_type({column}, {json_path(*keys)}) IS NOT NULL"
        f" THEN {read} WHEN {escaped_ascii(column)} THEN {again} END)"
    )


def plain_keys(column: str) -> str:
    """SQL: the JSON text of `column` with its keys spelled plainly where one may be spelled with escapes
    (else the column as it is), for SQL that reads it by keys once a row (sqlite_steps.Leaves)."""
    return f"(CASE WHEN {escaped_ascii(column)} THEN coalesce({JSON_KEYS}(CAST({column} AS BLOB)), {column}) ELSE {column} END)"


def _json_number(column: str, keys: tuple[str, ...], as_integer: bool) -> str:
    path = json_path(*keys)
    read = _number(f"json_extract({column}, {path})", f"json_type({column}, {path})", as_integer)
    return escaped_keys_too(column, keys, "count" if as_integer else "money", read)


def count(column: str, *keys: str) -> str:
    """A token count: a number (column value, or at keys in its JSON) truncated to an integer, else NULL.

    Strict on purpose (no numeric text, nothing negative or beyond MAGNITUDE): sqlite_steps.count is its twin
    for steps built in Python. A key inside JSON is matched as JSON means it, escapes decoded (escaped_keys_too).
    """
    if keys:
        return _json_number(column, keys, True)
    return _number(column, f"typeof({column})", True)


def money(column: str, *keys: str) -> str:
    """An amount: a number (column value, or at keys in its JSON), else NULL; twin of sqlite_steps.money."""
    if keys:
        return _json_number(column, keys, False)
    return _number(column, f"typeof({column})", False)


def exception_text(events: str) -> str:
    """'type: message' of the first `exception` event in a JSON array of OpenTelemetry events, or NULL."""
    kind, message = (f"nullif({json_at('e.value', 'attributes', f'exception.{k}')}, '')" for k in ("type", "message"))
    return (
        f"(SELECT coalesce({kind} || ': ' || {message}, {kind}, {message}) FROM json_each({json_array(events)}) e"
        f" WHERE e.type = 'object' AND {json_at('e.value', 'name')} = 'exception' LIMIT 1)"
    )


# -- the names a mapping shared with PostgreSQL uses (pgsql.Postgres says the same in its dialect) ------
# SQLite's columns have no fixed type, so the casts PostgreSQL needs are no-ops here.


def text(expr: str) -> str:
    return expr


def number(expr: str) -> str:
    return expr


def integer(expr: str) -> str:
    return expr


def epoch(number: str) -> str:
    """ISO text of an epoch number (timestamp() reads numbers as seconds or milliseconds)."""
    return timestamp(number)


def not_json_array(expr: str) -> str:
    """The value is there but is not a JSON array (malformed JSON, an object, a number)."""
    return f"({expr} IS NOT NULL AND NOT (json_valid({expr}) AND json_type({expr}) = 'array'))"


def array_length(array: str) -> str:
    return f"json_array_length({array})"


def count_objects_with(array: str, key: str) -> str:
    """How many elements of a JSON array are objects whose `key` is there and not null."""
    return f"(SELECT count(*) FROM json_each({array}) WHERE type = 'object' AND json_type(value, '$.{key}') != 'null')"


def each(array: str, alias: str) -> str:
    """A FROM item giving one row per element of a JSON array (`alias.value`, position()`)."""
    return f"json_each({array}) {alias}"


def position(alias: str) -> str:
    return f"{alias}.key"


def as_object(alias: str) -> str:
    """The element if it is an object, else {"value": element}."""
    return f"(CASE WHEN {alias}.type = 'object' THEN {alias}.value ELSE json_object('value', {alias}.value) END)"


def get(obj: str, key: str) -> str:
    """A key's value inside a JSON object (strings as they are, numbers as numbers)."""
    return f"json_extract({obj}, '$.{key}')"


def get_number(obj: str, key: str) -> str:
    return get(obj, key)


def has_value(obj: str, key: str) -> str:
    """The key is there and not JSON null."""
    return f"json_type({obj}, '$.{key}') != 'null'"


def is_number(obj: str, key: str) -> str:
    return f"json_type({obj}, '$.{key}') IN ('integer', 'real')"


def without(obj: str, keys: tuple[str, ...]) -> str:
    """The object with these keys removed."""
    return f"json_remove({obj}, " + ", ".join(f"'$.{k}'" for k in keys) + ")"


def nonempty_object(obj: str) -> str:
    return f"{obj} != '{{}}'"


def build_object(pairs: list[tuple[str, str]]) -> str:
    """A JSON object (as text) of (key, SQL value) pairs."""
    return "json_object(" + ", ".join(f"{quote(key)}, {value}" for key, value in pairs) + ")"


def table(name: str) -> str:
    """A table of the database read (SQLite: its main schema, by name)."""
    return name


param = "?"  # a query parameter (the name pgsql.Postgres uses too)


def named(name: str) -> str:
    """A named query parameter."""
    return f":{name}"
