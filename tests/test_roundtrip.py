"""export -> import gives back every run and step of every sample, with nothing lost."""

import dataclasses
import json
import pathlib

import pytest
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.loading import open_store

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = sorted(
    [p for p in (ROOT / "sample_traces").iterdir() if p.suffix in (".db", ".jsonl", ".json")]
    + [
        p
        for p in (ROOT / "tests" / "fixtures" / "frameworks").iterdir()
        if p.suffix in (".jsonl", ".json", ".txt") and not p.name.startswith("requirements")
    ]
)


def everything(store):
    runs = []
    for run in store.list_runs(sort="started", desc=False):
        full = store.get_run(run.id)
        steps = [dataclasses.asdict(s) | {"children": None} for s in store.steps(run.id, payloads=True)]
        runs.append((dataclasses.asdict(full) | {"steps": None}, steps))
    return runs


def test_there_are_samples_of_every_kind():
    kinds = {open_store(str(p)).source_format for p in SAMPLES}
    assert {"tracetui-sqlite", "agent-traces", "export", "events"} <= kinds


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_export_then_import_loses_nothing(sample, tmp_path):
    original = open_store(str(sample))
    out = tmp_path / "exported.jsonl"
    result = CliRunner().invoke(main, ["export", str(sample), "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = open_store(str(out))
    assert back.source_format == "tracetui-jsonl"
    before, after = everything(original), everything(back)
    assert len(after) == original.count_runs() > 0
    assert after == before


def test_token_parts_model_and_provider_survive_export_and_import(tmp_path):
    steps = [
        {
            "agent_step_id": "call",
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
            "agent_step_id": "think",
            "step_type": "llm",
            "usage": {
                "prompt_tokens": 90,
                "completion_tokens": 30,
                "completion_tokens_details": {"reasoning_tokens": 20},
            },
        },
    ]
    source = tmp_path / "runs.jsonl"
    source.write_text(json.dumps({"run_id": "r", "status": "completed", "steps": steps}) + "\n")
    out = tmp_path / "exported.jsonl"
    assert CliRunner().invoke(main, ["export", str(source), "-o", str(out)]).exit_code == 0
    original, back = open_store(str(source)), open_store(str(out))
    assert everything(back) == everything(original)
    call = back.get_step("r", "call")
    assert (call.tokens_in, call.tokens_cache_read, call.tokens_cache_write) == (1234, 1000, 200)
    assert (call.model, call.provider) == ("claude-sonnet-4-5", "anthropic")
    assert back.get_step("r", "think").tokens_reasoning == 20
    run = back.get_run("r")
    assert (run.total("tokens_in"), run.total("tokens_cache_read"), run.total("tokens_reasoning")) == (1324, 1000, 20)
