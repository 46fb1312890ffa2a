"""list / show / stats / compare / export on every issue-10 agent fixture, as a user runs them."""

from __future__ import annotations

import json

import pytest
from agents import ATIF, MLFLOW, OPENCODE, PHOENIX, copied
from click.testing import CliRunner

from tracetui.cli import main

# fixture, a run with a failure, that failure's step id (None: found by name), another run to compare with
CASES = {
    "atif": (ATIF, "atif-run-1", "call_3", None),
    "phoenix": (PHOENIX, "000000000000000000000000000000a2", "0000000000000008", "000000000000000000000000000000a1"),
    "mlflow": (MLFLOW, None, None, None),
    "opencode": (OPENCODE, "ses_fix_parent", "call_bash", None),
}


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result


def source(name, tmp_path) -> str:
    fixture = CASES[name][0]
    return str(fixture) if fixture.suffix == ".json" else copied(fixture, tmp_path / "src")


def failing_run(path: str, name: str) -> tuple[str, str | None]:
    run_id, step_id = CASES[name][1:3]
    if run_id is None:  # MLflow's ids change with every regeneration of the fixture
        rows = json.loads(invoke("list", path, "--json").stdout)
        run_id = next(r["id"] for r in rows if r["status"] == "failed")
    return run_id, step_id


@pytest.mark.parametrize("name", sorted(CASES))
def test_list_show_and_stats(name, tmp_path):
    path = source(name, tmp_path)
    rows = json.loads(invoke("list", path, "--json").stdout)
    assert rows and all(r["steps"] > 0 for r in rows)
    run_id, step_id = failing_run(path, name)
    shown = json.loads(invoke("show", path, run_id, "--json").stdout)
    first = shown["first_failed_step"]
    assert first["status"] == "failed" and first["kind"] == "tool"
    assert step_id is None or first["id"] == step_id
    text = invoke("show", path, run_id).stdout
    assert "◀ first failure" in text
    stats = json.loads(invoke("stats", path, "--json").stdout)
    assert stats[0]["runs"] == len(rows) and stats[0]["tokens_in"] > 0


def test_untrusted_text_stays_literal_in_show(tmp_path):
    out = invoke("show", source("opencode", tmp_path), "ses_fix_parent").stdout
    assert "Fix the flaky auth test [/red] stays literal" in out
    assert "[/b] - needs a fix" in json.dumps(json.loads(invoke("show", ATIF, "atif-run-1", "--json").stdout))


@pytest.mark.parametrize("name", sorted(CASES))
def test_compare(name, tmp_path):
    path = source(name, tmp_path)
    run_id, _ = failing_run(path, name)
    other = CASES[name][3]
    if other is None:  # a run against itself: every step the same
        result = json.loads(invoke("compare", path, run_id, run_id, "--json").stdout)
        assert result["first_divergence"] is None
        return
    result = json.loads(invoke("compare", path, other, run_id, "--json").stdout)
    assert result["a"]["id"] == other and result["b"]["id"] == run_id and result["first_divergence"] is not None


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_then_import_keeps_every_run(name, tmp_path):
    path = source(name, tmp_path)
    exported = tmp_path / "out.jsonl"
    invoke("export", path, "-o", exported)
    store = tmp_path / "again.db"
    invoke("import", exported, "-o", store)
    for run in json.loads(invoke("list", path, "--json").stdout):
        original = json.loads(invoke("show", path, run["id"], "--json").stdout)
        again = json.loads(invoke("show", store, run["id"], "--json").stdout)
        for shown in (original, again):  # where the run sat: the source file, then the exported lines
            shown.pop("source_file"), shown.pop("source_line")
        assert again == original
