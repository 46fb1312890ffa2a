"""Langfuse exports, smolagents run dumps and Inspect AI eval logs, read from fixtures the real libraries wrote."""

from __future__ import annotations

import shutil

import orjson
import pytest
from frameworks import by_agent, fixture, read_runs, shape

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.loading import prepare
from tracetui.model import Run
from tracetui.sources import inspect_ai, langfuse, smolagents

SMOLAGENTS = fixture("smolagents_runs.jsonl")
INSPECT = fixture("inspect_ai_eval.json")
LF_TRACE = fixture("langfuse_trace.json")
LF_TRACES = fixture("langfuse_traces.jsonl")
LF_OBSERVATIONS = fixture("langfuse_observations.jsonl")


def opened(path):
    opening = prepare(str(path))
    opening.run_import()
    return opening.connect()


@pytest.fixture
def sm_store():
    store = opened(SMOLAGENTS)
    yield store
    store.close()


@pytest.fixture
def ia_store():
    store = opened(INSPECT)
    yield store
    store.close()


def stored_run(store, agent: str):
    return next(r for r in store.list_runs(limit=100) if r.agent == agent)


def by_id(runs: list[Run]) -> dict[str, Run]:
    return {r.id: r for r in runs}


# -- smolagents ---------------------------------------------------------------------------------


def test_smolagents_is_detected_from_content_not_name(tmp_path):
    renamed = tmp_path / "memory.txt"
    shutil.copy(SMOLAGENTS, renamed)
    assert sources.detect(str(renamed))[0] is smolagents


def test_smolagents_one_run_per_line(sm_store):
    runs = sm_store.list_runs(limit=100)
    assert sorted(r.agent for r in runs) == ["broken", "manager", "order", "report", "two_cities", "weather"]
    assert sm_store.problem_count() == 0
    weather = sm_store.get_run(stored_run(sm_store, "weather").id)
    assert (weather.input, weather.output, weather.status) == (
        "What is the weather in Paris?",
        "Paris: 18C, light rain.",
        "completed",
    )
    assert weather.metadata == {"agent_type": "ToolCallingAgent", "model_id": "scripted-weather", "state": "success"}
    assert weather.started_at.endswith("Z") and weather.duration_ms > 0


def test_smolagents_action_steps_are_model_calls_with_their_tool_calls_as_children():
    runs, _ = read_runs(smolagents, SMOLAGENTS)
    weather = by_agent(runs)["weather"]
    assert shape(weather) == [(0, "step 1"), (1, "get_weather"), (0, "step 2"), (1, "final_answer")]
    assert [s.kind for s in weather.steps] == ["llm", "tool", "llm", "tool"]
    tool = weather.steps[1]
    assert (tool.input, tool.output) == ('{"city":"Paris"}', "18C, light rain")


def test_smolagents_code_agent_planning_parse_error_and_code_error():
    runs, _ = read_runs(smolagents, SMOLAGENTS)
    report = by_agent(runs)["report"]
    assert shape(report) == [
        (0, "planning"),
        (0, "step 1"),
        (0, "step 2"),
        (1, "python_interpreter"),
        (0, "step 3"),
        (1, "python_interpreter"),
    ]
    assert report.steps[0].kind == "reasoning"
    failed = [(s.name, s.error.split(":")[0]) for s in report.steps if s.failed]
    assert failed == [("step 1", "AgentParsingError"), ("python_interpreter", "AgentExecutionError")]
    assert report.status == "completed" and report.output == "20.0"


def test_smolagents_recovered_tool_error_fails_the_call_not_the_run(sm_store):
    run = stored_run(sm_store, "order")
    assert run.status == "completed"
    failed = [s for s in sm_store.steps(run.id) if s.failed]
    assert [(s.kind, s.name) for s in failed] == [("tool", "lookup_order")]
    first = sm_store.first_failed_step(run.id)
    assert first.input == '{"order_id":"123"}'
    assert first.error.startswith("AgentToolExecutionError: Error executing tool 'lookup_order'")
    assert sm_store.get_step(run.id, first.parent_id).status == "completed"


def test_smolagents_max_steps_is_a_failed_run_whose_first_failure_is_the_tool(sm_store):
    run = stored_run(sm_store, "broken")
    assert (run.status, run.error) == ("failed", "AgentMaxStepsError: Reached max steps.")
    assert run.failed_steps == 3  # the tool twice, then the step that gave up
    first = sm_store.first_failed_step(run.id)
    assert (first.kind, first.name) == ("tool", "charge_card")
    assert "ConnectionError: payment gateway unreachable" in first.error


def test_smolagents_parallel_tool_calls_are_siblings():
    runs, _ = read_runs(smolagents, SMOLAGENTS)
    step = by_agent(runs)["two_cities"].steps[0]
    assert [(c.name, c.input) for c in step.children] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Oslo"}'),
    ]
    assert step.extra["observations"] == "18C, light rain\n4C, clear"


def test_smolagents_managed_agent_run_hangs_under_the_managers_call():
    runs, _ = read_runs(smolagents, SMOLAGENTS)
    manager = by_agent(runs)["manager"]
    assert shape(manager) == [
        (0, "step 1"),
        (1, "billing"),
        (2, "step 1"),
        (3, "get_invoice"),
        (2, "step 2"),
        (3, "final_answer"),
        (0, "step 2"),
        (1, "final_answer"),
    ]
    assert manager.steps[1].kind == "agent"
    assert manager.total("tokens_in") == 140 + 230 + 80 + 110
    assert manager.tokens_in is None and manager.extra["token_usage"]["input_tokens"] == 370
    assert "total_mismatch" not in manager.flags


def test_smolagents_tokens_counted_once_on_model_calls():
    runs, _ = read_runs(smolagents, SMOLAGENTS)
    runs_by = by_agent(runs)
    assert (runs_by["weather"].total("tokens_in"), runs_by["weather"].total("tokens_out")) == (280, 30)
    assert runs_by["report"].total("tokens_in") == 90 + 300 + 340 + 400  # the planning call counts too
    assert all(not r.mismatches for r in runs)
    assert {s.kind for r in runs for s in r.steps if s.tokens_in is not None} == {"llm", "reasoning"}
    assert all(r.total("cost_usd") is None for r in runs)  # smolagents records no cost


def test_smolagents_pretty_printed_run_and_array_of_runs(tmp_path):
    records = [orjson.loads(line) for line in open(SMOLAGENTS, "rb")]
    pretty = tmp_path / "run.json"
    pretty.write_bytes(orjson.dumps(records[1], option=orjson.OPT_INDENT_2))
    assert sources.detect(str(pretty))[0] is smolagents
    runs, _ = read_runs(smolagents, pretty)
    assert [r.agent for r in runs] == ["order"] and runs[0].failed_steps == 1
    array = tmp_path / "runs.json"
    array.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    assert sources.detect(str(array))[0] is smolagents
    assert len(read_runs(smolagents, array)[0]) == 6


def test_smolagents_bad_lines_are_reported_and_nothing_usable_is_unusable(tmp_path):
    lines = open(SMOLAGENTS, "rb").read().splitlines(keepends=True)
    partly = tmp_path / "partly.jsonl"
    partly.write_bytes(lines[0] + b'{"steps": "not a list"}\n' + lines[1][:200] + b"\n" + b"".join(lines[2:]))
    runs, problems = read_runs(smolagents, partly)
    assert len(runs) == 5 and [p.line for p in problems] == [2, 3]
    cut = tmp_path / "cut.json"
    cut.write_bytes(orjson.dumps(orjson.loads(lines[1]), option=orjson.OPT_INDENT_2)[:6000])
    assert sources.detect(str(cut))[0] is smolagents
    with pytest.raises(UnusableInput, match="no run could be read"):
        read_runs(smolagents, cut)


# -- Inspect AI -----------------------------------------------------------------------------------


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


# -- Langfuse -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LF_TRACE, LF_TRACES, LF_OBSERVATIONS])
def test_langfuse_exports_are_detected_from_content_not_name(tmp_path, path):
    renamed = tmp_path / "download"
    shutil.copy(path, renamed)
    assert sources.detect(str(renamed))[0] is langfuse


def test_langfuse_single_trace_download_is_one_run():
    runs, problems = read_runs(langfuse, LF_TRACE)
    assert problems == [] and len(runs) == 1
    run = runs[0]
    assert (run.agent, run.session, run.status) == ("support-order", "fixture-session", "completed")
    assert (run.input, run.output) == ("Where is my order 123?", "Order A-123 has shipped.")
    assert run.metadata == {"channel": "chat", "userId": "user-2", "environment": "fixture"}
    assert "_comment" not in run.extra


def test_langfuse_error_levels_fail_steps_not_the_run(tmp_path):
    store = opened(LF_TRACE)
    try:
        (run,) = store.list_runs(limit=10)
        failed = [(s.kind, s.error) for s in store.steps(run.id) if s.failed]
        assert failed == [
            ("llm", "TimeoutError: model endpoint timed out after 30s"),
            ("tool", "no order '123': ids look like A-1xx"),
        ]
        assert store.first_failed_step(run.id).kind == "llm"
        assert run.status == "completed"
    finally:
        store.close()


def test_langfuse_trace_downloads_tree_and_scores():
    runs, _ = read_runs(langfuse, LF_TRACES)
    triage = by_agent(runs)["support-triage"]
    assert shape(triage) == [
        (0, "support-triage"),
        (1, "no_card_numbers"),
        (1, "chat"),
        (1, "handoff"),
        (1, "billing"),
        (2, "chat"),
        (2, "get_invoice"),
        (2, "chat"),
        (1, "guardrail_ok"),
    ]
    assert [s.kind for s in triage.steps][:5] == ["agent", "governance", "llm", "other", "agent"]
    guardrail_score = triage.steps[-1]
    assert (guardrail_score.kind, guardrail_score.score, guardrail_score.verdict) == ("evaluation", 1.0, "True")
    weather = by_agent(runs)["support-weather"]
    assert shape(weather)[-1] == (0, "helpfulness") and weather.steps[-1].score == 0.9
    assert by_agent(runs)["support-order"].steps[-1].verdict == "resolved"


def test_langfuse_failed_run_when_the_root_observation_failed():
    runs, _ = read_runs(langfuse, LF_TRACES)
    refund = by_agent(runs)["support-refund"]
    assert (refund.status, refund.error) == ("failed", "payment gateway unreachable")
    first = next(s for s in refund.steps if s.failed and s.depth > 0)
    assert (first.kind, first.name) == ("tool", "issue_refund")


def test_langfuse_parallel_tool_observations_are_siblings():
    runs, _ = read_runs(langfuse, LF_TRACES)
    cities = by_agent(runs)["support-cities"]
    assert [(s.name, s.input) for s in cities.steps[0].children if s.kind == "tool"] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Oslo"}'),
    ]


def test_langfuse_tokens_and_cost_counted_once_and_match_the_trace_total():
    runs, _ = read_runs(langfuse, LF_TRACES)
    order = by_agent(runs)["support-order"]
    assert (order.total("tokens_in"), order.total("tokens_out")) == (110 + 110 + 170 + 210, 0 + 15 + 15 + 10)
    assert order.cost_usd == pytest.approx(0.0019) and order.steps_cost_usd == pytest.approx(0.0019)
    assert all(not r.mismatches for r in runs)
    assert {s.kind for r in runs for s in r.steps if s.tokens_in is not None} == {"llm"}
    assert order.steps[0].tokens_in is None and order.steps[0].sub_tokens_in == 600


def test_langfuse_observation_export_is_staged_into_one_run_per_trace():
    runs, problems = read_runs(langfuse, LF_OBSERVATIONS)
    downloads, _ = read_runs(langfuse, LF_TRACES)
    assert problems == []
    not_scores = {
        r.id: [x for x in shape(r) if x[1] not in ("helpfulness", "resolution", "guardrail_ok")] for r in downloads
    }
    assert {r.id: shape(r) for r in runs} == not_scores
    assert {r.id: r.status for r in runs} == {r.id: r.status for r in downloads}
    assert {r.id: r.steps_cost_usd for r in runs} == pytest.approx({r.id: r.steps_cost_usd for r in downloads})


def test_langfuse_api_list_response_and_rule_breaking_files(tmp_path):
    rows = [orjson.loads(line) for line in open(LF_OBSERVATIONS, "rb")]
    listed = tmp_path / "observations.json"
    listed.write_bytes(orjson.dumps({"data": rows, "meta": {"page": 1, "totalItems": len(rows)}}))
    assert sources.detect(str(listed))[0] is langfuse
    assert len(read_runs(langfuse, listed)[0]) == 5
    partly = tmp_path / "partly.jsonl"
    partly.write_bytes(
        orjson.dumps(rows[0])
        + b"\n"
        + b'{"id": "x", "type": "SPAN"}\n'
        + b"".join(orjson.dumps(r) + b"\n" for r in rows[1:])
    )
    runs, problems = read_runs(langfuse, partly)
    assert len(runs) == 5 and [p.line for p in problems] == [2]
    orphaned = tmp_path / "orphaned.jsonl"
    orphaned.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows if r["parentObservationId"] is not None))
    runs, problems = read_runs(langfuse, orphaned)
    assert len(problems) == 5 and all("root observation is not in the export" in p.message for p in problems)
    cut = tmp_path / "cut.json"
    cut.write_bytes(open(LF_TRACE, "rb").read()[:5000])
    assert sources.detect(str(cut))[0] is langfuse
    with pytest.raises(UnusableInput, match="Langfuse trace download, but it is not valid JSON"):
        read_runs(langfuse, cut)
