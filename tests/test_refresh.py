"""Opening.refresh(): an imported file's store brought up to date with the file, reading only what was
appended where the format allows, and saying which runs changed (the API `--follow` builds on)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

from agents import CLAUDE, PHOENIX, claude, copied
from builders import run, step, write_jsonl

from tracetui.loading import Refresh, prepare


def imported(path):
    opening = prepare(str(path))
    opening.run_import()
    return opening


def jsonl_line(tmp_path, r) -> bytes:
    return open(write_jsonl(tmp_path / f"{r.id}.line", [r]), "rb").read()


def ids(opening) -> list[str]:
    store = opening.connect()
    try:
        return sorted(store.run_ids())
    finally:
        store.close()


def rowids(opening) -> dict[str, int]:
    conn = sqlite3.connect(opening.db_path)
    try:
        return dict(conn.execute("SELECT id, rowid FROM runs"))
    finally:
        conn.close()


def test_nothing_changed_nothing_read(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    assert opening.refresh() == Refresh()
    assert not opening.refresh()


def test_lines_appended_to_a_file_of_one_run_per_line_are_read_alone(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s")), run("r2", step("s"))])
    opening = imported(path)
    before = rowids(opening)
    with open(path, "ab") as f:
        f.write(jsonl_line(tmp_path, run("r3", step("s"), step("t"))))
    refresh = opening.refresh()
    assert refresh.added == ["r3"] and refresh.appended == [str(path)] and not refresh.changed
    assert {k: v for k, v in rowids(opening).items() if k in before} == before
    assert ids(opening) == ["r1", "r2", "r3"]
    with open(path, "ab") as f:
        f.write(jsonl_line(tmp_path, run("r4", step("s"))))
    assert opening.refresh().added == ["r4"]


def test_a_half_written_last_line_waits_for_its_end(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s"))])
    line = jsonl_line(tmp_path, run("r2", step("s")))
    with open(path, "ab") as f:
        f.write(line[:15])
    opening = imported(path)
    assert ids(opening) == ["r1"]
    assert any("truncated" in p.message for p in opening.connect().problems())
    with open(path, "ab") as f:
        f.write(line[15:])
    assert opening.refresh().added == ["r2"]
    assert not any("truncated" in p.message for p in opening.connect().problems())


def test_a_session_that_grew_is_read_again_and_its_run_reported_changed(tmp_path):
    path = shutil.copy(claude(2), tmp_path / "session.jsonl")
    opening = imported(path)
    steps_before = opening.connect().get_run("5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02").step_count
    last = json.loads(open(path).read().splitlines()[-1])
    prompt = {
        **last,
        "type": "user",
        "uuid": "grown-1",
        "parentUuid": last["uuid"],
        "message": {"role": "user", "content": "One more thing"},
        "timestamp": "2025-07-01T15:00:00.000Z",
    }
    with open(path, "a") as f:
        f.write(json.dumps(prompt) + "\n")
    refresh = opening.refresh()
    assert refresh.changed == ["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02"] and not refresh.appended
    assert opening.connect().get_run("5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02").step_count > steps_before


def test_a_subagent_file_that_changed_reads_its_session_again(tmp_path):
    project = shutil.copytree(CLAUDE, tmp_path / "p")
    session = project / claude(1).name
    opening = imported(session)
    subagent = project / "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01" / "subagents" / "agent-a9f3c2e1b0d4c5e6f.jsonl"
    with open(subagent, "a") as f:
        f.write("\n")
    assert opening.refresh().changed == [] and opening.refresh() == Refresh()  # read again, nothing differs
    os.remove(subagent)
    assert opening.refresh().changed == ["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01"]


def test_a_rewritten_file_is_read_again_from_the_start(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s")), run("r2", step("s"))])
    opening = imported(path)
    write_jsonl(path, [run("r2", step("s"), step("t")), run("r9", step("s"))])
    refresh = opening.refresh()
    assert refresh.added == ["r9"] and refresh.changed == ["r2"] and refresh.removed == ["r1"]
    assert not refresh.appended


def test_a_truncated_file_is_read_again_from_the_start(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s")), run("r2", step("s"))])
    opening = imported(path)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: data.index(b"\n") + 1])
    assert opening.refresh().removed == ["r2"]
    assert ids(opening) == ["r1"]


def test_a_deleted_file_keeps_what_was_read(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    os.remove(path)
    assert opening.refresh() == Refresh(gone=[str(path)])
    assert ids(opening) == ["r1"]


def test_a_source_read_in_place_needs_no_refresh(tmp_path):
    opening = prepare(copied(PHOENIX, tmp_path))
    assert opening.ready and opening.refresh() == Refresh()


def test_a_store_from_before_refresh_existed_is_read_again(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    conn = sqlite3.connect(opening.db_path)
    conn.execute("DROP TABLE files")
    conn.commit()
    conn.close()
    with open(path, "ab") as f:
        f.write(jsonl_line(tmp_path, run("r2", step("s"))))
    refresh = opening.refresh()
    assert refresh.added == ["r2"] and not refresh.appended


def test_a_truncated_or_replaced_file_is_reported_restarted_a_grown_one_is_not(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s")), run("r2", step("s"))])
    opening = imported(path)
    with open(path, "ab") as f:
        f.write(jsonl_line(tmp_path, run("r3", step("s"))))
    assert opening.refresh().restarted == []
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: data.index(b"\n") + 1])
    assert opening.refresh().restarted == [str(path)]
    os.rename(path, str(path) + ".1")
    write_jsonl(path, [run("r1", step("s")), run("r9", step("s")), run("r10", step("s"))])  # longer, another inode
    refresh = opening.refresh()
    assert refresh.restarted == [str(path)] and sorted(refresh.added) == ["r10", "r9"]
    assert ids(opening) == ["r1", "r10", "r9"]


def test_a_folder_s_replaced_file_is_reported_restarted_and_a_deleted_one_kept_when_asked(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    a = write_jsonl(folder / "a.jsonl", [run("a1", step("s")), run("a2", step("s"))])
    b = write_jsonl(folder / "b.jsonl", [run("b1", step("s"))])
    opening = prepare(str(folder))
    opening.run_import()
    write_jsonl(a, [run("a3", step("s"))])
    os.remove(b)
    refresh = opening.refresh(keep_gone=True)
    assert refresh.restarted == ["a.jsonl"] and refresh.gone == ["b.jsonl"]
    assert ids(opening) == ["a3", "b1"]
    assert opening.refresh(keep_gone=True).gone == ["b.jsonl"]  # still gone, still kept
    refresh = opening.refresh()
    assert refresh.removed == ["b1"] and ids(opening) == ["a3"]


def test_a_refresh_takes_away_a_search_index_the_steps_no_longer_match(tmp_path):
    from tracetui.store import search

    path = write_jsonl(tmp_path / "a.jsonl", [run("r1", step("s", name="alpha"))])
    opening = imported(path)
    assert opening.index_for_search()
    with open(path, "ab") as f:
        f.write(jsonl_line(tmp_path, run("r2", step("s", name="bravo"))))
    assert opening.refresh().added == ["r2"]
    conn = sqlite3.connect(opening.db_path)
    try:
        assert not search.has_index(conn)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (search.INDEX,)).fetchone()[0] == 0
    finally:
        conn.close()
    store = opening.connect()
    try:
        assert list(store.runs_matching("bravo")) == ["r2"]
    finally:
        store.close()
