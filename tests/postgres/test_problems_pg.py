"""Problem rows of a database read in place: the CLI never scans a table to count them.

Counting the rows whose tool_calls cannot be read is a scan of the whole table (seconds on a team's
million rows). The server itself says how many rows each command read from the table
(pg_stat_user_tables), so these tests run the CLI as a real process and ask the server afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
from builders import AGENT_TRACES_ROWS
from pg_builders import agent_traces_table, dbname, many_rows

ROWS = 2000


def _table_with_a_bad_row(url: str) -> None:
    agent_traces_table(url, [*many_rows(ROWS), *AGENT_TRACES_ROWS])  # tr-2's tool_calls is a JSON string
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE INDEX ON agent_traces (started_at, id)")  # as the README advises
        conn.execute("ANALYZE agent_traces")


def _quiet(url: str) -> None:
    """Wait until no other backend is connected to the database (their statistics are then written)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(200):
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [dbname(url)]
            ).fetchone()
            if others == (0,):
                return
            time.sleep(0.05)
    raise AssertionError("the CLI's connections did not close")


def _rows_read(url: str) -> int:
    """Rows of agent_traces read so far by every finished backend (sequential and by index)."""
    _quiet(url)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
            " WHERE relname = 'agent_traces'"
        ).fetchone()
    assert row is not None
    return row[0]


def _tracetui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tracetui", *args], capture_output=True, text=True, timeout=120)


def test_show_and_a_page_of_list_read_a_few_rows_never_the_table(pg_url):
    _table_with_a_bad_row(pg_url)
    before = _rows_read(pg_url)
    shown = _tracetui("show", pg_url, "r0042", "--json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == ""  # r0042 is readable: nothing to warn about, and nothing counted
    listed = _tracetui("list", pg_url, "--limit", "5")  # the five that started first: tr-2 is not one
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""
    read = _rows_read(pg_url) - before
    # The run, a page of five, and the problems of those five looked up by id: a few dozen rows at most
    # (counting the problem rows read all 2,003).
    assert read < 100, read


def test_a_listed_run_that_cannot_be_read_whole_is_still_reported(pg_url):
    _table_with_a_bad_row(pg_url)
    listed = _tracetui("list", pg_url, "--search", "tr-")
    assert listed.returncode == 0, listed.stderr
    assert "tr-2" in listed.stdout
    assert "run 'tr-2': tool_calls is not a JSON array; no tool steps shown" in listed.stderr
    shown = _tracetui("show", pg_url, "tr-2")
    assert shown.returncode == 0 and "tr-2" in shown.stderr  # reported by the run read, not by a scan
