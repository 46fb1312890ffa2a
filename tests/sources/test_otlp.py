"""OTLP JSON: Collector JSONL, pretty document, ConsoleSpanExporter; GenAI and OpenInference conventions.

Built on fixtures made by running pydantic-ai and LangGraph offline (tests/fixtures/frameworks/gen_otlp_*.py).
"""

from __future__ import annotations

import json

import pytest
from frameworks import fixture

from tracetui import sources
from tracetui.errors import UnusableInput
from tracetui.loading import prepare
from tracetui.model import Run

GENAI_JSONL = fixture("pydantic_ai_otlp.jsonl")
GENAI_PRETTY = fixture("pydantic_ai_otlp_pretty.json")
GENAI_CONSOLE = fixture("pydantic_ai_console.txt")
PYDANTIC_OPENINFERENCE = fixture("pydantic_ai_openinference.jsonl")
LANGGRAPH_OPENINFERENCE = fixture("langgraph_openinference.jsonl")


def open_store(path):
    opening = prepare(str(path))
    opening.run_import()
    return opening, opening.connect()


def runs_by_agent(store) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in store.list_runs():
        out.setdefault(run.agent, []).append(store.run_tree(run.id))
    return out


def shape(run: Run) -> list[tuple[int, str, str, str]]:
    return [(s.depth, s.kind, s.name, s.status) for s in run.steps]


def summary(run: Run) -> tuple:
    return (
        run.agent,
        run.status,
        run.step_count,
        run.failed_steps,
        run.total("tokens_in"),
        run.total("tokens_out"),
        round(run.total("cost_usd") or 0, 9),
        shape(run),
    )


def first_failed(store, run: Run):
    step = store.first_failed_step(run.id)
    return None if step is None else (step.name, step.error)


# ---- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [GENAI_JSONL, GENAI_PRETTY, GENAI_CONSOLE, PYDANTIC_OPENINFERENCE, LANGGRAPH_OPENINFERENCE]
)
def test_every_otlp_shape_is_detected_from_content(path, tmp_path):
    renamed = tmp_path / "trace.data"  # the name says nothing
    renamed.write_bytes(open(path, "rb").read())
    module, _ = sources.detect(str(renamed))
    assert module.NAME == "otlp"


def test_other_json_lines_are_not_taken_for_otlp(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"resource": {}, "spans": []}\n{"name": "x", "kind": "SpanKind.INTERNAL"}\n')
    head = sources.read_head(str(path))
    assert not sources.by_name("otlp").sniff(head)


# ---- OpenTelemetry GenAI (pydantic-ai), Collector JSONL ----------------------------------------


def test_collector_jsonl_one_run_per_trace_with_the_pydantic_ai_tree():
    opening, store = open_store(GENAI_JSONL)
    runs = runs_by_agent(store)
    assert opening.problems == []
    assert sorted(runs) == [
        "billing_agent",
        "lookup_agent",
        "report_agent",
        "travel_agent",
        "triage_agent",
        "weather_agent",
    ]
    assert all(len(v) == 1 for v in runs.values())
    weather = runs["weather_agent"][0]
    assert shape(weather) == [
        (0, "agent", "invoke_agent weather_agent", "completed"),
        (1, "llm", "chat weather-model", "completed"),
        (1, "tool", "execute_tool get_weather", "completed"),
        (1, "llm", "chat weather-model", "completed"),
    ]
    assert weather.session == "conv-weather"
    assert weather.metadata["service.name"] == "tracetui-fixtures"
    assert len(weather.id) == 32 and int(weather.id, 16)
    assert weather.started_at.endswith("Z") and weather.duration_ms > 0


def test_tool_error_recovered_is_a_failed_step_in_a_completed_run():
    _, store = open_store(GENAI_JSONL)
    lookup = runs_by_agent(store)["lookup_agent"][0]
    assert lookup.status == "completed"
    assert lookup.failed_steps == 1
    name, error = first_failed(store, lookup)
    assert name == "execute_tool find_user"
    assert "no user named 'ada'" in error
    failed = [s for s in lookup.steps if s.failed][0]
    assert any(e["name"] == "exception" for e in failed.events)
    assert failed.input == '{"name":"ada"}'


def test_retries_each_failed_attempt_is_its_own_failed_step():
    _, store = open_store(GENAI_JSONL)
    report = runs_by_agent(store)["report_agent"][0]
    tools = [s for s in report.steps if s.kind == "tool"]
    assert [s.status for s in tools] == ["failed", "failed", "completed"]
    assert report.status == "completed"
    assert first_failed(store, report)[1].endswith("report service busy (attempt 1)")
    assert (report.total("tokens_in"), report.total("tokens_out")) == (230, 56)


def test_failed_run_fails_at_the_root_and_f_finds_the_tool():
    _, store = open_store(GENAI_JSONL)
    billing = runs_by_agent(store)["billing_agent"][0]
    assert billing.status == "failed"
    assert billing.error == "RuntimeError: payment gateway unreachable"
    assert billing.failed_steps == 2
    assert first_failed(store, billing) == ("execute_tool charge_card", "RuntimeError: payment gateway unreachable")


def test_parallel_tool_calls_are_overlapping_siblings():
    _, store = open_store(GENAI_JSONL)
    travel = runs_by_agent(store)["travel_agent"][0]
    tools = [s for s in travel.steps if s.kind == "tool"]
    assert sorted(s.name for s in tools) == ["execute_tool get_flights", "execute_tool get_hotels"]
    assert {s.parent_id for s in tools} == {travel.steps[0].id}
    a, b = tools
    assert a.started_at <= b.ended_at and b.started_at <= a.ended_at


def test_tokens_count_once_on_model_spans_not_again_from_aggregated_usage():
    _, store = open_store(GENAI_JSONL)
    triage = runs_by_agent(store)["triage_agent"][0]
    root = triage.steps[0]
    assert shape(triage)[2:5] == [
        (1, "tool", "execute_tool ask_research", "completed"),
        (2, "agent", "invoke_agent research_agent", "completed"),
        (3, "llm", "chat research-model", "completed"),
    ]
    assert root.tokens_in is None and root.cost_usd is None
    # pydantic-ai's own aggregate leaves out the delegated agent's call; the subtree total does not.
    assert root.extra["gen_ai.aggregated_usage.input_tokens"] == 130
    assert (root.sub_tokens_in, root.sub_tokens_out) == (170, 41)
    assert (triage.total("tokens_in"), triage.total("tokens_out")) == (170, 41)
    assert triage.total("cost_usd") == pytest.approx(0.000196 + 0.000152 + 0.00032)
    assert triage.flags == []
    model_calls = [s for s in triage.steps if s.kind == "llm"]
    assert sum(s.tokens_in for s in model_calls) == 170
    assert all(s.extra["gen_ai.request.model"] for s in model_calls)


def test_payloads_are_text_from_the_genai_attributes():
    _, store = open_store(GENAI_JSONL)
    weather = runs_by_agent(store)["weather_agent"][0]
    tool = store.get_step(weather.id, weather.steps[2].id)
    assert (tool.input, tool.output) == ('{"city":"Paris"}', "sunny in Paris")
    root = store.get_step(weather.id, weather.steps[0].id)
    assert root.output == "It is sunny in Paris."
    assert "gen_ai.tool.call.arguments" not in tool.extra and tool.extra["gen_ai.tool.call.id"] == "call_w1"


# ---- the same spans in the other shapes --------------------------------------------------------


def test_console_exporter_output_reads_to_the_same_runs_as_the_collector_jsonl():
    _, jsonl = open_store(GENAI_JSONL)
    _, console = open_store(GENAI_CONSOLE)
    a = {agent: summary(r[0]) for agent, r in runs_by_agent(jsonl).items()}
    b = {agent: summary(r[0]) for agent, r in runs_by_agent(console).items()}
    assert a == b
    assert {r.id for r in console.list_runs()} == {r.id for r in jsonl.list_runs()}


def test_pretty_document_with_base64_ids_and_enum_names():
    opening, store = open_store(GENAI_PRETTY)
    runs = runs_by_agent(store)
    assert opening.problems == []
    assert sorted(runs) == ["billing_agent", "triage_agent", "weather_agent"]
    billing = runs["billing_agent"][0]
    assert billing.status == "failed" and billing.steps[-1].failed
    assert all(len(s.id) == 16 and int(s.id, 16) >= 0 for s in billing.steps)
    assert [s.extra["otel.span_kind"] for s in billing.steps] == ["INTERNAL", "CLIENT", "INTERNAL"]
    assert (runs["triage_agent"][0].total("tokens_in"), runs["triage_agent"][0].total("tokens_out")) == (170, 41)


def test_line_order_does_not_matter(tmp_path):
    reversed_file = tmp_path / "reversed.jsonl"
    lines = open(GENAI_JSONL).read().splitlines()
    reversed_file.write_text("\n".join(reversed(lines)) + "\n")
    _, a = open_store(GENAI_JSONL)
    _, b = open_store(reversed_file)
    assert {k: summary(v[0]) for k, v in runs_by_agent(a).items()} == {
        k: summary(v[0]) for k, v in runs_by_agent(b).items()
    }


# ---- OpenInference -----------------------------------------------------------------------------


def test_openinference_on_pydantic_ai_counts_the_same_tokens_once():
    _, oi = open_store(PYDANTIC_OPENINFERENCE)
    _, genai = open_store(GENAI_JSONL)
    oi_runs, genai_runs = runs_by_agent(oi), runs_by_agent(genai)
    assert sorted(oi_runs) == ["billing_agent", "lookup_agent", "travel_agent", "triage_agent", "weather_agent"]
    for agent, runs in oi_runs.items():
        assert summary(runs[0]) == summary(genai_runs[agent][0])
    weather = oi_runs["weather_agent"][0]
    root = oi.get_step(weather.id, weather.steps[0].id)
    assert (root.input, root.output) == ("Weather in Paris?", "It is sunny in Paris.")
    assert root.extra["openinference.span.kind"] == "AGENT"


def test_openinference_langgraph_runs():
    opening, store = open_store(LANGGRAPH_OPENINFERENCE)
    runs = runs_by_agent(store)
    assert opening.problems == []
    assert sorted((k, len(v)) for k, v in runs.items()) == [
        ("inventory_agent", 1),
        ("order_agent", 2),
        ("stock_agent", 1),
        ("support_router", 1),
    ]
    success, recovered = sorted(runs["order_agent"], key=lambda r: r.step_count)
    assert (success.status, success.failed_steps, success.total("tokens_in"), success.total("tokens_out")) == (
        "completed",
        0,
        60,
        20,
    )
    assert (recovered.status, recovered.failed_steps) == ("completed", 1)
    name, error = first_failed(store, recovered)
    assert name == "lookup_order" and "must look like A-123" in error
    assert (recovered.total("tokens_in"), recovered.total("tokens_out")) == (135, 30)
    assert recovered.total("cost_usd") is None

    stock = runs["stock_agent"][0]
    tools = [s for s in stock.steps if s.kind == "tool"]
    assert [s.name for s in tools] == ["stock_level", "stock_level"] and tools[0].parent_id == tools[1].parent_id

    router = runs["support_router"][0]
    assert [(d, n) for d, _, n, _ in shape(router)] == [
        (0, "support_router"),
        (1, "classify"),
        (2, "pick"),
        (1, "refund"),
        (2, "FakeMessagesListChatModel"),
    ]
    assert store.get_step(router.id, router.steps[2].id).output == "refund"

    inventory = runs["inventory_agent"][0]
    assert inventory.status == "failed" and inventory.failed_steps == 2
    name, error = first_failed(store, inventory)
    assert (name, error) == ("inventory", "ConnectionError('inventory service refused the connection')")
    failed = next(s for s in inventory.steps if s.name == "inventory")
    assert "Traceback (most recent call last)" in failed.extra["otel.status_message"]


# ---- rules, on small hand-written spans --------------------------------------------------------


def _span(span_id, parent=None, trace="5b8efff798038103d269b633813fc60c", **attrs):
    values = {k: ({"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}) for k, v in attrs.items()}
    span = {
        "traceId": trace,
        "spanId": span_id,
        "name": f"span {span_id[-1]}",
        "kind": 1,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [{"key": k, "value": v} for k, v in values.items()],
        "status": {},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _line(*spans):
    return json.dumps(
        {
            "resourceSpans": [
                {"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}
            ]
        }
    )


def test_usage_counts_on_the_innermost_span_that_reports_it(tmp_path):
    path = tmp_path / "usage.jsonl"
    path.write_text(
        _line(
            _span("00000000000000a1", **{"gen_ai.usage.input_tokens": 99, "gen_ai.usage.output_tokens": 9}),
            _span(
                "00000000000000a2",
                "00000000000000a1",
                **{"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 60, "gen_ai.usage.output_tokens": 5},
            ),
            _span(
                "00000000000000a3",
                "00000000000000a1",
                **{"llm.token_count.prompt": 39, "llm.token_count.completion": 4},
            ),
        )
        + "\n"
    )
    _, store = open_store(path)
    run = store.run_tree(store.list_runs()[0].id)
    root = run.steps[0]
    assert (run.total("tokens_in"), run.total("tokens_out")) == (99, 9)
    assert root.tokens_in is None and root.extra["gen_ai.usage.input_tokens"] == 99
    assert [s.tokens_in for s in run.steps[1:]] == [60, 39]


def test_partly_bad_file_keeps_the_good_spans_and_reports_the_rest(tmp_path):
    path = tmp_path / "partly.jsonl"
    good = _line(_span("00000000000000b1"), _span("00000000000000b2", "00000000000000b1"))
    bad_id = _line(_span("not-an-id"))
    path.write_text("\n".join([good, "{not json", bad_id, '{"resourceSpans": 3}', '{"other": 1}']) + "\n")
    opening, store = open_store(path)
    assert store.count_runs() == 1
    assert store.list_runs()[0].step_count == 2
    messages = [(p.line, p.message) for p in opening.problems]
    assert [line for line, _ in messages] == [2, 3, 4, 5]
    assert "spanId 'not-an-id'" in messages[1][1]


def test_orphan_spans_stand_in_for_a_root_that_was_never_exported(tmp_path):
    path = tmp_path / "orphan.jsonl"
    span = _span("00000000000000c2", "00000000000000c1")
    span["status"] = {"code": 2, "message": "boom"}
    path.write_text(_line(span) + "\n")
    _, store = open_store(path)
    run = store.run_tree(store.list_runs()[0].id)
    assert run.status == "failed" and run.error == "boom"
    assert run.steps[0].flags == ["orphan"]


def test_nothing_usable_is_an_unusable_input(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(_line(_span("zz", trace="nope")) + "\n")
    with pytest.raises(UnusableInput, match="no span could be read"):
        open_store(path)


def test_truncated_pretty_document_keeps_the_spans_before_the_break(tmp_path):
    text = open(GENAI_PRETTY).read()
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])
    opening, store = open_store(path)
    assert store.count_runs() >= 1
    assert any("breaks off" in p.message for p in opening.problems)


def test_base64_ids_that_begin_with_0x_are_read_as_base64(tmp_path):
    import base64

    trace = bytes([0xD3, 0x1A]) + bytes(range(1, 15))  # base64 "0xoB...": not a 0x-prefixed hex id
    span_id = bytes([0xD3, 0x1F]) + bytes(range(1, 7))
    encoded = base64.b64encode(trace).decode(), base64.b64encode(span_id).decode()
    assert encoded[0].startswith("0x") and encoded[1].startswith("0x")
    path = tmp_path / "b64.jsonl"
    path.write_text(_line(_span(encoded[1], trace=encoded[0])) + "\n" + _line(_span("0x" + "ab" * 8)) + "\n")
    _, store = open_store(path)
    assert sorted(run.id for run in store.list_runs()) == sorted([trace.hex(), "5b8efff798038103d269b633813fc60c"])
    assert store.run_tree(trace.hex()).steps[0].id == span_id.hex()
