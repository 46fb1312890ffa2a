"""The import cache holds copies of the user's traces: private (0700 / 0600), keyed so that no
rewrite is missed, and never the reason a file cannot be opened (a temporary store stands in)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.loading import cache_dir, prepare
from tracetui.store import writer as store_writer


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_cache_is_private_even_with_an_open_umask(tmp_path, open_umask):
    src = write_jsonl(tmp_path / "secret.jsonl", [run("r1", step("a"))])
    os.chmod(src, 0o600)
    opening = prepare(src)
    opening.run_import()
    opening.connect().close()
    assert mode(cache_dir()) == 0o700
    stored = [os.path.join(cache_dir(), name) for name in os.listdir(cache_dir())]
    assert opening.db_path in stored
    assert {name: mode(name) for name in stored} == dict.fromkeys(stored, 0o600)


def test_a_cache_left_open_by_an_older_version_is_made_private(tmp_path, open_umask):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    first = prepare(src)
    first.run_import()
    os.chmod(cache_dir(), 0o755)
    os.chmod(first.db_path, 0o644)
    again = prepare(src)
    assert again.ready and mode(cache_dir()) == 0o700 and mode(again.db_path) == 0o600


def test_a_same_size_rewrite_with_the_old_mtime_is_read_again(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1", agent="alpha")])
    before = os.stat(src)
    first = prepare(src)
    first.run_import()
    data = open(src, "rb").read()
    with open(src, "wb") as f:
        f.write(data.replace(b"alpha", b"omega"))
    os.utime(src, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(src).st_size == before.st_size and os.stat(src).st_mtime_ns == before.st_mtime_ns
    again = prepare(src)
    assert not again.ready and again.db_path != first.db_path
    again.run_import()
    assert [r.agent for r in again.connect().list_runs()] == ["omega"]


def test_an_unusable_cache_directory_means_a_temporary_store_and_one_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1"), run("r2")])
    result = invoke("list", src, "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 2
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("tracetui: warning: the cache ")
    assert "Not a directory" in warnings[0] and "temporary store" in warnings[0]


class FullCache(store_writer.StoreWriter):
    """A store writer whose disk is full, in the cache directory only."""

    def add(self, run) -> None:
        if self.path.startswith(cache_dir()) or FullCache.everywhere:
            raise sqlite3.OperationalError("database or disk is full")
        super().add(run)

    everywhere = False


def test_a_full_cache_falls_back_to_a_temporary_store(tmp_path, monkeypatch):
    monkeypatch.setattr(store_writer, "StoreWriter", FullCache)  # (loading imports it when an import starts)
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1"), run("r2")])
    result = invoke("list", src)
    assert result.exit_code == 0 and "r1" in result.stdout and "r2" in result.stdout
    assert result.stderr.count("tracetui: warning: the cache ") == 1 and "disk is full" in result.stderr
    assert not any(name.endswith(".db") for name in os.listdir(cache_dir()))  # the half-written store is gone


def test_with_no_room_anywhere_the_message_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(store_writer, "StoreWriter", FullCache)  # (loading imports it when an import starts)
    monkeypatch.setattr(FullCache, "everywhere", True)
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    result = invoke("list", src)
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"tracetui: {src}: cannot write a store of it, in the cache or a temporary one (database or disk is full)"
    ]


async def test_the_viewer_says_when_the_cache_could_not_be_used(tmp_path, monkeypatch):
    from tracetui.tui.app import TraceApp
    from tracetui.tui.pilot import until

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    app = TraceApp(prepare(write_jsonl(tmp_path / "runs.jsonl", [run("r1")])))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: not app.importing and app.runs_screen.run_list.count == 1)
        [toast] = list(app._notifications)
        assert toast.severity == "warning" and "temporary store" in toast.message
