"""Langfuse exports, read from fixtures recorded by the real Langfuse SDK (see the fixtures' README)."""

from __future__ import annotations

import shutil

import orjson
import pytest
from frameworks import by_agent, fixture, opened, read_runs, shape

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.sources import langfuse

LF_TRACE = fixture("langfuse_trace.json")
LF_TRACES = fixture("langfuse_traces.jsonl")
LF_OBSERVATIONS = fixture("langfuse_observations.jsonl")


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
