"""Arize Phoenix's phoenix.db (tests/fixtures/agents/phoenix, made by a real Phoenix server): read in place."""

from __future__ import annotations

import sqlite3

import pytest
from agents import PHOENIX, copied, opened, read_runs, shape

from tracetui.analysis import first_failed_step
from tracetui.pricing import Pricer

WEATHER, REFUND, QUICK = (f"000000000000000000000000000000a{n}" for n in (1, 2, 3))


@pytest.fixture
def db(tmp_path):
    return copied(PHOENIX, tmp_path / "phoenix")


@pytest.fixture
def runs(db):
    runs, problems = read_runs(db)
    assert problems == []
    return {r.id: r for r in runs}


def test_a_run_per_trace_with_session_agent_and_status(db):
    store = opened(db)
    assert store.source_format == "phoenix" and store.path == db
    listed = {r.id: r for r in store.list_runs()}
    assert set(listed) == {WEATHER, REFUND, QUICK}
    assert [(listed[i].agent, listed[i].status) for i in (WEATHER, REFUND, QUICK)] == [
        ("support-agent", "completed"),
        ("support-agent", "failed"),
        ("gpt-4o-mini", "completed"),
    ]
    weather = store.get_run(WEATHER)
    assert weather.session == "support-1" and store.get_run(QUICK).session == "support-2"
    assert weather.metadata == {"project": "tracetui-fixture", "user": "user-7"}
    assert weather.started_at == "2026-01-01T10:00:00.000Z" and weather.duration_ms == 9000
    assert weather.input == "What is the weather in Paris?"
    assert store.get_run(REFUND).error == "RefundError: order 42 was already refunded"


def test_tree_shape_with_annotations_as_evaluation_steps(runs):
    assert shape(runs[REFUND]) == [
        (0, "agent", "support-agent"),
        (1, "other", "plan"),
        (2, "llm", "claude-sonnet-4-20250514"),
        (1, "tool", "issue_refund"),
        (0, "evaluation", "helpfulness"),
        (0, "evaluation", "resolved"),
    ]
    weather = runs[WEATHER]
    assert shape(weather) == [
        (0, "agent", "support-agent"),
        (1, "llm", "claude-sonnet-4-5"),
        (1, "tool", "get_weather"),
        (1, "llm", "claude-sonnet-4-5"),
        (2, "evaluation", "correctness"),
        (0, "evaluation", "resolved"),
    ]
    correctness = next(s for s in weather.steps if s.name == "correctness")
    assert correctness.parent_id == "0000000000000004" and correctness.pseudo
    assert (correctness.score, correctness.verdict, correctness.output) == (1.0, "correct", "Matches the forecast.")
    assert correctness.extra["annotator_kind"] == "LLM"
    helpfulness = runs[REFUND].steps[4]
    assert (helpfulness.score, helpfulness.verdict, helpfulness.extra["annotator_kind"]) == (0.0, "unhelpful", "HUMAN")
    resolved = runs[QUICK].steps  # support-2 has no session annotation
    assert [s.kind for s in resolved] == ["llm"]


def test_tool_steps_and_the_first_failure(runs):
    tool = next(s for s in runs[WEATHER].steps if s.kind == "tool")
    assert (tool.input, tool.output, tool.status) == ('{"city": "Paris"}', "18C, cloudy", "completed")
    refund = runs[REFUND]
    assert [s.name for s in refund.steps if s.failed] == ["support-agent", "issue_refund"]
    first = first_failed_step(refund.steps)
    assert first.id == "0000000000000008" and first.error == "RefundError: order 42 was already refunded"
    assert first.events[0]["name"] == "exception"


def test_tokens_in_the_convention_with_their_parts_and_costs(runs):
    weather, refund, quick = runs[WEATHER], runs[REFUND], runs[QUICK]
    assert (weather.steps_tokens_in, weather.steps_tokens_out) == (2700, 150)
    parts = ("steps_tokens_cache_read", "steps_tokens_cache_write", "steps_tokens_reasoning")
    assert tuple(getattr(weather, p) for p in parts) == (1900, 100, 20)
    assert weather.steps_cost_usd == pytest.approx(0.005295)
    assert (refund.steps_tokens_in, refund.steps_tokens_out, refund.steps_tokens_cache_read) == (900, 40, 600)
    assert refund.steps_cost_usd is None  # Phoenix has no price for claude-sonnet-4-20250514
    assert (quick.steps_tokens_in, quick.steps_tokens_out, quick.steps_tokens_cache_read) == (300, 25, 128)
    assert quick.steps_cost_usd == pytest.approx(0.0000504)
    call = weather.steps[1]
    assert (call.model, call.provider, call.tokens_in, call.tokens_out) == ("claude-sonnet-4-5", "anthropic", 1200, 90)
    assert call.extra["cost"]["computed_by"] == "phoenix"
    # Phoenix's own subtree sums agree: the root's cumulative prompt/completion counts.
    assert (weather.steps[0].sub_tokens_in, weather.steps[0].sub_tokens_out) == (2700, 150)
    assert not weather.mismatches


def test_the_run_list_is_sql_and_matches_the_trees(db, runs):
    store = opened(db)
    for run in runs.values():
        listed = store.get_run(run.id)
        assert (listed.step_count, listed.failed_steps) == (run.step_count, run.failed_steps)
        assert listed.total("tokens_in") == run.total("tokens_in")
    assert store.list_runs(sort="tokens", desc=True)[0].id == WEATHER
    assert [r.id for r in store.list_runs(sort="started", desc=False)] == [WEATHER, REFUND, QUICK]


def edit(db: str, *statements: str) -> None:
    """Change the test's copy of the database (never the fixture)."""
    conn = sqlite3.connect(db)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_span_with_broken_json_is_reported_and_the_rest_shows(db):
    edit(
        db,
        # Phoenix's indexes on attribute values refuse malformed JSON; a damaged file has no such guard.
        "DROP INDEX ix_spans_session_id",
        "DROP INDEX ix_spans_user_id",
        "UPDATE spans SET attributes = '{\"llm\": {broken' WHERE span_id = '0000000000000004'",
        "UPDATE spans SET events = '17' WHERE span_id = '0000000000000003'",
    )
    store = opened(db)
    problems = [str(p) for p in store.problems()]
    assert problems == [
        "line 2: span '0000000000000003': events is not a JSON array; kept as text in the step's extra",
        "line 3: span '0000000000000004': attributes is not a JSON object; kept as text in the step's extra",
    ]
    steps = {s.id: s for s in store.steps(WEATHER, payloads=True)}
    assert len(steps) == 6 and steps["0000000000000004"].extra["attributes"] == '{"llm": {broken'
    assert steps["0000000000000004"].tokens_in == 1500  # from Phoenix's own column
    assert store.get_run(WEATHER).steps_tokens_cache_read == 800  # the broken span's parts are unknown
    assert [r.id for r in store.list_runs()] == [QUICK, REFUND, WEATHER]


def test_odd_types_in_columns_are_left_out_not_crashed_on(db):
    edit(
        db,
        "UPDATE spans SET llm_token_count_prompt = 'many', start_time = 'soon' WHERE span_id = '0000000000000009'",
        "UPDATE span_costs SET total_cost = 'free' WHERE span_rowid = 9",
        # Beyond any real count: left out, so sums stay within SQLite's integers.
        "UPDATE spans SET llm_token_count_prompt = 1e30 WHERE span_id = '0000000000000002'",
    )
    store = opened(db)
    run = store.get_run(QUICK)
    (step,) = store.steps(QUICK)
    assert (step.tokens_in, step.started_at) == (None, None)
    # 'free' is not a cost: the call is priced as any call without one, at its run's start.
    estimate = Pricer().cost("gpt-4o-mini", "openai", (None, 25, 128, None, None), run.started_at)
    assert estimate is not None and (step.cost_usd, step.cost_estimated) == (estimate, True)
    assert (run.steps_tokens_in, run.steps_tokens_out, run.steps_cost_usd) == (None, 25, estimate)
    assert store.get_run(WEATHER).steps_tokens_in == 1500 and store.stats()[0].tokens_in == 900 + 1500 + 0


def test_a_trace_whose_root_span_has_not_arrived_is_running(db):
    edit(db, "DELETE FROM spans WHERE span_id = '0000000000000005'")
    store = opened(db)
    run = store.get_run(REFUND)
    assert run.status == "running" and run.agent == "plan"
    steps = store.steps(REFUND)
    assert {s.name for s in steps if s.depth == 0} >= {"plan", "issue_refund"}
    assert all("orphan" in s.flags for s in steps if s.depth == 0 and s.kind != "evaluation")
