import json
import subprocess
import sys

from builders import run, step, write_jsonl, write_store
from click.testing import CliRunner

from tracetui.cli import main

RUNS = [
    run(
        "r-1",
        step("scan", kind="scan", raw_type="input_scan", tokens_in=1),
        step("route", kind="control", raw_type="if_else", chosen_branch="then"),
        step("yes", "route", branch="then", tokens_in=10, tokens_out=5, credits=2.0),
        step("no", "route", branch="else", status="skipped"),
        step("tool", "yes", kind="tool", status="failed", error="boom [/tool_call]"),
        agent="alpha",
        status="completed",
        started_at="2026-01-01T00:00:00.000Z",
        duration_ms=100.0,
        cost_usd=0.5,
    ),
    run(
        "r-2",
        step("a", tokens_in=100),
        agent="beta",
        status="failed",
        error="bad [bold]thing",
        started_at="2026-01-02T00:00:00.000Z",
        duration_ms=300.0,
    ),
    run("r-3", agent="alpha", status="timeout", started_at="2026-01-03T00:00:00.000Z", duration_ms=200.0),
]


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_list_json_fields_and_default_order(tmp_path):
    db = write_store(tmp_path / "t.db", RUNS)
    rows = json.loads(invoke("list", db, "--json").stdout)
    assert [r["id"] for r in rows] == ["r-1", "r-2", "r-3"]
    assert set(rows[0]) == {
        "id",
        "agent",
        "status",
        "started_at",
        "duration_ms",
        "steps",
        "failed_steps",
        "tokens_in",
        "tokens_out",
        "tokens_cache_read",
        "tokens_cache_write",
        "tokens_reasoning",
        "credits",
        "cost_usd",
        "cost_estimated",
        "models",
        "error",
    }
    assert rows[0]["steps"] == 5 and rows[0]["failed_steps"] == 1 and rows[0]["tokens_in"] == 11
    assert rows[0]["credits"] == 2.0 and rows[0]["cost_usd"] == 0.5


def test_list_filters_sorts_and_limits(tmp_path):
    db = write_store(tmp_path / "t.db", RUNS)

    def ids(*args):
        return [r["id"] for r in json.loads(invoke("list", db, "--json", *args).stdout)]

    assert ids("--sort", "started", "--desc") == ["r-3", "r-2", "r-1"]
    assert ids("--sort", "duration", "--desc") == ["r-2", "r-3", "r-1"]
    assert ids("--sort", "tokens", "--desc", "--limit", "1") == ["r-2"]
    assert ids("--status", "failed", "--status", "timeout") == ["r-2", "r-3"]
    assert ids("--agent", "alpha") == ["r-1", "r-3"]
    assert ids("--search", "[bold]") == ["r-2"]


def test_list_text_shows_status_words_and_literal_errors(tmp_path):
    out = invoke("list", write_store(tmp_path / "t.db", RUNS)).stdout
    assert "✗ failed" in out and "⏱ timeout" in out and "✓ completed" in out
    assert "bad [bold]thing" in out


def test_show_text_tree_with_badges_skipped_and_first_failure(tmp_path):
    out = invoke("show", write_store(tmp_path / "t.db", RUNS), "r-1").stdout
    lines = out.splitlines()
    assert any("route" in line and "chosen: then" in line for line in lines)
    assert any("⊘ no" in line and "skipped" in line and "(branch else)" in line for line in lines)
    tool_line = next(line for line in lines if "tool" in line and "boom" in line)
    assert "boom [/tool_call]" in tool_line and "◀ first failure" in tool_line
    assert lines.index(tool_line) > lines.index(next(line for line in lines if "yes" in line))
    assert "totals: 5 steps, 1 failed" in out


def test_show_json_nested_tree_and_first_failed_step(tmp_path):
    data = json.loads(invoke("show", write_store(tmp_path / "t.db", RUNS), "r-1", "--json").stdout)
    assert data["id"] == "r-1" and data["agent"] == "alpha"
    assert [s["id"] for s in data["steps"]] == ["scan", "route"]
    route = data["steps"][1]
    assert route["chosen_branch"] == "then"
    assert [c["id"] for c in route["children"]] == ["yes", "no"]
    assert route["children"][0]["children"][0]["id"] == "tool"
    assert data["first_failed_step"]["id"] == "tool" and "children" not in data["first_failed_step"]
    assert route["sub_tokens_in"] == 10 and data["totals"]["tokens_in"] == 11


def test_show_json_run_without_steps(tmp_path):
    data = json.loads(invoke("show", write_store(tmp_path / "t.db", RUNS), "r-3", "--json").stdout)
    assert data["steps"] == [] and data["first_failed_step"] is None


def test_stats_by_agent(tmp_path):
    rows = json.loads(invoke("stats", write_store(tmp_path / "t.db", RUNS), "--by", "agent", "--json").stdout)
    alpha = next(r for r in rows if r["group"] == "alpha")
    assert alpha["runs"] == 2 and alpha["failed"] == 1 and alpha["failure_rate"] == 0.5
    assert alpha["p50_duration_ms"] == 150.0 and alpha["p95_duration_ms"] == 195.0
    assert alpha["tokens_in"] == 11 and alpha["cost_usd"] == 0.5


def test_stats_by_status_text(tmp_path):
    out = invoke("stats", write_store(tmp_path / "t.db", RUNS), "--by", "status").stdout
    assert "failed" in out and "timeout" in out and "completed" in out


def test_import_then_export_round_trip(tmp_path):
    src = write_jsonl(tmp_path / "src.jsonl", RUNS)
    out_db = tmp_path / "out.db"
    result = invoke("import", src, "-o", out_db)
    assert result.exit_code == 0 and "imported 3 runs" in result.stdout
    exported = tmp_path / "again.jsonl"
    assert invoke("export", out_db, "-o", exported).exit_code == 0
    assert json.loads(invoke("show", exported, "r-1", "--json").stdout) == json.loads(
        invoke("show", src, "r-1", "--json").stdout
    )


def test_import_refuses_to_overwrite(tmp_path):
    src = write_jsonl(tmp_path / "src.jsonl", RUNS)
    (tmp_path / "exists.db").write_bytes(b"keep me")
    result = invoke("import", src, "-o", tmp_path / "exists.db")
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert (tmp_path / "exists.db").read_bytes() == b"keep me"


def test_export_one_run_to_stdout(tmp_path):
    out = invoke("export", write_store(tmp_path / "t.db", RUNS), "--run", "r-2", "-o", "-").stdout
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["run"]["id"] for r in records] == ["r-2"]


def test_export_unknown_run_is_exit_1(tmp_path):
    result = invoke("export", write_store(tmp_path / "t.db", RUNS), "--run", "zz", "-o", tmp_path / "x.jsonl")
    assert result.exit_code == 1 and not (tmp_path / "x.jsonl").exists()


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "tracetui", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "tracetui" in result.stdout
