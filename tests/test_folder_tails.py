"""A folder opened again after one of its session files only grew reads only the appended bytes
(tailstate.py: the file's Tail kept in the folder's store), and the store ends up as a fresh import of
the whole folder leaves it; a file changed in any other way is read whole.

Each test writes real files, opens the folder (prepare + refresh, as `tracetui open DIR` does, each time
a new FolderOpening: nothing is carried in memory from one open to the next), appends to a file, opens
it again, and compares the store with a fresh import of the folder into a store of its own. What the
reader was handed is what the store's tail_state row says the last read fed it (tailstate.last_read).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from agents import CLAUDE, CLAUDE_SUBAGENT, CODEX, CODEX_MAIN, GEMINI_JSONL, claude

from tracetui import tailstate
from tracetui.loading import prepare

SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"
SESSION = claude(1).name


def contents(db_path: str) -> dict[str, list]:
    """Runs and steps in key order, problems sorted (their numbers are the order they were written in)."""
    conn = sqlite3.connect(db_path)
    try:
        return {
            "runs": conn.execute("SELECT * FROM runs ORDER BY id").fetchall(),
            "steps": conn.execute("SELECT * FROM steps ORDER BY run_id, id").fetchall(),
            "problems": sorted(conn.execute("SELECT line, run_id, file, message FROM problems").fetchall(), key=repr),
        }
    finally:
        conn.close()


def reopened(folder: Path):
    """The folder opened again, as a new process would (a new FolderOpening), and brought up to date."""
    opening = prepare(str(folder))
    refresh = opening.refresh()
    return opening, refresh


def fresh(folder: Path) -> dict[str, list]:
    opening = prepare(str(folder), use_cache=False)
    opening.run_import()
    return contents(opening.db_path)


def fed(opening, rel: str) -> int | None:
    """Bytes the last read of the file handed its reader (None: its Tail is not kept)."""
    conn = sqlite3.connect(opening.db_path)
    try:
        found = tailstate.last_read(conn, rel)
    finally:
        conn.close()
    return None if found is None else found[0]


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def now(*paths: Path) -> None:
    """Written just now (a session being written: its Tail is kept from its first read)."""
    for path in paths:
        os.utime(path, None)


@pytest.fixture
def project(tmp_path) -> Path:
    folder = tmp_path / "projects" / CLAUDE.name
    shutil.copytree(CLAUDE, folder)
    now(*[p for p in folder.rglob("*") if p.is_file()])
    return folder


def whole_subagent(project: Path) -> int:
    """Bytes of the session's subagent file (a whole read of the session reads it too)."""
    return (project / CLAUDE_SUBAGENT.relative_to(CLAUDE)).stat().st_size


def line_index(lines: list[bytes], test) -> int:
    return next(i for i, line in enumerate(lines) if test(orjson.loads(line)))


def content_blocks(rec: dict) -> list:
    message = rec.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, list) else []


def test_a_grown_session_is_read_on_from_where_it_ended_and_gives_a_fresh_imports_store(project):
    session = project / SESSION
    lines = lines_of(session)
    # Cut between a tool_use and its tool_result, the result arriving in the appended part.
    use = line_index(lines, lambda r: any(b.get("type") == "tool_use" for b in content_blocks(r)))
    tool_id = next(b["id"] for b in content_blocks(orjson.loads(lines[use])) if b.get("type") == "tool_use")
    result = line_index(lines, lambda r: any(b.get("tool_use_id") == tool_id for b in content_blocks(r)))
    assert result > use + 1
    session.write_bytes(b"".join(lines[: use + 1]))
    first, _ = reopened(project)
    subagent = project / CLAUDE_SUBAGENT.relative_to(CLAUDE)
    assert fed(first, SESSION) == session.stat().st_size + subagent.stat().st_size  # the first read: all of both

    appended = b"".join(lines[use + 1 :])
    append(session, appended)
    opening, refresh = reopened(project)
    assert refresh.appended == [SESSION] and refresh.changed == [session.stem]
    assert fed(opening, SESSION) == len(appended)  # only the new part was read
    assert contents(opening.db_path) == fresh(project)


def test_a_model_call_streamed_across_the_boundary_counts_its_last_lines_usage(project):
    session = project / SESSION
    lines = lines_of(session)
    streamed: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        message = orjson.loads(line).get("message")
        if isinstance(message, dict) and message.get("id") and message.get("usage"):
            streamed.setdefault(message["id"], []).append(i)
    message_id, at = next((m, idx) for m, idx in streamed.items() if len(idx) > 1)
    session.write_bytes(b"".join(lines[: at[0] + 1]))  # the message's first line only
    reopened(project)
    appended = b"".join(lines[at[0] + 1 :])
    append(session, appended)
    opening, _ = reopened(project)
    assert fed(opening, SESSION) == len(appended)
    conn = sqlite3.connect(opening.db_path)
    tokens_out = conn.execute("SELECT tokens_out FROM steps WHERE id = ?", (message_id,)).fetchone()[0]
    conn.close()
    assert tokens_out == orjson.loads(lines[at[-1]])["message"]["usage"]["output_tokens"]
    assert contents(opening.db_path) == fresh(project)


def test_a_subagent_file_that_grows_is_read_on_with_its_session(project):
    subagent = project / CLAUDE_SUBAGENT.relative_to(CLAUDE)
    lines = lines_of(subagent)
    subagent.write_bytes(b"".join(lines[:2]))
    reopened(project)
    appended = b"".join(lines[2:])
    append(subagent, appended)
    opening, refresh = reopened(project)
    assert refresh.changed == [Path(SESSION).stem] and not refresh.added
    assert fed(opening, SESSION) == len(appended)  # the session itself did not grow: none of it was read
    assert contents(opening.db_path) == fresh(project)


def test_a_half_written_last_line_waits_and_is_reported_as_a_whole_read_reports_it(project):
    session = project / SESSION
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:10]))
    reopened(project)
    half = len(lines[11]) // 2
    append(session, lines[10] + lines[11][:half])
    opening, _ = reopened(project)
    assert fed(opening, SESSION) == len(lines[10])  # the whole line; the half one waits
    store = contents(opening.db_path)
    assert store == fresh(project)
    assert [p for p in store["problems"] if "ends mid-line" in p[3]][0][0] == 12
    append(session, lines[11][half:] + lines[12])
    opening, _ = reopened(project)
    assert fed(opening, SESSION) == len(lines[11]) + len(lines[12])
    assert contents(opening.db_path) == fresh(project)


def test_a_session_rewritten_with_the_same_size_is_read_whole(project):
    session = project / SESSION
    reopened(project)
    data = session.read_bytes()
    session.write_bytes(data.replace(b"health endpoint", b"wealth endpoint"))  # same size, same inode
    opening, _ = reopened(project)
    assert fed(opening, SESSION) == len(data) + whole_subagent(project)
    assert contents(opening.db_path) == fresh(project)


def test_a_session_grown_after_a_rewrite_in_its_middle_is_read_whole(project):
    # The first and last 4 KB of what was read, the inode, and growth: all as an append leaves them.
    # Only the hash of every byte read tells the rewrite.
    session = project / SESSION
    lines = lines_of(session)
    filler = [
        orjson.dumps({"type": "file-history-snapshot", "messageId": f"m{i}", "note": "x" * 900}) + b"\n"
        for i in range(12)
    ]
    session.write_bytes(b"".join(lines[:4] + filler + lines[4:10]))
    reopened(project)
    data = bytearray(session.read_bytes())
    middle = data.index(b'"note":"xxx') + 8
    data[middle : middle + 3] = b"yyy"
    session.write_bytes(bytes(data))
    append(session, b"".join(lines[10:14]))
    opening, _ = reopened(project)
    assert fed(opening, SESSION) == session.stat().st_size + whole_subagent(project)
    assert contents(opening.db_path) == fresh(project)


def test_a_tail_kept_by_another_build_is_not_loaded(project):
    session = project / SESSION
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:10]))
    first, _ = reopened(project)
    conn = sqlite3.connect(first.db_path)
    conn.execute("UPDATE tail_state SET tag = 'another build'")
    conn.commit()
    conn.close()
    append(session, b"".join(lines[10:]))
    opening, _ = reopened(project)
    assert fed(opening, SESSION) == session.stat().st_size + whole_subagent(project)
    assert contents(opening.db_path) == fresh(project)


def test_a_file_not_written_lately_keeps_no_tail_until_it_grows(project):
    session = project / SESSION
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:10]))
    old = time.time() - tailstate.ACTIVE_SECONDS - 3600
    os.utime(session, (old, old))
    first, _ = reopened(project)
    assert fed(first, SESSION) is None
    append(session, b"".join(lines[10:20]))
    second, _ = reopened(project)
    assert fed(second, SESSION) == session.stat().st_size + whole_subagent(
        project
    )  # it grew: read whole, its Tail kept from now on
    append(session, b"".join(lines[20:]))
    third, _ = reopened(project)
    assert fed(third, SESSION) == len(b"".join(lines[20:]))
    assert contents(third.db_path) == fresh(project)


def test_a_codex_rollout_and_a_gemini_chat_that_grew_are_read_on(tmp_path):
    folder = tmp_path / "sessions"
    shutil.copytree(CODEX, folder / "codex")
    shutil.copy(GEMINI_JSONL, folder / GEMINI_JSONL.name)
    now(*[p for p in folder.rglob("*") if p.is_file()])
    rollout = folder / "codex" / CODEX_MAIN.relative_to(CODEX)
    chat = folder / GEMINI_JSONL.name
    rollout_lines, chat_lines = lines_of(rollout), lines_of(chat)
    rollout.write_bytes(b"".join(rollout_lines[:5]))
    chat.write_bytes(b"".join(chat_lines[:2]))
    os.utime(rollout, (2_000_000_000, 2_000_000_000))  # written after its subagent began (as in test_tailing)
    reopened(folder)
    more_rollout, more_chat = b"".join(rollout_lines[5:]), b"".join(chat_lines[2:])
    append(rollout, more_rollout)
    append(chat, more_chat)
    os.utime(rollout, (2_000_000_100, 2_000_000_100))
    opening, _ = reopened(folder)
    assert fed(opening, str(rollout.relative_to(folder))) == len(more_rollout)
    assert fed(opening, chat.name) == len(more_chat)
    assert contents(opening.db_path) == fresh(folder)


@pytest.mark.parametrize(
    "source", [SAMPLES / "events.jsonl", Path(__file__).parent / "fixtures" / "frameworks" / "langsmith_runs.jsonl"]
)
def test_an_event_log_that_grew_is_read_on_with_its_staged_records(tmp_path, source, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where staging files are made
    folder = tmp_path / "logs"
    folder.mkdir()
    log = folder / source.name
    lines = lines_of(source)
    log.write_bytes(b"".join(lines[:3]))
    reopened(folder)
    appended = b"".join(lines[3:])
    append(log, appended)
    opening, _ = reopened(folder)
    assert fed(opening, log.name) == len(appended)
    assert contents(opening.db_path) == fresh(folder)
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("tracetui-staging-")]


def test_another_process_opening_the_folder_reads_only_what_was_appended(project, tmp_path):
    session = project / SESSION
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:10]))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def listed() -> list[dict]:
        cmd = [sys.executable, "-m", "tracetui", "list", str(project), "--json"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    before = {r["id"]: r for r in listed()}
    appended = b"".join(lines[10:])
    append(session, appended)
    after = {r["id"]: r for r in listed()}
    assert after[session.stem]["steps"] > before[session.stem]["steps"]
    opening = prepare(str(project))  # the store the processes wrote (XDG_CACHE_HOME is this test's too)
    assert opening.ready
    assert fed(opening, SESSION) == len(appended)
    assert contents(opening.db_path) == fresh(project)


def test_grown_sessions_read_by_worker_processes_are_read_on_too(project, monkeypatch):
    from tracetui import folder_import

    sessions = [project / claude(n).name for n in (1, 2, 4)]
    lines = {s: lines_of(s) for s in sessions}
    for s in sessions:
        s.write_bytes(b"".join(lines[s][:6]))
    reopened(project)
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    monkeypatch.setattr(folder_import, "FIRST_BYTES", 0)  # one file in this process, the others to workers
    monkeypatch.setattr(folder_import, "FIRST_CHUNK", 1)
    for s in sessions:
        append(s, b"".join(lines[s][6:]))
    opening = prepare(str(project))
    assert opening.uses_workers
    opening.refresh()
    assert [fed(opening, s.name) for s in sessions] == [len(b"".join(lines[s][6:])) for s in sessions]
    assert contents(opening.db_path) == fresh(project)
