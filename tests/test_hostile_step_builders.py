"""Issue 9 in the databases whose step trees are built in Python (Phoenix, MLflow, OpenCode: sources/sqlite_steps.py).

Each test writes a real SQLite file: a copy of the format's fixture with odd rows put in by SQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import agents
import pytest

from tracetui.loading import open_store, prepare
from tracetui.sources import tracetui_jsonl

# (fixture, run table, its id column, what a row of it is called, rowids of two runs of its own)
RUN_TABLES = [
    (agents.PHOENIX, "traces", "trace_id", "trace", (1, 3)),
    (agents.MLFLOW, "trace_info", "request_id", "trace", (1, 3)),
    (agents.OPENCODE, "session", "id", "session", (1, 2)),
]


def _copy(fixture: Path, tmp_path: Path) -> tuple[str, sqlite3.Connection]:
    path = agents.copied(fixture, tmp_path)
    return path, sqlite3.connect(path)


@pytest.mark.parametrize(
    ("fixture", "table", "column", "what", "rows"), RUN_TABLES, ids=lambda v: getattr(v, "name", "")
)
def test_a_run_without_an_id_is_listed_as_row_n_and_opens(fixture, table, column, what, rows, tmp_path):
    path, conn = _copy(fixture, tmp_path)
    original = open_store(path)
    before = len(original.run_ids())
    first_steps = len(original.steps("000000000000000000000000000000a1")) if fixture is agents.PHOENIX else 0
    if fixture is not agents.OPENCODE:  # (OpenCode's text primary key takes NULL as it is)
        agents.nullable(conn, table, column)
    null_row, empty_row = rows
    conn.execute(f"UPDATE {table} SET {column} = NULL WHERE rowid = ?", (null_row,))
    conn.execute(f"UPDATE {table} SET {column} = '' WHERE rowid = ?", (empty_row,))
    conn.commit()
    conn.close()

    opening = prepare(path)
    assert opening.in_place
    store = opening.connect()
    ids = store.run_ids()
    # (OpenCode's child session, its parent's id gone, is a run of its own)
    assert len(ids) == before + (fixture is agents.OPENCODE)
    assert {f"row-{null_row}", f"row-{empty_row}"} <= set(ids)
    assert [str(p) for p in store.problems() if "has no id" in p.message] == [
        f"line {n}: the {what} has no id: shown as row-{n}" for n in sorted(rows)
    ]
    for n in rows:
        assert store.get_run(f"row-{n}").id == f"row-{n}"
        assert store.run_tree(f"row-{n}").id == f"row-{n}"
    if fixture is agents.PHOENIX:  # its spans name their trace by rowid: the tree is still there
        assert len(store.steps(f"row-{null_row}")) == first_steps > 0
    # import reads the same views: the same runs, under the same names, with the same problems
    out = Path(path).with_suffix(".jsonl")
    with open(out, "wb") as f:
        for run in store.iter_runs():
            f.write(tracetui_jsonl.dumps(run))
    assert sorted(open_store(str(out), use_cache=False).run_ids()) == sorted(ids)
    runs, problems = agents.read_runs(path)
    assert sorted(r.id for r in runs) == sorted(ids)
    assert [p.message for p in problems if "has no id" in p.message] == [
        f"the {what} has no id: shown as row-{n}" for n in sorted(rows)
    ]


def test_a_file_whose_runs_all_have_ids_keeps_its_plain_id_column(tmp_path):
    from tracetui.sources import sqlsql

    path, conn = _copy(agents.PHOENIX, tmp_path)
    assert sqlsql.run_id(conn, "traces", "t", "trace_id", what="trace") == ('t."trace_id"', None, True)


def test_run_ids_that_are_numbers_or_blobs_are_shown_as_text_and_open(tmp_path):
    path, conn = _copy(agents.PHOENIX, tmp_path)
    agents.nullable(conn, "traces", "trace_id")  # (the column's type, VARCHAR, makes a number text)
    conn.execute("UPDATE traces SET trace_id = x'74722d31' WHERE rowid = 1")  # the bytes of 'tr-1'
    conn.execute("UPDATE traces SET trace_id = x'ff00' WHERE rowid = 2")  # not UTF-8, with a NUL
    conn.execute("UPDATE traces SET trace_id = x'' WHERE rowid = 3")  # no id at all
    conn.commit()
    conn.close()
    store = open_store(path)
    assert sorted(store.run_ids()) == ["\\xff\x00", "row-3", "tr-1"]  # (a NUL is data: shown escaped)
    for run_id in store.run_ids():
        assert store.run_tree(run_id).id == run_id
        assert store.steps(run_id)
    assert [str(p) for p in store.problems() if "no id" in p.message] == ["line 3: the trace has no id: shown as row-3"]
