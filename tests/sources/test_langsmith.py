"""LangSmith / LangGraph runs, read from fixtures the real libraries wrote offline."""

from __future__ import annotations

import shutil

import orjson
import pytest
from frameworks import by_agent, fixture, opened, read_runs, shape

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.model import Run
from tracetui.sources import langsmith

LANGSMITH = fixture("langsmith_runs.jsonl")
AGENTS = fixture("openai_agents_traces.jsonl")


def first_failed(store, run: Run):
    return store.first_failed_step(run.id)


@pytest.fixture
def ls_store():
    store = opened(LANGSMITH)
    yield store
    store.close()


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
