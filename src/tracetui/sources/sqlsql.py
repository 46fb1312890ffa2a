"""SQL expressions that normalise values inside SQLite, mirroring normalize.py, for in-place views."""

from __future__ import annotations

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


def json_array(expr: str) -> str:
    """expr if it holds a JSON array, else an empty array (json_each fails on malformed JSON)."""
    return f"(CASE WHEN json_valid({expr}) AND json_type({expr}) = 'array' THEN {expr} ELSE '[]' END)"


def json_value(expr: str) -> str:
    """expr as an argument of json_object(): SQLite refuses BLOBs there, so their bytes are taken as text."""
    return f"(CASE WHEN typeof({expr}) = 'blob' THEN CAST({expr} AS TEXT) ELSE {expr} END)"


def has_rowid(conn, table: str) -> bool:
    """False for a WITHOUT ROWID table (its rows have no rowid to number them by)."""
    import sqlite3

    try:
        conn.execute(f"SELECT rowid FROM {ident(table)} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True
