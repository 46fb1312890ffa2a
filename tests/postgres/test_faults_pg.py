"""A database read strictly read-only, by a role that may only SELECT, and what the user is told
when it cannot be reached, refuses the password, drops the connection or takes too long."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import psycopg
import pytest
from builders import AGENT_TRACES_ROWS
from click.testing import CliRunner
from pg_builders import agent_traces_table, dbname, select_only_role

from tracetui.cli import main
from tracetui.errors import Unavailable
from tracetui.loading import prepare

SECRET = "s3cr3t-Pa55"


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def traces(pg_url) -> str:
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    return pg_url


def test_every_command_works_for_a_role_that_may_only_select(pg, traces, tmp_path):
    role = f"reader_{dbname(traces)}"
    select_only_role(traces, role)
    url = traces.replace("postgresql://postgres@", f"postgresql://{role}@")
    with psycopg.connect(url) as conn:  # the role really cannot write, nor make TEMP tables
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TEMP TABLE t (x int)")
    assert invoke("list", url).exit_code == 0
    assert invoke("list", url, "--status", "failed", "--sort", "tokens", "--json").exit_code == 0
    assert "file_read" in invoke("show", url, "tr-1").stdout
    for by in ("agent", "tool", "day", "model"):
        assert invoke("stats", url, "--by", by).exit_code == 0, by
    assert invoke("export", url, "-o", str(tmp_path / "out.jsonl")).exit_code == 0
    assert invoke("compare", url, "tr-1", "tr-3", "--text").exit_code == 0


def test_sessions_are_read_only_with_a_statement_timeout(traces):
    store = prepare(traces, database=_options(timeout_ms=2500)).connect()
    conn = store.session.conn
    assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    assert conn.execute("SHOW statement_timeout").fetchone() == ("2500ms",)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute("CREATE TABLE written (x int)")
    store.close()
    assert invoke("list", traces).exit_code == 0
    with psycopg.connect(traces) as admin:
        assert admin.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'written'").fetchone() == (0,)


def _options(**given):
    from tracetui.loading import DatabaseOptions

    return DatabaseOptions(**given)


def test_a_statement_that_runs_out_of_time_says_what_it_was_doing(pg_url):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS, table="turns")
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a view that takes half a second per query
        conn.execute("CREATE VIEW agent_traces AS SELECT * FROM turns WHERE (SELECT true FROM pg_sleep(0.5))")
    result = invoke("list", pg_url, "--table", "agent_traces", "--statement-timeout", "0.1")
    assert result.exit_code == 2
    # Nothing is counted before the command answers (the problem rows are a scan of the table), so
    # the one line is the query it cannot do without, which names what it was doing and what to do.
    (error,) = result.stderr.strip().splitlines()
    assert re.match(
        r"tracetui: postgresql://postgres@/\S+: reading a page of runs: stopped by the statement timeout \(0\.1 s\)",
        error,
    )
    assert "--statement-timeout" in error


def test_a_wrong_password_is_one_line_naming_the_database_and_never_the_password(pg, traces, monkeypatch):
    database = dbname(traces)
    role = f"owner_{database}"
    select_only_role(traces, role, password=SECRET)
    _require_passwords(pg, role)
    wrong = pg.url(database, user=role, password="not-" + SECRET)
    result = invoke("list", wrong)
    assert result.exit_code == 2
    line = one_line(result)
    assert line == (
        f"tracetui: postgresql://{role}@/{database}?host={pg.host}: cannot connect:"
        f' password authentication failed for user "{role}"'
    )
    assert SECRET not in result.output + result.stderr
    by_env = invoke("list", pg.url(database, user=role), env={"PGPASSWORD": "nope-" + SECRET})
    assert by_env.exit_code == 2 and "nope-" not in by_env.stderr and SECRET not in by_env.stderr
    right = pg.url(database, user=role, password=SECRET)
    for command in (["list", right, "--json"], ["show", right, "tr-1", "--json"], ["stats", right, "--json"]):
        result = invoke(*command)
        assert result.exit_code == 0, result.stderr
        assert SECRET not in result.output + result.stderr
    shown = json.loads(invoke("show", right, "tr-1", "--json").stdout)
    assert shown["source_file"] == f"postgresql://{role}@/{database}?host={pg.host}#public.agent_traces"
    kv = f"host={pg.host} dbname={database} user={role} password={SECRET}"  # a libpq key=value string
    result = invoke("list", kv, "--json")
    assert result.exit_code == 0 and SECRET not in result.output + result.stderr


def test_the_password_is_found_as_libpq_finds_it_in_pgpass_or_a_service_file(pg, traces, tmp_path):
    database = dbname(traces)
    role = f"team_{database}"
    select_only_role(traces, role, password=SECRET)
    _require_passwords(pg, role)
    assert invoke("list", pg.url(database, user=role)).exit_code == 2  # no password anywhere: refused
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:{database}:{role}:{SECRET}\n")
    passfile.chmod(0o600)
    by_pgpass = invoke("list", pg.url(database, user=role), "--json", env={"PGPASSFILE": str(passfile)})
    assert by_pgpass.exit_code == 0, by_pgpass.stderr
    assert {run["id"] for run in json.loads(by_pgpass.stdout)} == {"tr-1", "tr-2", "tr-3"}
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[traces]\nhost={pg.host}\ndbname={database}\nuser={role}\npassword={SECRET}\n")
    by_service = invoke("show", "service=traces", "tr-1", "--json", env={"PGSERVICEFILE": str(services)})
    assert by_service.exit_code == 0, by_service.stderr
    assert SECRET not in by_pgpass.output + by_service.output + by_pgpass.stderr + by_service.stderr


def _require_passwords(pg, role: str) -> None:
    """pg_hba.conf: this role logs in with a password (the test server trusts everyone else)."""
    hba = Path(pg.server.pgdata) / "pg_hba.conf"
    hba.write_text(f"local all {role} scram-sha-256\n" + hba.read_text())
    with pg.admin() as conn:
        conn.execute("SELECT pg_reload_conf()")


def test_a_server_that_is_not_there_is_one_line_exit_2(tmp_path):
    url = f"postgresql://me:{SECRET}@/traces?host={tmp_path}"
    result = invoke("list", url)
    assert result.exit_code == 2
    line = one_line(result)
    assert line.startswith(f"tracetui: postgresql://me@/traces?host={tmp_path}: cannot connect: ")
    assert "is the server running?" in line and SECRET not in line


def test_without_psycopg_a_database_gets_a_hint_to_install_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg.conninfo", None)
    result = invoke("list", f"postgresql://me:{SECRET}@db.example/traces")
    assert result.exit_code == 2
    assert (
        one_line(result)
        == "tracetui: postgresql://me:***@db.example/traces: reading PostgreSQL needs the postgres extra:"
        " pip install 'tracetui[postgres]'"
    )


def test_a_dropped_connection_is_lost_naming_what_was_asked_and_the_next_connection_works(traces):
    opening = prepare(traces)
    store = opening.connect()
    assert store.count_runs() == 3
    with psycopg.connect(traces, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [store.session.conn.info.backend_pid])
    with pytest.raises(Unavailable) as caught:
        store.count_runs()
    assert caught.value.lost and "counting the runs: lost the connection" in str(caught.value)
    store.close()  # a broken session is not put back in the pool
    again = opening.connect()
    assert again.count_runs() == 3
    again.close()


def test_bad_json_in_a_text_column_reports_that_run_and_shows_the_rest(pg_url):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS, json_type="text", time_type="text")
    result = invoke("list", pg_url)
    assert result.exit_code == 0
    assert all(run_id in result.stdout for run_id in ("tr-1", "tr-2", "tr-3"))
    assert "tracetui: warning: " in result.stderr
    assert "run 'tr-2': tool_calls is not a JSON array; no tool steps shown" in result.stderr
    shown = invoke("show", pg_url, "tr-2", "--json")
    assert json.loads(shown.stdout)["flags"] == ["invalid_tool_calls"]


def test_markup_and_terminal_escapes_in_the_database_are_shown_literally(pg_url):
    rows = [
        {
            "id": "[bold red]run[/]",
            "agent_id": "[@click=app.quit]agent[/]",
            "final_status": "error",
            "error_message": "\x1b[31mred\x1b]8;;http://evil.example\x07link\x1b]8;;\x07 [/tool_call]",
            "tool_calls": [{"toolName": "[b]tool[/b]", "error": "\x1b[2Jwiped"}],
            "started_at": "2026-01-01T00:00:00Z",
        }
    ]
    agent_traces_table(pg_url, rows)
    listed = invoke("list", pg_url)
    assert listed.exit_code == 0 and "\x1b" not in listed.stdout
    assert "[bold red]run[/]" in listed.stdout and "[@click=app.quit]agent[/]" in listed.stdout
    shown = invoke("show", pg_url, "[bold red]run[/]")
    assert shown.exit_code == 0 and "[b]tool[/b]" in shown.stdout and "\x1b" not in shown.stdout


def test_schema_table_and_format_options_belong_to_databases(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    result = invoke("list", str(path), "--schema", "public")
    assert result.exit_code == 2 and "PostgreSQL database" in one_line(result)
    assert os.path.exists(path)


@pytest.mark.parametrize("command", [["list"], ["show", "tr-1"], ["export", "-o", "-"], ["stats"]], ids=lambda c: c[0])
def test_ctrl_c_during_a_long_query_cancels_it_on_the_server_and_exits_130(pg_url, command):
    import signal
    import subprocess
    import time

    agent_traces_table(pg_url, AGENT_TRACES_ROWS, table="turns")
    with psycopg.connect(pg_url, autocommit=True) as conn:  # every query on it takes ten minutes
        conn.execute("CREATE VIEW agent_traces AS SELECT * FROM turns WHERE (SELECT true FROM pg_sleep(600))")
    name, *rest = command
    args = [name, pg_url, *rest, "--table", "agent_traces", "--statement-timeout", "900"]
    process = subprocess.Popen([sys.executable, "-m", "tracetui", *args], stderr=subprocess.PIPE, text=True)
    sleeping = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND wait_event = 'PgSleep'"
    )
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for _ in range(1200):  # until the server is running the query (the CLI started and connected)
            if admin.execute(sleeping, [dbname(pg_url)]).fetchone() != (0,):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the query never started")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 130
        assert err == "tracetui: interrupted\n"
        # The query was cancelled before the CLI went: the server is not left sleeping for ten minutes.
        assert admin.execute(sleeping, [dbname(pg_url)]).fetchone() == (0,)
