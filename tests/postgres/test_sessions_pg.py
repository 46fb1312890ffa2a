"""Runs grouped by session in a database: the server groups them, with the rows and order of SQLite's."""

from __future__ import annotations

import time
from collections import OrderedDict

import psycopg
import pytest
from builders import SESSION_ROWS, write_agent_traces
from pg_builders import agent_traces_table, dbname, many_rows

from tracetui.loading import open_store, prepare
from tracetui.postgres import store as pg_store_module
from tracetui.store import SORT_KEYS, RunFilter
from tracetui.store.protocol import SessionStore

N = 150
# Sessions of seven runs, and every fifth run alone (no session).
ROWS = [{**row, "session_id": None if i % 5 == 0 else row["session_id"]} for i, row in enumerate(many_rows(N))]


@pytest.fixture(scope="module")
def stores(pg, tmp_path_factory):
    """The same turns in PostgreSQL and in SQLite (the reference)."""
    url = pg.database()
    agent_traces_table(url, ROWS)
    pg_store = prepare(url).connect()
    sqlite = open_store(write_agent_traces(tmp_path_factory.mktemp("ref") / "ref.db", ROWS))
    yield pg_store, sqlite
    pg_store.close()
    sqlite.close()


@pytest.mark.parametrize("desc", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize("sort", [key.name for key in SORT_KEYS])
def test_sessions_are_sqlites_rows_in_sqlites_order(stores, sort, desc):
    pg_store, sqlite = stores
    assert isinstance(pg_store, SessionStore)
    assert pg_store.sessions(sort=sort, desc=desc) == sqlite.sessions(sort=sort, desc=desc)


@pytest.mark.parametrize(
    "flt", [RunFilter(), RunFilter(agent="beta"), RunFilter(status=["failed", "timeout"])], ids=str
)
def test_filters_counts_and_a_sessions_runs_agree(stores, flt):
    pg_store, sqlite = stores
    assert pg_store.sessions(flt, sort="duration", limit=7) == sqlite.sessions(flt, sort="duration", limit=7)
    assert pg_store.count_sessions(flt) == sqlite.count_sessions(flt)
    keys = pg_store.session_keys(flt, sort="started", desc=False)
    assert keys == sqlite.session_keys(flt, sort="started", desc=False)
    assert sorted(pg_store.session_rows(keys[:5], flt), key=str) == sorted(sqlite.session_rows(keys[:5], flt), key=str)
    for run_id in ("r0001", "r0005", "r0100"):  # in a session, alone, in a session
        assert pg_store.session_run_ids(run_id) == sqlite.session_run_ids(run_id)


def test_list_by_session_on_a_database_is_the_same_as_on_the_file(stores, pg, tmp_path):
    from click.testing import CliRunner

    from tracetui.cli import main

    url = pg.database()
    agent_traces_table(url, ROWS)
    path = write_agent_traces(tmp_path / "same.db", ROWS)
    runner = CliRunner()
    for args in (["--by", "session", "--json"], ["--by", "session", "--sort", "duration", "--desc", "--limit", "5"]):
        from_db, from_file = runner.invoke(main, ["list", url, *args]), runner.invoke(main, ["list", str(path), *args])
        assert from_db.exit_code == 0 and from_file.exit_code == 0, from_db.output
        assert from_db.stdout == from_file.stdout


async def _grouped_screens(target) -> tuple[list[list[str]], list[str]]:
    """The run list grouped by session, then with s1's runs shown under it; the runs `}` and `{` open."""
    from tracetui.tui.app import TraceApp
    from tracetui.tui.pilot import settle, until
    from tracetui.tui.screens.run import RunScreen

    app = TraceApp(target)
    screens, opened = [], []
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        run_list = app.runs_screen.run_list

        def lines() -> list[str]:
            return [run_list.render_line(y).text for y in range(run_list.size.height)]

        await pilot.press("b")
        await until(pilot, lambda: run_list.grouped and not run_list.busy and "▸" in "".join(lines()))
        await settle(pilot)
        screens.append(lines())
        await pilot.press("j", "enter")
        await until(pilot, lambda: run_list.pager.count > len(screens[0]) or "▾" in "".join(lines()))
        await settle(pilot)
        screens.append(lines())
        await pilot.press("j", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        opened.append(app.screen.run_id)
        for key in ("right_curly_bracket", "left_curly_bracket", "left_curly_bracket"):
            await pilot.press(key)
            await settle(pilot)
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
            opened.append(app.screen.run_id)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("b")
        await until(pilot, lambda: not run_list.grouped and run_list.run_at(0) is not None)
        screens.append(lines())
    return screens, opened


async def test_b_groups_a_database_by_session_as_a_file_and_braces_go_through_a_session(pg, tmp_path):
    url = pg.database()
    agent_traces_table(url, SESSION_ROWS)
    from_db = await _grouped_screens(prepare(url))
    from_file = await _grouped_screens(prepare(str(write_agent_traces(tmp_path / "same.db", SESSION_ROWS))))
    assert from_db == from_file
    screens, opened = from_db
    assert "▸ s1" in screens[0][2] and "▸ s2" in screens[0][3]
    assert "▾ s1" in screens[1][2] and [line.split()[2] for line in screens[1][3:6]] == ["r3", "r2", "r1"]
    assert opened == ["r3", "r3", "r2", "r1"]  # r3 from the list, the last of s1: `}` stays, `{` goes back


def _rows_read(url: str) -> int:
    """Rows of agent_traces read so far by finished backends (sequentially and by index)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(200):  # the others' statistics are written when they end
            others = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            if conn.execute(others, [dbname(url)]).fetchone() == (0,):
                break
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute(
            "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables"
            " WHERE relname = 'agent_traces'"
        ).fetchone()
    return row[0]


def test_a_runs_session_is_found_among_the_runs_started_near_it_without_an_index_on_the_session(
    pg, tmp_path, monkeypatch
):
    url = pg.database()
    rows = many_rows(2000)  # sessions of seven runs, started close together
    agent_traces_table(url, rows)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE INDEX ON agent_traces (started_at, id)")  # as the README advises; none on session_id
        conn.execute("ANALYZE agent_traces")
    monkeypatch.setattr(pg_store_module, "SESSION_NEAR", 50)
    reference = open_store(write_agent_traces(tmp_path / "near.db", rows))
    before = _rows_read(url)
    opening = prepare(url)
    store = opening.connect()
    for run_id in ("r0707", "r1403", "r1999"):  # sessions whose runs all have a start time
        found = store.session_run_ids(run_id)
        assert found == reference.session_run_ids(run_id) and len(found) > 1
    store.close()
    opening.close()
    assert _rows_read(url) - before < 3 * (2 * 50 + 10)  # the rows near each run, never the 2,000 of the table


@pytest.mark.parametrize("query", ["fetch", "BOOM", "call-2", "no such text"])
def test_a_search_of_the_steps_runs_on_the_server_and_finds_what_the_file_finds(stores, query, monkeypatch):
    pg_store, sqlite = stores

    def one_by_one(*args):
        raise AssertionError("a search read a run's steps into tracetui")

    monkeypatch.setattr(pg_store.db, "read_run", one_by_one)
    monkeypatch.setattr(pg_store.shared, "trees", OrderedDict())  # nothing read before
    assert {k: (h.count, h.step_id, h.ord) for k, h in pg_store.runs_matching(query).items()} == {
        k: (h.count, h.step_id, h.ord) for k, h in sqlite.runs_matching(query).items()
    }
    for sort, desc, flt in (("started", True, None), ("duration", False, RunFilter(agent="beta"))):
        ours = [h for hits in pg_store.steps_matching(query, flt, sort=sort, desc=desc) for h in hits]
        theirs = [h for hits in sqlite.steps_matching(query, flt, sort=sort, desc=desc) for h in hits]
        assert ours == theirs
