"""OpenAI Agents SDK traces, read from fixtures the real library wrote offline."""

from __future__ import annotations

import shutil

import orjson
import pytest
from frameworks import by_agent, fixture, opened, read_runs, shape

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.model import Run
from tracetui.sources import openai_agents

LANGSMITH = fixture("langsmith_runs.jsonl")
AGENTS = fixture("openai_agents_traces.jsonl")


def first_failed(store, run: Run):
    return store.first_failed_step(run.id)


@pytest.fixture
def oai_store():
    store = opened(AGENTS)
    yield store
    store.close()


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
    # The fixture's scripted models are not in the price table: reported once each, nothing else.
    assert [p.message.split(" is not in the price table")[0] for p in oai_store.problems()] == [
        f"model 'fake-{name}-model'" for name in ("billing", "orders", "payments", "triage", "weather")
    ]
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
