"""The run list on a database: every sort and filter answered by the server in the SQLite reader's
order, pages read by key in both directions across runs without a sort key, counts and positions."""

from __future__ import annotations

import pytest
from builders import write_agent_traces
from pg_builders import agent_traces_table, many_rows

from tracetui.loading import open_store, prepare
from tracetui.postgres import store as store_module
from tracetui.postgres.store import PgStore
from tracetui.store import SORT_KEYS, RunFilter
from tracetui.tui.widgets import key_pager
from tracetui.tui.widgets.key_pager import KeyPager, Query, read_first, read_totals, read_window

N = 240
ROWS = many_rows(N)


@pytest.fixture(scope="module")
def stores(pg, tmp_path_factory):
    """The same 240 turns in PostgreSQL and in SQLite (the reference order)."""
    url = pg.database()
    agent_traces_table(url, ROWS)
    opening = prepare(url)
    pg_store = opening.connect()
    sqlite = open_store(write_agent_traces(tmp_path_factory.mktemp("ref") / "ref.db", ROWS))
    yield pg_store, sqlite
    pg_store.close()
    sqlite.close()


def ids(runs) -> list[str]:
    return [run.id for run in runs]


@pytest.mark.parametrize("desc", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize("sort", [key.name for key in SORT_KEYS])
def test_every_sort_is_the_sqlite_readers_order(stores, sort, desc):
    pg_store, sqlite = stores
    assert ids(pg_store.list_runs(sort=sort, desc=desc, limit=N)) == ids(sqlite.list_runs(sort=sort, desc=desc))


FILTERS = [
    RunFilter(status="failed"),
    RunFilter(status=["timeout", "running"]),
    RunFilter(agent="beta"),
    RunFilter(agent=["alpha", "gamma"], status="completed"),
    RunFilter(search="PROVIDER"),  # case does not matter, as SQLite's LIKE
    RunFilter(search="r01"),
    RunFilter(search="100%_"),  # LIKE's wildcards are searched for literally
    RunFilter(tool="fetch"),
    RunFilter(since="2026-01-01T00:30:00.000Z", until="2026-01-01T00:40:00.000Z"),
]


@pytest.mark.parametrize("flt", FILTERS, ids=str)
def test_every_filter_runs_in_sql_and_keeps_what_sqlite_keeps(stores, flt):
    pg_store, sqlite = stores
    expected = ids(sqlite.list_runs(flt, sort="duration", desc=True))
    assert ids(pg_store.list_runs(flt, sort="duration", desc=True, limit=N)) == expected
    assert pg_store.count_runs(flt) == len(expected)
    failed = sum(1 for run in sqlite.list_runs(flt) if run.status in ("failed", "timeout"))
    assert pg_store.totals(flt) == (len(expected), failed)


@pytest.mark.parametrize("sort", ["started", "duration", "tokens", "status"])
def test_pages_by_key_cover_the_whole_order_forwards_and_backwards(stores, sort):
    """Runs without a sort key (NULL start or duration) come last either way; pages cross into them."""
    pg_store, sqlite = stores
    assert isinstance(pg_store, PgStore)
    flt = RunFilter()
    for desc in (True, False):
        expected = ids(sqlite.list_runs(sort=sort, desc=desc))
        forward, after = [], None
        while True:
            rows = pg_store.page(flt, sort, desc, after, 37)
            forward += [run.id for run, _ in rows]
            if len(rows) < 37:
                break
            after = rows[-1][1]
        assert forward == expected
        backward, before = [], None
        while True:
            rows = pg_store.page(flt, sort, desc, before, 41, backwards=True)
            backward += [run.id for run, _ in rows]
            if len(rows) < 41:
                break
            before = rows[-1][1]
        assert backward == expected[::-1]


def test_positions_keys_and_offsets_agree_with_the_order(stores):
    pg_store, sqlite = stores
    flt = RunFilter(agent=["alpha", "beta"])
    expected = ids(sqlite.list_runs(flt, sort="started", desc=True))
    for position in (0, 1, 17, len(expected) - 3, len(expected) - 1):
        key = pg_store.key_of(expected[position], "started", flt)
        assert pg_store.position(flt, "started", True, key) == (position, True)
        assert [run.id for run, _ in pg_store.page_at(flt, "started", True, position, 2)] == expected[position:][:2]
    assert pg_store.key_of("r0002", "started", flt) is None  # a gamma run: not in this list
    assert pg_store.estimate_runs(RunFilter()) > 0


def test_a_place_far_down_the_list_is_estimated_not_counted(stores, monkeypatch):
    pg_store, sqlite = stores
    monkeypatch.setattr(store_module, "COUNTED_POSITIONS", 20)  # as if the list were a million runs long
    expected = ids(sqlite.list_runs(sort="started", desc=True))
    assert pg_store.position(RunFilter(), "started", True, pg_store.key_of(expected[20], "started")) == (20, True)
    position, exact = pg_store.position(RunFilter(), "started", True, pg_store.key_of(expected[200], "started"))
    assert not exact and position > 20  # the planner's estimate, from its statistics


def test_a_window_placed_by_an_estimate_keeps_only_the_first_page_beside_it(stores):
    pg_store, sqlite = stores
    query = Query(RunFilter(), "started", True)
    expected = ids(sqlite.list_runs(sort="started", desc=True))
    pager = KeyPager()
    generation = pager.begin_load(query)
    count, exact, rows = read_first(pg_store, query)
    pager.show_first(generation, N, True, rows)
    pager.show_window(generation, read_window(pg_store, query, key_pager.WindowPlan(200, 230)))
    assert pager.id_at(229) == expected[229]
    key = pg_store.key_of(expected[225], "started")
    pager.show_window(
        generation, key_pager.Window(205, [(run, key) for run in pg_store.runs_by_ids([expected[225]])], False)
    )
    # The rows read by offset (200..229) may disagree with the estimate: dropped, read again when shown.
    assert pager.id_at(205) == expected[225] and pager.id_at(229) is None and pager.id_at(199) == expected[199]


def test_the_key_pager_reads_windows_near_known_keys_and_from_the_end(stores, monkeypatch):
    pg_store, sqlite = stores
    monkeypatch.setattr(key_pager, "NEAR", 30)  # as if the list were long: windows far from rows read
    query = Query(RunFilter(), "tokens", True)
    expected = ids(sqlite.list_runs(sort="tokens", desc=True))
    pager = KeyPager()
    generation = pager.begin_load(query)
    count, exact, rows = read_first(pg_store, query)
    assert pager.show_first(generation, count, exact, rows)
    assert not exact and len(rows) == 200 and pager.failed_count is None  # the count is the planner's
    assert pager.show_totals(generation, read_totals(pg_store, query))
    assert (pager.count, pager.exact, pager.failed_count) == (N, True, 80)
    assert [pager.id_at(i) for i in range(200)] == expected[:200]
    small = Query(RunFilter(agent="alpha"), "tokens", True)
    count, exact, _ = read_first(pg_store, small)
    assert exact and count == N // 4  # fewer runs than a first page: counted, not estimated

    pager = KeyPager()
    generation = pager.begin_load(query)
    pager.show_first(generation, N, True, rows[:50])  # as if the first page had held only 50 rows
    plan = pager.plan(60, 20)  # rows 40..100: read after the key of row 49
    assert plan is not None and plan.after == rows[49][1] and (plan.start, plan.end) == (50, 100)
    pager.show_window(generation, read_window(pg_store, query, plan))
    assert [pager.id_at(i) for i in range(100)] == expected[:100]
    plan = pager.plan(N - 1, 20)  # G: the end, read backwards from the end
    assert plan is not None and plan.from_end
    pager.show_window(generation, read_window(pg_store, query, plan))
    assert [pager.id_at(i) for i in range(N - 20, N)] == expected[-20:]
    plan = pager.plan(N - 30, 20)  # just above what G read: the page before its first key
    assert plan is not None and plan.before is not None
    pager.show_window(generation, read_window(pg_store, query, plan))
    assert [pager.id_at(i) for i in range(N - 50, N)] == expected[-50:]
    plan = pager.plan(145, 5)  # rows 140..155, far from every row read (0..99, 190..239): by offset
    assert plan is not None and (plan.start, plan.end, plan.after, plan.before) == (140, 155, None, None)
    pager.show_window(generation, read_window(pg_store, query, plan))
    assert [pager.id_at(i) for i in range(140, 155)] == expected[140:155]
    assert not pager.show_window(generation - 1, read_window(pg_store, query, plan))  # a stale load is ignored
