"""MLflow's mlflow.db (tests/fixtures/agents/mlflow, made by the real MLflow SDK): read in place.

Trace ids change when the fixture is made again, so traces are found by their `fixture` tag.
"""

from __future__ import annotations

import sqlite3

import pytest
from agents import MLFLOW, copied, opened, read_runs, shape

from tracetui.analysis import first_failed_step


@pytest.fixture
def db(tmp_path):
    return copied(MLFLOW, tmp_path / "mlflow")


@pytest.fixture
def runs(db):
    runs, problems = read_runs(db)
    assert problems == []
    return {r.extra["tags"]["fixture"]: r for r in runs}


def test_a_run_per_trace(db, runs):
    assert {name: (r.agent, r.session, r.status) for name, r in runs.items()} == {
        "weather": ("support-agent", "support-1", "completed"),
        "refund": ("support-agent", "support-1", "failed"),
        "quick": ("quick_answer", None, "completed"),
    }
    weather = runs["weather"]
    assert weather.id.startswith("tr-") and weather.started_at == "2026-01-01T10:00:00.000Z"
    assert weather.duration_ms == 9000 and weather.ended_at == "2026-01-01T10:00:09.000Z"
    assert weather.metadata["mlflow.trace.user"] == "user-7" and weather.extra["experiment"] == "tracetui-fixture"
    assert runs["refund"].error == "RuntimeError: RefundError: order 42 was already refunded"
    store = opened(db)
    assert store.source_format == "mlflow" and store.path == db
    assert sorted(store.run_ids()) == sorted(r.id for r in runs.values())
    oldest_first = [r.id for r in store.list_runs(sort="started", desc=False)]
    assert oldest_first == [runs[name].id for name in ("weather", "refund", "quick")]


def test_tree_shape_with_assessments_as_evaluation_steps(runs):
    assert shape(runs["weather"]) == [
        (0, "agent", "support-agent"),
        (1, "other", "plan"),
        (1, "llm", "ChatAnthropic"),
        (1, "tool", "search_docs"),
        (2, "evaluation", "tool_ok"),
        (1, "llm", "ChatAnthropic"),
        (0, "evaluation", "relevance"),
        (0, "evaluation", "expected_answer"),
    ]
    assert shape(runs["quick"]) == [(0, "agent", "quick_answer"), (1, "llm", "draft")]
    by_name = {s.name: s for s in runs["weather"].steps}
    relevance = by_name["relevance"]
    assert (relevance.score, relevance.verdict, relevance.output) == (0.9, None, "Answers the question asked.")
    assert (relevance.raw_type, relevance.extra["source_type"]) == ("feedback", "LLM_JUDGE")
    assert (by_name["expected_answer"].raw_type, by_name["expected_answer"].verdict) == (
        "expectation",
        "18C and cloudy",
    )
    assert (by_name["tool_ok"].verdict, by_name["tool_ok"].score) == ("true", 1.0)
    refund = {s.name: s for s in runs["refund"].steps}
    helpful, judge = refund["helpfulness"], refund["groundedness"]
    assert (helpful.verdict, helpful.score, helpful.output, helpful.status) == (
        "false",
        0.0,
        "The refund failed.",
        "completed",
    )
    assert (judge.status, judge.error) == ("failed", "RATE_LIMIT_EXCEEDED: judge was rate limited")


def test_tool_steps_failures_from_the_exception_event(runs):
    tool = next(s for s in runs["weather"].steps if s.kind == "tool")
    assert (tool.input, tool.output) == ('{"query":"Paris weather"}', '{"result":"18C, cloudy"}')
    refund = runs["refund"]
    first = first_failed_step(refund.steps)
    assert first.name == "issue_refund" and first.kind == "tool"
    assert first.error == "RuntimeError: RefundError: order 42 was already refunded"
    assert [s.name for s in refund.steps if s.failed] == ["support-agent", "issue_refund", "groundedness"]


def test_tokens_and_cost_as_mlflow_records_them(runs):
    weather, refund, quick = runs["weather"], runs["refund"], runs["quick"]
    assert (weather.tokens_in, weather.tokens_out, weather.steps_tokens_in, weather.steps_tokens_out) == (
        2700,
        150,
        2700,
        150,
    )
    assert (weather.steps_tokens_cache_read, weather.steps_tokens_cache_write) == (1900, 100)
    assert weather.cost_usd == pytest.approx(0.005295) and weather.steps_cost_usd == pytest.approx(0.005295)
    assert (refund.total("tokens_in"), refund.total("tokens_out"), refund.steps_tokens_cache_read) == (300, 25, 128)
    assert refund.steps_tokens_cache_write is None and refund.total("cost_usd") == pytest.approx(0.0000504)
    assert (quick.total("tokens_in"), quick.total("cost_usd")) == (None, None)
    call = next(s for s in weather.steps if s.kind == "llm")
    assert (call.model, call.provider, call.tokens_in, call.tokens_cache_read) == (
        "claude-sonnet-4-5",
        "anthropic",
        1200,
        800,
    )
    assert call.cost_usd == pytest.approx(0.002865)
    assert not any(r.mismatches for r in runs.values())


def test_a_reported_total_the_spans_disagree_with_is_flagged_in_place(db, runs):
    edit(db, f"UPDATE trace_info SET input_tokens = 9000 WHERE request_id = '{runs['weather'].id}'")
    run = opened(db).get_run(runs["weather"].id)
    assert run.flags == ["total_mismatch"] and run.mismatches == {"tokens_in": (9000, 2700)}


def edit(db: str, *statements: str) -> None:
    conn = sqlite3.connect(db)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_span_with_broken_content_is_reported_and_the_rest_shows(db, runs):
    refund = runs["refund"].id
    edit(db, f"UPDATE spans SET content = '{{broken' WHERE trace_id = '{refund}' AND name = 'issue_refund'")
    store = opened(db)
    (problem,) = store.problems()
    assert problem.run_id == refund and "content is not a JSON object" in problem.message
    steps = {s.name: s for s in store.steps(refund, payloads=True)}
    tool = steps["issue_refund"]
    assert tool.status == "failed" and tool.error == "error" and tool.extra["content"] == "{broken"
    assert store.first_failed_step(refund).name == "issue_refund"
    assert len(store.run_ids()) == 3
