"""Phoenix's own PostgreSQL schema (a real Phoenix server's database, pg_dump'd by make_phoenix.py
--postgres): the same runs, steps and stats as its SQLite phoenix.db gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pg_builders import run_sql_file

from tracetui.loading import open_store, prepare

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "phoenix"
RUNS = [f"000000000000000000000000000000a{n}" for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def stores(pg, tmp_path_factory):
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    # Costs as reported on both sides: in place, a database prices a run's calls only when it is opened.
    pg_store = prepare(url, estimate=False).connect()
    db = shutil.copy(FIXTURES / "phoenix.db", tmp_path_factory.mktemp("phoenix"))
    sqlite = open_store(str(db), estimate=False)
    yield pg_store, sqlite
    pg_store.close()
    sqlite.close()


def listed(store) -> list[tuple]:
    return [
        (r.id, r.agent, r.session, r.status, r.started_at, r.duration_ms, r.step_count, r.failed_steps, r.error)
        + tuple(r.total(name) for name in ("tokens_in", "tokens_out", "tokens_cache_read", "cost_usd"))
        for r in store.list_runs(sort="started", desc=False, limit=10)
    ]


def payload(text: str | None):
    """JSONB keeps an object's keys in its own order: compare payloads as the JSON they hold."""
    try:
        return json.loads(text) if text else text
    except ValueError:
        return text


def steps(store, run_id: str) -> list[tuple]:
    return [
        (s.id, s.parent_id, s.ord, s.name, s.kind, s.raw_type, s.status, s.duration_ms, s.model, s.tokens_in)
        + (s.tokens_out, s.tokens_cache_read, s.cost_usd, s.score, s.verdict, s.error, payload(s.input))
        + (payload(s.output), None if s.kind == "evaluation" else s.started_at)  # annotations: the server's clock
        for s in store.run_tree(run_id).steps
    ]


def test_the_run_list_is_the_sqlite_readers(stores):
    pg_store, sqlite = stores
    assert pg_store.source_format == "phoenix"
    assert listed(pg_store) == listed(sqlite)
    assert [r.id for r in pg_store.list_runs(sort="cost", desc=True, limit=10)] == sqlite.run_ids(sort="cost")


@pytest.mark.parametrize("run_id", RUNS)
def test_each_traces_steps_and_annotations_are_the_sqlite_readers(stores, run_id):
    pg_store, sqlite = stores
    assert steps(pg_store, run_id) == steps(sqlite, run_id)
    ours, theirs = pg_store.get_run(run_id), sqlite.get_run(run_id)
    assert (ours.metadata, ours.input, ours.output) == (theirs.metadata, theirs.input, theirs.output)


@pytest.mark.parametrize("by", ["model", "tool", "agent", "status"])
def test_stats_computed_by_the_server_are_the_sqlite_readers(stores, by):
    pg_store, sqlite = stores
    assert [g.as_dict() for g in pg_store.stats(by)] == [pytest.approx(g.as_dict()) for g in sqlite.stats(by)]


def test_an_opened_run_prices_the_calls_phoenix_did_not(pg):
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    store = prepare(url).connect()
    listed_run = store.list_runs(limit=10)[1]
    assert listed_run.id == RUNS[1] and listed_run.total("cost_usd") is None  # the list: reported costs only
    opened = store.get_run(RUNS[1])
    assert opened.cost_estimated and opened.total("cost_usd") > 0  # claude-sonnet-4-20250514, from the price table
    store.close()


def test_a_count_of_the_least_integer_does_not_stop_the_run_list(pg):
    import psycopg

    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    with psycopg.connect(url, autocommit=True) as conn:  # (abs() of it is out of the range of integer)
        conn.execute("UPDATE spans SET llm_token_count_prompt = -2147483648 WHERE span_id = '0000000000000002'")
    store = prepare(url, estimate=False).connect()
    assert [r.id for r in store.list_runs(sort="tokens", desc=True, limit=10)]
    # (a negative count is an odd value in every format: shown as -)
    assert {s.id: s.tokens_in for s in store.steps(RUNS[0])}["0000000000000002"] is None
    store.close()
