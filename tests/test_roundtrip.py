"""export -> import gives back every run and step of every sample, with nothing lost."""

import dataclasses
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
