"""What the user named: a PostgreSQL connection string, how to show it, and how to connect to it.

A target is a URL (`postgresql://user@host:5432/db`, `postgres://…`) or a libpq key=value string
(`host=db dbname=traces user=me`). libpq finds the password as it always does (in the URL,
PGPASSWORD, ~/.pgpass, a service file): tracetui never asks for one and never shows one. Every
message, title and output names the database by its `label` (user, host, port, database), and any
text a server or driver hands back passes through `Target.scrub` before anyone sees it.

Every session tracetui opens to read is read-only twice over: the server is told
`default_transaction_read_only=on` when the connection starts, and the connection runs its
transactions READ ONLY. `statement_timeout` bounds every statement (10 s unless
`--statement-timeout` says otherwise), and the session's time zone is UTC, so times without a zone
read as UTC (the store's convention). psycopg is imported only here and only when a target is
opened, so `tracetui --help` and every file command stay as fast as without the extra.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Unavailable, UnusableInput
from . import redact

if TYPE_CHECKING:
    import psycopg

DEFAULT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 10
INSTALL_HINT = "reading PostgreSQL needs the postgres extra: pip install 'tracetui[postgres]'"


@dataclass(frozen=True)
class Target:
    """A database to read: the connection string as given (never shown) and how to name it."""

    conninfo: str = field(repr=False)
    label: str
    secrets: tuple[str, ...] = field(default=(), repr=False)  # passwords to keep out of every message

    def scrub(self, text: str) -> str:
        """Server or driver text made safe to show: no password, on one line."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return " ".join(redact(text).split())


def parse(text: str) -> Target:
    """The target the user named. Raises UnusableInput (a string libpq cannot read, no psycopg)."""
    conninfo = _psycopg_conninfo(text)
    try:
        params = conninfo.conninfo_to_dict(text)
    except Exception as exc:  # psycopg.ProgrammingError: libpq's own words, which may quote the string
        reason = " ".join(redact(str(exc)).split())
        raise UnusableInput(redact(text), f"not a PostgreSQL connection string libpq can read ({reason})") from None
    secrets = tuple(s for s in (params.get("password"), os.environ.get("PGPASSWORD")) if s)
    return Target(text, label(params), secrets)


def label(params: dict[str, Any]) -> str:
    """postgresql://user@host:port/db, with libpq's defaults (environment included) where the string
    says nothing; a Unix-socket directory is shown as `?host=/dir`."""
    defaults = _defaults()
    service = params.get("service") or defaults.get("service")

    def value(key: str) -> str:
        return str(params.get(key) or defaults.get(key) or "")

    user = value("user")
    host = value("host") or value("hostaddr")
    port = value("port")
    dbname = value("dbname") or user
    if service and not params.get("host") and not params.get("dbname"):
        return f"postgresql://?service={service}"
    if host.startswith("/") or not host:
        where = f"postgresql://{user}@/{dbname}"
        return where + (f"?host={host}" if host else "")
    return f"postgresql://{user}@{host}{':' + port if port else ''}/{dbname}"


def _defaults() -> dict[str, str]:
    """libpq's defaults for this process (PGHOST, PGUSER, … and the compiled-in ones)."""
    from psycopg import pq

    out = {}
    for option in pq.Conninfo.get_defaults():
        if option.val is not None and option.keyword != b"password":
            out[option.keyword.decode()] = option.val.decode("utf-8", "replace")
    return out


def _psycopg_conninfo(text: str) -> Any:
    try:
        from psycopg import conninfo
    except ImportError:
        raise UnusableInput(" ".join(redact(text).split()), INSTALL_HINT) from None
    return conninfo


def connect(target: Target, *, timeout_ms: int = DEFAULT_TIMEOUT_MS, writable: bool = False) -> psycopg.Connection:
    """A new connection: read-only with a statement timeout (unless `writable`, for `import -o`).

    Raises Unavailable with one line naming the database and the reason (server down, refused, …).
    """
    import psycopg
    from psycopg import conninfo

    params = conninfo.conninfo_to_dict(target.conninfo)
    settings = [f"-c statement_timeout={int(timeout_ms)}", "-c TimeZone=UTC"]
    if not writable:
        settings.append("-c default_transaction_read_only=on")
    given = str(params.get("options") or "")
    options = " ".join([given, *settings]).strip()
    try:
        conn = psycopg.connect(
            target.conninfo,
            autocommit=True,
            options=options,
            application_name=params.get("application_name") or "tracetui",
            connect_timeout=params.get("connect_timeout") or CONNECT_TIMEOUT_S,
        )
    except psycopg.Error as exc:
        raise Unavailable(target.label, f"cannot connect: {connect_reason(target, exc)}", lost=True) from None
    conn.read_only = not writable  # explicit transactions (named cursors) are BEGIN READ ONLY too
    _use_orjson(conn)
    return conn


def _use_orjson(conn: psycopg.Connection) -> None:
    """JSON and JSONB values parsed by orjson (several times faster than json at 10k tool calls a row)."""
    import orjson
    from psycopg.types.json import set_json_loads

    set_json_loads(orjson.loads, conn)


def connect_reason(target: Target, exc: BaseException) -> str:
    """libpq's reason for a failed connection, without its preamble (`connection to server … failed:`)."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    reason = first.rsplit(" failed: ", 1)[-1]
    reason = re.sub(r"^(connection failed:\s*)", "", reason)
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason)
    hint = next((line for line in lines[1:] if line.startswith("Is the server running")), None)
    if hint and reason in ("Connection refused", "No such file or directory"):
        reason = f"{reason} (is the server running?)"
    return target.scrub(reason)


def server_reason(target: Target, exc: BaseException) -> str:
    """A server error's message (its first line), scrubbed."""
    text = str(exc).strip().splitlines()
    return target.scrub(text[0] if text else type(exc).__name__)
