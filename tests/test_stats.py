"""`tracetui stats` and Store.stats: groups, percentiles and shares on runs whose numbers can be
checked by hand, and the SQL percentiles against the textbook definition on many values."""

from __future__ import annotations

import json
import random
import statistics

import pytest
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.loading import open_store
from tracetui.pricing import Pricer
from tracetui.store import RunFilter


def tool(id, name, ms, **fields):
    return step(id, kind="tool", name=name, duration_ms=ms, **fields)


RUNS = [
    run(
        "r1",
        tool("t1", "search", 40),
        tool("t2", "fetch", 30, status="failed", error="boom"),
        agent="a",
        started_at="2026-01-01T10:15:00.000Z",
        duration_ms=100.0,
        tokens_in=10,
        tokens_out=5,
        tokens_cache_read=4,
        cost_usd=0.5,
    ),
    run(
        "r2",
        tool("t1", "search", 60),
        step("llm", kind="llm", model="gpt-4o-mini", tokens_in=1000, tokens_out=100, duration_ms=80.0),
        agent="a",
        status="failed",
        started_at="2026-01-01T11:00:00.000Z",
        duration_ms=300.0,
    ),
    run("r3", agent="b", status="timeout", session="s1", started_at="2026-01-02T10:00:00.000Z", duration_ms=200.0),
    run("r4", agent="b", session="s1", started_at="2026-01-02T10:30:00.000Z", duration_ms=400.0, credits=2.0),
    run("r5", agent="a"),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return open_store(write_jsonl(tmp_path_factory.mktemp("stats") / "runs.jsonl", RUNS))


def by_group(groups):
    return {g.group: g for g in groups}


def estimated_cost() -> float:
    cost = Pricer().cost("gpt-4o-mini", None, (1000, 100, None, None, None), "2026-01-01T11:00:00.000Z")
    assert cost is not None
    return cost


def test_runs_by_agent_count_fail_and_take_percentiles(store):
    a, b = store.stats("agent")
    assert (a.group, a.runs, a.failed, b.group, b.runs, b.failed) == ("a", 3, 1, "b", 2, 1)
    # a's durations: 100, 300 (r5 has none): p50 halfway, p95 at 95% of the way.
    assert (a.p50_ms, a.p95_ms, a.max_ms, a.total_ms) == (200.0, 290.0, 300.0, 400.0)
    assert (b.p50_ms, b.p95_ms, b.max_ms) == (300.0, 390.0, 400.0)
    assert a.tokens_in == 1010 and a.tokens_out == 105 and a.tokens_cache_read == 4
    assert a.cost_usd == pytest.approx(0.5 + estimated_cost()) and a.cost_estimated_usd == estimated_cost()
    assert b.cost_usd is None and b.credits == 2.0 and a.credits is None


def test_runs_by_status_session_day_and_hour(store):
    assert {g.group: g.runs for g in store.stats("status")} == {"completed": 3, "failed": 1, "timeout": 1}
    assert {g.group: g.runs for g in store.stats("session")} == {"s1": 2, None: 3}
    days = store.stats("day")
    assert [(g.group, g.runs, g.failed) for g in days] == [("2026-01-01", 2, 1), ("2026-01-02", 2, 1), (None, 1, 0)]
    hours = store.stats("hour")
    assert [(g.group, g.runs) for g in hours] == [
        ("2026-01-01 10:00", 1),
        ("2026-01-01 11:00", 1),
        ("2026-01-02 10:00", 2),
        (None, 1),
    ]
    (everything,) = store.stats(None)
    assert (everything.group, everything.runs, everything.failed) == ("all", 5, 2)
    assert (everything.p50_ms, everything.p95_ms) == (250.0, 385.0)  # 100 200 300 400


def test_tools_by_total_time_with_failures_and_share_of_run_time(store):
    search, fetch = store.stats("tool")
    assert (search.group, search.runs, search.failed, search.total_ms) == ("search", 2, 0, 100.0)
    assert (search.p50_ms, search.p95_ms, search.max_ms) == (50.0, 59.0, 60.0)
    assert search.share_of_run_time == 0.1  # 100 ms of the runs' 1000 ms
    assert (fetch.group, fetch.runs, fetch.failed, fetch.share_of_run_time) == ("fetch", 1, 1, 0.03)


def test_models_by_cost_with_the_estimated_part(store):
    (model,) = store.stats("model")
    assert (model.group, model.unit, model.runs, model.unpriced) == ("gpt-4o-mini", "calls", 1, 0)
    assert model.cost_usd == model.cost_estimated_usd == estimated_cost()
    assert model.as_dict()["estimated_share"] == 1.0


def test_stats_follow_a_filter(store):
    completed = by_group(store.stats("agent", RunFilter(status="completed")))
    assert {k: g.runs for k, g in completed.items()} == {"a": 2, "b": 1}
    assert {g.group for g in store.stats("tool", RunFilter(agent="a", since="2026-01-01T11:00:00.000Z"))} == {"search"}
    assert [g.runs for g in store.stats("tool", RunFilter(tool="fetch"))] == [1, 1]  # r1's two tools
    assert [g.group for g in store.stats("agent", RunFilter(model="gpt-4o-mini"))] == ["a"]


def test_latency_histogram_bins_on_a_one_two_five_ladder(store):
    def histogram(flt=None):
        with store.stats_scope(flt) as scope:
            return scope.latency_histogram()

    assert histogram() == [(100.0, 200.0, 1), (200.0, 500.0, 3)]
    assert histogram(RunFilter(agent="b")) == [(200.0, 500.0, 2)]
    assert histogram(RunFilter(agent="nobody")) == []


def test_a_scope_answers_many_questions_and_leaves_nothing_behind(store):
    with store.stats_scope(RunFilter(agent="a")) as scope:
        assert scope.run_count() == 3
        assert [g.group for g in scope.groups("tool")] == ["search", "fetch"]
        assert [(g.runs, g.p50_ms) for g in scope.groups("day", percentiles=False)] == [(2, None), (1, None)]
    tables = store.conn.execute("SELECT name FROM temp.sqlite_master WHERE name LIKE 'tracetui_stat%'").fetchall()
    assert tables == []


def test_sql_percentiles_are_the_linear_interpolation_of_the_textbook(tmp_path):
    rng = random.Random(5)
    durations = {
        name: [rng.uniform(1, 10_000) for _ in range(n)] for name, n in (("one", 1), ("few", 7), ("many", 101))
    }
    runs = [
        run(f"{name}-{i}", agent=name, duration_ms=ms)
        for name, values in durations.items()
        for i, ms in enumerate(values)
    ]
    groups = by_group(open_store(write_jsonl(tmp_path / "t.jsonl", runs)).stats("agent"))
    for name, values in durations.items():
        expected = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
        assert groups[name].p50_ms == pytest.approx(expected[49], rel=1e-12)
        assert groups[name].p95_ms == pytest.approx(expected[94], rel=1e-12)
        assert groups[name].max_ms == max(values)


def test_cli_stats_json_and_text(store, tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", RUNS)
    rows = json.loads(CliRunner().invoke(main, ["stats", src, "--by", "tool", "--json"]).stdout)
    assert rows[0] == {
        "group": "search",
        "calls": 2,
        "failed": 0,
        "failure_rate": 0.0,
        "tokens_in": None,
        "tokens_out": None,
        "tokens_cache_read": None,
        "cached_share": None,
        "credits": None,
        "cost_usd": None,
        "cost_estimated": False,
        "estimated_share": None,
        "p50_duration_ms": 50.0,
        "p95_duration_ms": 59.0,
        "max_duration_ms": 60.0,
        "total_duration_ms": 100.0,
        "share_of_run_time": 0.1,
    }
    text = CliRunner().invoke(main, ["stats", src, "--by", "agent"]).stdout
    a_line = next(line for line in text.splitlines() if line.startswith("a "))
    # The cost holds a small estimate; 4 of 1010 input tokens were cached.
    assert "≈$0.5002" in a_line and a_line.split()[-2:] == ["<1%", "<1%"]
    day = CliRunner().invoke(main, ["stats", src, "--by", "day"]).stdout
    assert "2026-01-01" in day and "2026-01-02" in day
