"""tracetui never changes a SQLite file it reads: not its bytes, and not its directory. A WAL-mode
database opened read-only makes SQLite create -wal and -shm files beside it; sqlite_uri.ro_uri opens
one that no connection holds as immutable, so nothing appears (see sqlite_uri.py for why that is safe)."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest
from builders import opening, run, step, write_agent_traces
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.model import finalize_run
from tracetui.sqlite_uri import ro_uri
from tracetui.store import StoreWriter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen


def in_wal_mode(path: str) -> str:
    """The database switched to WAL (as Phoenix, agent servers and many tools keep theirs), closed cleanly."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return path


def tracetui_store(directory) -> tuple[str, list[str]]:
    path = str(directory / "store.db")
    writer = StoreWriter(path)
    for r in (run("r1", step("a"), step("b", "a")), run("r2", step("a"), status="failed")):
        writer.add(finalize_run(r))
    writer.finish()
    return in_wal_mode(path), ["r1", "r2"]


def agent_traces(directory) -> tuple[str, list[str]]:
    path = str(directory / "agents.db")
    write_agent_traces(path, [{"id": "t1", "agent_id": "a"}, {"id": "t2", "agent_id": "b", "final_status": "failed"}])
    return in_wal_mode(path), ["t1", "t2"]


SOURCES = {"tracetui store": tracetui_store, "agent_traces": agent_traces}


def fingerprint(path: str) -> tuple[str, list[str]]:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return digest, sorted(os.listdir(os.path.dirname(path)))


def commands(path: str, ids: list[str], out) -> list[list[str]]:
    a, b = ids
    return [
        ["list", path],
        ["list", path, "--json", "--search", "1"],
        ["show", path, a],
        ["show", path, b, "--json"],
        ["stats", path, "--by", "agent"],
        ["stats", path, "--json"],
        ["export", path, "-o", str(out / "export.jsonl")],
        ["compare", path, a, b, "--json"],
        ["compare", path, a, b, "--text"],
        ["import", path, "-o", str(out / "imported.db")],
    ]


@pytest.mark.parametrize("source", SOURCES)
def test_no_command_changes_a_wal_database_or_its_directory(source, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "out").mkdir()
    path, ids = SOURCES[source](tmp_path / "data")
    with open(path, "rb") as f:
        assert f.read(20)[18] == 2  # WAL mode
    before = fingerprint(path)
    assert before[1] == [os.path.basename(path)]  # closed cleanly: no -wal, no -shm
    for args in commands(path, ids, tmp_path / "out"):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
        assert fingerprint(path) == before, args


@pytest.mark.parametrize("source", SOURCES)
async def test_the_viewer_changes_nothing_either(source, tmp_path):
    (tmp_path / "data").mkdir()  # the user's folder (tracetui's cache, with its memo, is elsewhere)
    path, ids = SOURCES[source](tmp_path / "data")
    before = fingerprint(path)
    app = TraceApp(opening(path))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.run_list.count == 2)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        await pilot.press("j", "e", "escape", "w")
        await pilot.pause()
        assert fingerprint(path) == before
    assert fingerprint(path) == before


def test_a_wal_database_a_writer_holds_open_is_read_through_its_wal(tmp_path):
    (tmp_path / "data").mkdir()  # the user's folder (tracetui's cache, with its memo, is elsewhere)
    path, _ = agent_traces(tmp_path / "data")
    writer = sqlite3.connect(path)
    writer.execute("INSERT INTO agent_traces (id, agent_id) VALUES ('t3', 'c')")
    writer.commit()  # in the -wal file, not yet in the database file
    try:
        assert os.path.exists(path + "-wal")
        assert "immutable" not in ro_uri(path)
        before = sorted(os.listdir(tmp_path / "data"))
        result = CliRunner().invoke(main, ["list", path, "--json"])
        assert result.exit_code == 0 and '"t3"' in result.stdout  # the writer's latest commit
        assert sorted(os.listdir(tmp_path / "data")) == before
    finally:
        writer.close()


def test_a_rollback_journal_database_is_opened_read_only_without_immutable(tmp_path):
    path = write_agent_traces(tmp_path / "old.db", [{"id": "t1"}])
    assert ro_uri(path).endswith("?mode=ro")
