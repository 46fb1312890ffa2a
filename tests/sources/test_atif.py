"""ATIF trajectories (tests/fixtures/agents/atif, built and validated with Harbor's ATIF models)."""

from __future__ import annotations

import json

import pytest
from agents import ATIF, read_runs, shape

from tracetui import sources
from tracetui.analysis import first_failed_step

SONNET, HAIKU = "anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5"


@pytest.fixture
def run():
    runs, problems = read_runs(str(ATIF))
    assert problems == [] and len(runs) == 1
    return runs[0]


def test_the_trajectory_is_a_run(run):
    assert (run.id, run.agent, run.session, run.status) == ("atif-run-1", "terminus-2", "atif-run-1", "completed")
    assert run.metadata == {
        "schema_version": "ATIF-v1.7",
        "trajectory_id": "root",
        "agent_version": "2.0.0",
        "model": SONNET,
    }
    assert run.input == "Create hello.txt containing hello, then verify it."
    assert run.output == "Done, but the file says 'hi', not 'hello' [/b] - needs a fix."
    assert (run.started_at, run.duration_ms) == ("2026-01-07T08:00:00.000Z", 35000)


def test_tree_shape_with_the_subagent_under_the_call_that_started_it(run):
    assert shape(run) == [
        (0, "other", "system"),
        (0, "other", "Create hello.txt containing hello, then verify it."),
        (0, "llm", SONNET),
        (1, "tool", "bash"),
        (0, "llm", SONNET),
        (1, "tool", "delegate"),
        (2, "agent", "verifier"),
        (3, "other", "Verify hello.txt says hello."),
        (3, "llm", HAIKU),
        (4, "tool", "read_file"),
        (3, "llm", HAIKU),
        (0, "llm", SONNET),
        (1, "tool", "bash"),
        (0, "llm", SONNET),
    ]
    steps = {s.id: s for s in run.steps}
    assert steps["subagent/verifier"].parent_id == "call_2"
    assert steps["subagent/verifier"].extra["final_metrics"]["total_prompt_tokens"] == 400
    assert steps["step-3"].extra["reasoning_content"] == "A single echo is enough."


def test_tool_results_pair_by_source_call_id_and_errors_fail_the_call(run):
    steps = {s.id: s for s in run.steps}
    assert (steps["call_1"].input, steps["call_1"].output) == ('{"command":"echo hi > hello.txt"}', "")
    assert steps["call_2"].output == "hello.txt contains 'hi', not 'hello'."
    assert steps["verifier/call_v1"].output == "hi"
    assert [s.id for s in run.steps if s.failed] == ["call_3"]
    first = first_failed_step(run.steps)
    assert first.id == "call_3" and first.error == "exit code 1"


def test_tokens_and_cost_in_the_convention(run):
    steps = {s.id: s for s in run.steps}
    first = steps["step-3"]
    assert (first.tokens_in, first.tokens_out, first.cost_usd) == (1200, 80, 0.003)
    assert (first.tokens_cache_read, first.tokens_cache_write, first.tokens_reasoning) == (800, 100, 20)
    assert (first.model, first.provider) == ("claude-sonnet-4-5", "anthropic")  # split as pricing wants it
    sub = steps["subagent/verifier"]
    assert (sub.sub_tokens_in, sub.sub_tokens_out, sub.sub_tokens_cache_read) == (400, 25, 100)
    assert sub.sub_cost_usd == pytest.approx(0.0005)
    assert (run.steps_tokens_in, run.steps_tokens_out, run.steps_tokens_cache_read) == (6400, 195, 5200)
    assert (run.steps_tokens_cache_write, run.steps_tokens_reasoning) == (100, 20)
    assert run.steps_cost_usd == pytest.approx(0.008)


def test_final_metrics_that_disagree_with_the_steps_are_kept_and_flagged(run):
    # Harbor counts a trajectory's tokens over its own steps: the root reports 9999 (its steps sum to
    # 6000), the subagent 400; its cost includes the subagent's. Only the prompt tokens disagree.
    assert run.extra["final_metrics"]["total_prompt_tokens"] == 9999
    assert (run.tokens_in, run.tokens_out, run.tokens_cache_read, run.cost_usd) == (10399, 195, 5200, 0.008)
    assert run.mismatches == {"tokens_in": (10399, 6400)}
    assert run.flags == ["total_mismatch"]


def write(tmp_path, document, name="trajectory.json"):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document, indent=2))
    return str(path)


def trajectory() -> dict:
    return json.loads(ATIF.read_text())


def test_results_out_of_order_still_pair_by_id(tmp_path):
    doc = trajectory()
    doc["steps"][2]["tool_calls"].append({"tool_call_id": "call_1b", "function_name": "cat", "arguments": {}})
    doc["steps"][2]["observation"]["results"] = [
        {"source_call_id": "call_1b", "content": "second"},
        {"source_call_id": "call_1", "content": "first"},
        {"content": "no call named"},
    ]
    (run,), _ = read_runs(write(tmp_path, doc))
    steps = {s.id: s for s in run.steps}
    assert (steps["call_1"].output, steps["call_1b"].output) == ("first", "second")
    observation = next(s for s in run.steps if s.raw_type == "observation")
    assert observation.parent_id == "step-3" and observation.output == "no call named"


def test_one_trajectory_per_line_and_a_subagent_nobody_references(tmp_path):
    doc = trajectory()
    del doc["steps"][3]["observation"]["results"][0]["subagent_trajectory_ref"]
    other = {**trajectory(), "session_id": "atif-run-2", "subagent_trajectories": None}
    path = write(tmp_path, json.dumps(doc) + "\n" + json.dumps(other) + "\n", "trajectories.jsonl")
    assert sources.detect(path)[0].NAME == "atif"
    runs, problems = read_runs(path)
    assert problems == [] and [r.id for r in runs] == ["atif-run-1", "atif-run-2"]
    verifier = next(s for s in runs[0].steps if s.id == "subagent/verifier")
    assert verifier.parent_id is None and verifier.seq == max(s.seq for s in runs[0].steps if s.parent_id is None)
    # Without its subagent, the second run's steps fall short of the cost that includes it, too.
    assert runs[1].steps_tokens_in == 6000 and set(runs[1].mismatches) == {"tokens_in", "cost_usd"}
    assert runs[1].steps[5].extra["subagent_trajectory_ref"] == [
        {"trajectory_id": "verifier", "session_id": "atif-run-1"}
    ]


def test_a_json_array_of_trajectories(tmp_path):
    other = {**trajectory(), "session_id": "atif-run-2"}
    path = write(tmp_path, [trajectory(), other, {"not": "a trajectory"}])
    assert sources.detect(path)[0].NAME == "atif"
    runs, problems = read_runs(path)
    assert [r.id for r in runs] == ["atif-run-1", "atif-run-2"] and [r.source_line for r in runs] == [1, 2]
    assert [str(p) for p in problems] == ["item 3 skipped: not an ATIF trajectory (no ATIF schema_version)"]


def test_a_cut_off_document_shows_the_steps_before_the_break(tmp_path):
    text = json.dumps(trajectory(), indent=2)
    path = write(tmp_path, text[: text.index('"step_id": 5')])
    runs, problems = read_runs(path)
    assert [str(p).startswith("the JSON document breaks off") for p in problems] == [True]
    assert [s.id for s in runs[0].steps if s.parent_id is None] == ["step-1", "step-2", "step-3", "step-4"]


def test_odd_types_are_reported_and_left_out(tmp_path):
    doc = trajectory()
    doc["steps"][2]["metrics"]["prompt_tokens"] = "lots"
    doc["steps"][3]["tool_calls"] = {"not": "a list"}
    doc["steps"].insert(0, "not a step")
    runs, problems = read_runs(write(tmp_path, doc))
    assert [str(p) for p in problems] == [
        "step 1: not a JSON object; left out",
        "step-3: metrics.prompt_tokens is not a number; left out",
        "step-4: tool_calls is not a list; left out",
    ]
    steps = {s.id: s for s in runs[0].steps}
    assert steps["step-3"].tokens_in is None and steps["step-3"].tokens_out == 80
    assert "call_2" not in steps


def test_copied_context_is_not_counted_twice(tmp_path):
    doc = trajectory()
    doc["steps"][2]["is_copied_context"] = True
    (run,), _ = read_runs(write(tmp_path, doc))
    step = next(s for s in run.steps if s.id == "step-3")
    assert step.tokens_in is None and step.extra["copied_metrics"]["prompt_tokens"] == 1200
    assert run.steps_tokens_in == 5200
