"""`tracetui show --format text|json|markdown`, `--json` as before, `--step`, `--max-payload`, exit codes."""

import json

import pytest
from builders import run, step, write_jsonl, write_store
from click.testing import CliRunner
from markdown_it import MarkdownIt

from tracetui.cli import main

RUNS = [
    run(
        "r-1",
        step("plan", kind="llm", model="gpt-4o-mini", tokens_in=100, tokens_out=10, input="hi ``` there"),
        step("tool", "plan", kind="tool", status="failed", error="boom [/tool_call]", output="x" * 10_000),
        step("last"),
        agent="alpha",
        status="failed",
        started_at="2026-01-01T00:00:00.000Z",
        duration_ms=100.0,
    ),
]


def invoke(*args, code=0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def db(tmp_path):
    return write_store(tmp_path / "t.db", RUNS)


def test_format_json_is_the_json_option(db):
    as_format = invoke("show", db, "r-1", "--format", "json").stdout
    assert as_format == invoke("show", db, "r-1", "--json").stdout
    assert invoke("show", db, "r-1", "--json", "--format", "json").stdout == as_format
    doc = json.loads(as_format)
    assert [s["id"] for s in doc["steps"]] == ["plan", "last"] and doc["first_failed_step"]["id"] == "tool"
    assert "subtree_of" not in doc


def test_format_text_is_the_default(db):
    text = invoke("show", db, "r-1", "--format", "text").stdout
    assert text == invoke("show", db, "r-1").stdout
    assert "◀ first failure" in text and text.startswith("✗ failed  run r-1")


def test_format_markdown(db):
    out = invoke("show", db, "r-1", "--format", "markdown").stdout
    assert out.startswith("# ✗ failed · run `r-1`\n")
    tokens = MarkdownIt("commonmark").parse(out)
    blocks = [t.content for t in tokens if t.type == "fence"]
    assert "hi ``` there\n" in blocks and "boom [/tool_call]\n" in blocks
    assert ("x" * 4096 + "\n") in blocks and "*… cut: 5.8 KB more (0 more lines)" in out
    whole = invoke("show", db, "r-1", "--format", "markdown", "--max-payload", "0").stdout
    assert "x" * 10_000 + "\n" in [t.content for t in MarkdownIt("commonmark").parse(whole) if t.type == "fence"]
    short = invoke("show", db, "r-1", "--format", "markdown", "--max-payload", "5").stdout
    assert "```text\nxxxxx\n```" in short


def test_an_input_format_and_an_output_format_together(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", RUNS)
    out = invoke("show", src, "r-1", "--format", "tracetui-jsonl", "--format", "markdown", "--no-cache").stdout
    assert out.startswith("# ✗ failed · run `r-1`")
    again = invoke("show", src, "r-1", "--format", "markdown", "--format", "tracetui-jsonl", "--no-cache").stdout
    assert again == out


def test_step_shows_a_subtree_in_every_format(db):
    text = invoke("show", db, "r-1", "--step", "plan").stdout
    assert "plan" in text and "tool" in text and "last" not in text and "totals:" not in text
    doc = json.loads(invoke("show", db, "r-1", "--step", "plan", "--format", "json").stdout)
    assert doc["subtree_of"] == "plan" and [s["id"] for s in doc["steps"]] == ["plan"]
    assert [c["id"] for c in doc["steps"][0]["children"]] == ["tool"]
    markdown = invoke("show", db, "r-1", "--step", "tool", "--format", "markdown").stdout
    assert markdown.startswith("# ✗ failed · step `tool` · tool\n") and "`last`" not in markdown


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--format", "bogus"), 2, "or an output format: text, json, markdown"),
        (("--format", "json", "--format", "markdown"), 2, "at most one output format"),
        (("--json", "--format", "markdown"), 2, "--json and --format markdown disagree"),
        (("--max-payload", "-1"), 2, "--max-payload"),
        (("--step", "nope"), 1, "tracetui: no step 'nope' in run 'r-1'"),
    ],
)
def test_bad_options_exit_with_one_message(db, args, code, message):
    result = invoke("show", db, "r-1", *args, code=code)
    assert message in result.stderr and result.stdout == ""


def test_an_unknown_run_exits_1_in_every_format(db):
    for fmt in ("text", "json", "markdown"):
        result = invoke("show", db, "nope", "--format", fmt, code=1)
        assert result.stderr.startswith("tracetui: ") and result.stderr.count("\n") == 1
