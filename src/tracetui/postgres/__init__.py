"""Traces where a team keeps them: PostgreSQL, read where they lie and strictly read-only.

  target.py   what the user named (URL or key=value), its password-free label, connecting
  session.py  one read-only connection; driver errors as tracetui's (timeouts, lost connections)
  opening.py  prepare(): find the traces in the database; DatabaseOpening hands out PgStores
  store.py    PgStore: the store protocol as SQL the server answers, pages read by key
  stats.py    the stats as server-side aggregates (no TEMP tables: a SELECT-only role works)
  writer.py   `tracetui import SRC -o postgresql://…`: a store published into tracetui's schema

Which tables hold traces and how they map onto runs and steps is the formats' business
(sources/: agent_traces, phoenix, tracetui_postgres), written once for SQLite and PostgreSQL.
Nothing here is imported until a PostgreSQL target is named, and psycopg only then.
"""

from .target import is_target, redact

__all__ = ["is_target", "redact"]
