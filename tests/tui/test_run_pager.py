"""The run list's state without a terminal: query reads on a real store, generations, paging,
the cursor across reloads and failed-run jumps (RunPager in tui/widgets/run_pager.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from builders import opening, run, write_store

from tracetui.model import Run
from tracetui.store import RunFilter
from tracetui.tui.widgets.run_pager import (
    CACHE_LIMIT,
    FIRST_PAGE,
    Order,
    RunPager,
    failed_filter,
    read_order,
    read_top,
)

STATUSES = ("completed", "failed", "completed", "timeout", "running")


def runs(n: int = 5) -> list[Run]:
    """r0..r{n-1}, each a minute later than the one before; r1 failed and r3 timed out (for n=5)."""
    start = datetime(2026, 1, 1)
    return [
        run(
            f"r{i}",
            status=STATUSES[i % len(STATUSES)],
            started_at=(start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        )
        for i in range(n)
    ]


def loaded(ids: list[str], failed: list[int]) -> RunPager:
    """A pager that has read the full order of a query."""
    pager = RunPager()
    assert pager.show_order(pager.begin_load(), Order(ids, failed))
    return pager


def test_the_failed_filter_narrows_to_failed_and_timeout_runs_or_says_there_are_none():
    assert failed_filter(RunFilter()).status == ["failed", "timeout"]
    assert failed_filter(RunFilter(status="timeout", agent="a")) == RunFilter(status=["timeout"], agent="a")
    assert failed_filter(RunFilter(status="completed")) is None


def test_reads_give_the_count_and_top_page_then_the_order_with_failed_positions(tmp_path):
    store = opening(write_store(tmp_path / "t.db", runs())).connect()
    try:
        count, top = read_top(store, RunFilter(), "started", True)
        assert count == 5 and [r.id for r in top] == ["r4", "r3", "r2", "r1", "r0"]
        assert read_order(store, RunFilter(), "started", True) == Order(["r4", "r3", "r2", "r1", "r0"], [1, 3])
        assert read_order(store, RunFilter(status="completed"), "started", False) == Order(["r0", "r2"], [])
    finally:
        store.close()


def test_the_top_page_is_capped_and_its_rows_come_with_it(tmp_path):
    store = opening(write_store(tmp_path / "t.db", runs(FIRST_PAGE + 5))).connect()
    try:
        count, top = read_top(store, RunFilter(), "started", False)
    finally:
        store.close()
    pager = RunPager()
    assert pager.show_top(pager.begin_load(), count, top)
    assert (pager.count, pager.loaded, pager.complete, pager.busy) == (FIRST_PAGE + 5, True, False, True)
    assert pager.id_at(FIRST_PAGE - 1) == f"r{FIRST_PAGE - 1}" and pager.id_at(FIRST_PAGE) is None
    assert pager.run_at(0).id == "r0" and pager.ids_to_read(0, 10) == []
    assert pager.failed_count is None  # not known before the full order


def test_results_of_a_superseded_load_are_ignored():
    pager = RunPager()
    old = pager.begin_load()
    new = pager.begin_load()
    assert not pager.show_order(old, Order(["stale"], []))
    assert not pager.load_failed(old)
    assert pager.busy and not pager.loaded and pager.id_at(0) is None
    assert pager.show_order(new, Order(["a", "b"], [1]))
    assert (pager.count, pager.failed_count, pager.busy, pager.complete) == (2, 1, False, True)


def test_a_failed_load_ends_the_busy_state():
    pager = RunPager()
    assert pager.load_failed(pager.begin_load())
    assert not pager.busy and not pager.loaded


def test_rows_not_read_yet_are_listed_around_the_row_and_remembered_once_read():
    ids = [f"r{i}" for i in range(100)]
    pager = loaded(ids, [])
    assert pager.run_at(50) is None
    wanted = pager.ids_to_read(50, 10)  # a screen above, two below
    assert wanted == ids[40:70]
    pager.remember([run(i) for i in wanted])
    assert pager.run_at(50).id == "r50" and pager.ids_to_read(50, 10) == []
    assert pager.ids_to_read(45, 10) == ids[35:40]


def test_the_row_cache_keeps_the_most_recently_used_rows():
    ids = [f"r{i}" for i in range(CACHE_LIMIT + 1)]
    pager = loaded(ids, [])
    pager.remember([run(ids[0])])
    pager.remember([run(i) for i in ids[1:CACHE_LIMIT]])
    assert pager.run_at(0) is not None  # r0 is now the most recently used
    pager.remember([run(ids[CACHE_LIMIT])])
    assert pager.run_at(0) is not None and pager.run_at(1) is None


def test_a_new_order_drops_cached_rows_so_a_growing_store_is_read_again():
    pager = loaded(["a"], [])
    pager.remember([run("a", status="running")])
    assert pager.show_order(pager.begin_load(), Order(["a"], []))
    assert pager.run_at(0) is None


def test_positions_are_found_by_id_with_the_cursor_as_a_hint():
    pager = loaded(["a", "b", "c"], [])
    assert pager.position_of("c") == 2
    assert pager.position_of("b", hint=1) == 1
    assert pager.position_of("c", hint=0) == 2
    assert pager.position_of("zzz") is None


def test_a_run_the_cursor_moved_to_is_followed_across_a_reload():
    pager = loaded(["a", "b", "c"], [])
    pager.follow_cursor(1)
    assert pager.follow_id == "b"
    assert pager.show_order(pager.begin_load(), Order(["c", "b", "a", "d"], []))
    assert pager.landing(1) == 1 and pager.follow_id is None


def test_a_cursor_on_the_first_row_stays_on_the_first_row():
    pager = loaded(["a", "b"], [])
    pager.follow_cursor(0)
    assert pager.follow_id is None
    assert pager.show_order(pager.begin_load(), Order(["new", "a", "b"], []))
    assert pager.landing(0) == 0


def test_a_followed_run_is_kept_while_only_the_top_page_is_in():
    pager = loaded(["a", "b", "c"], [])
    pager.follow_cursor(2)
    generation = pager.begin_load()
    assert pager.show_top(generation, 3, [run("a"), run("b")])  # "c" is not on the top page
    assert pager.landing(2) == 2 and pager.follow_id == "c"  # the cursor stays put, "c" is still followed
    assert pager.show_order(generation, Order(["c", "a", "b"], []))
    assert pager.landing(2) == 0 and pager.follow_id is None


def test_a_followed_run_that_left_the_list_sends_the_cursor_to_the_top():
    pager = loaded(["a", "b", "c"], [])
    pager.follow_cursor(2)
    assert pager.show_order(pager.begin_load(), Order(["a", "b"], []))
    assert pager.landing(2) == 0


def test_follow_moves_now_when_the_run_is_listed_and_later_when_it_arrives():
    pager = loaded(["a", "b"], [])
    assert pager.follow("b", 0) == 1 and pager.follow_id is None
    assert pager.follow("later", 0) is None and pager.follow_id == "later"
    assert pager.show_order(pager.begin_load(), Order(["a", "b", "later"], []))
    assert pager.landing(0) == 2


def test_failed_runs_next_to_a_position_or_a_run():
    pager = loaded(["a", "b", "c", "d", "e"], [1, 3])
    assert pager.adjacent_failed(0, +1) == 1
    assert pager.adjacent_failed(1, +1) == 3
    assert pager.adjacent_failed(3, +1) is None
    assert pager.adjacent_failed(4, -1) == 3
    assert pager.adjacent_failed(1, -1) is None
    assert pager.adjacent_failed_id("b", +1) == "d"
    assert pager.adjacent_failed_id("d", -1) == "b"
    assert pager.adjacent_failed_id("b", -1) is None
    assert pager.adjacent_failed_id("not-listed", +1) is None


def test_before_the_full_order_failed_runs_are_found_on_the_top_page():
    pager = RunPager()
    top = [run("a", status="completed"), run("b", status="timeout"), run("c", status="failed")]
    assert pager.show_top(pager.begin_load(), 10, top)
    assert pager.adjacent_failed(0, +1) == 1
    assert pager.adjacent_failed(2, -1) == 1
    assert pager.adjacent_failed_id("c", +1) is None


def test_grouped_by_session_a_session_row_is_no_run_and_its_runs_come_and_go(tmp_path):
    from tracetui.store.sessions import SessionKey
    from tracetui.tui.widgets.run_pager import read_session_members, read_sessions

    s1, s2 = SessionKey("s1"), SessionKey("s2")
    pager = loaded(["lone", s1, s2], [0, 1])
    assert [pager.id_at(i) for i in range(3)] == ["lone", None, None]
    assert [pager.session_at(i) for i in range(3)] == [None, s1, s2]
    assert pager.failed_ids() == {"lone"} and pager.sample_ids() == ["lone", "s1", "s2"]
    assert pager.expand(s1, Order(["a", "b"], [1]))
    assert [pager.id_at(i) for i in range(5)] == ["lone", None, "a", "b", None]
    assert pager.adjacent_failed(0, +1) == 1 and pager.adjacent_failed(1, +1) == 3
    assert pager.adjacent_failed_id("lone", +1) == "b"  # past the session's own row, to its failed run
    assert pager.collapse(s1) and pager.count == 3 and pager.session_at(2) == s2
    # Collapsed, the session that holds the failed run is the answer: `]` expands it to reach the run.
    assert pager.adjacent_failed_id("lone", +1) == s1 and not pager.collapse(s1)
    assert pager.adjacent_failed_entry(0, +1) == 1

    store_runs = runs(5)
    for i, r in enumerate(store_runs):
        r.session = "s" if i < 3 else None
    store = opening(write_store(tmp_path / "s.db", store_runs)).connect()
    order = read_sessions(store, RunFilter(), "started", True, {SessionKey("s")})
    assert order.ids == ["r4", "r3", SessionKey("s"), "r2", "r1", "r0"] and order.groups == 3
    assert [order.ids[i] for i in order.failed] == ["r3", SessionKey("s"), "r1"]
    assert read_session_members(
        store,
        RunFilter(),
        SessionKey("s"),
        "started",
        False,
    ).ids == ["r0", "r1", "r2"]
