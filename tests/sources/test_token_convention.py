"""The token convention in every format: tokens_in counts every input token (cache reads and writes
included), tokens_out every generated token (reasoning included); the parts, the model and the
provider land on the model calls; subtree and run totals roll the parts up.

Each format is checked on its real fixture (numbers read off the fixture files by hand). The
fixtures' libraries ran without prompt caching or reasoning, so where a fixture has no parts, the
same fixture is read again with one model call's usage rewritten into the shape that library writes
when it has them (its field names and its own rule for what its counts include, cited per test).
"""

from __future__ import annotations

import json
import pathlib

from frameworks import fixture, opened, read_runs

from tracetui import usage
from tracetui.model import Run, Step, finalize_run
from tracetui.sources import (
    agent_traces,
    events,
    export,
    inspect_ai,
    langfuse,
    langsmith,
    openai_agents,
    otlp,
    smolagents,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_traces"


def parts(step: Step | Run) -> tuple:
    return (step.tokens_in, step.tokens_out, step.tokens_cache_read, step.tokens_cache_write, step.tokens_reasoning)


def sub_parts(step: Step) -> tuple:
    return (
        step.sub_tokens_in,
        step.sub_tokens_out,
        step.sub_tokens_cache_read,
        step.sub_tokens_cache_write,
        step.sub_tokens_reasoning,
    )


def run_parts(run: Run) -> tuple:
    names = ("tokens_in", "tokens_out", "tokens_cache_read", "tokens_cache_write", "tokens_reasoning")
    return tuple(run.total(name) for name in names)


def rewrite_lines(src: str, dest: pathlib.Path, change) -> str:
    """A copy of a JSON Lines fixture with change(record) applied to each line (it edits in place)."""
    with open(src) as f, open(dest, "w") as out:
        for line in f:
            if line.strip():
                record = json.loads(line)
                change(record)
                out.write(json.dumps(record) + "\n")
    return str(dest)


def model_calls(run: Run) -> list[Step]:
    return [s for s in run.steps if s.kind == "llm"]


# -- the rule itself --------------------------------------------------------------------------------


def test_cache_is_added_only_where_the_input_count_leaves_it_out():
    anthropic = usage.from_mapping(
        {"input_tokens": 34, "output_tokens": 56, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}
    )
    assert parts(anthropic) == (1234, 56, 1000, 200, None)
    openai_chat = usage.from_mapping(
        {
            "prompt_tokens": 1234,
            "completion_tokens": 56,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "completion_tokens_details": {"reasoning_tokens": 20},
        }
    )
    assert parts(openai_chat) == (1234, 56, 1000, None, 20)
    openai_responses = usage.from_mapping(
        {
            "input_tokens": 1234,
            "output_tokens": 56,
            "input_tokens_details": {"cached_tokens": 1000},
            "output_tokens_details": {"reasoning_tokens": 20},
        }
    )
    assert parts(openai_responses) == (1234, 56, 1000, None, 20)
    langchain = usage.from_mapping(
        {
            "input_tokens": 1234,
            "output_tokens": 56,
            "input_token_details": {"cache_read": 1000, "cache_creation": 0},
            "output_token_details": {"reasoning": 20},
        }
    )
    assert parts(langchain) == (1234, 56, 1000, 0, 20)


def test_gemini_thoughts_are_added_to_the_output():
    gemini = usage.from_mapping(
        {
            "prompt_token_count": 1234,
            "candidates_token_count": 36,
            "cached_content_token_count": 1000,
            "thoughts_token_count": 20,
        }
    )
    assert parts(gemini) == (1234, 56, 1000, None, 20)


def test_a_reported_total_settles_counts_that_hold_other_parts_than_the_source_usually_does():
    # Strands on Bedrock reports gen_ai.usage.input_tokens without the cache, but a total with it.
    strands = usage.counted(
        4299, 631, cache_read=35574, cache_write=17787, input_has_cache=True, output_has_reasoning=True, total=58291
    )
    assert parts(strands) == (4299 + 35574 + 17787, 631, 35574, 17787, None)
    # A total that fits the source's own rule changes nothing; one that fits no reading neither.
    as_usual = usage.counted(1234, 56, cache_read=1000, input_has_cache=True, output_has_reasoning=True, total=1290)
    assert as_usual.tokens_in == 1234
    odd = usage.counted(1234, 56, cache_read=1000, input_has_cache=True, output_has_reasoning=True, total=7)
    assert odd.tokens_in == 1234


def test_provider_and_model_split_where_the_name_is_provider_slash_model():
    assert usage.split_model("openai/gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert usage.split_model("openrouter/meta-llama/llama-3.1-8b") == ("openrouter", "meta-llama/llama-3.1-8b")
    assert usage.split_model("gpt-4o") == (None, "gpt-4o")
    assert usage.split_model(None) == (None, None)


# -- every format -------------------------------------------------------------------------------


def test_inspect_ai_model_calls_name_provider_and_model_and_keep_counts_without_cache():
    runs, _ = read_runs(inspect_ai, fixture("inspect_ai_eval.json"))
    cities = next(r for r in runs if r.id == "cities")
    calls = model_calls(cities)
    # inspect_ai_eval.json, sample "cities": two model events, usage 130/26 and 200/20, no cache.
    assert [parts(c) for c in calls] == [(130, 26, None, None, None), (200, 20, None, None, None)]
    assert {(c.provider, c.model) for c in calls} == {("mockllm", "model")}
    assert run_parts(cities)[:2] == (330, 46)  # its model_usage


def test_inspect_ai_adds_the_cache_its_input_tokens_leave_out(tmp_path):
    # Inspect's ModelUsage: "input_tokens: Input tokens charged at full rate (excludes cached tokens)";
    # reasoning_tokens are part of output_tokens; total_tokens counts the cache.
    log = json.loads(pathlib.Path(fixture("inspect_ai_eval.json")).read_text())
    cities = next(s for s in log["samples"] if s["id"] == "cities")
    first = next(e for e in cities["events"] if e["event"] == "model")
    first["output"]["usage"] = {
        "input_tokens": 30,
        "output_tokens": 26,
        "total_tokens": 30 + 26 + 80 + 20,
        "input_tokens_cache_read": 80,
        "input_tokens_cache_write": 20,
        "reasoning_tokens": 6,
        "total_cost": 0.000585,
    }
    cities["model_usage"]["mockllm/model"].update(
        input_tokens=230, input_tokens_cache_read=80, input_tokens_cache_write=20
    )
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(log))
    cities_run = next(r for r in read_runs(inspect_ai, path)[0] if r.id == "cities")
    first_call, second_call = model_calls(cities_run)
    assert parts(first_call) == (130, 26, 80, 20, 6)
    assert parts(second_call) == (200, 20, None, None, None)
    # The sample's own model_usage is the run's reported total; the steps add up to the same.
    assert parts(cities_run) == (330, 46, 80, 20, None)
    assert (cities_run.steps_tokens_in, cities_run.steps_tokens_cache_read, cities_run.steps_tokens_reasoning) == (
        330,
        80,
        6,
    )
    assert not cities_run.mismatches


def test_otlp_genai_spans_name_model_and_provider_and_count_the_cache_inside_the_input(tmp_path):
    runs, _ = read_runs(otlp, fixture("pydantic_ai_otlp.jsonl"))
    weather = next(r for r in runs if r.agent == "weather_agent")
    calls = model_calls(weather)
    # pydantic_ai_otlp.jsonl: "chat weather-model" spans, gen_ai.system/provider.name "function".
    assert [(c.model, c.provider, c.tokens_in, c.tokens_out) for c in calls] == [
        ("weather-model", "function", 50, 12),
        ("weather-model", "function", 80, 20),
    ]

    def cached(record):
        for rs in record["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    attrs = {a["key"]: a for a in span["attributes"]}
                    if attrs.get("gen_ai.usage.input_tokens", {}).get("value") == {"intValue": "80"}:
                        # pydantic-ai's RequestUsage.opentelemetry_attributes(): input_tokens holds the cache.
                        span["attributes"] += [
                            {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "64"}},
                            {"key": "gen_ai.usage.cache_creation.input_tokens", "value": {"intValue": "8"}},
                            {"key": "gen_ai.usage.details.reasoning_tokens", "value": {"intValue": "5"}},
                        ]

    path = rewrite_lines(fixture("pydantic_ai_otlp.jsonl"), tmp_path / "otlp.jsonl", cached)
    weather = next(r for r in read_runs(otlp, path)[0] if r.agent == "weather_agent")
    assert [parts(c) for c in model_calls(weather)] == [(50, 12, None, None, None), (80, 20, 64, 8, 5)]
    assert run_parts(weather) == (130, 32, 64, 8, 5)
    top = next(s for s in weather.steps if s.parent_id is None)
    assert sub_parts(top) == (130, 32, 64, 8, 5)


def test_otlp_openinference_spans_take_the_prompt_details_as_parts(tmp_path):
    runs, _ = read_runs(otlp, fixture("langgraph_openinference.jsonl"))
    order = next(r for r in runs if r.agent == "order_agent")
    calls = model_calls(order)
    # langgraph_openinference.jsonl: llm.provider "fakemessageslistchatmodel", no llm.model_name.
    assert {(c.provider, c.model) for c in calls} == {("fakemessageslistchatmodel", None)}
    assert [(c.tokens_in, c.tokens_out) for c in calls] == [(30, 10), (30, 10)]

    def cached(record):
        for rs in record["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    if any(a["key"] == "llm.token_count.prompt" for a in span["attributes"]):
                        # OpenInference: llm.token_count.prompt includes the prompt_details.
                        span["attributes"] += [
                            {"key": "llm.token_count.prompt_details.cache_read", "value": {"intValue": "24"}},
                            {"key": "llm.token_count.completion_details.reasoning", "value": {"intValue": "4"}},
                        ]

    path = rewrite_lines(fixture("langgraph_openinference.jsonl"), tmp_path / "oi.jsonl", cached)
    order = next(r for r in read_runs(otlp, path)[0] if r.agent == "order_agent")
    assert [parts(c) for c in model_calls(order)] == [(30, 10, 24, None, 4), (30, 10, 24, None, 4)]
    assert run_parts(order) == (60, 20, 48, None, 8)


def test_langsmith_llm_runs_name_the_provider_and_keep_usage_metadata_details(tmp_path):
    runs, _ = read_runs(langsmith, fixture("langsmith_runs.jsonl"))
    weather = next(r for r in runs if r.agent == "support-weather")
    calls = model_calls(weather)
    # langsmith_runs.jsonl: ls_provider "genericfakechatmodel", no ls_model_name; usage 120/18 and 160/12.
    assert [(c.provider, c.model, c.tokens_in, c.tokens_out) for c in calls] == [
        ("genericfakechatmodel", None, 120, 18),
        ("genericfakechatmodel", None, 160, 12),
    ]

    def cached(record):
        meta = record.get("extra", {}).get("metadata", {})
        if record["run_type"] == "llm" and meta.get("usage_metadata", {}).get("input_tokens") == 160:
            # LangChain's UsageMetadata: input_tokens is the sum of all input types, details a breakdown.
            meta["usage_metadata"]["input_token_details"] = {"cache_read": 100, "cache_creation": 0}
            meta["usage_metadata"]["output_token_details"] = {"reasoning": 4}
            meta["ls_model_name"] = "gpt-4o-mini"

    path = rewrite_lines(fixture("langsmith_runs.jsonl"), tmp_path / "ls.jsonl", cached)
    weather = next(r for r in read_runs(langsmith, path)[0] if r.agent == "support-weather")
    first, second = model_calls(weather)
    assert parts(first) == (120, 18, None, None, None)
    assert parts(second) == (160, 12, 100, 0, 4) and second.model == "gpt-4o-mini"
    assert run_parts(weather) == (280, 30, 100, 0, 4)


def test_openai_agents_generation_spans_keep_the_cached_and_reasoning_counts_inside(tmp_path):
    runs, _ = read_runs(openai_agents, fixture("openai_agents_traces.jsonl"))
    triage = next(r for r in runs if r.agent == "support-triage")
    calls = model_calls(triage)
    # openai_agents_traces.jsonl: usage input_tokens_details.cached_tokens 0, reasoning_tokens 0.
    assert [(c.model, *parts(c)) for c in calls][:2] == [
        ("fake-triage-model", 60, 8, 0, 0, 0),
        ("fake-billing-model", 90, 14, 0, 0, 0),
    ]

    def cached(record):
        data = record.get("span_data") or {}
        if data.get("type") == "generation" and data.get("model") == "fake-triage-model":
            # The SDK's Usage: input_tokens are all tokens sent, input_tokens_details a breakdown.
            data["usage"]["input_tokens_details"] = {"cached_tokens": 40, "cache_write_tokens": 0}
            data["usage"]["output_tokens_details"] = {"reasoning_tokens": 3}

    path = rewrite_lines(fixture("openai_agents_traces.jsonl"), tmp_path / "oa.jsonl", cached)
    triage = next(r for r in read_runs(openai_agents, path)[0] if r.agent == "support-triage")
    assert parts(model_calls(triage)[0]) == (60, 8, 40, 0, 3)
    assert run_parts(triage)[:2] == (280, 38) and run_parts(triage)[2] == 40


def test_langfuse_generations_sum_their_disjoint_usage_types(tmp_path):
    trace = json.loads(pathlib.Path(fixture("langfuse_trace.json")).read_text())
    run = read_runs(langfuse, fixture("langfuse_trace.json"))[0][0]
    calls = model_calls(run)
    # langfuse_trace.json: generations of model "gpt-fixture", usageDetails input/output only.
    assert {c.model for c in calls} == {"gpt-fixture"} and all(c.provider is None for c in calls)
    assert [(c.tokens_in, c.tokens_out, c.tokens_cache_read) for c in calls][:2] == [(110, 0, None), (110, 15, None)]
    # Langfuse's SDKs subtract the detail types from "input"/"output" (its usage types are disjoint and
    # add up to the total), so a generation that read 110 tokens, 80 of them cached, says:
    generation = next(o for o in trace["observations"] if o["id"] == calls[1].id)
    generation["usageDetails"] = {
        "input": 30,
        "input_cache_read": 80,
        "output": 12,
        "output_reasoning": 3,
        "total": 125,
    }
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace))
    run = read_runs(langfuse, path)[0][0]
    assert parts(next(s for s in run.steps if s.id == calls[1].id)) == (110, 15, 80, None, 3)
    # Types that overlap instead (an input that already holds its cache) are told by the total.
    generation["usageDetails"] = {"input": 110, "input_cache_read": 80, "output": 15, "total": 125}
    path.write_text(json.dumps(trace))
    run = read_runs(langfuse, path)[0][0]
    assert parts(next(s for s in run.steps if s.id == calls[1].id)) == (110, 15, 80, None, None)


def test_smolagents_model_calls_carry_the_agents_model_id():
    runs, _ = read_runs(smolagents, fixture("smolagents_runs.jsonl"))
    weather = next(r for r in runs if r.agent == "weather")
    calls = model_calls(weather)
    # smolagents_runs.jsonl, "weather": model_id "scripted-weather", token_usage 120/18 and 160/12.
    assert [(c.model, c.tokens_in, c.tokens_out) for c in calls] == [
        ("scripted-weather", 120, 18),
        ("scripted-weather", 160, 12),
    ]
    assert all("model_id" not in c.extra for c in calls)
    manager = next(r for r in runs if r.agent == "manager")
    assert {c.model for c in model_calls(manager)} == {"scripted-manager", "scripted-billing"}


def test_export_usage_objects_are_read_in_their_providers_shape(tmp_path):
    runs, _ = read_runs(export, SAMPLES / "export.jsonl")
    # sample_traces/export.jsonl: OpenAI-shaped usage {prompt_tokens, completion_tokens, total_tokens}.
    first = next(s for r in runs for s in r.steps if s.tokens_in is not None)
    assert first.tokens_cache_read is None and first.extra.get("usage", {}).keys() <= {"total_tokens"}
    path = tmp_path / "runs.jsonl"
    steps = [
        {
            "agent_step_id": "claude",
            "step_type": "llm",
            "model": "claude-sonnet-4-5",
            "provider": "anthropic",
            "usage": {
                "input_tokens": 34,
                "output_tokens": 56,
                "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 200,
            },
        },
        {
            "agent_step_id": "gpt",
            "step_type": "llm",
            "usage": {
                "prompt_tokens": 500,
                "completion_tokens": 60,
                "total_tokens": 560,
                "prompt_tokens_details": {"cached_tokens": 300},
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        },
    ]
    path.write_text(json.dumps({"run_id": "r", "status": "completed", "steps": steps}) + "\n")
    (run,), problems = read_runs(export, path)
    assert problems == []
    claude, gpt = run.steps
    assert parts(claude) == (1234, 56, 1000, 200, None)
    assert (claude.model, claude.provider) == ("claude-sonnet-4-5", "anthropic") and "usage" not in claude.extra
    assert parts(gpt) == (500, 60, 300, None, 20) and gpt.extra == {"usage": {"total_tokens": 560}}
    assert run_parts(run) == (1734, 116, 1300, 200, 20)


def test_events_and_agent_traces_count_as_they_are_and_have_no_parts(tmp_path):
    store = opened(SAMPLES / "events.jsonl")
    run = store.list_runs(limit=1)[0]
    assert run.total("tokens_in") is not None and run.total("tokens_cache_read") is None
    assert all(s.tokens_cache_read is None and s.model is None for s in store.steps(run.id))
    traces = opened(SAMPLES / "agent_traces.db")
    first = traces.list_runs(limit=1)[0]
    assert first.tokens_in is not None and run_parts(first)[2:] == (None, None, None)
    assert events.NAME and agent_traces.NAME  # both read through the same store columns


def test_parts_and_model_survive_the_store_and_roll_up_in_it(tmp_path):
    path = tmp_path / "runs.jsonl"
    steps = [
        {
            "agent_step_id": "turn",
            "step_type": "agent",
            "child_steps": [
                {
                    "agent_step_id": "call",
                    "step_type": "llm",
                    "model": "claude-sonnet-4-5",
                    "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 90},
                }
            ],
        }
    ]
    path.write_text(json.dumps({"run_id": "r", "status": "completed", "steps": steps}) + "\n")
    store = opened(path)
    run = store.get_run("r")
    assert run_parts(run) == (100, 5, 90, None, None)
    turn, call = store.steps("r")
    assert sub_parts(turn) == (100, 5, 90, None, None) and parts(turn) == (None,) * 5
    assert call.model == "claude-sonnet-4-5" and parts(call) == (100, 5, 90, None, None)
    assert store.models(["r"]) == {"r": ["claude-sonnet-4-5"]}


def test_finalize_run_rolls_the_parts_up_like_the_other_totals():
    run = Run(
        id="r",
        steps=[
            Step(id="a", tokens_in=10, tokens_cache_read=4),
            Step(id="b", parent_id="a", tokens_in=5, tokens_cache_write=2, tokens_reasoning=1),
            Step(id="c", tokens_out=3, tokens_reasoning=2),
        ],
    )
    finalize_run(run)
    a, b, c = run.steps
    assert sub_parts(a) == (15, None, 4, 2, 1)
    assert (run.steps_tokens_cache_read, run.steps_tokens_cache_write, run.steps_tokens_reasoning) == (4, 2, 3)
    run.tokens_cache_read = 5  # a reported part that the steps do not add up to is flagged like a total
    assert run.mismatches == {"tokens_cache_read": (5, 4)}


def test_list_and_show_json_carry_the_models_and_the_token_parts():
    from click.testing import CliRunner

    from tracetui.cli import main

    path = fixture("openai_agents_traces.jsonl")
    rows = json.loads(CliRunner().invoke(main, ["list", path, "--json"]).stdout)
    triage = next(r for r in rows if r["agent"] == "support-triage")
    assert triage["models"] == ["fake-billing-model", "fake-triage-model"]
    assert (triage["tokens_in"], triage["tokens_cache_read"], triage["tokens_reasoning"]) == (280, 0, 0)
    shown = json.loads(CliRunner().invoke(main, ["show", path, triage["id"], "--json"]).stdout)
    assert shown["models"] == triage["models"] and shown["totals"]["tokens_cache_write"] == 0

    def calls(steps):
        for s in steps:
            yield from ([s] if s["kind"] == "llm" else [])
            yield from calls(s["children"])

    assert {(c["model"], c["tokens_cache_read"]) for c in calls(shown["steps"])} == {
        ("fake-triage-model", 0),
        ("fake-billing-model", 0),
    }


def test_a_total_that_is_no_number_is_noted_whether_or_not_there_are_parts():
    from tracetui import normalize, usage

    normalize.take_notes()
    for parts in ({}, {"cache_read": 5}):
        usage.counted(1, 2, total=float("nan"), input_has_cache=True, output_has_reasoning=True, **parts)
        assert normalize.take_notes() == ["the number nan is not finite; left out"]
