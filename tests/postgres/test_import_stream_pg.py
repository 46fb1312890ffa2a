"""`import -o postgresql://…` streams the rows into the database (no store of the whole file on the
way): the tables must hold exactly the rows `import -o store.db` writes into a store file, whether
the file is read here or by worker processes, and however often the writer's buffer is copied on."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import psycopg
import pytest
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.postgres import writer
from tracetui.store.schema import RUN_COLUMNS, STEP_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile" / "files"
FRAMEWORKS = ROOT / "tests" / "fixtures" / "frameworks"
FILES = [
    ROOT / "sample_traces" / "export.jsonl",
    ROOT / "sample_traces" / "agent_traces.db",
    FRAMEWORKS / "langgraph_openinference.jsonl",
    *(HOSTILE / name for name in ("tokens-beyond-64-bits.jsonl", "tokens-summing-past-64-bits.jsonl")),
    *(HOSTILE / name for name in ("lone-surrogate.jsonl", "nan-and-infinity.jsonl", "not-utf8.jsonl")),
    *(HOSTILE / name for name in ("controls-bidi-and-markup.jsonl", "wrong-types-tracetui-jsonl.jsonl")),
    HOSTILE / "truncated-last-line.jsonl",
    *(HOSTILE / name for name in ("agent-traces-blob-in-extra-column.db", "agent-traces-not-utf8.db")),
    *(HOSTILE / name for name in ("agent-traces-text-in-number-columns.db", "store-odd-values.db")),
]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def same(value):
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def rows(execute, table: str, columns, order: str) -> list[tuple]:
    sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
    return [tuple(map(same, row)) for row in execute(sql).fetchall()]


def store_rows(conn, table: str, columns, order: str) -> list[tuple]:
    """A store file's rows as PostgreSQL holds them: a number beyond 64 bits, which the store keeps as
    about its value (a float in an integer column), is left out there (bigint cannot hold it)."""
    types = {**RUN_COLUMNS, **STEP_COLUMNS}
    found = rows(conn.execute, table, columns, order)
    ints = [i for i, c in enumerate(columns) if types.get(c) is int]
    return [tuple(None if i in ints and isinstance(v, float) else v for i, v in enumerate(row)) for row in found]


def both(path: str, pg_url: str, tmp_path) -> tuple[dict, dict]:
    """The rows of the store file and of the database, table by table, after importing path into each."""
    local = str(tmp_path / "store.db")
    assert invoke("import", path, "-o", local).exit_code == 0
    published = invoke("import", path, "-o", pg_url)
    assert published.exit_code == 0, published.output
    tables = {
        "runs": (list(RUN_COLUMNS), "id"),
        "steps": (list(STEP_COLUMNS), "run_id, id"),
        "problems": (["line", "run_id", "message"], "n"),
    }
    conn = sqlite3.connect(local)
    theirs = {name: store_rows(conn, name, cols, order) for name, (cols, order) in tables.items()}
    conn.close()
    with psycopg.connect(pg_url) as pg:
        ours = {name: rows(pg.execute, f"tracetui.{name}", cols, order) for name, (cols, order) in tables.items()}
    return ours, theirs


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_the_database_holds_the_rows_a_store_file_holds(path, pg_url, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "DRAIN_ROWS", 7)  # copied on many times, runs and steps split apart
    monkeypatch.setenv("TRACETUI_WORKERS", "1")
    ours, theirs = both(str(path), pg_url, tmp_path)
    left_out = [p for p in ours["problems"] if "beyond PostgreSQL's integers" in p[2]]
    ours["problems"] = [p for p in ours["problems"] if p not in left_out]
    assert ours == theirs
    assert theirs["runs"]
    assert bool(left_out) == (path.name == "tokens-beyond-64-bits.jsonl")  # each run with such a number, once


def test_with_worker_processes_and_repeated_ids_across_their_shares(pg_url, tmp_path, monkeypatch):
    runs = [run(f"r{i}", step("a", tokens_in=i, model="no-such-model"), step("b", "a")) for i in range(300)]
    runs.insert(150, run("r3", agent="again"))  # kept apart as r3~2, found in a later share than r3
    path = write_jsonl(tmp_path / "big.jsonl", runs)
    with open(path, "ab") as f:
        f.write(b"not json\n")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "0")
    monkeypatch.setenv("TRACETUI_PARALLEL_BLOCK_BYTES", "4096")
    ours, theirs = both(path, pg_url, tmp_path)
    assert ours == theirs
    assert len(ours["runs"]) == 301 and ("r3~2",) in {row[:1] for row in ours["runs"]}
    messages = [message for _, _, message in ours["problems"]]
    assert any("duplicate run id" in m for m in messages) and any("no-such-model" in m for m in messages)


def test_a_failed_import_leaves_the_database_as_it_was(pg_url, tmp_path, monkeypatch):
    first = write_jsonl(tmp_path / "runs.jsonl", [run("a", step("s1")), run("b", step("s1"))])
    assert invoke("import", first, "-o", pg_url).exit_code == 0
    write_jsonl(tmp_path / "runs.jsonl", [run(f"n{i}", step("s1")) for i in range(50)])
    monkeypatch.setattr(writer, "DRAIN_ROWS", 10)  # some runs are in the database before it fails
    monkeypatch.setattr(writer.PgWriter, "finish", lambda self, **meta: (_ for _ in ()).throw(OSError("disk full")))
    assert invoke("import", first, "-o", pg_url).exit_code != 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM tracetui.runs ORDER BY id").fetchall() == [("a",), ("b",)]
        assert conn.execute("SELECT count(*) FROM tracetui.steps").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in%'").fetchone() == (0,)


def test_the_first_run_priced_after_it_is_stored_is_copied_priced(pg_url, tmp_path, monkeypatch):
    calls = [step(f"m{i}", model="gpt-4o-mini", tokens_in=1000, tokens_out=100) for i in range(10)]
    path = write_jsonl(tmp_path / "priced.jsonl", [run("first", *calls), run("second", *calls[:2])])
    monkeypatch.setattr(writer, "DRAIN_ROWS", 7)  # the first run alone is more than a buffer's worth
    monkeypatch.setenv("TRACETUI_WORKERS", "1")
    ours, theirs = both(path, pg_url, tmp_path)
    assert ours == theirs
    costs = [row[list(STEP_COLUMNS).index("cost_usd")] for row in ours["steps"]]
    assert all(cost and cost > 0 for cost in costs)
