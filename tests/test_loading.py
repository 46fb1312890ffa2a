import os

from builders import run, step, write_jsonl, write_store

from tracetui.loading import cache_path, open_store, prepare


def test_json_source_is_imported_once_then_opened_from_the_cache(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("a")), run("r2")])
    first = prepare(src)
    assert not first.ready and not first.in_place
    assert first.run_import() == 2
    assert os.path.exists(first.db_path) and first.db_path.startswith(str(tmp_path / "cache"))
    second = prepare(src)
    assert second.ready and second.db_path == first.db_path
    assert second.run_import() == 0
    assert second.connect().count_runs() == 2


def test_cache_key_changes_when_the_file_changes(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    before = cache_path(src, "tracetui-jsonl")
    open_store(src)
    write_jsonl(src, [run("r1"), run("r2")])
    assert cache_path(src, "tracetui-jsonl") != before
    assert open_store(src).count_runs() == 2


def test_no_cache_writes_nothing_to_the_cache(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    assert open_store(src, use_cache=False).count_runs() == 1
    assert not os.path.exists(tmp_path / "cache" / "tracetui")


def test_interrupted_import_is_redone(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    opening = prepare(src)
    os.makedirs(os.path.dirname(opening.db_path))
    with open(opening.db_path, "wb") as f:
        f.write(b"half a database")
    assert not prepare(src).ready
    assert open_store(src).count_runs() == 1


def test_progress_is_reported(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run(f"r{i}", step("a")) for i in range(50)])
    seen = []
    prepare(src).run_import(lambda done, total, runs: seen.append((done, total, runs)))
    assert seen[-1] == (os.path.getsize(src), os.path.getsize(src), 50)


def test_partial_store_is_readable_while_importing(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run(f"r{i}") for i in range(3)])
    opening = prepare(src)
    counts = []

    def peek(done, total, runs):
        counts.append(opening.connect().count_runs())

    from tracetui.store import StoreWriter

    original = StoreWriter.add

    def add_and_commit(self, r):
        out = original(self, r)
        self.commit()
        peek(0, 0, 0)
        return out

    StoreWriter.add = add_and_commit
    try:
        opening.run_import()
    finally:
        StoreWriter.add = original
    assert counts == [1, 2, 3]


def test_native_store_opens_in_place_read_only(tmp_path):
    db = write_store(tmp_path / "traces.db", [run("r1", step("a", status="failed"))])
    before = open(db, "rb").read()
    opening = prepare(db)
    assert opening.in_place and opening.format == "tracetui-sqlite"
    store = opening.connect()
    assert store.first_failed_step("r1").id == "a"
    store.close()
    assert open(db, "rb").read() == before


def test_duplicate_run_ids_are_kept_apart_and_reported(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1", agent="first"), run("r1", agent="second")])
    store = open_store(src)
    runs = {r.id: r for r in store.list_runs()}
    assert runs["r1"].agent == "first" and runs["r1~2"].agent == "second"
    assert "duplicate_id" in runs["r1~2"].flags
    (problem,) = store.problems()
    assert problem.line == 2 and "duplicate run id 'r1'" in problem.message


def test_a_cancelled_import_leaves_no_half_built_cache(tmp_path):
    import pytest

    from tracetui.loading import ImportCancelled

    src = write_jsonl(tmp_path / "runs.jsonl", [run(f"r{i}") for i in range(300)])
    opening = prepare(src)

    def stop(done, total, runs):
        raise ImportCancelled

    with pytest.raises(ImportCancelled):
        opening.run_import(stop)
    assert not os.path.exists(opening.db_path) and not opening.ready
    assert not prepare(src).ready
    assert open_store(src).count_runs() == 300


def _as_schema_version_1(db: str) -> None:
    """Make a store what tracetui wrote before schema version 2: without the columns added since."""
    import sqlite3

    from tracetui.store.schema import ADDED_RUN_COLUMNS, ADDED_STEP_COLUMNS

    conn = sqlite3.connect(db)
    for table, columns in (("runs", ADDED_RUN_COLUMNS), ("steps", ADDED_STEP_COLUMNS)):
        for column in sorted(columns):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


def test_a_store_of_schema_version_1_still_opens_in_place_with_the_new_columns_null(tmp_path):
    db = write_store(tmp_path / "old.db", [run("r1", step("a", tokens_in=5), step("b", "a", status="failed"))])
    _as_schema_version_1(db)
    before = {name: open(os.path.join(tmp_path, name), "rb").read() for name in os.listdir(tmp_path)}
    opening = prepare(db)
    assert opening.in_place and opening.format == "tracetui-sqlite"
    store = opening.connect()
    (listed,) = store.list_runs(sort="tokens")
    assert listed.total("tokens_in") == 5 and listed.total("tokens_cache_read") is None
    a, b = store.steps("r1")
    assert a.sub_tokens_in == 5 and a.sub_tokens_cache_read is None and a.model is None
    assert store.first_failed_step("r1").id == "b" and store.models(["r1"]) == {}
    store.close()
    after = {name: open(os.path.join(tmp_path, name), "rb").read() for name in os.listdir(tmp_path)}
    assert after == before  # nothing written, no -wal or -shm left beside it
