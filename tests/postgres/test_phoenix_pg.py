"""Phoenix's own PostgreSQL schema (a real Phoenix server's database, pg_dump'd by make_phoenix.py
--postgres): the same runs, steps and stats as its SQLite phoenix.db gives."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from pg_builders import run_sql_file

from tracetui.cli import main
from tracetui.loading import open_store, prepare
from tracetui.model import ESTIMATED_COST, ROLLED_UP_FIELDS

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


def test_an_opened_run_prices_the_calls_phoenix_did_not(pg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    store = prepare(url).connect()
    listed_run = store.list_runs(limit=10)[1]
    assert listed_run.id == RUNS[1] and listed_run.cost_estimated  # the list prices the calls of its page too
    opened = store.get_run(RUNS[1])
    assert opened.cost_estimated and opened.total("cost_usd") > 0  # claude-sonnet-4-20250514, from the price table
    assert listed_run.total("cost_usd") == pytest.approx(opened.total("cost_usd"))
    assert listed_run.total(ESTIMATED_COST) == pytest.approx(opened.total(ESTIMATED_COST))
    store.close()


def listed_json(runner, source: str, *options: str) -> list[dict]:
    result = runner.invoke(main, ["list", source, "--json", "--sort", "started", *options])
    assert result.exit_code == 0, result.output
    return [{k: v for k, v in run.items() if k != "file"} for run in json.loads(result.stdout)]


@pytest.mark.parametrize("options", [(), ("--no-estimate",)])
def test_list_json_is_the_sqlite_readers_with_its_estimates_or_without(pg, tmp_path, monkeypatch, options):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    db = shutil.copy(FIXTURES / "phoenix.db", tmp_path)
    runner = CliRunner()
    expected = listed_json(runner, str(db), *options)
    assert [r["cost_estimated"] for r in expected] == ([False, True, False] if not options else [False] * 3)
    for _ in range(2):  # the second time the estimates come from tracetui's cache
        ours = listed_json(runner, url, *options)
        assert [r.pop("cost_usd") for r in ours] == [pytest.approx(r.pop("cost_usd")) for r in expected]
        assert ours == expected
        expected = listed_json(runner, str(db), *options)


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


def hits(store, query: str) -> tuple[dict, list]:
    found = store.runs_matching(query)
    runs = {run_id: (h.count, h.step_id, h.step_name, h.ord) for run_id, h in found.items()}
    steps = [(h.run_id, h.step_id, h.name, h.kind, h.ord) for some in store.steps_matching(query) for h in some]
    return runs, steps


@pytest.mark.parametrize(
    "query", ["weather", "SPAN", "annotation", "gpt", "error", "tool", "session", "0000000000000003", "zzz"]
)
def test_a_search_of_the_steps_is_one_query_on_the_server_finding_what_sqlite_finds(stores, query, monkeypatch):
    pg_store, sqlite = stores
    # One statement: never a run read by the search (the readers fail it if it does).
    monkeypatch.setattr(pg_store.db, "read_run", None)
    monkeypatch.setattr(pg_store.db, "read_start", None)
    assert hits(pg_store, query) == hits(sqlite, query)


@pytest.mark.parametrize("by", [None, "model", "tool", "agent", "status", "day"])
def test_stats_estimate_the_calls_phoenix_did_not_price_as_the_sqlite_reader_does(pg, tmp_path, monkeypatch, by):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    sqlite = open_store(shutil.copy(FIXTURES / "phoenix.db", tmp_path), estimate=True)
    groups = sqlite.stats(by)
    sqlite.close()
    assert by == "tool" or any(g.cost_estimated_usd for g in groups)  # the fixture has a call to price
    expected = [pytest.approx(g.as_dict()) for g in groups]
    for _ in range(2):  # the second time from tracetui's cache (never the database)
        store = prepare(url).connect()
        assert [g.as_dict() for g in store.stats(by)] == expected
        store.close()
    assert list((tmp_path / "cache").rglob("estimates-*.db"))


BIG_SPANS = 1_200  # beyond the steps a big run's start holds (postgres.store.START_STEPS)


def big_trace(url: str) -> None:
    """Trace a2 made big: BIG_SPANS more model calls Phoenix did not price (copies of its span 7), every
    third under the one before it, some failed, and a span annotation on one far down."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO spans (trace_rowid, span_id, parent_id, name, span_kind, start_time, end_time, attributes,
                events, status_code, status_message, cumulative_error_count, cumulative_llm_token_count_prompt,
                cumulative_llm_token_count_completion, llm_token_count_prompt, llm_token_count_completion)
            SELECT s.trace_rowid, 'big-' || n, CASE WHEN n %% 3 = 0 THEN 'big-' || (n - 1) ELSE s.parent_id END,
                s.name, s.span_kind, s.start_time + n * interval '1 ms', s.end_time + n * interval '1 ms', s.attributes,
                s.events, CASE WHEN n %% 250 = 0 THEN 'ERROR' ELSE 'OK' END, CASE WHEN n %% 250 = 0 THEN 'boom' ELSE '' END,
                0, 0, 0, s.llm_token_count_prompt, s.llm_token_count_completion + n
            FROM spans s, generate_series(1, %s) n WHERE s.span_id = '0000000000000007'
            """,
            [BIG_SPANS],
        )
        conn.execute(
            "INSERT INTO span_annotations (span_rowid, name, label, score, explanation, metadata, annotator_kind,"
            " identifier, source) SELECT id, 'far', 'ok', 1, 'far down', '{}', 'HUMAN', '', 'API' FROM spans"
            " WHERE span_id = 'big-1100'"
        )


def test_a_big_trace_is_opened_from_its_start_with_the_whole_runs_totals(pg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    big_trace(url)
    run_id = RUNS[1]
    whole = prepare(url).connect()
    whole.db = dataclasses.replace(whole.db, read_start=None)  # read whole, as before
    started = prepare(url).connect()
    read_whole = []
    started.db = dataclasses.replace(started.db, read_run=lambda *a: read_whole.append(a) or whole.db.read_run(*a))

    run = started.get_run(run_id)
    roots = started.children(run_id, None, limit=50)
    assert not read_whole  # the start only
    expected = whole.get_run(run_id)
    assert run.step_count == expected.step_count == BIG_SPANS + 7  # 4 spans, 3 annotations
    assert run.failed_steps == expected.failed_steps
    for name in (*ROLLED_UP_FIELDS, ESTIMATED_COST):
        assert run.total(name) == pytest.approx(expected.total(name)), name
    assert run.cost_estimated and run.total(ESTIMATED_COST) > 0
    assert shown(roots) == shown(whole.children(run_id, None, limit=50))
    assert started.count_children(run_id, None) == whole.count_children(run_id, None)
    assert started.failed_step_positions(run_id) == whole.failed_step_positions(run_id)
    assert shown(started.steps_from(run_id, 0, limit=300)) == shown(whole.steps_from(run_id, 0, limit=300))
    assert not read_whole
    # Further down than the start: the whole run is read then, and is the same.
    assert shown(started.steps_from(run_id, 450, limit=300)) == shown(whole.steps_from(run_id, 450, limit=300))
    assert read_whole
    started.close()
    whole.close()


def shown(steps) -> list[tuple]:
    return [(s.id, s.parent_id, s.ord, s.depth, s.size, s.status, s.name, s.tokens_out, s.cost_usd) for s in steps]


def test_sorting_by_cost_orders_by_the_costs_shown_estimates_included(pg, tmp_path, monkeypatch):
    # a2's cost is all estimated (claude-sonnet-4), more than a3's reported one: it sorts between them.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    store = prepare(url).connect()
    runs = store.list_runs(sort="cost", desc=True, limit=10)
    assert [r.id for r in runs] == [RUNS[0], RUNS[1], RUNS[2]]
    assert [r.cost_estimated for r in runs] == [False, True, False] and runs[1].total("cost_usd") > 0
    store.close()
