"""Nothing tracetui does changes a database it reads: not its bytes, not the files beside it.

Phoenix and OpenCode keep their databases in WAL mode; opening one read-only must not leave `-wal`
or `-shm` files that were not there (see docs/formats.md, phoenix). Every command and the viewer
are run on a copy in the test's directory, and the directory is compared before and after.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from agents import MLFLOW, OPENCODE, PHOENIX, copied
from builders import opening
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.run import RunScreen


def listing(folder: Path) -> dict[str, str]:
    """Every file in the folder with a digest of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


async def every_command(path: str, out: Path) -> None:
    runs = json.loads(invoke("list", path, "--json").stdout)
    first, last = runs[0]["id"], runs[-1]["id"]
    invoke("list", path)
    invoke("show", path, first)
    invoke("show", path, last, "--json")
    invoke("stats", path, "--by", "agent")
    invoke("compare", path, first, last, "--text")
    invoke("export", path, "-o", out / "export.jsonl")
    invoke("import", path, "-o", out / "imported.db")
    app = TraceApp(opening(path), run_id=first)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        await pilot.press("f", "escape")
        await settle(pilot)


# Until sqlite_uri opens a WAL database nobody writes with immutable=1 (work on main), SQLite creates
# empty -wal and -shm files beside it; the database's own bytes are unchanged either way.


@pytest.mark.parametrize(
    "fixture",
    [PHOENIX, OPENCODE, MLFLOW],
    ids=lambda p: p.name,
)
async def test_every_command_leaves_the_database_and_its_folder_as_they_were(fixture, tmp_path):
    folder = tmp_path / "db"
    path = copied(fixture, folder)
    before = listing(folder)
    await every_command(path, tmp_path)
    assert listing(folder) == before


async def test_a_database_open_in_a_running_writer_is_read_with_what_it_committed(tmp_path):
    folder = tmp_path / "db"
    path = copied(PHOENIX, folder)
    writer = sqlite3.connect(path)  # Phoenix running: its -wal and -shm exist, its commits sit in the -wal
    try:
        writer.execute("UPDATE projects SET name = 'renamed while running' WHERE name = 'tracetui-fixture'")
        writer.commit()
        database, log = (folder / "phoenix.db").read_bytes(), (folder / "phoenix.db-wal").read_bytes()
        files = sorted(p.name for p in folder.iterdir())
        shown = json.loads(invoke("show", path, "000000000000000000000000000000a1", "--json").stdout)
        assert shown["metadata"]["project"] == "renamed while running"
        await every_command(path, tmp_path)
        # -shm is shared memory between the processes that have the database open: readers use it too.
        assert sorted(p.name for p in folder.iterdir()) == files
        assert (folder / "phoenix.db").read_bytes() == database and (folder / "phoenix.db-wal").read_bytes() == log
    finally:
        writer.close()
