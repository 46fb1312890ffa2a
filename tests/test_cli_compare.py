import json
import sqlite3

from builders import run, step, write_jsonl, write_store
from click.testing import CliRunner

from tracetui.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def yesterday():
    return run(
        "old",
        step("plan", kind="llm", output="plan v1", tokens_in=100, tokens_out=20, duration_ms=400),
        step("gate", kind="control", raw_type="if_else", chosen_branch="then"),
        step("web_search", "gate", kind="tool", branch="then", duration_ms=600),
        step("answer", kind="llm", status="failed", error="context overflow"),
        status="failed",
        duration_ms=2000,
    )


def today():
    return run(
        "new",
        step("plan", kind="llm", output="plan v1", tokens_in=102, tokens_out=20, duration_ms=350),
        step("gate", kind="control", raw_type="if_else", chosen_branch="else"),
        step("file_read", "gate", kind="tool", branch="else", duration_ms=20),
        step("answer", kind="llm", output="42"),
        duration_ms=1500,
    )


def compare_json(*args):
    result = invoke("compare", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_compare_json_in_one_file(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [yesterday(), today()])
    out = compare_json(path, "old", "new")
    assert out["a"]["id"] == "old" and out["a"]["status"] == "failed"
    assert out["b"]["id"] == "new" and out["b"]["steps"] == 4
    assert [(p["a"] and p["a"]["name"], p["b"] and p["b"]["name"], p["depth"], p["mark"]) for p in out["pairs"]] == [
        ("plan", "plan", 0, "same"),
        ("gate", "gate", 0, "changed"),
        ("web_search", None, 1, "only_a"),
        (None, "file_read", 1, "only_b"),
        ("answer", "answer", 0, "changed"),
    ]
    gate = out["pairs"][1]
    assert gate["branch"] == {"a": "then", "b": "else"}
    assert gate["changes"] == ["chosen_branch"]
    assert out["pairs"][0]["deltas"] == {
        "duration_ms": -50,
        "tokens_in": 2,
        "tokens_out": 0,
        "credits": None,
        "cost_usd": None,
    }
    assert out["pairs"][4]["changes"] == ["status", "output", "error"]
    assert out["first_divergence"] == gate
    assert out["deltas"]["duration_ms"] == -500
    assert out["counts"] == {"same": 1, "changed": 2, "only_a": 1, "only_b": 1}


def test_compare_json_steps_use_the_field_names_of_show_json(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [yesterday(), today()])
    shown = json.loads(invoke("show", path, "old", "--json").stdout)["steps"][0]
    pair = compare_json(path, "old", "new")["pairs"][0]
    assert set(pair["a"]) == set(shown) - {"children"}
    assert pair["a"]["output"] == "plan v1"


def test_identical_runs_have_no_first_divergence(tmp_path):
    same = yesterday()
    same.id = "again"
    path = write_jsonl(tmp_path / "runs.jsonl", [yesterday(), same])
    out = compare_json(path, "old", "again")
    assert out["first_divergence"] is None
    assert {p["mark"] for p in out["pairs"]} == {"same"}


def write_agent_traces(path, rows):
    conn = sqlite3.connect(str(path))
    conn.execute(
        "CREATE TABLE agent_traces (id TEXT PRIMARY KEY, agent_id TEXT, started_at TEXT, finished_at TEXT,"
        " duration_ms INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, tool_calls TEXT,"
        " final_status TEXT, error_message TEXT)"
    )
    for row in rows:
        conn.execute(
            "INSERT INTO agent_traces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                "researcher",
                "2026-02-27T10:00:00Z",
                None,
                row["duration_ms"],
                500,
                50,
                json.dumps(row["tool_calls"]),
                row["final_status"],
                row.get("error"),
            ),
        )
    conn.commit()
    conn.close()
    return str(path)


def test_compare_across_an_agent_traces_database_and_a_jsonl_export(tmp_path):
    server = write_agent_traces(
        tmp_path / "server.db",
        [
            {
                "id": "tr-1",
                "duration_ms": 900,
                "final_status": "error",
                "error": "tool failed",
                "tool_calls": [
                    {"toolName": "web_search", "durationMs": 600, "error": None},
                    {"toolName": "file_read", "durationMs": 18, "error": "ENOENT [/tool_call]"},
                ],
            }
        ],
    )
    export = write_jsonl(
        tmp_path / "today.jsonl",
        [
            run(
                "fixed",
                step("c1", name="web_search", kind="tool", duration_ms=500),
                step("c2", name="file_read", kind="tool", duration_ms=20),
                step("c3", name="summarize", kind="llm"),
            )
        ],
    )
    out = compare_json(server, "tr-1", "--with", export, "fixed")
    assert out["a"]["id"] == "tr-1" and out["b"]["id"] == "fixed"
    assert [(p["mark"], p["changes"]) for p in out["pairs"]] == [
        ("same", []),
        ("changed", ["status", "error"]),
        ("only_b", []),
    ]
    assert out["pairs"][0]["deltas"]["duration_ms"] == -100
    assert out["first_divergence"]["a"]["error"] == "ENOENT [/tool_call]"


def test_compare_across_a_native_store_and_jsonl(tmp_path):
    store = write_store(tmp_path / "old.db", [yesterday()])
    export = write_jsonl(tmp_path / "new.jsonl", [today()])
    out = compare_json(store, "old", "--with", export, "new")
    assert [p["mark"] for p in out["pairs"]] == ["same", "changed", "only_a", "only_b", "changed"]


def test_text_output_shows_both_columns_marks_and_untrusted_text_literally(tmp_path):
    a = run(
        "a",
        step("s", name="[bold red]evil\x1b[31m", kind="tool", status="failed"),
        step("gate", kind="control", chosen_branch="then"),
    )
    b = run(
        "b",
        step("s", name="[bold red]evil\x1b[31m", kind="tool"),
        step("gate", kind="control", chosen_branch="else"),
        step("extra", kind="llm"),
    )
    path = write_jsonl(tmp_path / "runs.jsonl", [a, b])
    result = invoke("compare", path, "a", "b", "--text")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "[bold red]evil\\x1b[31m" in text
    assert "\x1b" not in text
    assert "≠ changed" in text and "+ only B" in text
    assert "A: then · B: else" in text
    assert "first divergence: row 1" in text
    lines = [line for line in text.splitlines() if line.startswith("≠ changed")]
    assert len(lines) == 2 and lines[0].count("[bold red]evil") == 2  # A and B side by side


def test_unknown_run_ids_exit_1(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [yesterday(), today()])
    other = write_jsonl(tmp_path / "other.jsonl", [today()])
    missing_a = invoke("compare", path, "nope", "new", "--json")
    assert missing_a.exit_code == 1 and "nope" in missing_a.stderr
    missing_b = invoke("compare", path, "old", "--with", other, "old", "--json")
    assert missing_b.exit_code == 1 and "old" in missing_b.stderr


def test_unusable_input_exits_2(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [yesterday(), today()])
    junk = tmp_path / "junk.txt"
    junk.write_text("not a trace at all\n")
    assert invoke("compare", tmp_path / "absent.jsonl", "old", "new").exit_code == 2
    assert invoke("compare", path, "old", "--with", junk, "new").exit_code == 2
    assert invoke("compare", path, "old").exit_code == 2  # RUN_B missing: a usage error


def test_on_a_terminal_compare_opens_the_viewer_on_the_two_runs(tmp_path, monkeypatch):
    from tracetui import cli
    from tracetui.tui import compare_app

    started = []
    monkeypatch.setattr(cli, "_on_terminal", lambda: True)
    monkeypatch.setattr(compare_app.CompareApp, "run", lambda self: started.append(self._compare))
    path = write_jsonl(tmp_path / "runs.jsonl", [yesterday(), today()])
    other = write_jsonl(tmp_path / "other.jsonl", [today()])
    assert invoke("compare", path, "old", "new").exit_code == 0
    assert started.pop() == ("old", "new")
    assert invoke("compare", path, "old", "--with", other, "new").exit_code == 0
    ref_a, ref_b = started.pop()
    assert (ref_a.run_id, ref_a.connect, ref_a.label) == ("old", None, path)
    assert (ref_b.run_id, ref_b.label) == ("new", other)
    store = ref_b.connect()
    assert store.get_run("new").id == "new"
    store.close()
    missing = invoke("compare", path, "old", "--with", other, "old")
    assert missing.exit_code == 1 and started == []  # unknown runs fail before the viewer starts
    assert json.loads(invoke("compare", path, "old", "new", "--json").stdout)["a"]["id"] == "old"
    assert started == []
