"""smolagents run dumps, read from fixtures the real library wrote offline."""

from __future__ import annotations

import shutil

import orjson
import pytest
from frameworks import by_agent, fixture, opened, read_runs, shape, stored_run

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.sources import smolagents

SMOLAGENTS = fixture("smolagents_runs.jsonl")


@pytest.fixture
def sm_store():
    store = opened(SMOLAGENTS)
    yield store
    store.close()


def test_smolagents_is_detected_from_content_not_name(tmp_path):
    renamed = tmp_path / "memory.txt"
    shutil.copy(SMOLAGENTS, renamed)
    assert sources.detect(str(renamed))[0] is smolagents


def test_smolagents_one_run_per_line(sm_store):
    runs = sm_store.list_runs(limit=100)
    assert sorted(r.agent for r in runs) == ["broken", "manager", "order", "report", "two_cities", "weather"]
    # The fixture's scripted models are not in the price table: reported once each, nothing else.
    assert [p.message.split(" is not in the price table")[0] for p in sm_store.problems()] == [
        f"model 'scripted-{name}'" for name in ("billing", "coder", "manager", "order", "payments", "weather")
    ]
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
