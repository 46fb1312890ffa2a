"""Traces where a team keeps them: PostgreSQL, read where they lie and strictly read-only.

  __init__    whether a name is a PostgreSQL target at all, and redact(): all a file's open needs
  target.py   what the user named (URL or key=value), its password-free label, connecting
  session.py  one read-only connection; driver errors as tracetui's (timeouts, lost connections)
  opening.py  prepare(): find the traces in the database; DatabaseOpening hands out PgStores
  store.py    PgStore: the store protocol as SQL the server answers, pages read by key
  stats.py    the stats as server-side aggregates (no TEMP tables: a SELECT-only role works)
  writer.py   `tracetui import SRC -o postgresql://…`: a store published into tracetui's schema

Which tables hold traces and how they map onto runs and steps is the formats' business
(sources/: agent_traces, phoenix, tracetui_postgres), written once for SQLite and PostgreSQL.
Nothing but this __init__ is imported until a PostgreSQL target is named, and psycopg only then.
"""

import os
import re

URL_SCHEMES = ("postgresql://", "postgres://")

# Keywords a libpq key=value string starts with (any of them marks one; a file by that name wins).
_KEYWORDS = ("host", "hostaddr", "port", "dbname", "user", "password", "service", "sslmode", "passfile", "options")
_KEY_VALUE = re.compile(r"\s*(" + "|".join(_KEYWORDS) + r")\s*=")
_URL_PASSWORD = re.compile(r"(://[^:/@?#\s]*):[^@/?#\s]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE)


def is_target(text: str) -> bool:
    """Whether the argument names a PostgreSQL database rather than a file (a file that exists wins)."""
    if text.startswith(URL_SCHEMES):
        return True
    return bool(_KEY_VALUE.match(text)) and not os.path.exists(text)


def redact(text: str) -> str:
    """The text with any password written inside a URL or key=value string replaced by ***."""
    return _KV_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))


__all__ = ["is_target", "redact"]
