"""The hostile corpus (tests/hostile/) published into PostgreSQL: `tracetui import FILE -o postgresql://…`
imports every file a store file takes, and what the database then shows is what the store file shows.

NUL (U+0000), which PostgreSQL's text cannot hold, is the case that differs underneath: it is stored
as the text \\x00 (pgsql.nul_escaped), reported by line, and read back as it was.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tracetui.cli import main

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
CASES = tomllib.loads((HOSTILE / "cases.toml").read_text(encoding="utf-8"))["case"]
# The files `import` takes as they are (no environment or arguments of their own).
FILES = sorted(
    {
        case["file"]
        for case in CASES
        if "file" in case and case.get("exit", 0) == 0 and not case.keys() & {"env", "args"}
    }
)
# Numbers beyond 64 bits, which a store file keeps as about their value: bigint cannot hold them, so
# they are left out in the database, and said so.
LEFT_OUT = {"integer-beyond-64-bits-document.json", "tokens-beyond-64-bits.jsonl"}
SHOWN = 3  # runs shown per file, as tests/test_hostile_corpus.py does


def tracetui(*args: str, exit_code: int = 0) -> tuple[str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == exit_code, f"tracetui {' '.join(args)}: {result.exit_code}\n{result.stderr}"
    return result.stdout, result.stderr


@pytest.mark.parametrize("name", FILES)
def test_a_file_published_to_postgres_shows_what_its_store_file_shows(name, pg, tmp_path):
    path, store, database = str(HOSTILE / "files" / name), str(tmp_path / "store.db"), pg.database()
    tracetui("import", path, "-o", store)
    warned = tracetui("import", path, "-o", database)[1]
    listed = orjson.loads(tracetui("list", store, "--json")[0])
    if name in LEFT_OUT:
        assert "a number beyond PostgreSQL's integers (bigint): left out" in warned
        assert tracetui("list", database, "--json")[0].count('"id"') == len(listed)
        return
    assert tracetui("list", database, "--json")[0] == tracetui("list", store, "--json")[0]
    assert tracetui("list", database)[0] == tracetui("list", store)[0]
    for run in listed[:SHOWN]:
        for form in ((), ("--json",), ("--format", "markdown")):
            assert tracetui("show", database, run["id"], *form)[0] == tracetui("show", store, run["id"], *form)[0]
    assert tracetui("export", database, "-o", "-")[0] == tracetui("export", store, "-o", "-")[0]
    assert tracetui("stats", database)[0] == tracetui("stats", store)[0]


def test_nul_is_stored_as_its_escape_reported_by_line_and_read_back(pg, tmp_path):
    import psycopg

    path, database = str(HOSTILE / "files" / "nul-characters.jsonl"), pg.database()
    _, warned = tracetui("import", path, "-o", database)
    said = "NUL characters, which PostgreSQL cannot store in text: kept as \\x00 and read back as they were"
    lines = [line for line in warned.splitlines() if said in line]
    assert lines == [
        f"tracetui: warning: {path}: line 2: run 'nul\\x00id': id, agent, session, error: {said}",
        f"tracetui: warning: {path}: line 2: run 'nul\\x00id', step 's\\x001': run_id, id, name, error, input: {said}",
        f"tracetui: warning: {path}: line 2: run 'nul\\x00id', step 's2': run_id, input: {said}",
    ]
    with psycopg.connect(database) as conn:
        stored = conn.execute("SELECT id, agent, escaped FROM tracetui.runs ORDER BY id").fetchall()
        steps = conn.execute("SELECT input, escaped FROM tracetui.steps WHERE name = 'na\\x00me'").fetchall()
    # Shown as display.safe shows NUL wherever the server's text is shown as it is; a backslash that
    # starts \x00 or \x5c in such a value is kept apart as \x5c, so that the value reads back exactly.
    assert stored == [
        ("good-1", "agent", None),
        ("good-2", "agent", None),
        ("nul\\x00id", "age\\x00nt", "id,agent,session,error"),
    ]
    assert steps == [("in\\x00put \\x5cx5c\\x5cx00\\", "run_id,id,name,error,input")]
    shown = orjson.loads(tracetui("show", database, "nul\x00id", "--json")[0])
    assert shown["steps"][0]["input"] == "in\x00put \\x5c\\x00\\"
    # Found by the id as it is shown, by the search on the server, and by a session filter.
    assert orjson.loads(tracetui("show", database, "nul\\x00id", "--json")[0])["id"] == "nul\x00id"
    found = orjson.loads(tracetui("list", database, "--grep", "put", "--json")[0])
    assert [run["id"] for run in found] == ["nul\x00id"]
    for text in ("ses\x00sion", "boom\x00here"):  # the run list's --search: id, agent, session, error
        found = orjson.loads(tracetui("list", database, "--search", text, "--json")[0])
        assert [run["id"] for run in found] == ["nul\x00id"]


def test_the_store_of_an_earlier_tracetui_without_the_escaped_column_still_reads(pg, tmp_path):
    import psycopg

    path, database = str(HOSTILE / "files" / "controls-bidi-and-markup.jsonl"), pg.database()
    tracetui("import", path, "-o", database)
    with psycopg.connect(database, autocommit=True) as conn:
        for table in ("runs", "steps", "problems"):
            conn.execute(f"ALTER TABLE tracetui.{table} DROP COLUMN escaped")
    store = str(tmp_path / "store.db")
    tracetui("import", path, "-o", store)
    assert tracetui("export", database, "-o", "-")[0] == tracetui("export", store, "-o", "-")[0]
    assert tracetui("list", database, "--grep", "tool_call")[0] == tracetui("list", store, "--grep", "tool_call")[0]
