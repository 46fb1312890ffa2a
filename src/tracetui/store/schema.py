"""The store's tables and how runs and steps map onto their rows.

Every column list in tracetui derives from RUN_COLUMNS and STEP_COLUMNS: the tables, the INSERTs,
the list/tree queries and the in-place views of sources read where they lie (view_columns()).
"""

from __future__ import annotations

import math
import operator
import re
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

import orjson

from .. import jsonsafe, normalize
from ..model import (
    ESTIMATED_COST,
    FAILED_STATUSES,
    KINDS,
    NON_NEGATIVE_FIELDS,
    ROLLED_UP_FIELDS,
    STEP_STATUSES,
    TOKEN_PARTS,
    Run,
    Step,
)

FAILED_SQL = ", ".join(f"'{status}'" for status in sorted(FAILED_STATUSES))  # SQL: status IN (FAILED_SQL)

# Raise it when the columns change: the import cache keys on it, so older cached imports are not reused.
# 2: token parts (tokens_cache_read, tokens_cache_write, tokens_reasoning) and their totals; steps' model, provider.
# 3: estimated costs: steps' cost_estimated, and the estimated part of every cost total (*_cost_estimated_usd).
# Not raised for the steps' search index (store/search.py: table step_text, meta search_index): it is
# optional, added to a cached store when the viewer builds it, and a store without it is searched by a scan.
SCHEMA_VERSION = 3

# Column order matters: SQLite reads a row up to the last column a query needs, so the large
# payload columns come last and list/tree queries never touch them.
RUN_COLUMNS: dict[str, type] = {
    "id": str,
    "agent": str,
    "session": str,
    "status": str,
    "started_at": str,
    "ended_at": str,
    "duration_ms": float,
    "tokens_in": int,
    "tokens_out": int,
    "credits": float,
    "cost_usd": float,
    "step_count": int,
    "failed_steps": int,
    "steps_tokens_in": int,
    "steps_tokens_out": int,
    "steps_credits": float,
    "steps_cost_usd": float,
    "total_tokens_in": int,
    "total_tokens_out": int,
    "total_credits": float,
    "total_cost_usd": float,
    **{name: int for name in TOKEN_PARTS},
    **{f"steps_{name}": int for name in TOKEN_PARTS},
    **{f"total_{name}": int for name in TOKEN_PARTS},
    f"steps_{ESTIMATED_COST}": float,
    f"total_{ESTIMATED_COST}": float,
    "error": str,
    "flags": str,
    "source_file": str,
    "source_line": int,
    "metadata": str,
    "events": str,
    "extra": str,
    "input": str,
    "output": str,
}

STEP_COLUMNS: dict[str, type] = {
    "run_id": str,
    "id": str,
    "parent_id": str,
    "seq": int,
    "ord": int,
    "depth": int,
    "size": int,
    "child_count": int,
    "name": str,
    "kind": str,
    "raw_type": str,
    "status": str,
    "started_at": str,
    "ended_at": str,
    "duration_ms": float,
    "tokens_in": int,
    "tokens_out": int,
    "credits": float,
    "cost_usd": float,
    "sub_tokens_in": int,
    "sub_tokens_out": int,
    "sub_credits": float,
    "sub_cost_usd": float,
    **{name: int for name in TOKEN_PARTS},
    **{f"sub_{name}": int for name in TOKEN_PARTS},
    "cost_estimated": int,
    f"sub_{ESTIMATED_COST}": float,
    "model": str,
    "provider": str,
    "branch": str,
    "chosen_branch": str,
    "verdict": str,
    "confidence": float,
    "policy": str,
    "score": float,
    "definition_id": str,
    "flags": str,
    "error": str,
    "events": str,
    "extra": str,
    "input": str,
    "output": str,
}

# Columns a store of schema version 1 lacks (and of version 2: the estimated-cost ones). Such a store is
# still read in place, these columns NULL (it never held their values); see sources/native_sqlite.py.
ADDED_RUN_COLUMNS = frozenset(
    [
        *TOKEN_PARTS,
        *(f"steps_{name}" for name in TOKEN_PARTS),
        *(f"total_{name}" for name in TOKEN_PARTS),
        f"steps_{ESTIMATED_COST}",
        f"total_{ESTIMATED_COST}",
    ]
)
ADDED_STEP_COLUMNS = frozenset(
    [
        *TOKEN_PARTS,
        *(f"sub_{name}" for name in TOKEN_PARTS),
        "model",
        "provider",
        "cost_estimated",
        f"sub_{ESTIMATED_COST}",
    ]
)

# Stored so the run list can sort by them; Run computes them (Run.total), it does not hold them.
RUN_TOTAL_COLUMNS = tuple(f"total_{name}" for name in (*ROLLED_UP_FIELDS, ESTIMATED_COST))
JSON_COLUMNS = frozenset({"flags", "metadata", "events", "extra"})
PAYLOAD_COLUMNS = ("events", "extra", "input", "output")
RUN_LIST_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in ("metadata", *PAYLOAD_COLUMNS))
STEP_TREE_COLUMNS = tuple(c for c in STEP_COLUMNS if c not in PAYLOAD_COLUMNS)

_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL"}
_TABLES: dict[str, tuple[dict[str, type], tuple[str, ...]]] = {
    "meta": ({"key": str, "value": str}, ("key",)),
    "problems": ({"n": int, "line": int, "run_id": str, "message": str}, ("n",)),
    "runs": (RUN_COLUMNS, ("id",)),
    "steps": (STEP_COLUMNS, ("run_id", "id")),
}
# The run list sorts on these (see sort_keys.py); a step tree is read by parent and by position.
_INDEXES = (
    ("runs", ("started_at",)),
    ("runs", ("status",)),
    ("runs", ("agent",)),
    ("runs", ("duration_ms",)),
    ("runs", ("total_credits",)),
    ("runs", ("total_cost_usd",)),
    ("runs", ("session",)),  # runs grouped by session, and the runs of one session
    ("steps", ("run_id", "parent_id", "seq")),
    ("steps", ("run_id", "ord")),
)


def _index_name(table: str, cols: tuple[str, ...]) -> str:
    return f"idx_{table}_{'_'.join(cols)}"


# The steps' secondary indexes (a run's steps are also found through the table's key, run_id first):
# an import into an empty store leaves them out until its end (StoreWriter.defer_step_indexes).
STEP_INDEXES = tuple(_index_name(table, cols) for table, cols in _INDEXES if table == "steps")


def create_schema(conn: sqlite3.Connection, *, indexes: bool = True) -> None:
    """Create the store's tables (and the indexes) if missing.

    indexes=False: a scratch store of parallel.py, merged into a store later, which checks the keys:
    no indexes, and no primary key on steps (its B-tree cost a sixth of writing a step row).
    """
    for table, (columns, key) in _TABLES.items():
        defs = [f"{col} {_SQL_TYPES[kind]}" for col, kind in columns.items()]
        if len(key) == 1:
            defs[list(columns).index(key[0])] += " PRIMARY KEY"
        elif indexes:
            defs.append(f"PRIMARY KEY ({', '.join(key)})")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
    if indexes:
        for table, cols in _INDEXES:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {_index_name(table, cols)} ON {table} ({', '.join(cols)})")


def to_json(value: Any) -> str | None:
    """A JSON column's text; empty lists and objects are stored as NULL."""
    if value is None or value == [] or value == {}:
        return None
    try:  # jsonsafe.dumps' fast path, inlined: this runs for every step of every import
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
    except TypeError:
        return jsonsafe.dumps(value)


_INT64 = range(-(1 << 63), 1 << 63)


def storable(value: Any) -> tuple[Any, str | None]:
    """A value SQLite can store, made from one it refused, and what was changed (None: nothing).

    For the writer's slow path only: a row SQLite would not take is retried with each value passed
    through this, and what it says is reported with the run.
    """
    if value is None or isinstance(value, (bool, float, bytes)):
        return value, None
    if isinstance(value, int):
        if value in _INT64:
            return value, None
        try:
            return float(
                value
            ), f"the number {_digits(value)} is beyond SQLite's integers: stored as about {float(value):g}"
        except OverflowError:
            return None, f"the number {_digits(value)} is beyond any number SQLite stores: left out"
    if isinstance(value, str):
        try:
            value.encode()
            return value, None
        except UnicodeEncodeError:
            return jsonsafe.visible_surrogates(value), _surrogates_said(value)
    return jsonsafe.dumps(value), f"a {type(value).__name__} where text or a number belongs: stored as its JSON text"


def _surrogates_said(value: str) -> str:
    """What visible_surrogates did to text: bytes that are not UTF-8 (read with surrogateescape) are
    shown as \\xNN, other surrogates as \\udXXX."""
    codes = {ord(c) for c in value if "\ud800" <= c <= "\udfff"}
    undecoded = any(0xDC80 <= code <= 0xDCFF for code in codes)
    if not undecoded:
        return "text with unpaired surrogates: each kept as the text \\udXXX"
    if all(0xDC80 <= code <= 0xDCFF for code in codes):
        return "text that is not UTF-8, shown with \\xNN"
    return "text that is not UTF-8 and unpaired surrogates: kept as the text \\xNN and \\udXXX"


# The Python type of every column of either table, and of the JSON columns once decoded.
FIELD_TYPES: dict[str, type] = {**RUN_COLUMNS, **STEP_COLUMNS} | {
    "cost_estimated": bool,  # stored as 0/1
    "flags": list,
    "events": list,
    "metadata": dict,
    "extra": dict,
}
_ACCEPTED: dict[type, tuple[type, ...]] = {
    str: (str, type(None)),
    int: (int, type(None)),
    bool: (bool, int, type(None)),  # int: the store's 0/1, made a bool by whoever builds the Step
    float: (float, int, type(None)),
    list: (list,),
    dict: (dict,),
}


def typed(values: dict[str, Any], *, undecoded: bool = False) -> list[str]:
    """Make each value (of a row from a file tracetui did not write) the type its column holds, in place.

    A number that is not a number becomes None (shown as "-"); what text columns hold that is not
    text becomes text; JSON columns that do not parse keep their text. Returns what was changed,
    one phrase per value, for the problems list. Values of the right type are left alone, so a
    clean row costs one type check per value.

    undecoded: text was read with bytes that are not UTF-8 escaped as surrogates (see
    store.reader); they are shown as \\xNN.
    """
    changes: list[str] = []
    for name, value in values.items():
        kind = FIELD_TYPES.get(name)
        if kind is None:
            continue
        if value is None and name in _COUNTS:
            values[name] = _COUNTS[name]  # a position, count or word the viewer cannot do without
            continue
        if type(value) in _ACCEPTED[kind] and (type(value) is not float or math.isfinite(value)):
            if name in _NON_NEGATIVE and value is not None and value < 0:
                values[name] = None
                changes.append(f"{name}: {jsonsafe.short(value)} is negative: shown as -")
            elif undecoded and type(value) is str and _SURROGATE.search(value):
                values[name] = jsonsafe.visible_surrogates(value)
                changes.append(f"{name}: text that is not UTF-8, shown with \\xNN")
            elif name == "flags" and not all(type(flag) is str for flag in value):
                values[name] = [flag if type(flag) is str else jsonsafe.dumps(flag) for flag in value]
            continue
        values[name], change = _as_type(kind, name, value)
        if name in _NON_NEGATIVE and values[name] is not None and values[name] < 0:
            values[name], change = None, f"{jsonsafe.short(value)} is negative: shown as -"
        if values[name] is None and name in _COUNTS:
            values[name] = _COUNTS[name]
            change = change and change.replace("shown as -", f"read as {_COUNTS[name]}")
        if name == "flags":
            values[name] = [flag if type(flag) is str else jsonsafe.dumps(flag) for flag in values[name]]
        if change:
            changes.append(f"{name}: {change}")
    # Times are ISO-8601 UTC as normalize.timestamp writes them: sorted as text, shown cut to seconds.
    for name in ("started_at", "ended_at"):
        value = values.get(name)
        if value is not None and not normalize.is_canonical_time(value):
            values[name] = normalize.timestamp(value)
            normalize.take_notes()  # said below, with the column's name
            if values[name] is None:
                changes.append(f"{name}: {jsonsafe.short(value)} is not a time: shown as -")
    # Statuses and kinds are words the viewer knows (icons, colours), never free text.
    for name, known, canonical in (("status", _STATUSES, normalize.status), ("kind", _KINDS, normalize.kind)):
        value = values.get(name)
        if value is not None and value not in known:
            values[name] = canonical(value)
            changes.append(
                f"{name}: {jsonsafe.short(value)} is not one tracetui knows: read as {jsonsafe.quoted(values[name])}"
            )
    return changes


_STATUSES = frozenset(STEP_STATUSES)
# Counts, amounts and durations, and their sums (sub_*, steps_*, total_*): never below zero.
_NON_NEGATIVE = frozenset(
    name
    for name in FIELD_TYPES
    if name.removeprefix("total_").removeprefix("steps_").removeprefix("sub_") in (*NON_NEGATIVE_FIELDS, ESTIMATED_COST)
)
# Positions, counts, names, statuses and kinds are never None in the model (the tree is laid out
# with them, rows are drawn from them): their defaults.
_COUNTS = {
    f.name: f.default
    for cls in (Run, Step)
    for f in dataclass_fields(cls)
    if isinstance(f.default, (int, str)) and FIELD_TYPES.get(f.name) in (int, str)
}
_KINDS = frozenset(KINDS)


_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_DEFAULTS: dict[str, Any] = {"flags": list, "events": list, "metadata": dict, "extra": dict}


def _as_type(kind: type, name: str, value: Any) -> tuple[Any, str | None]:
    shown = jsonsafe.short(value)
    if kind is str:
        if isinstance(value, bytes):
            return value.decode("utf-8", "backslashreplace"), None
        if isinstance(value, (int, float)):
            return str(value), None
        return jsonsafe.dumps(value), None
    if kind is bool:
        return False, f"{shown} is not true or false: read as false"
    if kind in (int, float):
        number = None if isinstance(value, bool) else normalize.number(value)
        normalize.take_notes()  # said here, with the column's name
        if number is None:
            return None, f"{shown} is not a number: shown as -"
        if kind is int and number.is_integer() and abs(number) < 2**63:
            return int(number), None
        # A float where a count belongs (a count too large for SQLite's integers is stored as one) stays one.
        return number, None if isinstance(value, float) else f"{shown} is not a whole number: kept as {number:g}"
    # A JSON column: text that parses is decoded; anything else is kept, wrapped in the column's type.
    change: str | None
    if isinstance(value, (str, bytes)):
        try:
            decoded = jsonsafe.loads(value)[0]
        except orjson.JSONDecodeError:
            decoded = value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")
            change = "is not valid JSON: kept as text"
        else:
            change = None if type(decoded) is kind or decoded is None else f"holds a {type(decoded).__name__}"
        value = decoded
    else:
        change = f"holds a {type(value).__name__}"
    if value is None:
        return _JSON_DEFAULTS[name](), None
    if type(value) is kind:
        return value, change
    if kind is list:
        return [value], change
    return {"raw": value}, change


def _digits(value: int) -> str:
    text = str(value) if value.bit_length() < 4000 else f"{'-' if value < 0 else ''}(about 2^{value.bit_length()})"
    return text if len(text) <= 40 else f"{text[:20]}…({len(text)} digits)"


STEP_POSITION = {name: i for i, name in enumerate(STEP_COLUMNS)}
"""Where each column's value sits in a step row (readers that lay out rows themselves: sources/export.py)."""
_STEP_JSON_POSITIONS = [i for i, c in enumerate(STEP_COLUMNS) if c in JSON_COLUMNS]
_step_values = operator.attrgetter(*STEP_COLUMNS)


# A run's row is its attributes (attrgetter, in C: this runs once per run of every import), with the
# JSON columns then made text and the totals (Run.total; no attribute of their own) put in.
_RUN_VALUES = operator.attrgetter(*("id" if col in RUN_TOTAL_COLUMNS else col for col in RUN_COLUMNS))
_RUN_JSON_POSITIONS = [i for i, col in enumerate(RUN_COLUMNS) if col in JSON_COLUMNS]
_RUN_TOTAL_POSITIONS = [(i, col[len("total_") :]) for i, col in enumerate(RUN_COLUMNS) if col in RUN_TOTAL_COLUMNS]


def run_row(run: Run) -> tuple:
    row = list(_RUN_VALUES(run))
    for i in _RUN_JSON_POSITIONS:
        row[i] = to_json(row[i])
    total = run.total
    for i, name in _RUN_TOTAL_POSITIONS:
        row[i] = total(name)
    return tuple(row)


def step_row(step: Step, null: Any = None) -> list:
    """The step's row, in STEP_COLUMNS order; `null` in place of each None (the writer binds NaN)."""
    # attrgetter + patching the few JSON columns: this runs once per step of every import.
    values = _step_values(step)
    row = list(values) if null is None else [null if value is None else value for value in values]
    for i in _STEP_JSON_POSITIONS:
        text = to_json(values[i])
        row[i] = null if text is None else text
    return row


def insert_sql(table: str, columns: Iterable[str]) -> str:
    cols = list(columns)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def view_columns(columns: Iterable[str], given: Mapping[str, str], *, also: Mapping[str, str] | None = None) -> str:
    """The SELECT list of an in-place view: every store column in order, NULL where `given` has none.

    `given` maps store columns to SQL expressions; `also` adds columns beyond the store's (sort keys).
    """
    columns = list(columns)
    unknown = set(given) - set(columns)
    if unknown:
        raise ValueError(f"not store columns: {', '.join(sorted(unknown))}")
    items = [(col, given.get(col, "NULL")) for col in columns] + list((also or {}).items())
    return ",\n            ".join(f"{expr} AS {col}" for col, expr in items)
