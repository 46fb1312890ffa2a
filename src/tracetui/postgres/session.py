"""One read-only connection to a database, and what becomes of the driver's errors.

Every statement tracetui sends says what it is doing (`what`), so a timeout or a dropped connection
is reported as "counting the runs: …", never as a bare driver message. A connection that broke is
`Unavailable(lost=True)`: the viewer reconnects; a statement that ran out of time is
`Unavailable(lost=False)` naming the timeout and what to do about it.

Ctrl+C while a query runs: psycopg (3.3, pinned) sends the server a cancel request and waits for it
before KeyboardInterrupt goes on, so the query stops on the server too and the CLI exits 130 at once
(tests/postgres/test_faults_pg.py sends SIGINT to a process waiting on pg_sleep). Every CLI query
runs on the main thread for that reason: a query in another thread would not be cancelled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import TraceError, Unavailable
from ..sources import Catalog
from ..sources.pgsql import parameter
from .target import Target, connect, server_reason

if TYPE_CHECKING:
    import psycopg


class Session:
    """A connection (read-only unless `writable`) and the target it reads; one thread at a time."""

    def __init__(self, target: Target, *, timeout_ms: int, writable: bool = False) -> None:
        self.target = target
        self.timeout_ms = timeout_ms
        self.conn: psycopg.Connection = connect(target, timeout_ms=timeout_ms, writable=writable)

    @property
    def label(self) -> str:
        return self.target.label

    @property
    def broken(self) -> bool:
        return self.conn.broken or self.conn.closed

    @contextmanager
    def asking(self, what: str) -> Iterator[None]:
        """Driver errors inside become Unavailable (timeouts, lost connections) or TraceError, naming `what`."""
        import psycopg
        from psycopg import errors

        try:
            yield
        except errors.QueryCanceled:
            seconds = f"{self.timeout_ms / 1000:g}"
            raise Unavailable(
                self.label,
                f"{what}: stopped by the statement timeout ({seconds} s); a larger --statement-timeout, or an index"
                " on the column sorted or filtered by (see the README), lets it finish",
            ) from None
        except psycopg.OperationalError as exc:
            lost = self.broken or isinstance(exc, (errors.AdminShutdown, errors.CrashShutdown))
            reason = server_reason(self.target, exc)
            if lost:
                raise Unavailable(self.label, f"{what}: lost the connection ({reason})", lost=True) from None
            raise Unavailable(self.label, f"{what}: {reason}") from None
        except psycopg.Error as exc:
            if self.broken:
                reason = server_reason(self.target, exc)
                raise Unavailable(self.label, f"{what}: lost the connection ({reason})", lost=True) from None
            raise TraceError(f"{self.label}: {what}: {server_reason(self.target, exc)}") from None

    def rows(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Every row of a query (always with a parameter list, so `%%` in SQL text means `%`; text
        holding NUL is compared in the form it is stored in, pgsql.parameter)."""
        with self.asking(what):
            return self.conn.execute(sql, parameter(list(params))).fetchall()

    def one(self, what: str, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        with self.asking(what):
            return self.conn.execute(sql, parameter(list(params))).fetchone()

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a broken connection must never be what fails
            pass


def read_catalog(session: Session) -> Catalog:
    """The tables and views this session may read (partitions as their parent), with column types."""
    rows = session.rows(
        "listing the tables",
        """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
               has_schema_privilege(n.oid, 'USAGE')
               AND (has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT'))
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
        ORDER BY n.nspname, c.relname, a.attnum
        """,
    )
    tables: dict[tuple[str, str], dict[str, str]] = {}
    unreadable: set[tuple[str, str]] = set()
    for schema, table, column, kind, readable in rows:
        if readable:
            tables.setdefault((schema, table), {})[column] = kind
        else:
            unreadable.add((schema, table))
    version = session.conn.info.server_version
    return Catalog(session.label, version, tables, sorted(unreadable - set(tables)))
