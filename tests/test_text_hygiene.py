"""CLI text output shows control, C1, bidi and zero-width characters from the data visibly (as
`\\x1b`, `\\u202e`); JSON output keeps the data intact."""

from __future__ import annotations

import json
import re

from builders import run, step
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.model import Problem, finalize_run
from tracetui.store import StoreWriter

EVIL = "\x1b]8;;x\x07a\x9b6n\x85 \u202egnp.exe\u2066\u2069 a\u200bb\ufeff\u200e\u061c\x07"
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def hostile_store(tmp_path) -> str:
    writer = StoreWriter(str(tmp_path / "evil.db"))
    for suffix in ("A", "B"):
        r = run(
            EVIL + suffix,
            step(EVIL, name=EVIL, error=EVIL, status="failed", raw_type=EVIL, chosen_branch=EVIL, branch=EVIL),
            step(EVIL + "2", EVIL, name=EVIL + suffix, verdict=EVIL),
            agent=EVIL,
            error=EVIL,
            status="failed",
            events=[EVIL],
            flags=[EVIL],
        )
        writer.add(finalize_run(r))
    writer.add_problem(Problem(EVIL, line=3))
    writer.finish()
    return str(tmp_path / "evil.db")


def test_text_output_shows_hidden_and_control_characters_visibly(tmp_path):
    db = hostile_store(tmp_path)
    for args in (
        ["list", db],
        ["show", db, EVIL + "A"],
        ["stats", db, "--by", "agent"],
        ["compare", db, EVIL + "A", EVIL + "B", "--text"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        for stream in (result.stdout, result.stderr):
            assert FORBIDDEN.findall(stream) == [], args
        assert "\\u202egnp.exe" in result.stdout, args
    assert "warning" in result.stderr and "\\x9b6n" in result.stderr


def test_json_output_keeps_the_characters(tmp_path):
    db = hostile_store(tmp_path)
    rows = json.loads(CliRunner().invoke(main, ["list", db, "--json"]).stdout)
    assert {r["agent"] for r in rows} == {EVIL}
    shown = json.loads(CliRunner().invoke(main, ["show", db, EVIL + "A", "--json"]).stdout)
    assert shown["steps"][0]["name"] == EVIL and shown["steps"][0]["children"][0]["verdict"] == EVIL


def test_a_huge_run_id_is_cut_in_the_middle_in_list_and_show(tmp_path):
    from builders import write_store

    long_id = "run-" + "x" * 100_000 + "-end"
    db = write_store(tmp_path / "long.db", [run("short", step("s")), run(long_id, step("s"), agent="a" * 5000)])
    listed = CliRunner().invoke(main, ["list", db]).stdout.splitlines()
    row = next(line for line in listed if "run-x" in line)
    assert row.startswith("✓") and "…" in row  # the status column is still there
    shown = CliRunner().invoke(main, ["show", db, long_id]).stdout.splitlines()
    assert len(shown[0]) < 250 and "-end" in shown[0] and "…" in shown[0]
    assert {r["id"] for r in json.loads(CliRunner().invoke(main, ["list", db, "--json"]).stdout)} == {long_id, "short"}


def test_messages_quote_values_one_way():
    """Every message quotes an untrusted value with jsonsafe.quoted (escapes made visible, \\xNN shown
    once), never with repr() or !r, which escape a backslash again and leave the style to chance."""
    import ast
    from pathlib import Path

    import tracetui

    allowed = {  # not messages: a fingerprint, a developer's tool and test helper, the quoting itself
        "estimates.py",
        "jsonsafe.py",
        "tui/keys_table.py",
        "tui/pilot.py",
    }
    package = Path(tracetui.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        name = path.relative_to(package).as_posix()
        if name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            as_repr = isinstance(node, ast.FormattedValue) and node.conversion == ord("r")
            calls_repr = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "repr"
            if as_repr or calls_repr:
                found.append(f"{name}:{node.lineno}")
    assert found == []
