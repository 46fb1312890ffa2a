"""`tracetui import SRC -o postgresql://…`: publish a file's runs into tracetui's schema in PostgreSQL.

The file is imported as it always is (detected, read by worker processes, priced, finalized) into a
private temporary SQLite store, which is then copied into the database with COPY, in one
transaction: readers see the runs of an import all at once or not at all, and an import that fails
leaves the database as it was.

Runs are keyed by id. Importing a run replaces the run with that id; importing the same file again
(the same absolute path) also removes its runs that are no longer in it, so re-importing never
duplicates. The tables live in their own schema (`tracetui` unless --schema says otherwise), so
they never meet another application's `runs` table.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..model import Problem
from ..sources.pgsql import ident, qualified
from ..store.schema import PAYLOAD_COLUMNS, RUN_COLUMNS, RUN_LIST_COLUMNS, SCHEMA_VERSION, STEP_COLUMNS
from ..store.sort_keys import SORT_KEYS
from .session import Session
from .target import parse

DEFAULT_SCHEMA = "tracetui"
_TYPES = {str: "text", int: "bigint", float: "double precision"}
# The run list sorts on these (keyset pages on (key, id)); a run's steps are read by position.
RUN_INDEXES = ("started_at", "duration_ms", "total_cost_usd", "total_credits", "agent", "status", "step_count")
STEP_INDEXES = (("run_id", "ord"),)
RUN_PAYLOAD_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in RUN_LIST_COLUMNS)  # what the run list never reads


@dataclass
class Published:
    runs: int
    replaced: int  # runs that were in the database before (this file's earlier import, or another's)
    problems: list[Problem]
    format: str
    where: str  # the database and schema, as shown to the user


def table_sql(schema: str) -> list[str]:
    """The DDL of tracetui's schema (idempotent): runs and steps with the store's columns, plus which
    import wrote each run, the problems of each import, and the imports themselves."""
    s = ident(schema)
    runs = ", ".join(f"{ident(c)} {_TYPES[t]}" for c, t in RUN_COLUMNS.items())
    steps = ", ".join(f"{ident(c)} {_TYPES[t]}" for c, t in STEP_COLUMNS.items())
    statements = [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE TABLE IF NOT EXISTS {s}.runs ({runs}, import_key text, PRIMARY KEY (id))",
        f"CREATE TABLE IF NOT EXISTS {s}.steps ({steps}, PRIMARY KEY (run_id, id))",
        f"CREATE TABLE IF NOT EXISTS {s}.problems (n bigint, line bigint, run_id text, message text, import_key text)",
        f"""CREATE TABLE IF NOT EXISTS {s}.imports (import_key text PRIMARY KEY, format text, runs bigint,
            prices text, schema_version bigint, imported_at timestamptz DEFAULT now())""",
    ]
    for column in RUN_INDEXES:
        statements.append(f"CREATE INDEX IF NOT EXISTS runs_{column}_id ON {s}.runs ({ident(column)}, id)")
    tokens = next(key.sql for key in SORT_KEYS if key.name == "tokens")
    statements.append(f"CREATE INDEX IF NOT EXISTS runs_tokens_id ON {s}.runs ({tokens}, id)")
    statements.append(f"CREATE INDEX IF NOT EXISTS runs_import_key ON {s}.runs (import_key)")
    for columns in STEP_INDEXES:
        name = "steps_" + "_".join(columns)
        statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON {s}.steps ({', '.join(map(ident, columns))})")
    statements.append(f"CREATE INDEX IF NOT EXISTS steps_run_parent ON {s}.steps (run_id, parent_id, seq)")
    return statements


def storage_sql(schema: str, *, lz4: bool) -> list[str]:
    """How the payload columns of the tables an import has just created are stored (never a table it
    did not create). The payloads are most of the bytes, and PostgreSQL's default pglz compressing
    them was two thirds of the server's time in COPY (docs/benchmarks.md): with lz4 (a server built
    with it) they are compressed several times faster to about the same size; without it they are
    stored uncompressed (STORAGE EXTERNAL: out of line, as before, at about three times the disk)."""
    setting = "SET COMPRESSION lz4" if lz4 else "SET STORAGE EXTERNAL"
    statements = []
    for table, columns in (("steps", PAYLOAD_COLUMNS), ("runs", RUN_PAYLOAD_COLUMNS)):
        alters = ", ".join(f"ALTER COLUMN {ident(column)} {setting}" for column in columns)
        statements.append(f"ALTER TABLE {qualified(schema, table)} {alters}")
    return statements


def publish(
    store_path: str,
    target_text: str,
    *,
    source: str,
    schema: str = DEFAULT_SCHEMA,
    timeout_ms: int = 0,
) -> Published:
    """Copy a complete SQLite store into the database; `source` identifies the file it was read from."""
    target = parse(target_text)
    key = os.path.abspath(source)
    local = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    session = Session(target, timeout_ms=timeout_ms, writable=True)
    where = f"{target.label}#{schema}"
    try:
        meta = dict(local.execute("SELECT key, value FROM meta").fetchall())
        ids = [r[0] for r in local.execute("SELECT id FROM runs")]
        total = len(ids)
        with session.asking(f"writing into {schema}"), session.conn.transaction():
            conn = session.conn
            created = conn.execute("SELECT to_regclass(%s) IS NULL", [qualified(schema, "steps")]).fetchone()
            for statement in table_sql(schema):
                conn.execute(statement)
            if created and created[0]:
                for statement in storage_sql(schema, lz4=_has_lz4(conn)):
                    conn.execute(statement)
            # One import of a file at a time: a second waits here rather than interleaving its rows.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"tracetui:{schema}:{key}"])
            t = qualified(schema, "runs")
            counted = conn.execute(f"SELECT count(*) FROM {t} WHERE import_key = %s OR id = ANY(%s)", [key, ids])
            replaced = (counted.fetchone() or (0,))[0]
            conn.execute(
                f"DELETE FROM {qualified(schema, 'steps')} WHERE run_id IN"
                f" (SELECT id FROM {t} WHERE import_key = %s OR id = ANY(%s))",
                [key, ids],
            )
            conn.execute(f"DELETE FROM {t} WHERE import_key = %s OR id = ANY(%s)", [key, ids])
            conn.execute(f"DELETE FROM {qualified(schema, 'problems')} WHERE import_key = %s", [key])
            _copy(conn, local, "runs", list(RUN_COLUMNS), schema, extra=key)
            _copy(conn, local, "steps", list(STEP_COLUMNS), schema)
            _copy(conn, local, "problems", ["n", "line", "run_id", "message"], schema, extra=key)
            conn.execute(
                f"""INSERT INTO {qualified(schema, "imports")} (import_key, format, runs, prices, schema_version)
                    VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (import_key) DO UPDATE SET format = excluded.format, runs = excluded.runs,
                        prices = excluded.prices, schema_version = excluded.schema_version, imported_at = now()""",
                [key, meta.get("format"), total, meta.get("prices"), SCHEMA_VERSION],
            )
            conn.execute(f"ANALYZE {t}")  # fresh planner statistics: the run list's first estimate uses them
        problems = [
            Problem(message, line=line, run_id=run_id)
            for line, run_id, message in local.execute("SELECT line, run_id, message FROM problems ORDER BY n")
        ]
        return Published(total, replaced, problems, meta.get("format", ""), where)
    finally:
        local.close()
        session.close()


def _has_lz4(conn: Any) -> bool:
    """Whether the server was built with lz4 (PostgreSQL 14 and later may be)."""
    row = conn.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()
    return bool(row and row[0])


def _copy(
    conn: Any, local: sqlite3.Connection, table: str, columns: list[str], schema: str, *, extra: str | None = None
) -> None:
    """Every row of a local table into the database's, through COPY (rows streamed, never all in memory)."""
    names = [*columns, "import_key"] if extra is not None else columns
    sql = f"COPY {qualified(schema, table)} ({', '.join(map(ident, names))}) FROM STDIN"
    cursor = local.execute(f"SELECT {', '.join(columns)} FROM {table}")
    with conn.cursor().copy(sql) as copy:
        while rows := cursor.fetchmany(2000):
            for row in rows:
                copy.write_row((*row, extra) if extra is not None else row)
