"""Which format reads a database is found from what it holds: every kind of trace table is claimed by
exactly one format; more than one candidate asks for --schema / --table; none says what was there."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from builders import AGENT_TRACES_ROWS
from click.testing import CliRunner
from pg_builders import agent_traces_table, dbname, run_sql_file, select_only_role

from tracetui import sources
from tracetui.cli import main
from tracetui.errors import UnusableInput
from tracetui.loading import DatabaseOptions, prepare
from tracetui.postgres.session import Session, read_catalog
from tracetui.postgres.target import parse

ROOT = Path(__file__).resolve().parents[2]
PHOENIX_DUMP = ROOT / "tests" / "fixtures" / "agents" / "phoenix" / "phoenix_postgres.sql"


def places(url: str) -> list[tuple[str, str]]:
    """(place, format) of every candidate each database format finds."""
    session = Session(parse(url), timeout_ms=10_000)
    try:
        catalog = read_catalog(session)
    finally:
        session.close()
    found = []
    for source in sources.formats():
        if isinstance(source, sources.InDatabase):
            found += [(str(place), source.NAME) for place in source.database_places(catalog)]
    return found


def test_each_kind_of_trace_database_is_claimed_by_exactly_its_format(pg, tmp_path):
    agent = pg.database()
    agent_traces_table(agent, AGENT_TRACES_ROWS)
    phoenix = pg.database()
    run_sql_file(phoenix, str(PHOENIX_DUMP))
    ours = pg.database()
    assert CliRunner().invoke(main, ["import", str(ROOT / "sample_traces" / "export.jsonl"), "-o", ours]).exit_code == 0
    assert places(agent) == [("public.agent_traces", "agent-traces")]
    assert places(phoenix) == [("public.traces", "phoenix")]
    assert places(ours) == [("tracetui.runs", "tracetui-postgres")]
    assert [prepare(url).format for url in (agent, phoenix, ours)] == ["agent-traces", "phoenix", "tracetui-postgres"]


def test_several_candidates_are_chosen_between_with_schema_and_table(pg_url):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    agent_traces_table(pg_url, AGENT_TRACES_ROWS[:1], schema="archive")
    agent_traces_table(pg_url, AGENT_TRACES_ROWS[:2], table="turns_2025")  # the shape, another name
    with pytest.raises(UnusableInput) as ambiguous:
        prepare(pg_url)
    assert "more than one trace table: archive.agent_traces (agent-traces), public.agent_traces (agent-traces)," in str(
        ambiguous.value
    )
    counts = {}
    for schema, table in (
        ("archive", None),
        ("public", "turns_2025"),
        ("public", "agent_traces"),
        (None, "turns_2025"),
    ):
        store = prepare(pg_url, database=DatabaseOptions(schema=schema, table=table)).connect()
        counts[(schema, table)] = store.count_runs()
        store.close()
    assert counts == {
        ("archive", None): 1,
        ("public", "turns_2025"): 2,
        ("public", "agent_traces"): 3,
        (None, "turns_2025"): 2,
    }
    with pytest.raises(UnusableInput, match="no trace table matches --schema nowhere"):
        prepare(pg_url, database=DatabaseOptions(schema="nowhere"))


def test_a_database_without_traces_says_what_it_holds_and_what_this_role_may_not_read(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    result = CliRunner().invoke(main, ["list", pg_url])
    assert result.exit_code == 2
    assert "no trace tables tracetui reads (tables this role can read: public.invoices)" in result.stderr
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    role = f"outsider_{dbname(pg_url)}"
    select_only_role(pg_url, role)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"REVOKE SELECT ON agent_traces FROM {role}")
    denied = CliRunner().invoke(main, ["list", pg_url.replace("postgres@", f"{role}@")])
    assert denied.exit_code == 2 and "this role may not SELECT public.agent_traces" in denied.stderr
