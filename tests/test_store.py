"""The store's three roles: the schema (tables from the column lists), the writer, the read-only queries."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys

import pytest
from builders import run, step, write_store

from tracetui.errors import NotFound
from tracetui.model import (
    DERIVED_RUN_FIELDS,
    DERIVED_STEP_FIELDS,
    FLAG_DUPLICATE_ID,
    SOURCE_RUN_FIELDS,
    SOURCE_STEP_FIELDS,
    Run,
    Step,
    finalize_run,
)
from tracetui.store import SCHEMA_VERSION, SORT_KEYS, RunFilter, Store, StoreWriter, connect_readonly, view_columns
from tracetui.store.schema import RUN_COLUMNS, RUN_TOTAL_COLUMNS, STEP_COLUMNS, STEP_INDEXES


def open_db(path) -> Store:
    return Store(connect_readonly(str(path)), label=str(path), source_format="tracetui-sqlite", path=str(path))


def write(path, runs, **writer_args) -> None:
    writer = StoreWriter(str(path), **writer_args)
    for r in runs:
        writer.add(finalize_run(r))
    writer.finish()


def contents(path):
    """Everything a store holds, as plain rows (for comparing two stores)."""
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("runs", "steps", "problems")
        }
    finally:
        conn.close()


# -- schema ---------------------------------------------------------------------------------------
def test_the_columns_are_the_model_fields_plus_the_stored_run_totals():
    assert set(STEP_COLUMNS) == {f.name for f in dataclasses.fields(Step)} - {"children"}
    assert set(RUN_COLUMNS) - set(RUN_TOTAL_COLUMNS) == {f.name for f in dataclasses.fields(Run)} - {"steps"}
    assert set(RUN_TOTAL_COLUMNS) <= set(RUN_COLUMNS)


def test_every_field_is_either_given_by_a_source_or_derived():
    step_fields = [f.name for f in dataclasses.fields(Step) if f.name != "children"]
    run_fields = [f.name for f in dataclasses.fields(Run) if f.name != "steps"]
    assert sorted(SOURCE_STEP_FIELDS + DERIVED_STEP_FIELDS) == sorted(step_fields)
    assert sorted(SOURCE_RUN_FIELDS + DERIVED_RUN_FIELDS) == sorted(run_fields)


def test_the_tables_follow_the_column_lists_with_their_keys_and_indexes(tmp_path):
    write(tmp_path / "s.db", [])
    conn = sqlite3.connect(tmp_path / "s.db")
    info = {t: conn.execute(f"PRAGMA table_info({t})").fetchall() for t in ("runs", "steps", "meta", "problems")}
    assert [(c[1], c[2]) for c in info["runs"]][:8] == [
        ("id", "TEXT"),
        ("agent", "TEXT"),
        ("session", "TEXT"),
        ("status", "TEXT"),
        ("started_at", "TEXT"),
        ("ended_at", "TEXT"),
        ("duration_ms", "REAL"),
        ("tokens_in", "INTEGER"),
    ]
    assert [c[1] for c in info["runs"]] == list(RUN_COLUMNS)
    assert [c[1] for c in info["steps"]] == list(STEP_COLUMNS)
    assert [c[1] for c in info["runs"] if c[5]] == ["id"]
    assert [c[1] for c in sorted(info["steps"], key=lambda c: c[5]) if c[5]] == ["run_id", "id"]
    assert [c[1] for c in info["problems"] if c[5]] == ["n"]
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert {"idx_runs_started_at", "idx_runs_total_cost_usd", "idx_steps_run_id_parent_id_seq"} <= indexes
    assert dict(conn.execute("SELECT key, value FROM meta")) == {"schema_version": str(SCHEMA_VERSION), "complete": "1"}
    conn.close()


def test_a_scratch_store_has_no_indexes(tmp_path):
    write(tmp_path / "block.db", [run("r1")], scratch=True)
    conn = sqlite3.connect(tmp_path / "block.db")
    assert conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall() == []
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'step_text'").fetchall() == []
    conn.close()


@pytest.mark.parametrize("scratch", [False, True])
def test_values_the_writer_does_not_have_are_stored_as_null_and_the_others_as_given(tmp_path, scratch):
    # (The writer binds NaN for None, which SQLite stores as NULL: see store/writer.py.)
    given = run("r1", step("a", tokens_in=3, duration_ms=1.5, cost_estimated=True, cost_usd=0.25), status="failed")
    write(tmp_path / "s.db", [given], scratch=scratch)
    conn = sqlite3.connect(tmp_path / "s.db")
    types = conn.execute(
        "SELECT typeof(parent_id), typeof(tokens_out), typeof(error), typeof(extra), typeof(tokens_in),"
        " typeof(duration_ms), cost_estimated, cost_usd, typeof(score) FROM steps"
    ).fetchall()
    assert types == [("null", "null", "null", "null", "integer", "real", 1, 0.25, "null")]
    nulls = conn.execute(
        "SELECT count(*) FROM runs WHERE agent IS NULL AND credits IS NULL AND input IS NULL"
    ).fetchone()
    assert nulls == (1,)
    assert conn.execute("SELECT count(*) FROM steps WHERE score != score OR score IS NOT NULL").fetchone() == (0,)
    conn.close()


def _indexes(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}


def test_step_indexes_of_an_import_into_an_empty_store_stay_up_while_runs_arrive_in_id_order(tmp_path):
    path = str(tmp_path / "s.db")
    writer = StoreWriter(path)
    every = _indexes(writer.conn)
    writer.defer_step_indexes()
    writer.add(finalize_run(run("r1", step("a"), step("b", parent="a"))))
    writer.add(finalize_run(run("r2", step("a"))))
    writer.commit()
    reader = sqlite3.connect(path)
    assert _indexes(reader) == every and len(STEP_INDEXES) == 2
    writer.add(finalize_run(run("r0", step("c"))))  # sorts before r2: the rest would insert all over them
    writer.commit()
    assert _indexes(reader) == every - set(STEP_INDEXES)
    assert reader.execute("SELECT id FROM steps WHERE run_id = 'r1' ORDER BY ord").fetchall() == [("a",), ("b",)]
    writer.add(finalize_run(run("r9")))  # in order again: they are built at the end all the same
    writer.commit()
    assert _indexes(reader) == every - set(STEP_INDEXES)
    writer.finish()
    assert _indexes(reader) == every
    reader.close()
    other = StoreWriter(str(tmp_path / "t.db"))  # a store that has runs keeps its indexes
    other.add(finalize_run(run("r1")))
    other.defer_step_indexes()
    other.add(finalize_run(run("r0")))
    assert _indexes(other.conn) == every
    other.finish()


@pytest.mark.parametrize(
    ("blocks", "kept"),
    [
        ([["a1", "a2"], ["b1", "b2"]], True),
        ([["a1", "a2"], ["b2", "b1"]], False),  # out of order within a block
        ([["b1", "b2"], ["a1", "a2"]], False),  # a block before what is stored
        ([["a1"], ["a1"]], True),  # kept apart as a1~2: after a1
    ],
)
def test_merged_blocks_keep_the_step_indexes_up_only_while_their_runs_come_in_id_order(tmp_path, blocks, kept):
    serial = tmp_path / "serial.db"
    write(serial, [run(rid, step("s")) for block in blocks for rid in block])
    writer = StoreWriter(str(tmp_path / "merged.db"))
    every = _indexes(writer.conn)
    writer.defer_step_indexes()
    for n, block in enumerate(blocks):
        write(tmp_path / f"block{n}.db", [run(rid, step("s")) for rid in block], scratch=True)
        writer.merge(str(tmp_path / f"block{n}.db"))
    assert _indexes(writer.conn) == (every if kept else every - set(STEP_INDEXES))
    writer.finish()
    assert contents(tmp_path / "merged.db") == contents(serial)
    assert _indexes(sqlite3.connect(tmp_path / "merged.db")) == every


def test_view_columns_fills_every_missing_column_with_null_in_column_order():
    select = view_columns(["id", "name", "size"], {"size": "1", "id": "t.id"}, also={"key": "t.k"})
    assert [part.strip() for part in select.split(",")] == ["t.id AS id", "NULL AS name", "1 AS size", "t.k AS key"]
    with pytest.raises(ValueError, match="nme"):
        view_columns(["id", "name"], {"nme": "x"})


# -- writer ---------------------------------------------------------------------------------------
def test_a_repeated_run_id_is_kept_apart_noted_and_reported(tmp_path):
    write(
        tmp_path / "s.db",
        [run("r1", step("a")), run("r1", step("b"), source_line=7), run("r1", flags=[FLAG_DUPLICATE_ID])],
    )
    store = open_db(tmp_path / "s.db")
    assert store.run_ids(sort="id", desc=False) == ["r1", "r1~2", "r1~3"]
    second = store.get_run("r1~2")
    assert second.extra["original_id"] == "r1" and second.flags == [FLAG_DUPLICATE_ID]
    assert store.get_run("r1~3").flags == [FLAG_DUPLICATE_ID]  # not flagged twice
    assert [s.id for s in store.steps("r1~2")] == ["b"]
    assert [(p.line, p.run_id, p.message) for p in store.problems()] == [
        (7, "r1~2", "duplicate run id 'r1': kept as 'r1~2'"),
        (None, "r1~3", "duplicate run id 'r1': kept as 'r1~3'"),
    ]


def test_merging_a_block_renames_repeated_ids_exactly_as_adding_does(tmp_path):
    def runs():
        return [run("r1", step("a")), run("r2"), run("r1", step("b", flags=["x"]), source_line=3, flags=["mine"])]

    write(tmp_path / "serial.db", runs())

    first, *rest = runs()
    write(tmp_path / "block.db", rest, scratch=True)
    writer = StoreWriter(str(tmp_path / "merged.db"))
    writer.add(finalize_run(first))
    writer.merge(str(tmp_path / "block.db"))
    writer.finish()

    assert contents(tmp_path / "merged.db") == contents(tmp_path / "serial.db")
    assert open_db(tmp_path / "merged.db").get_run("r1~2").flags == ["mine", FLAG_DUPLICATE_ID]


def test_a_writer_on_an_existing_store_appends_and_keeps_ids_apart(tmp_path):
    write(tmp_path / "s.db", [run("r1")])
    write(tmp_path / "s.db", [run("r1"), run("r2")])
    assert open_db(tmp_path / "s.db").run_ids(sort="id", desc=False) == ["r1", "r1~2", "r2"]


# -- reader ---------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path):
    runs = [
        run("a", step("s1", tokens_in=5), agent="zed", status="failed", started_at="2026-01-01T00:00:03.000Z"),
        run("b", agent="amy", duration_ms=50.0, cost_usd=0.5, started_at="2026-01-01T00:00:01.000Z", error="50%"),
        run("c", step("s1", status="timeout"), step("s2", "s1"), agent="amy", duration_ms=10.0, error="500 off"),
        run("d", agent=None, status="timeout", duration_ms=10.0, started_at="2026-01-01T00:00:02.000Z"),
    ]
    s = open_db(write_store(tmp_path / "s.db", runs))
    yield s
    s.close()


@pytest.mark.parametrize(
    "sort, desc, expected",
    [
        ("started", True, ["a", "d", "b", "c"]),  # no start time: last either way
        ("started", False, ["b", "d", "a", "c"]),
        ("duration", True, ["b", "d", "c", "a"]),  # ties broken by id, in the same direction
        ("duration", False, ["c", "d", "b", "a"]),
        ("tokens", True, ["a", "d", "c", "b"]),
        ("cost", True, ["b", "d", "c", "a"]),
        ("agent", False, ["b", "c", "a", "d"]),
        ("status", False, ["b", "c", "a", "d"]),
        ("steps", True, ["c", "a", "d", "b"]),
        ("failed", True, ["c", "d", "b", "a"]),
        ("error", False, ["b", "c", "a", "d"]),
    ],
)
def test_runs_are_ordered_by_each_sort_key_with_nulls_last(store, sort, desc, expected):
    assert store.run_ids(sort=sort, desc=desc) == expected
    assert [r.id for r in store.list_runs(sort=sort, desc=desc, limit=2, offset=1)] == expected[1:3]


def test_every_sort_key_orders_the_store(store):
    for key in SORT_KEYS:
        assert sorted(store.run_ids(sort=key.name)) == ["a", "b", "c", "d"]


def test_a_sort_override_must_name_a_sort_key(store):
    with pytest.raises(ValueError, match="begun"):
        Store(store.conn, label="x", source_format="x", path="x", sort_keys={"begun": "id"})
    swapped = Store(store.conn, label="x", source_format="x", path="x", sort_keys={"started": "agent"})
    assert swapped.run_ids(sort="started", desc=False) == ["b", "c", "a", "d"]


def test_filters_match_status_agent_and_literal_search_text(store):
    assert store.run_ids(RunFilter(status=["failed", "timeout"]), sort="id", desc=False) == ["a", "d"]
    assert store.run_ids(RunFilter(agent="amy", status="completed"), sort="id", desc=False) == ["b", "c"]
    assert store.run_ids(RunFilter(search="50%")) == ["b"]  # % is a character, not a wildcard
    assert store.count_runs(RunFilter(search="AMY")) == 2
    assert store.count_runs() == 4


def test_latest_failed_run_prefers_a_failed_status_then_failed_steps(store, tmp_path):
    assert store.latest_failed_run().id == "a"
    only_steps = open_db(write_store(tmp_path / "t.db", [run("ok"), run("x", step("s", status="failed"))]))
    assert only_steps.latest_failed_run().id == "x"
    assert open_db(write_store(tmp_path / "u.db", [run("ok")])).latest_failed_run() is None


def test_failed_step_positions_and_the_root_cause(store):
    assert store.failed_step_positions("c") == [("s1", 0, 2)]
    assert store.first_failed_step("c").id == "s1"
    assert store.first_failed_step("b") is None


def test_step_tree_queries(tmp_path):
    kids = [step(f"k{i}", "root") for i in range(5)]
    s = open_db(write_store(tmp_path / "t.db", [run("r", step("root"), *kids, step("leaf", "k3"))]))
    assert [c.id for c in s.children("r", None)] == ["root"]
    assert [c.id for c in s.children("r", "root", limit=2, offset=2)] == ["k2", "k3"]
    assert s.count_children("r", "root") == 5 and s.count_children("r", None) == 1
    assert s.ancestors("r", "leaf") == ["root", "k3"]
    tree = s.run_tree("r")
    assert [c.id for c in tree.steps[0].children] == ["k0", "k1", "k2", "k3", "k4"]
    with pytest.raises(NotFound):
        s.get_step("r", "nope")


def test_runs_by_ids_skips_unknown_ids_and_reads_in_chunks(tmp_path):
    s = open_db(write_store(tmp_path / "t.db", [run(f"r{i:04}") for i in range(1200)]))
    wanted = [f"r{i:04}" for i in range(1200)]
    assert sorted(r.id for r in s.runs_by_ids([*wanted, "nope"])) == wanted
    with pytest.raises(NotFound):
        s.get_run("nope")


def test_a_run_reads_back_as_written_without_its_stored_totals(tmp_path):
    original = run("r", step("a", tokens_in=3, extra={"k": 1}), metadata={"m": [1]}, tokens_out=9, source_line=4)
    write(tmp_path / "t.db", [original])
    s = open_db(tmp_path / "t.db")
    back = s.get_run("r")
    assert dataclasses.replace(back, steps=[]) == dataclasses.replace(original, steps=[])
    assert back.total("tokens_in") == 3 and back.total("tokens_out") == 9


def test_the_store_imports_no_source_module():
    code = "import sys, tracetui.store; assert not [m for m in sys.modules if m.startswith('tracetui.sources')]"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_rows_of_fewer_columns_and_whole_runs_are_stored_in_the_order_they_came(tmp_path):
    # add_rows with a few columns (sources/export.py's plain rows: the rest NULL), add() of Step objects
    # between them: one INSERT per kind of row, the order kept; a refused value is named by its column.
    from tracetui.store.writer import BOUND_NULL

    problems: list = []
    writer = StoreWriter(str(tmp_path / "s.db"), report=problems.append)
    columns = ("run_id", "id", "name", "input")
    writer.add_rows(finalize_run(run("r1")), [["r1", "a", "A", "x"], ["r1", "b", BOUND_NULL, "\udc80"]], columns)
    writer.add(finalize_run(run("r2", step("c", input="y"))))
    writer.add_rows(finalize_run(run("r1")), [["r1", "d", "D", BOUND_NULL]], columns)  # a repeated run id
    writer.finish()
    conn = sqlite3.connect(tmp_path / "s.db")
    rows = conn.execute("SELECT run_id, id, name, input, typeof(kind), seq FROM steps ORDER BY rowid").fetchall()
    conn.close()
    assert rows == [
        ("r1", "a", "A", "x", "null", None),
        ("r1", "b", None, "\\x80", "null", None),
        ("r2", "c", "c", "y", "text", 0),
        ("r1~2", "d", "D", None, "null", None),
    ]
    assert [p.message for p in problems] == ["run 'r1', step 'b': input: text that is not UTF-8, shown with \\xNN"]
