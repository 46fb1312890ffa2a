"""LangSmith runs and OpenAI Agents SDK traces, read from fixtures the real libraries wrote offline."""

from __future__ import annotations

import os
import shutil

import orjson
import pytest
from frameworks import by_agent, fixture, read_runs, shape

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.loading import prepare
from tracetui.model import Run
from tracetui.sources import langsmith, openai_agents
from tracetui.sources.staging import Staging

LANGSMITH = fixture("langsmith_runs.jsonl")
AGENTS = fixture("openai_agents_traces.jsonl")


def first_failed(store, run: Run):
    return store.first_failed_step(run.id)


@pytest.fixture
def ls_store():
    opening = prepare(LANGSMITH)
    opening.run_import()
    store = opening.connect()
    yield store
    store.close()


@pytest.fixture
def oai_store():
    opening = prepare(AGENTS)
    opening.run_import()
    store = opening.connect()
    yield store
    store.close()


# -- LangSmith / LangGraph --------------------------------------------------------------------


def test_langsmith_is_detected_from_content_not_name(tmp_path):
    renamed = tmp_path / "whatever.log"
    shutil.copy(LANGSMITH, renamed)
    assert sources.detect(str(renamed))[0] is langsmith
    assert sources.detect(AGENTS)[0] is not langsmith


def test_langsmith_one_run_per_trace(ls_store):
    runs = ls_store.list_runs(limit=100)
    assert sorted(r.agent for r in runs) == [
        "support-broken-tool",
        "support-order",
        "support-refund",
        "support-two-cities",
        "support-weather",
    ]
    assert ls_store.problem_count() == 0


def test_langsmith_tree_follows_parents_and_dotted_order():
    runs, _ = read_runs(langsmith, LANGSMITH)
    refund = by_agent(runs)["support-refund"]
    assert shape(refund) == [(0, "support-refund"), (1, "classify"), (2, "route"), (1, "escalate")]
    weather = by_agent(runs)["support-weather"]
    assert [name for depth, name in shape(weather) if depth == 1] == ["classify", "agent", "tools", "agent"]
    assert weather.steps[0].id == weather.id  # the root run's id is the trace id


def test_langsmith_langgraph_node_and_triggering_branch():
    runs, _ = read_runs(langsmith, LANGSMITH)
    refund = by_agent(runs)["support-refund"]
    escalate = next(s for s in refund.steps if s.name == "escalate")
    assert escalate.branch == "branch:to:escalate"
    assert escalate.extra["langgraph_node"] == "escalate"
    assert escalate.extra["langgraph_step"] == 2


def test_langsmith_parallel_tool_calls_are_siblings():
    runs, _ = read_runs(langsmith, LANGSMITH)
    run = by_agent(runs)["support-two-cities"]
    tools = next(s for s in run.steps if s.name == "tools")
    assert [(c.name, c.input) for c in tools.children] == [
        ("get_weather", '{"city":"Paris"}'),
        ("get_weather", '{"city":"Oslo"}'),
    ]


def test_langsmith_recovered_tool_error_and_retry_fail_steps_not_the_run(ls_store):
    run = next(r for r in ls_store.list_runs(limit=100) if r.agent == "support-order")
    assert run.status == "completed"
    failed = [s for s in ls_store.steps(run.id) if s.failed]
    assert [(s.kind, s.name) for s in failed] == [("llm", "GenericFakeChatModel"), ("tool", "lookup_order")]
    first = first_failed(ls_store, run)
    assert (first.kind, first.error) == ("llm", "TimeoutError('model endpoint timed out after 30s')")
    assert first.extra["traceback"].startswith("Traceback (most recent call last):")
    retry = ls_store.get_step(run.id, first.parent_id)
    assert [c.status for c in ls_store.children(run.id, retry.id)] == ["failed", "completed"]


def test_langsmith_failed_run_first_failure_is_the_tool(ls_store):
    run = next(r for r in ls_store.list_runs(limit=100) if r.agent == "support-broken-tool")
    assert run.status == "failed"
    assert run.error == "ValueError(\"no order 'Z-9': ids look like A-1xx\")"
    assert run.failed_steps == 3  # the tool, the tools node and the graph
    first = first_failed(ls_store, run)
    assert (first.kind, first.name) == ("tool", "lookup_order")


def test_langsmith_tokens_and_cost_counted_once_on_llm_runs():
    runs, _ = read_runs(langsmith, LANGSMITH)
    weather = by_agent(runs)["support-weather"]
    assert (weather.total("tokens_in"), weather.total("tokens_out")) == (120 + 160, 18 + 12)
    assert weather.total("cost_usd") == pytest.approx((120 + 160) * 2.5e-6 + (18 + 12) * 1e-5)
    root = weather.steps[0]
    assert root.tokens_in is None and root.sub_tokens_in == 280
    assert {s.kind for s in weather.steps if s.tokens_in is not None} == {"llm"}
    order = by_agent(runs)["support-order"]
    assert order.total("tokens_in") == 110 + 170 + 210
    assert by_agent(runs)["support-refund"].total("tokens_in") is None


def test_langsmith_children_first_and_interleaved_traces(tmp_path):
    lines = open(LANGSMITH, "rb").read().splitlines()
    path = tmp_path / "shuffled.jsonl"
    path.write_bytes(b"\n".join(lines[::2] + lines[1::2]) + b"\n")
    runs, problems = read_runs(langsmith, path)
    original, _ = read_runs(langsmith, LANGSMITH)
    assert problems == []
    assert {r.id: shape(r) for r in runs} == {r.id: shape(r) for r in original}


def test_langsmith_api_export_totals_on_chains_are_not_added_again(tmp_path):
    records = [orjson.loads(line) for line in open(LANGSMITH, "rb")]
    trace = next(r["trace_id"] for r in records if r["name"] == "support-weather")
    for r in records:
        if r["trace_id"] == trace and r["run_type"] == "chain":
            r.update(prompt_tokens=280, completion_tokens=30, total_cost=0.001)  # API subtree totals
    path = tmp_path / "api.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    runs, _ = read_runs(langsmith, path)
    weather = by_agent(runs)["support-weather"]
    assert weather.total("tokens_in") == 280
    assert weather.steps[0].extra["prompt_tokens"] == 280


def test_langsmith_missing_root_is_running_and_reported(tmp_path):
    lines = [line for line in open(LANGSMITH, "rb") if b'"name": "support-refund"' not in line]
    path = tmp_path / "cut.jsonl"
    path.write_bytes(b"".join(lines))
    runs, problems = read_runs(langsmith, path)
    cut = next(r for r in runs if any(s.name == "escalate" for s in r.steps))
    assert cut.status == "running"
    assert any("no root run" in p.message for p in problems)
    assert all("orphan" in s.flags for s in cut.steps if s.depth == 0)


def test_langsmith_bad_lines_are_reported_and_skipped(tmp_path):
    lines = open(LANGSMITH, "rb").read().splitlines(keepends=True)
    path = tmp_path / "partly.jsonl"
    path.write_bytes(
        lines[0] + b'{"id": "x", "run_type": "chain", "parent_run_id": "y"}\n' + b"not json\n" + b"".join(lines[1:])
    )
    runs, problems = read_runs(langsmith, path)
    assert len(runs) == 5
    assert [p.line for p in problems] == [2, 3]


def test_langsmith_file_with_nothing_usable_is_unusable(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b'{"id": "r1", "run_type": "chain", "parent_run_id": "p1"}\n{"id": 5}\n')
    assert sources.detect(str(path))[0] is langsmith
    with pytest.raises(UnusableInput, match="none of its 2 records is usable"):
        read_runs(langsmith, path)


def test_langsmith_json_array_document(tmp_path):
    records = [orjson.loads(line) for line in open(LANGSMITH, "rb")]
    path = tmp_path / "runs.json"
    path.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    assert sources.detect(str(path))[0] is langsmith
    runs, _ = read_runs(langsmith, path)
    assert len(runs) == 5


# -- OpenAI Agents SDK ----------------------------------------------------------------------


def test_agents_is_detected_from_content_not_name(tmp_path):
    renamed = tmp_path / "export.txt"
    shutil.copy(AGENTS, renamed)
    assert sources.detect(str(renamed))[0] is openai_agents
    assert sources.detect(LANGSMITH)[0] is not openai_agents


def test_agents_one_run_per_trace_with_workflow_and_group(oai_store):
    runs = oai_store.list_runs(limit=100)
    assert sorted(r.agent for r in runs) == [
        "support-blocked",
        "support-cities",
        "support-crash",
        "support-order",
        "support-triage",
    ]
    assert {r.session for r in runs} == {"fixture-session"}
    assert oai_store.problem_count() == 0
    triage = oai_store.get_run(next(r.id for r in runs if r.agent == "support-triage"))
    assert triage.metadata == {"scenario": "triage"}
    assert (triage.input, triage.output) == ("Is invoice INV-7 paid?", "Invoice INV-7 is paid: 42.00 EUR.")


def test_agents_tree_with_handoff_and_guardrail():
    runs, _ = read_runs(openai_agents, AGENTS)
    triage = by_agent(runs)["support-triage"]
    assert shape(triage) == [
        (0, "task"),
        (1, "triage"),
        (2, "turn 1 (triage)"),
        (3, "no_card_numbers"),
        (3, "fake-triage-model"),
        (3, "handoff triage -> billing"),
        (1, "billing"),
        (2, "turn 2 (billing)"),
        (3, "fake-billing-model"),
        (3, "get_invoice"),
        (2, "turn 3 (billing)"),
        (3, "fake-billing-model"),
    ]
    guard = next(s for s in triage.steps if s.raw_type == "guardrail")
    assert (guard.kind, guard.verdict, guard.status) == ("governance", "passed", "completed")
    handoff = next(s for s in triage.steps if s.raw_type == "handoff")
    assert (handoff.extra["from_agent"], handoff.extra["to_agent"]) == ("triage", "billing")


def test_agents_parallel_tool_calls_are_siblings():
    runs, _ = read_runs(openai_agents, AGENTS)
    turn = by_agent(runs)["support-cities"].steps[2]
    assert [(c.kind, c.input) for c in turn.children] == [
        ("llm", turn.children[0].input),
        ("tool", '{"city":"Paris"}'),
        ("tool", '{"city":"Oslo"}'),
    ]


def test_agents_tool_error_and_model_retry_fail_steps_not_the_run(oai_store):
    run = next(r for r in oai_store.list_runs(limit=100) if r.agent == "support-order")
    assert run.status == "completed"
    failed = [s for s in oai_store.steps(run.id) if s.failed]
    assert [(s.kind, s.name) for s in failed] == [("llm", "generation"), ("tool", "lookup_order")]
    assert failed[0].error == "Error: TimeoutError: model request timed out"
    assert failed[1].error.startswith("Error running tool (non-fatal)")
    assert first_failed(oai_store, run).id == failed[0].id


def test_agents_tripped_guardrail_fails_the_run_at_the_guardrail(oai_store):
    run = next(r for r in oai_store.list_runs(limit=100) if r.agent == "support-blocked")
    assert run.status == "failed"
    first = first_failed(oai_store, run)
    assert (first.kind, first.name, first.verdict) == ("governance", "no_card_numbers", "triggered")


def test_agents_crashing_tool_fails_the_run_at_the_tool(oai_store):
    run = next(r for r in oai_store.list_runs(limit=100) if r.agent == "support-crash")
    assert run.status == "failed"
    assert run.error == "Error in agent run: Error running tool charge_card: payment gateway unreachable"
    first = first_failed(oai_store, run)
    assert (first.kind, first.name, first.error) == (
        "tool",
        "charge_card",
        "Error running tool: payment gateway unreachable",
    )


def test_agents_tokens_from_model_calls_only_not_turn_or_task_totals():
    runs, _ = read_runs(openai_agents, AGENTS)
    triage = by_agent(runs)["support-triage"]
    assert (triage.total("tokens_in"), triage.total("tokens_out")) == (60 + 90 + 130, 8 + 14 + 16)
    task = triage.steps[0]
    assert task.tokens_in is None and task.extra["data"]["usage"]["input_tokens"] == 280
    assert task.sub_tokens_in == 280
    assert triage.total("cost_usd") is None  # the SDK records no cost
    assert by_agent(runs)["support-order"].total("tokens_in") == 70 + 110 + 150
    assert by_agent(runs)["support-blocked"].total("tokens_in") is None


def test_agents_backend_batches_and_missing_trace_record(tmp_path):
    items = [orjson.loads(line) for line in open(AGENTS, "rb")]
    crash_trace = next(i["id"] for i in items if i["object"] == "trace" and i["workflow_name"] == "support-crash")
    kept = [i for i in items if not (i["object"] == "trace" and i["id"] == crash_trace)]
    path = tmp_path / "batches.jsonl"
    path.write_bytes(orjson.dumps({"data": kept[:20]}) + b"\n" + orjson.dumps({"data": kept[20:]}) + b"\n")
    assert sources.detect(str(path))[0] is openai_agents
    runs, problems = read_runs(openai_agents, path)
    assert len(runs) == 5
    crash = next(r for r in runs if r.id == crash_trace)
    assert crash.agent is None and crash.status == "failed"
    assert [p.run_id for p in problems] == [crash_trace]


def test_agents_bad_records_reported_and_nothing_usable_is_unusable(tmp_path):
    lines = open(AGENTS, "rb").read().splitlines(keepends=True)
    partly = tmp_path / "partly.jsonl"
    partly.write_bytes(lines[0] + b'{"object": "trace.span", "id": "s1"}\n' + b"".join(lines[1:]))
    runs, problems = read_runs(openai_agents, partly)
    assert len(runs) == 5 and [p.line for p in problems] == [2]
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(b'{"object": "trace.span", "id": "s1"}\n[1, 2]\n')
    assert sources.detect(str(broken))[0] is openai_agents
    with pytest.raises(UnusableInput, match="none of its 1 records is usable"):
        read_runs(openai_agents, broken)


# -- staging --------------------------------------------------------------------------------


def test_staging_groups_in_first_seen_order_and_removes_its_file():
    with Staging() as staging:
        for i in range(5000):
            staging.add(f"t{i % 3}", {"i": i}, line=i + 1)
        groups = [(g, [rec["i"] for _, rec in records][:2], len(records)) for g, records in staging.groups()]
        path = staging.path
    assert groups == [("t0", [0, 3], 1667), ("t1", [1, 4], 1667), ("t2", [2, 5], 1666)]
    assert not os.path.exists(path)
