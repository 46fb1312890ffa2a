"""The store's tables and how runs and steps map onto their rows.

Every column list in tracetui derives from RUN_COLUMNS and STEP_COLUMNS: the tables, the INSERTs,
the list/tree queries and the in-place views of sources read where they lie (view_columns()).
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ..model import ESTIMATED_COST, ROLLED_UP_FIELDS, TOKEN_PARTS, Run, Step

# Raise it when the columns change: the import cache keys on it, so older cached imports are not reused.
# 2: token parts (tokens_cache_read, tokens_cache_write, tokens_reasoning) and their totals; steps' model, provider.
# 3: estimated costs: steps' cost_estimated, and the estimated part of every cost total (*_cost_estimated_usd).
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


def create_schema(conn: sqlite3.Connection, *, indexes: bool = True) -> None:
    """Create the store's tables (and the indexes, unless a scratch store skips them) if missing."""
    for table, (columns, key) in _TABLES.items():
        defs = [f"{col} {_SQL_TYPES[kind]}" for col, kind in columns.items()]
        if len(key) == 1:
            defs[list(columns).index(key[0])] += " PRIMARY KEY"
        else:
            defs.append(f"PRIMARY KEY ({', '.join(key)})")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
    if indexes:
        for table, cols in _INDEXES:
            conn.execute(f"CREATE INDEX IF NOT EXISTS idx_{table}_{'_'.join(cols)} ON {table} ({', '.join(cols)})")


def to_json(value: Any) -> str | None:
    """A JSON column's text; empty lists and objects are stored as NULL."""
    if value is None or value == [] or value == {}:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


_STEP_JSON_POSITIONS = [i for i, c in enumerate(STEP_COLUMNS) if c in JSON_COLUMNS]
_step_values = operator.attrgetter(*STEP_COLUMNS)


def run_row(run: Run) -> tuple:
    values: list[Any] = []
    for col in RUN_COLUMNS:
        if col in RUN_TOTAL_COLUMNS:
            values.append(run.total(col[len("total_") :]))
        elif col in JSON_COLUMNS:
            values.append(to_json(getattr(run, col)))
        else:
            values.append(getattr(run, col))
    return tuple(values)


def step_row(step: Step) -> list:
    # attrgetter + patching the few JSON columns: this runs once per step of every import.
    values = list(_step_values(step))
    for i in _STEP_JSON_POSITIONS:
        values[i] = to_json(values[i])
    return values


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
