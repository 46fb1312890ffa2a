"""The hostile-input corpus (tests/hostile/): every command on every case, with the outcome cases.toml expects.

The promise checked for every command: the expected exit code, no traceback, no raw control
character on stdout or stderr, JSON output that parses, and `export` output that imports again with
the same runs and nothing to report.
"""

from __future__ import annotations

import re
import tomllib
import traceback
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result
from hostile.makers import MAKERS

from tracetui import jsonsafe
from tracetui.cli import main

HERE = Path(__file__).parent / "hostile"
CASES = tomllib.loads((HERE / "cases.toml").read_text(encoding="utf-8"))["case"]
COMMANDS = ("list", "show", "stats", "export", "compare", "import")
# Raw C0 (but tab and newline), DEL and C1: what a terminal may act on.
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
WARNING = "tracetui: warning: "
MAX_SHOWN = 3  # runs shown per case: enough to reach the odd one without making the corpus slow


def test_cases_are_well_formed():
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    known = {"name", "about", "issue_class", "file", "make", "exit", "runs", "problems", "warnings", "stderr"}
    known |= {"commands", "args", "env", "models", "grep"}
    listed = set()
    for case in CASES:
        assert not set(case) - known, f"{case['name']}: unknown keys {set(case) - known}"
        assert case.get("about"), f"{case['name']}: say what is hostile about it"
        assert ("file" in case) != ("make" in case), f"{case['name']}: give either file or make"
        assert set(case.get("commands", COMMANDS)) <= set(COMMANDS), case["name"]
        if "file" in case:
            assert (HERE / "files" / case["file"]).is_file(), f"{case['name']}: no file {case['file']}"
            listed.add(case["file"])
        else:
            assert case["make"] in MAKERS, f"{case['name']}: no maker {case['make']!r} in hostile/makers.py"
    on_disk = {p.name for p in (HERE / "files").iterdir()}
    assert on_disk <= listed, f"files without a case: {sorted(on_disk - listed)}"


class Cli:
    """Runs tracetui commands in this process and checks what every command must do."""

    def __init__(self, case: dict, path: str):
        self.case, self.path = case, path
        self.args = list(case.get("args", []))
        self.exit = case.get("exit", 0)

    def __call__(self, *args: str, exit: int | None = None) -> Result:
        result = CliRunner().invoke(main, [*args, *self.args], catch_exceptions=True)
        where = f"{self.case['name']}: tracetui {' '.join(args)}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            detail = "".join(traceback.format_exception(result.exception))
            pytest.fail(f"{where} raised:\n{detail}")
        for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            assert "Traceback" not in text, f"{where}: traceback on {stream}:\n{text}"
            raw = RAW_CONTROL.search(text)
            assert raw is None, f"{where}: raw control character {raw.group()!r} on {stream}" if raw else ""
        expected = self.exit if exit is None else exit
        assert result.exit_code == expected, f"{where}: exit {result.exit_code}, not {expected}\n{result.stderr}"
        return result

    def json(self, *args: str) -> object:
        return strict_json(self(*args, "--json").stdout_bytes, f"{self.case['name']}: tracetui {' '.join(args)} --json")


def strict_json(data: bytes, what: str) -> object:
    """The JSON value of data, which must be JSON as it is (any depth: deeper than orjson reads is fine)."""
    try:
        value, repairs = jsonsafe.loads(data)
    except orjson.JSONDecodeError as exc:
        pytest.fail(f"{what} wrote invalid JSON: {exc}")
    assert not repairs, f"{what} wrote JSON that needed repairs: {repairs}"
    return value


def case_input(case: dict, tmp_path: Path) -> str:
    if "make" in case:
        return MAKERS[case["make"]](tmp_path)
    return str(HERE / "files" / case["file"])


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_hostile_case(case, tmp_path, monkeypatch):
    for key, value in case.get("env", {}).items():
        monkeypatch.setenv(key, value)
    path = case_input(case, tmp_path)
    cli = Cli(case, path)
    commands = case.get("commands", COMMANDS)
    if cli.exit != 0:
        for command in commands:
            extra = ["RUN"] if command == "show" else ["RUN", "RUN"] if command == "compare" else []
            extra += ["-o", str(tmp_path / "out.jsonl")] if command == "export" else []
            extra += ["-o", str(tmp_path / "out.db")] if command == "import" else []
            result = cli(command, path, *extra)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, f"{case['name']}: {command}: one line on stderr, not:\n{result.stderr}"
            assert re.search(case["stderr"], lines[0]), f"{case['name']}: {command}: {lines[0]}"
        return

    listing = cli("list", path)
    warnings = [line for line in listing.stderr.splitlines() if line.startswith(WARNING)]
    for pattern in case.get("problems", []):
        assert any(re.search(pattern, line) for line in warnings), f"{case['name']}: no warning matches {pattern!r}"
    if "warnings" in case:
        assert len(warnings) == case["warnings"], f"{case['name']}: warnings:\n" + "\n".join(warnings)
    runs = cli.json("list", path)
    assert isinstance(runs, list)
    if "runs" in case:
        assert len(runs) == case["runs"], f"{case['name']}: {len(runs)} runs listed"
    ids = [run["id"] for run in runs]
    for query, found in case.get("grep", {}).items():
        listed = cli.json("list", path, "--grep", query)
        assert isinstance(listed, list) and len(listed) == found, f"{case['name']}: list --grep {query!r}"
        assert cli("list", path, "--grep", query, "--steps").stdout, f"{case['name']}: list --grep {query!r} --steps"
    if "show" in commands:
        for run_id in ids[:MAX_SHOWN]:
            cli("show", path, run_id)
            shown = cli.json("show", path, run_id)
            assert isinstance(shown, dict) and shown["id"] == run_id
            _check_markdown(cli, path, run_id)
    if "stats" in commands:
        cli("stats", path)
        cli.json("stats", path)
        by_model = cli.json("stats", path, "--by", "model")
        if "models" in case:
            assert isinstance(by_model, list)
            assert {g["group"]: g["calls"] for g in by_model} == case["models"], f"{case['name']}: stats --by model"
    if "export" in commands:
        _check_export(cli, path, ids, tmp_path)
    if "compare" in commands and ids:
        a, b = ids[0], ids[min(1, len(ids) - 1)]
        cli.json("compare", path, a, b)
        cli("compare", path, a, b, "--text")
    if "import" in commands:
        _check_import(cli, path, ids, tmp_path)


def _check_markdown(cli: Cli, path: str, run_id: str) -> None:
    """show --format markdown: no raw control character (checked by Cli), and nothing from the trace
    read as a link, an image or HTML by a CommonMark parser."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(cli("show", path, run_id, "--format", "markdown").stdout)
    found = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or ()}
    assert not found & {"link_open", "image", "html_inline", "html_block"}, f"{cli.case['name']}: {run_id!r}"


def _check_import(cli: Cli, path: str, ids: list[str], tmp_path: Path) -> None:
    """import into a store file: the store lists the same runs, and so does its second read."""
    store = tmp_path / "imported.db"
    cli("import", path, "-o", str(store))
    listed = CliRunner().invoke(main, ["list", str(store), "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert sorted(run["id"] for run in orjson.loads(listed.stdout)) == sorted(ids), cli.case["name"]


def _check_export(cli: Cli, path: str, ids: list[str], tmp_path: Path) -> None:
    """export to stdout is JSON Lines; export to a file imports again, same runs, nothing to report."""
    streamed = cli("export", path, "-o", "-").stdout_bytes
    lines = streamed.splitlines()
    assert len(lines) == len(ids)
    for line in lines:
        strict_json(line, f"{cli.case['name']}: tracetui export -o -")
    out = tmp_path / "exported.jsonl"
    cli("export", path, "-o", str(out))
    if not ids:
        return
    again = CliRunner().invoke(main, ["list", str(out), "--json"])
    assert again.exit_code == 0, again.stderr
    assert WARNING not in again.stderr, f"{cli.case['name']}: the export re-imports with problems:\n{again.stderr}"
    assert sorted(run["id"] for run in orjson.loads(again.stdout)) == sorted(ids)
