"""`tracetui import SRC -o postgresql://…`: publish a file's runs into tracetui's schema in PostgreSQL.

The file is read as it always is (detected, read by worker processes, priced, finalized: loading's
import), but into a PgWriter, which streams the rows into the database with COPY as they come, in
one transaction: readers see the runs of an import all at once or not at all, and an import that
fails leaves the database as it was. No store of the whole file is built on the way.

What stays local is a small buffer: the PgWriter is a StoreWriter on a private scratch file that is
copied into the database and emptied every few thousand rows (DRAIN_ROWS). Through it the rows get
exactly what a store file's get (values made storable and reported, a repeated run id kept apart,
the worker processes' blocks merged in order), and the table it writes is read back as COPY rows.

Runs are keyed by id. Importing a run replaces the run with that id; importing the same file again
(the same absolute path) also removes its runs that are no longer in it, so re-importing never
duplicates. The tables live in their own schema (`tracetui` unless --schema says otherwise), so
they never meet another application's `runs` table.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from .. import jsonsafe, pricing
from ..model import Problem, Run
from ..sources.pgsql import ESCAPED, ident, nul_escaped, parameter, qualified
from ..store import StoreWriter
from ..store.schema import PAYLOAD_COLUMNS, RUN_COLUMNS, RUN_LIST_COLUMNS, SCHEMA_VERSION, STEP_COLUMNS
from ..store.sort_keys import SORT_KEYS
from .session import Session
from .target import parse

DEFAULT_SCHEMA = "tracetui"
DRAIN_ROWS = 20_000  # rows (runs and steps) held locally before they are copied on
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
        # Which text columns of a row hold NUL, stored as \x00 (pgsql.nul_escaped); tables an earlier
        # tracetui made get the column too.
        *(
            f"ALTER TABLE {s}.{table} ADD COLUMN IF NOT EXISTS {ESCAPED} text"
            for table in ("runs", "steps", "problems")
        ),
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


class PgWriter(StoreWriter):
    """A StoreWriter whose rows go on into the database (see the module docstring): runs added, or
    blocks merged, are copied there every DRAIN_ROWS rows and at finish(); abort() rolls all back."""

    def __init__(
        self, path: str, target_text: str, *, source: str, schema: str, report: Callable[[Problem], None]
    ) -> None:
        target = parse(target_text)
        self.key = os.path.abspath(source)
        self.schema = schema
        self.where = f"{target.label}#{schema}"
        self.published: Published | None = None
        self._pending = 0  # rows added since the last drain
        self._unpriced = pricing.UnpricedTally()
        self.session = Session(target, timeout_ms=0, writable=True)
        self._transaction = self.session.conn.transaction()
        try:
            with self._asking():
                self._transaction.__enter__()
                self.replaced = self._prepare()
            super().__init__(path, scratch=True, report=report)
        except BaseException:
            self._rollback()
            raise

    def _asking(self) -> AbstractContextManager[None]:
        return self.session.asking(f"writing into {self.schema}")

    def _prepare(self) -> int:
        """Tables made (if missing), this file's earlier runs removed; how many there were."""
        conn, schema, key = self.session.conn, self.schema, self.key
        created = conn.execute("SELECT to_regclass(%s) IS NULL", [qualified(schema, "steps")]).fetchone()
        for statement in table_sql(schema):
            conn.execute(statement)
        if created and created[0]:
            for statement in storage_sql(schema, lz4=_has_lz4(conn)):
                conn.execute(statement)
        # One import of a file at a time: a second waits here rather than interleaving its rows.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"tracetui:{schema}:{key}"])
        runs = qualified(schema, "runs")
        gone = conn.execute(f"DELETE FROM {runs} WHERE import_key = %s RETURNING id", [key]).fetchall()
        conn.execute(f"DELETE FROM {qualified(schema, 'steps')} WHERE run_id = ANY(%s)", [[r[0] for r in gone]])
        conn.execute(f"DELETE FROM {qualified(schema, 'problems')} WHERE import_key = %s", [key])
        return len(gone)

    def add(self, run: Run) -> Run:
        # Copied on before the next run, not after this one: until then its rows may still be written
        # over here (pricing.PricedLater prices an import's first run once it is stored).
        if self._pending >= DRAIN_ROWS:
            self.drain()
        self._pending += 1 + len(run.steps)
        added = super().add(run)
        if self.run_count == 1:
            self.commit()  # stored at once, as a store's first run is: PricedLater writes over its rows
        return added

    def merge(self, block_path: str) -> None:
        """A worker's block of runs (parallel.py): copied on straight from its file, unless it repeats a
        run id met before; then it is merged here first, where StoreWriter.merge keeps that run apart."""
        block = sqlite3.connect(block_path)
        try:
            ids = [r[0] for r in block.execute("SELECT id FROM runs")]
            if self._seen.isdisjoint(ids):
                self.drain()  # the runs held here came first
                for line, run_id, message in block.execute("SELECT line, run_id, message FROM problems ORDER BY n"):
                    self.add_problem(Problem(message, line=line, run_id=run_id))
                self._seen.update(ids)
                self.run_count += len(ids)
                self._send(block, ids)
                return
        finally:
            block.close()
        super().merge(block_path)
        self.drain()

    def drain(self) -> None:
        """Copy the runs and steps held here into the database, then forget them."""
        self.commit()
        self._send(self.conn, [r[0] for r in self.conn.execute("SELECT id FROM runs")])
        self.conn.execute("DELETE FROM runs")
        self.conn.execute("DELETE FROM steps")
        self.commit()
        self._pending = 0

    def _send(self, local: sqlite3.Connection, ids: list[str]) -> None:
        """The runs and steps of a local store into the database, replacing the runs there with those
        ids; only what unpriced_calls() needs of them is kept."""
        if ids:
            conn, schema = self.session.conn, self.schema
            with self._asking():
                runs = qualified(schema, "runs")
                gone = conn.execute(f"DELETE FROM {runs} WHERE id = ANY(%s) RETURNING id", [parameter(ids)]).fetchall()
                if gone:
                    self.replaced += len(gone)
                    steps = qualified(schema, "steps")
                    conn.execute(f"DELETE FROM {steps} WHERE run_id = ANY(%s)", [[r[0] for r in gone]])
                self._copy(local, "runs", list(RUN_COLUMNS), extra=self.key)
                self._copy(local, "steps", list(STEP_COLUMNS))
        self._report_too_big(local)
        self._unpriced.add(pricing.unpriced_calls(local))

    def _report_too_big(self, local: sqlite3.Connection) -> None:
        """Integers beyond 64 bits, which the store keeps as about their value (a float in an integer
        column), are left out here (bigint holds no such number): said once for each run that had one."""
        runs: dict[str, int | None] = {}
        for table, columns in (("runs", RUN_COLUMNS), ("steps", STEP_COLUMNS)):
            wide = " OR ".join(f"typeof({c}) = 'real'" for c, kind in columns.items() if kind is int)
            key = "id" if table == "runs" else "run_id"
            for (run_id,) in local.execute(f"SELECT DISTINCT {key} FROM {table} WHERE {wide}"):
                runs.setdefault(run_id, None)
        for run_id in runs:
            line = local.execute("SELECT source_line FROM runs WHERE id = ?", [run_id]).fetchone()
            problem = f"run {jsonsafe.quoted(run_id)}: a number beyond PostgreSQL's integers (bigint): left out"
            self.report(Problem(problem, line=line[0] if line else None, run_id=run_id))

    def _copy(self, local: sqlite3.Connection, table: str, columns: list[str], *, extra: str | None = None) -> None:
        """Every row of a local table into the database's, through binary COPY (rows streamed, never all
        in memory; binary: neither side escapes or parses the payloads' text). Text holding NUL, which
        the server refuses, makes the table's rows go again with it stored as \\x00 (_careful_rows)."""
        from psycopg.errors import CharacterNotInRepertoire

        conn = self.session.conn
        conn.execute("SAVEPOINT copy")
        try:
            _copy(conn, local, table, columns, self.schema, extra, careful=None)
        except CharacterNotInRepertoire:
            conn.execute("ROLLBACK TO SAVEPOINT copy")
            _copy(conn, local, table, columns, self.schema, extra, careful=self._careful_rows(local, table, columns))
        conn.execute("RELEASE SAVEPOINT copy")

    def _careful_rows(self, local: sqlite3.Connection, table: str, columns: list[str]) -> Callable[[tuple], tuple]:
        """What makes a row storable: each text holding NUL stored as \\x00 (pgsql.nul_escaped), the row's
        ESCAPED column naming those columns, and (for runs and steps) a problem reported for the run."""

        def row_for_copy(row: tuple) -> tuple:
            escaped = [i for i, value in enumerate(row) if isinstance(value, str) and "\x00" in value]
            if not escaped:
                return (*row, None)
            stored = list(row)
            for i in escaped:
                stored[i] = nul_escaped(row[i])
            names = [columns[i] for i in escaped]
            if table != "problems":
                self._report_nul(local, table, row, names)
            return (*stored, ",".join(names))

        return row_for_copy

    def _report_nul(self, local: sqlite3.Connection, table: str, row: tuple, names: list[str]) -> None:
        run_id = row[0]
        found = local.execute("SELECT source_line FROM runs WHERE id = ?", [run_id]).fetchone()
        where = f"run {jsonsafe.quoted(run_id)}" + (f", step {jsonsafe.quoted(row[1])}" if table == "steps" else "")
        said = "NUL characters, which PostgreSQL cannot store in text: kept as \\x00 and read back as they were"
        self.report(Problem(f"{where}: {', '.join(names)}: {said}", line=found[0] if found else None, run_id=run_id))

    def unpriced_calls(self) -> list[tuple[str, str | None, int]]:
        self.drain()
        return self._unpriced.rows()

    def finish(self, *, search_index: bool = False, **meta: str) -> None:
        """The rest copied, the problems and the import recorded, and the transaction committed."""
        self.drain()
        local, conn, schema, key = self.conn, self.session.conn, self.schema, self.key
        with self._asking():
            self._copy(local, "problems", ["n", "line", "run_id", "message"], extra=key)
            conn.execute(
                f"""INSERT INTO {qualified(schema, "imports")} (import_key, format, runs, prices, schema_version)
                    VALUES (%s, %s, %s, %s, %s)
                    ON CONFLICT (import_key) DO UPDATE SET format = excluded.format, runs = excluded.runs,
                        prices = excluded.prices, schema_version = excluded.schema_version, imported_at = now()""",
                [key, meta.get("format"), self.run_count, meta.get("prices"), SCHEMA_VERSION],
            )
            conn.execute(f"ANALYZE {qualified(schema, 'runs')}")  # the run list's first estimate uses it
            self._transaction.__exit__(None, None, None)
        problems = [
            Problem(message, line=line, run_id=run_id)
            for line, run_id, message in local.execute("SELECT line, run_id, message FROM problems ORDER BY n")
        ]
        self.published = Published(self.run_count, self.replaced, problems, meta.get("format", ""), self.where)
        super().finish()
        self.session.close()

    def abort(self) -> None:
        self._rollback()
        super().abort()

    def _rollback(self) -> None:
        try:
            self._transaction.__exit__(Rollback, Rollback(), None)
        except Exception:  # a lost connection: the server rolls back on its own
            pass
        self.session.close()


class Rollback(Exception):
    """What an aborted import hands the open transaction, so that it rolls back."""


@dataclass
class Publisher:
    """Makes the PgWriter an import writes into (loading.Opening.writer) and keeps the last one made."""

    target_text: str
    source: str
    schema: str = DEFAULT_SCHEMA
    writer: PgWriter | None = None

    def __call__(self, path: str, report: Callable[[Problem], None]) -> PgWriter:
        self.writer = PgWriter(path, self.target_text, source=self.source, schema=self.schema, report=report)
        return self.writer


def _has_lz4(conn: Any) -> bool:
    """Whether the server was built with lz4 (PostgreSQL 14 and later may be)."""
    row = conn.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()
    return bool(row and row[0])


def _copy(
    conn: Any,
    local: sqlite3.Connection,
    table: str,
    columns: list[str],
    schema: str,
    extra: str | None,
    careful: Callable[[tuple], tuple] | None,
) -> None:
    """A local table's rows through binary COPY (PgWriter._copy), each passed through `careful` if given
    (which adds the ESCAPED column)."""
    names = [*columns, *([ESCAPED] if careful is not None else []), *(["import_key"] if extra is not None else [])]
    sql = f"COPY {qualified(schema, table)} ({', '.join(map(ident, names))}) FROM STDIN (FORMAT BINARY)"
    types = {**RUN_COLUMNS, **STEP_COLUMNS} if table != "problems" else {"n": int, "line": int}
    selected = [_selected(c, types.get(c, str)) for c in columns]
    kinds = [_TYPES[types.get(c, str)] for c in columns] + ["text"] * (len(names) - len(columns))
    cursor = local.execute(f"SELECT {', '.join(selected)} FROM {table}")
    with conn.cursor().copy(sql) as copy:
        copy.set_types(kinds)
        while rows := cursor.fetchmany(2000):
            for row in rows:
                if careful is not None:
                    row = careful(row)
                copy.write_row((*row, extra) if extra is not None else row)


def _selected(column: str, kind: type) -> str:
    """A local column as the database's column takes it in binary: its own type or NULL. An integer
    column may hold a float (a number beyond 64 bits, kept as about its value): left out."""
    if kind is float:
        return f"CASE typeof({column}) WHEN 'real' THEN {column} WHEN 'integer' THEN CAST({column} AS REAL) END"
    if kind is int:
        return f"CASE WHEN typeof({column}) = 'integer' THEN {column} END"
    return f"CASE typeof({column}) WHEN 'text' THEN {column} WHEN 'integer' THEN CAST({column} AS TEXT) WHEN 'real' THEN CAST({column} AS TEXT) END"
