"""Each coding-agent session format through list, show, stats, compare and export."""

from __future__ import annotations

import json

import pytest
from agents import CODEX_FORK, CODEX_MAIN, GEMINI_JSON, GEMINI_JSONL, claude
from click.testing import CliRunner

from tracetui.cli import main

# (file, run id, steps, failed steps, tokens in, tokens out, first failed step)
CASES = {
    "claude-code": (claude(1), "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01", 23, 2, 10155, 503, "toolu_bash1"),
    "codex": (CODEX_MAIN, "019b8a10-0000-7000-8000-000000000001", 25, 4, 41900, 1130, "call_2"),
    "gemini-cli": (GEMINI_JSON, "3f2a9c1d-0000-4000-8000-000000000001", 9, 2, 12900, 460, "run_shell_command-2-b"),
}
# Another run of the same format to compare with.
OTHER = {
    "claude-code": (claude(2), "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02"),
    "codex": (CODEX_FORK, "019b8a10-0000-7000-8000-000000000004"),
    "gemini-cli": (GEMINI_JSONL, "7c1e2b3a-0000-4000-8000-000000000002"),
}


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.parametrize("fmt", CASES)
def test_list_shows_the_session_as_one_run_with_its_totals(fmt):
    path, run_id, steps, failed, tokens_in, tokens_out, _ = CASES[fmt]
    rows = json.loads(invoke("list", path, "--json").stdout)
    assert [(r["id"], r["steps"], r["failed_steps"], r["tokens_in"], r["tokens_out"]) for r in rows] == [
        (run_id, steps, failed, tokens_in, tokens_out)
    ]


@pytest.mark.parametrize("fmt", CASES)
def test_show_gives_the_tree_and_its_first_failure(fmt):
    path, run_id, steps, _, tokens_in, _, first = CASES[fmt]
    data = json.loads(invoke("show", path, run_id, "--json").stdout)
    assert data["first_failed_step"]["id"] == first and data["totals"]["tokens_in"] == tokens_in

    def count(nodes):
        return sum(1 + count(n.get("children", [])) for n in nodes)

    assert count(data["steps"]) == steps
    text = invoke("show", path, run_id).stdout
    assert "◀ first failure" in text and "first failed step: " in text and f"({first})" in text


def test_show_text_has_the_fork_badges_the_subagent_and_the_prompt_literally():
    text = invoke("show", claude(1), "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01").stdout
    assert "Add a /health endpoint to app.py [bold]not markup[/bold]" in text
    assert "chosen: attempt 2" in text and "(branch attempt 1)" in text and "⊘ skipped" in text
    assert "general-purpose  [agent:subagent]" in text


@pytest.mark.parametrize("fmt", CASES)
def test_stats_count_the_run_and_its_tokens(fmt):
    path, _, _, _, tokens_in, tokens_out, _ = CASES[fmt]
    (row,) = json.loads(invoke("stats", path, "--json").stdout)
    assert (row["runs"], row["tokens_in"], row["tokens_out"]) == (1, tokens_in, tokens_out)


@pytest.mark.parametrize("fmt", CASES)
def test_compare_with_another_session_of_the_format(fmt):
    path, run_id = CASES[fmt][:2]
    other, other_id = OTHER[fmt]
    same = json.loads(invoke("compare", path, run_id, "--with", path, run_id, "--json").stdout)
    assert same["first_divergence"] is None and {p["mark"] for p in same["pairs"]} == {"same"}
    result = invoke("compare", path, run_id, "--with", other, other_id, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert (data["a"]["id"], data["b"]["id"]) == (run_id, other_id) and data["first_divergence"] is not None


@pytest.mark.parametrize("fmt", CASES)
def test_export_round_trips_through_tracetuis_own_jsonl(fmt, tmp_path):
    path, run_id = CASES[fmt][:2]
    exported = tmp_path / "out.jsonl"
    assert invoke("export", path, "-o", exported).exit_code == 0
    assert json.loads(invoke("show", exported, run_id, "--json").stdout) == json.loads(
        invoke("show", path, run_id, "--json").stdout
    )
