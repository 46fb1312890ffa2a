"""Files that are not plain files get the right words: a pipe is read (once, into a private copy),
a symlink loop is a symlink loop, a device is not a trace file, a locked database is locked."""

from __future__ import annotations

import json
import os
import sqlite3
import threading

from builders import run, step, write_agent_traces, write_jsonl
from click.testing import CliRunner

from tracetui.cli import main


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line(result) -> str:
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    [line] = result.stderr.strip().splitlines()
    return line


def feed(fifo, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as f:
            f.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_pipe_is_read_like_the_file_it_carries(tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("a")), run("r2")])
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = feed(fifo, open(src, "rb").read())
    result = invoke("list", fifo, "--json")
    writer.join(5)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)] == ["r1", "r2"]
    assert not os.path.exists(tmp_path / "cache" / "tracetui")  # a pipe's copy is never cached


def test_an_empty_pipe_says_so(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, b"")
    assert one_line(invoke("list", fifo)) == f"tracetui: {fifo}: a pipe that gave no data"


def test_a_pipe_of_something_else_names_the_pipe_not_the_copy(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    feed(fifo, b"hello world\n")
    assert one_line(invoke("list", fifo)).startswith(f"tracetui: {fifo}: not JSON, JSON Lines or SQLite")


def test_a_symlink_loop_is_called_one(tmp_path):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    assert one_line(invoke("list", tmp_path / "a")) == (
        f"tracetui: {tmp_path / 'a'}: a symlink loop (the links point at each other and never reach a file)"
    )


def test_a_broken_symlink_says_where_it_points(tmp_path):
    os.symlink(tmp_path / "gone.jsonl", tmp_path / "link")
    line = one_line(invoke("list", tmp_path / "link"))
    assert (
        line
        == f"tracetui: {tmp_path / 'link'}: a broken symlink (it points to '{tmp_path / 'gone.jsonl'}', which does not exist)"
    )


def test_a_device_is_not_a_trace_file():
    assert one_line(invoke("list", "/dev/null")) == "tracetui: /dev/null: is a character device, not a regular file"


def test_a_locked_database_is_locked_not_corrupt(tmp_path):
    path = write_agent_traces(tmp_path / "busy.db", [{"id": "t1"}])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program in the middle of writing
    try:
        line = one_line(invoke("list", path))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert line == f"tracetui: {path}: locked (another program holds a write lock); try again when it is done"
    assert invoke("list", path).exit_code == 0  # and once it is released, it opens
