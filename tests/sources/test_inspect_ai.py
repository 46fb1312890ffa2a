"""Inspect AI eval logs, read from a fixture the real library wrote offline."""

from __future__ import annotations

import shutil

import orjson
import pytest
from frameworks import by_id, fixture, opened, read_runs, shape

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.sources import inspect_ai

SMOLAGENTS = fixture("smolagents_runs.jsonl")
INSPECT = fixture("inspect_ai_eval.json")


@pytest.fixture
def ia_store():
    store = opened(INSPECT)
    yield store
    store.close()


def test_inspect_is_detected_from_content_not_name(tmp_path):
    renamed = tmp_path / "log.data"
    shutil.copy(INSPECT, renamed)
    assert sources.detect(str(renamed))[0] is inspect_ai
    assert sources.detect(SMOLAGENTS)[0] is not inspect_ai


def test_inspect_each_sample_is_a_run(ia_store):
    runs = ia_store.list_runs(limit=100)
    assert sorted(r.id for r in runs) == ["charge", "cities", "flaky", "invoice", "order", "weather"]
    assert {r.agent for r in runs} == {"support"}
    assert ia_store.problem_count() == 0
    weather = ia_store.get_run("weather")
    assert (weather.input, weather.output) == ("What is the weather in Paris?", "Paris: 18C, light rain.")
    assert weather.metadata["model"] == "mockllm/model" and weather.metadata["scores"] == {"includes": "C"}


def test_inspect_spans_give_the_tree_and_tool_events_merge_into_their_tool_spans():
    runs, _ = read_runs(inspect_ai, INSPECT)
    weather = by_id(runs)["weather"]
    assert shape(weather) == [
        (0, "solvers"),
        (1, "react"),
        (2, "support"),
        (3, "mockllm/model"),
        (3, "get_weather"),
        (3, "mockllm/model"),
        (3, "submit"),
        (0, "scorers"),
        (1, "includes"),
        (2, "includes"),
    ]
    tool = weather.steps[4]
    assert (tool.kind, tool.input, tool.output) == ("tool", '{"city":"Paris"}', "18C, light rain")
    score = weather.steps[-1]
    assert (score.kind, score.verdict, score.score) == ("evaluation", "C", 1.0)


def test_inspect_handoff_nests_the_other_agent_under_the_transfer():
    runs, _ = read_runs(inspect_ai, INSPECT)
    invoice = by_id(runs)["invoice"]
    names = shape(invoice)
    at = names.index((3, "handoff to billing"))
    assert names[at : at + 6] == [
        (3, "handoff to billing"),
        (4, "transfer_to_billing"),
        (5, "billing"),
        (6, "mockllm/model"),
        (6, "get_invoice"),
        (6, "mockllm/model"),
    ]
    assert invoice.steps[at + 1].kind == "agent"


def test_inspect_parallel_tool_calls_are_siblings():
    runs, _ = read_runs(inspect_ai, INSPECT)
    agent = next(s for s in by_id(runs)["cities"].steps if s.name == "support")
    assert [(c.name, c.input) for c in agent.children if c.kind == "tool"][:2] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Oslo"}'),
    ]


def test_inspect_tool_error_reported_to_the_model_fails_the_step_not_the_sample(ia_store):
    run = ia_store.get_run("order")
    assert run.status == "completed"
    first = ia_store.first_failed_step("order")
    assert (first.kind, first.name, first.error) == (
        "tool",
        "lookup_order",
        "unknown: no order '123': ids look like A-1xx",
    )
    assert run.failed_steps == 1


def test_inspect_errored_sample_is_a_failed_run_and_retried_attempts_are_failed_steps(ia_store):
    run = ia_store.get_run("charge")
    assert (run.status, run.error) == ("failed", "ConnectionError('payment gateway unreachable')")
    failed = [(s.name, s.error) for s in ia_store.steps("charge") if s.failed]
    assert failed == [
        ("attempt 1 (retried)", "ConnectionError('payment gateway unreachable')"),
        ("charge_card", "ConnectionError('payment gateway unreachable')"),
        ("error", "ConnectionError('payment gateway unreachable')"),
    ]
    flaky = ia_store.get_run("flaky")
    assert flaky.status == "completed"
    assert ia_store.first_failed_step("flaky").error == "RuntimeError('status page returned 503')"


def test_inspect_tokens_and_cost_counted_once_on_model_events():
    runs, _ = read_runs(inspect_ai, INSPECT)
    invoice = by_id(runs)["invoice"]
    assert (invoice.steps_tokens_in, invoice.steps_tokens_out) == (140 + 80 + 110 + 230, 16 + 10 + 12 + 14)
    assert invoice.steps_cost_usd == pytest.approx((140 + 80 + 110 + 230) * 2.5e-6 + (16 + 10 + 12 + 14) * 1e-5)
    assert {s.kind for r in runs for s in r.steps if s.tokens_in is not None} == {"llm"}
    assert all(not r.mismatches for r in runs)  # the sample's model_usage agrees with its model events
    handoff = next(s for s in invoice.steps if s.name == "handoff to billing")
    assert handoff.tokens_in is None and handoff.sub_tokens_in == 80 + 110


def test_inspect_broken_log_is_reported_or_unusable(tmp_path):
    data = open(INSPECT, "rb").read()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: data.index(b'"id": "flaky"')])
    runs, problems = read_runs(inspect_ai, cut)
    assert [r.id for r in runs] == ["charge", "cities"]
    assert len(problems) == 1 and "breaks off" in problems[0].message
    header_only = tmp_path / "header.json"
    log = orjson.loads(data)
    log["samples"], log["status"] = [], "error"
    log["error"] = {"message": "RuntimeError('boom')", "traceback": ""}
    header_only.write_bytes(orjson.dumps(log, option=orjson.OPT_INDENT_2))
    assert sources.detect(str(header_only))[0] is inspect_ai
    with pytest.raises(UnusableInput, match="no readable samples .*status 'error': RuntimeError"):
        read_runs(inspect_ai, header_only)
