"""Databases read in place (phoenix, mlflow, opencode) give what importing them gives, row for row.

Their run list is SQL and their step trees are built in Python (sources/sqlite_steps.py); `tracetui
import` reads the same views. So the in-place store and the imported one must agree on every run
column (the SQL step counts and sums included) and every step column. That holds for estimated costs
too: a model call without a reported cost is priced in place exactly as pricing.py prices it on import.
"""

from __future__ import annotations

import sqlite3

import pytest
from agents import MLFLOW, OPENCODE, PHOENIX, copied, opened

from tracetui import pricing
from tracetui.loading import prepare
from tracetui.model import ESTIMATED_COST, Step
from tracetui.sources.sqlite_steps import install_steps
from tracetui.store import RUN_COLUMNS, STEP_COLUMNS, Store


def imported(path: str, out: str) -> Store:
    opening = prepare(path, output=out)
    opening.run_import()
    return opening.connect()


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b


@pytest.mark.parametrize("fixture", [PHOENIX, MLFLOW, OPENCODE], ids=lambda p: p.name)
def test_in_place_and_imported_agree_on_every_run_and_step(fixture, tmp_path):
    agree(copied(fixture, tmp_path / "src"), tmp_path)


def agree(path: str, tmp_path) -> None:
    """The store read in place and the one imported from it hold the same runs, steps and problems."""
    here, there = opened(path), imported(path, str(tmp_path / "imported.db"))
    assert here.path == path  # read in place, not through the cache
    ids = here.run_ids()
    assert ids and ids == there.run_ids()
    for run_id in ids:
        a, b = here.get_run(run_id), there.get_run(run_id)
        for column in RUN_COLUMNS:
            if column.startswith("total_"):
                continue  # Run does not hold them; Run.total() is compared below
            assert same(getattr(a, column), getattr(b, column)), (run_id, column)
        for name in ("tokens_in", "tokens_out", "cost_usd", "tokens_cache_read", ESTIMATED_COST):
            assert same(a.total(name), b.total(name)), (run_id, name)
        steps_a, steps_b = here.steps(run_id, payloads=True), there.steps(run_id, payloads=True)
        assert [s.id for s in steps_a] == [s.id for s in steps_b]
        for x, y in zip(steps_a, steps_b, strict=True):
            for column in STEP_COLUMNS:
                assert same(getattr(x, column), getattr(y, column)), (run_id, x.id, column)
    assert [str(p) for p in here.problems()] == [str(p) for p in there.problems()]


def test_a_step_builder_that_fails_gives_a_failed_step_and_the_other_runs_still_read():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("good",), ("bad",)])

    def build(_conn, key):
        if key == "bad":
            raise ValueError("nobody foresaw this")
        return [Step(id="only", name="only")]

    install_steps(conn, "test", build, runs_from="t", run_id="t.id", key="t.id", started_at="NULL")
    rows = conn.execute("SELECT run_id, id, status, error FROM steps ORDER BY run_id").fetchall()
    assert rows == [
        ("bad", "unreadable", "failed", "ValueError: nobody foresaw this"),
        ("good", "only", "completed", None),
    ]


# -- estimated costs in place ------------------------------------------------------------------------

UNKNOWN = "acme-router-7b"
# Each database with calls whose reported cost is taken away (so they are priced) and calls of a model
# the price table does not know (so they stay unpriced): (fixture, edits, provider and calls of UNKNOWN).
# OpenCode's sessions always report a cost (its column is NOT NULL): there the run's total stays the
# reported one and the estimates show in the steps and their sums.
ESTIMATES = {
    "phoenix": (
        PHOENIX,
        [
            "DELETE FROM span_costs WHERE span_rowid = (SELECT id FROM spans WHERE span_id = '0000000000000004')",
            f"UPDATE spans SET attributes = json_set(attributes, '$.llm.model_name', '{UNKNOWN}') WHERE id = 9",
            "DELETE FROM span_costs WHERE span_rowid = 9",
        ],
        ("openai", 1),
    ),
    "mlflow": (
        MLFLOW,
        [
            "CREATE TEMP TABLE later AS SELECT trace_id, span_id FROM spans WHERE model_name = 'claude-sonnet-4-5'"
            " ORDER BY start_time_unix_nano DESC LIMIT 1",
            "UPDATE spans SET total_cost = NULL, content = json_remove(content, '$.attributes.\"mlflow.llm.cost\"')"
            " WHERE span_id IN (SELECT span_id FROM later)",
            "UPDATE trace_info SET total_cost = NULL WHERE request_id IN (SELECT trace_id FROM later)",
            f"UPDATE spans SET model_name = '{UNKNOWN}', total_cost = NULL,"
            " content = json_remove(content, '$.attributes.\"mlflow.llm.cost\"') WHERE model_name = 'gpt-4o-mini'",
        ],
        ("openai", 1),
    ),
    "opencode": (
        OPENCODE,
        [
            "UPDATE part SET data = json_remove(data, '$.cost') WHERE id IN ('prt_p0008', 'prt_c0006', 'prt_c0009')",
            f"UPDATE message SET data = json_set(data, '$.modelID', '{UNKNOWN}') WHERE id = 'msg_c0003'",
        ],
        ("anthropic", 2),
    ),
}


@pytest.fixture(params=sorted(ESTIMATES))
def priced(request, tmp_path) -> tuple[str, str]:
    """(format, a copy of its database with calls to estimate and calls of an unknown model)."""
    fixture, edits, _ = ESTIMATES[request.param]
    path = copied(fixture, tmp_path / "src")
    conn = sqlite3.connect(path)
    for sql in edits:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return request.param, path


def test_calls_without_a_reported_cost_are_priced_in_place_as_pricing_prices_them(priced):
    _, path = priced
    here = opened(path)
    plain = prepare(path, estimate=False).connect()  # the same file in place, only the reported costs
    assert here.path == plain.path == path
    pricer = pricing.Pricer()
    estimated = 0
    for run_id in here.run_ids():
        run, reported = here.get_run(run_id), {s.id: s for s in plain.steps(run_id)}
        steps = here.steps(run_id)
        for step in steps:
            own = reported[step.id].cost_usd
            if own is not None or not step.model:
                assert (step.cost_usd, step.cost_estimated) == (own, False), step.id
                continue
            counts = (
                step.tokens_in,
                step.tokens_out,
                step.tokens_cache_read,
                step.tokens_cache_write,
                step.tokens_reasoning,
            )
            expected = pricer.cost(step.model, step.provider, counts, step.started_at or run.started_at)
            assert (step.cost_usd, step.cost_estimated) == (expected, expected is not None), step.id
            assert (expected is None) == (step.model == UNKNOWN), step.id
            estimated += expected is not None
        # Roll-ups: every subtree (steps come in pre-order: a step's subtree is the next `size` steps)
        # and the run sum what their steps cost, and keep the estimated part apart.
        for i, step in enumerate(steps):
            assert_sums(steps[i : i + step.size], step.sub_cost_usd, step.sub_cost_estimated_usd)
        assert_sums(steps, run.steps_cost_usd, run.steps_cost_estimated_usd)
        total = run.cost_usd if run.cost_usd is not None else run.steps_cost_usd
        assert same(run.total("cost_usd"), total) and run.cost_estimated == (run.total(ESTIMATED_COST) is not None)
    assert estimated >= 1


def assert_sums(steps: list[Step], cost: float | None, estimated: float | None) -> None:
    costs = [s.cost_usd for s in steps if s.cost_usd is not None]
    estimates = [s.cost_usd for s in steps if s.cost_estimated]
    assert same(cost, sum(costs) if costs else None) and same(estimated, sum(estimates) if estimates else None)


def test_in_place_and_imported_agree_on_estimated_costs(priced, tmp_path):
    _, path = priced
    agree(path, tmp_path)
    here = opened(path)
    assert any(here.get_run(run_id).steps_cost_estimated_usd for run_id in here.run_ids())


def test_an_unknown_model_is_reported_once_under_w_as_on_import(priced):
    name, path = priced
    provider, calls = ESTIMATES[name][2]
    problems = [p.message for p in opened(path).problems()]
    expected = pricing.unpriced_message(pricing.Pricer(), UNKNOWN, provider, calls)
    assert [m for m in problems if UNKNOWN in m] == [expected] and expected.endswith(
        f"{calls} call{'s' if calls > 1 else ''} not priced"
    )
    assert problems[-1] == expected  # after what was found reading the file, as an import lists it
    assert [p.message for p in prepare(path, estimate=False).connect().problems()] == problems[:-1]


def test_sorting_by_cost_and_stats_count_the_estimates_in_sql(priced, tmp_path):
    name, path = priced
    here = opened(path)
    totals = {run_id: here.get_run(run_id).total("cost_usd") for run_id in here.run_ids()}
    by_cost = [totals[run_id] for run_id in here.run_ids(sort="cost", desc=True)]
    known = sorted((c for c in totals.values() if c is not None), reverse=True)
    assert by_cost == known + [None] * (len(by_cost) - len(known))
    (everything,) = here.stats()
    assert same(everything.cost_usd, sum(known))
    run_estimates = [e for e in (here.get_run(r).total(ESTIMATED_COST) for r in totals) if e is not None]
    assert same(everything.cost_estimated_usd, sum(run_estimates) if run_estimates else None)
    models = {g.group: g for g in here.stats("model")}
    assert (models[UNKNOWN].unpriced, models[UNKNOWN].cost_usd) == (ESTIMATES[name][2][1], None)
    assert any(g.cost_estimated for g in models.values())
    there = imported(path, str(tmp_path / "imported.db"))
    for by in (None, "agent", "model"):
        for a, b in zip(here.stats(by), there.stats(by), strict=True):
            assert all(same(x, y) for x, y in zip(vars(a).values(), vars(b).values(), strict=True)), (by, a, b)


def test_with_no_estimate_nothing_is_priced_in_place(priced):
    _, path = priced
    opening = prepare(path, estimate=False)
    assert opening.in_place
    store = opening.connect()
    for run_id in store.run_ids():
        run = store.get_run(run_id)
        assert run.steps_cost_estimated_usd is None and not run.cost_estimated
        assert not any(s.cost_estimated or s.sub_cost_estimated_usd is not None for s in store.steps(run_id))
    assert not any(UNKNOWN in p.message for p in store.problems())
    assert all(g.unpriced is None for g in store.stats("model"))


# What names one run in each database (its id, and every column that refers to it) and a step name.
NOT_UTF8 = {
    PHOENIX: (
        "traces",
        "trace_id",
        [("traces", "trace_id")],
        "UPDATE spans SET name = CAST(x'6e616d65ff' AS TEXT) WHERE trace_rowid = (SELECT min(id) FROM traces)",
    ),
    MLFLOW: (
        "trace_info",
        "request_id",
        [
            ("trace_info", "request_id"),
            ("spans", "trace_id"),
            ("assessments", "trace_id"),
            ("trace_tags", "request_id"),
            ("trace_request_metadata", "request_id"),
        ],
        "UPDATE spans SET name = CAST(x'6e616d65ff' AS TEXT) WHERE rowid = (SELECT min(rowid) FROM spans)",
    ),
    OPENCODE: (
        "session",
        "id",
        [("session", "id"), ("session", "parent_id"), ("message", "session_id"), ("part", "session_id")],
        "UPDATE session SET title = CAST(x'6e616d65ff' AS TEXT) WHERE parent_id IS NOT NULL",
    ),
}


@pytest.mark.parametrize("fixture", list(NOT_UTF8), ids=lambda p: p.name)
def test_a_run_whose_id_and_names_are_not_utf8_is_listed_and_opens_by_the_id_shown(fixture, tmp_path):
    path = copied(fixture, tmp_path / "src")
    table, column, refs, odd_name = NOT_UTF8[fixture]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    (first,) = conn.execute(f"SELECT {column} FROM {table} ORDER BY rowid LIMIT 1").fetchone()
    for ref_table, ref_column in refs:  # first + the byte E9, which is not UTF-8 on its own
        conn.execute(
            f"UPDATE {ref_table} SET {ref_column} = CAST(? AS TEXT) WHERE {ref_column} = ?",
            (first.encode() + b"\xe9", first),
        )
    conn.execute(odd_name)
    conn.commit()
    conn.close()
    expected = opened(copied(fixture, tmp_path / "clean"))
    store = opened(path)
    shown = first + "\\xe9"
    ids = store.run_ids()
    assert sorted(ids) == sorted(shown if i == first else i for i in expected.run_ids())
    for run_id in ids:
        run = store.run_tree(run_id)
        clean = expected.run_tree(first if run_id == shown else run_id)
        assert run.id == run_id and len(run.steps) == len(clean.steps) > 0
        assert "unreadable" not in [s.id for s in run.steps]
    assert any("name\\xff" in (s.name or "") for run_id in ids for s in store.steps(run_id))
    assert any(f"'{shown}'" in str(p) and "not UTF-8" in str(p) for p in store.problems())
