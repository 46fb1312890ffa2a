"""Unusable input: one clear line on stderr naming the file and the problem, exit 2, no traceback."""

import hashlib
import os
import sqlite3

import pytest
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def assert_unusable(result, path, problem):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tracetui: {path}: ")
    assert problem in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.jsonl")
    assert_unusable(invoke("list", path), path, "no such file")


def test_directory(tmp_path):
    assert_unusable(invoke("list", str(tmp_path)), str(tmp_path), "is a directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert_unusable(invoke("list", str(path)), str(path), "the file is empty")


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "secret.jsonl"
    path.write_text("{}")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(path) else real_access(p, mode))
    assert_unusable(invoke("list", str(path)), str(path), "permission denied")


def test_sqlite_that_is_not_a_trace_store_names_its_tables(tmp_path):
    path = tmp_path / "checkpoints.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE checkpoints (thread_id TEXT, checkpoint BLOB)")
    conn.execute("CREATE TABLE writes (thread_id TEXT)")
    conn.commit()
    conn.close()
    assert_unusable(invoke("list", str(path)), str(path), "not a trace store (tables found: checkpoints, writes)")


def test_corrupt_sqlite(tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    assert_unusable(invoke("list", str(path)), str(path), "corrupt or unreadable SQLite database")


def test_binary_junk(tmp_path):
    path = tmp_path / "junk.bin"
    path.write_bytes(bytes(range(256)) * 8)
    assert_unusable(invoke("list", str(path)), str(path), "binary data")


def test_plain_text(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("hello world\n")
    assert_unusable(invoke("show", str(path), "r1"), str(path), "no trace format recognised")


def test_json_that_is_no_trace_format(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"name": "x", "version": 3}\n')
    assert_unusable(invoke("stats", str(path)), str(path), "not a trace format tracetui knows")


def test_unknown_run_is_exit_1(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    result = invoke("show", src, "r9")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"tracetui: no run 'r9' in {src}"


def test_partly_bad_jsonl_loads_the_good_and_reports_the_rest_by_line(tmp_path):
    path = tmp_path / "runs.jsonl"
    write_jsonl(path, [run("r1", step("a")), run("r2")])
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"tracetui": 1, "run": {"id": "r3", "steps": [{"id": 5}]}}\n')
        f.write(b"[1, 2]\n")
        f.write(b'{"tracetui": 1, "run": {"id": "r4", "ste')
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = invoke("list", str(path), "--json")
    assert result.exit_code == 0
    assert "r1" in result.stdout and "r2" in result.stdout and "r4" not in result.stdout
    # One bad value does not cost the run (issue 9): the number is kept as the step's id, and said so.
    assert "r3" in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert warnings[0] == f"tracetui: warning: {path}: line 3: run 'r3', step '5': id: 5 is not text: kept as '5'"
    assert "line 4: skipped: expected a JSON object" in warnings[1]
    assert "line 5: skipped: invalid JSON" in warnings[2] and "truncated" in warnings[2]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert good == path.read_bytes()[: len(good)]


@pytest.mark.parametrize("command", ["list", "show", "stats", "export"])
def test_every_command_gives_the_same_clear_error(tmp_path, command):
    path = str(tmp_path / "gone.db")
    args = {"list": [path], "show": [path, "r"], "stats": [path], "export": [path, "-o", str(tmp_path / "o.jsonl")]}
    assert_unusable(invoke(command, *args[command]), path, "no such file")


def test_orphan_and_cycle_steps_load_under_the_root_and_are_reported(tmp_path):
    path = write_jsonl(
        tmp_path / "runs.jsonl",
        [
            run("r1", step("a"), step("lost", "gone")),
            run("r2", step("x", "y"), step("y", "x")),
        ],
    )
    result = invoke("list", path, "--json")
    assert result.exit_code == 0 and '"r1"' in result.stdout and '"r2"' in result.stdout
    warnings = result.stderr.strip().splitlines()
    assert warnings == [
        f"tracetui: warning: {path}: line 1: run 'r1': step 'lost' names parent 'gone', which is not in the run;"
        " shown under the run root",
        f"tracetui: warning: {path}: line 2: run 'r2': step 'x' is in a loop of parent links; shown under the run root",
        f"tracetui: warning: {path}: line 2: run 'r2': step 'y' is in a loop of parent links; shown under the run root",
    ]
    shown = invoke("show", path, "r1").stdout
    assert "⚑ orphan" in shown and shown.index("lost") > shown.index("a  [")
