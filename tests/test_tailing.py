"""Following a growing session, event log or OTLP file (tailing.py): only the appended bytes are read, and
the store ends up exactly as a read of the whole file from the start leaves it.

Each test writes a real file, imports it, follows it (Opening.tails, as follow.Follower sets it) and
appends the rest of a real fixture to it a few lines (and half lines) at a time; after each append the
followed store is compared with a fresh import of the file as it is then (runs, steps, problems).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest
from agents import CLAUDE, CODEX, CODEX_MAIN, GEMINI_JSON, GEMINI_JSONL, claude
from builders import run, step, write_jsonl

from tracetui.follow import Follower
from tracetui.loading import prepare
from tracetui.tailing import Tails

FRAMEWORKS = Path(__file__).resolve().parent / "fixtures" / "frameworks"
SAMPLES = Path(__file__).resolve().parents[1] / "sample_traces"


def contents(db_path: str) -> dict[str, list]:
    """What a store holds: runs and steps in key order, problems as a sorted list (their order and
    numbers are how they were written, not what they say)."""
    conn = sqlite3.connect(db_path)
    try:
        return {
            "runs": conn.execute("SELECT * FROM runs ORDER BY id").fetchall(),
            "steps": conn.execute("SELECT * FROM steps ORDER BY run_id, id").fetchall(),
            "problems": sorted(conn.execute("SELECT line, run_id, message FROM problems").fetchall(), key=repr),
        }
    finally:
        conn.close()


def whole_read(path: Path) -> dict[str, list]:
    fresh = prepare(str(path), use_cache=False)
    fresh.run_import()
    return contents(fresh.db_path)


def followed(path: Path):
    opening = prepare(str(path))
    opening.run_import()
    opening.tails = Tails()
    opening.refresh()  # the first look: the file read once into its Tail
    return opening


def lines_of(path: Path) -> list[bytes]:
    return open(path, "rb").read().splitlines(keepends=True)


def grow(opening, path: Path, rest: list[bytes], *, step: int = 3) -> list:
    """Append `rest` a few lines at a time, each append in two writes (the first ends mid-line); refresh
    after each write and check the store against a whole read whenever the file ends with a newline."""
    refreshes = []
    for start in range(0, len(rest), step):
        chunk = b"".join(rest[start : start + step])
        cut = len(chunk) // 2
        with open(path, "ab") as f:
            f.write(chunk[:cut])
        refreshes.append(opening.refresh())
        with open(path, "ab") as f:
            f.write(chunk[cut:])
        refreshes.append(opening.refresh())
        assert contents(opening.db_path) == whole_read(path), f"after {start + step} appended lines"
    return refreshes


def started(tmp_path: Path, source: Path, keep: int, name: str | None = None) -> tuple[Path, list[bytes]]:
    """A copy of the first `keep` lines of `source` in tmp_path, and the lines still to be appended."""
    lines = lines_of(source)
    path = tmp_path / (name or source.name)
    path.write_bytes(b"".join(lines[:keep]))
    return path, lines[keep:]


def claude_project(tmp_path: Path) -> Path:
    """The fixture project copied, so a session's subagent files come along."""
    project = tmp_path / "projects" / CLAUDE.name
    shutil.copytree(CLAUDE, project)
    return project


def test_a_claude_code_session_read_on_as_it_grows_is_what_a_whole_read_gives(tmp_path):
    project = claude_project(tmp_path)
    session = project / claude(1).name
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:6]))
    opening = followed(session)
    refreshes = grow(opening, session, lines[6:], step=2)
    assert all(r.appended == [str(session)] and not r.restarted for r in refreshes if r)
    assert any(r.changed for r in refreshes)


def test_a_streamed_claude_model_call_counts_the_usage_of_its_last_line(tmp_path):
    project = claude_project(tmp_path)
    session = project / claude(1).name
    lines = lines_of(session)
    streamed = {}
    for i, line in enumerate(lines):
        message = orjson.loads(line).get("message")
        if isinstance(message, dict) and message.get("id") and message.get("usage"):
            streamed.setdefault(message["id"], []).append(i)
    message_id, at = next((m, idx) for m, idx in streamed.items() if len(idx) > 1)
    session.write_bytes(b"".join(lines[: at[0] + 1]))
    opening = followed(session)
    for i in range(at[0] + 1, at[-1] + 1):  # the message's later lines one at a time
        with open(session, "ab") as f:
            f.write(lines[i])
        opening.refresh()
    usage = orjson.loads(lines[at[-1]])["message"]["usage"]
    conn = sqlite3.connect(opening.db_path)
    tokens_out = conn.execute("SELECT tokens_out FROM steps WHERE id = ?", (message_id,)).fetchone()[0]
    conn.close()
    assert tokens_out == usage["output_tokens"]
    assert contents(opening.db_path) == whole_read(session)


def test_the_lines_read_before_are_not_read_again(tmp_path):
    # A line in the middle of what was read, changed behind the follower's back (the start and the end of
    # the file, which tell a grown file from a rewritten one, kept): only a read from the start sees it.
    session = tmp_path / "session.jsonl"
    lines = lines_of(claude(1))
    filler = [
        orjson.dumps({"type": "file-history-snapshot", "messageId": f"m{i}", "note": "x" * 900}) + b"\n"
        for i in range(12)
    ]
    session.write_bytes(b"".join(lines[:4] + filler + lines[4:10]))
    opening = followed(session)
    data = bytearray(session.read_bytes())
    middle = data.index(b'"messageId":"m6"') - len(b'"type":"file-history-snapshot",')
    assert data[middle : middle + 6] == b'"type"'
    data[middle : middle + 6] = b'"tipe"'  # that line is no Claude Code record any more
    session.write_bytes(bytes(data))  # same size, same inode
    with open(session, "ab") as f:
        f.write(b"".join(lines[10:14]))
    refresh = opening.refresh()
    assert refresh.appended == [str(session)] and not refresh.restarted
    unread = ('skipped: not a Claude Code record (no "type")',)
    assert not [p for p in contents(opening.db_path)["problems"] if p[2] in unread]
    assert [p[0] for p in whole_read(session)["problems"] if p[2] in unread] == [4 + 6 + 1]


def test_a_subagent_file_that_grows_is_read_on_with_its_session(tmp_path):
    project = claude_project(tmp_path)
    session = project / claude(1).name
    subagent = next((project / session.stem / "subagents").glob("agent-*.jsonl"))
    sub_lines = lines_of(subagent)
    subagent.write_bytes(b"".join(sub_lines[:2]))
    opening = followed(session)
    for line in sub_lines[2:]:
        with open(subagent, "ab") as f:
            f.write(line)
        refresh = opening.refresh()
        assert not refresh.added and not refresh.removed
        assert contents(opening.db_path) == whole_read(session)


def test_a_truncated_session_is_read_again_from_the_start(tmp_path):
    project = claude_project(tmp_path)
    session = project / claude(1).name
    lines = lines_of(session)
    opening = followed(session)
    session.write_bytes(b"".join(lines[:8]))  # truncated in place
    refresh = opening.refresh()
    assert refresh.restarted == [str(session)] and not refresh.appended
    assert contents(opening.db_path) == whole_read(session)
    grow(opening, session, lines[8:14])


def test_a_codex_rollout_and_its_subagent_read_on_as_they_grow(tmp_path):
    sessions = tmp_path / "sessions"
    shutil.copytree(CODEX, sessions)
    main = sessions / CODEX_MAIN.relative_to(CODEX)
    lines = lines_of(main)
    main.write_bytes(b"".join(lines[:5]))
    os.utime(main, (2_000_000_000, 2_000_000_000))  # written after its subagent began (companions look at it)
    opening = followed(main)
    refreshes = grow(opening, main, lines[5:])
    assert any(r.appended for r in refreshes)


def test_a_gemini_jsonl_chat_read_on_and_a_json_chat_read_again_whole(tmp_path):
    path, rest = started(tmp_path, GEMINI_JSONL, 2)
    opening = followed(path)
    refreshes = grow(opening, path, rest, step=1)
    assert any(r.appended for r in refreshes)
    document = tmp_path / GEMINI_JSON.name
    shutil.copy(GEMINI_JSON, document)
    opening = followed(document)
    chat = orjson.loads(document.read_bytes())
    chat["messages"] = chat["messages"] + chat["messages"][:1]
    chat["messages"][-1] = {**chat["messages"][-1], "id": "again"}
    document.write_bytes(orjson.dumps(chat))
    refresh = opening.refresh()
    assert not refresh.appended and not opening.tails.has(str(document))
    assert contents(opening.db_path) == whole_read(document)


@pytest.mark.parametrize(
    "source",
    [
        SAMPLES / "events.jsonl",
        FRAMEWORKS / "pydantic_ai_otlp.jsonl",
        FRAMEWORKS / "langsmith_runs.jsonl",
        FRAMEWORKS / "openai_agents_traces.jsonl",
        FRAMEWORKS / "langfuse_observations.jsonl",
        FRAMEWORKS / "langfuse_traces.jsonl",
    ],
    ids=["events", "otlp", "langsmith", "openai-agents", "langfuse-observations", "langfuse-downloads"],
)
def test_an_event_log_or_otlp_lines_read_on_rebuild_only_the_runs_appended_to(tmp_path, source):
    path, rest = started(tmp_path, source, 3)
    opening = followed(path)
    refreshes = grow(opening, path, rest, step=2)
    assert any(r.appended for r in refreshes)
    assert all(len(r.changed) + len(r.added) <= 2 for r in refreshes)  # two lines touch two runs at most


def test_appended_lines_that_are_not_usable_are_reported_and_the_rest_read(tmp_path):
    path, rest = started(tmp_path, SAMPLES / "events.jsonl", 5)
    opening = followed(path)
    grow(opening, path, [b"{not json\n", b'{"step_id": "x"}\n', *rest[:4]], step=2)


def test_follow_reads_a_growing_session_through_its_tail(tmp_path):
    project = claude_project(tmp_path)
    session = project / claude(2).name
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:4]))
    opening = prepare(str(session))
    opening.run_import()
    follower = Follower(opening, watch=False)
    assert opening.tails is not None
    follower.check()  # the first look
    with open(session, "ab") as f:
        f.write(b"".join(lines[4:]))
    change = follower.check()
    assert change is not None and change.ids
    assert opening.tails.has(str(session))
    assert contents(opening.db_path) == whole_read(session)


def test_a_followed_folder_reads_a_grown_session_on_after_its_first_growth(tmp_path):
    project = claude_project(tmp_path)
    session = project / claude(2).name
    lines = lines_of(session)
    session.write_bytes(b"".join(lines[:4]))
    opening = prepare(str(project))
    opening.run_import()
    Follower(opening, watch=False)
    rel = os.path.relpath(session, project)
    appended = []
    for chunk in (lines[4:7], lines[7:10], lines[10:]):
        with open(session, "ab") as f:
            f.write(b"".join(chunk))
        appended.append(opening.refresh().appended)
    assert appended == [[], [rel], [rel]]  # the first growth reads it whole, into its Tail
    assert opening.tails.has(str(session))
    steps = contents(opening.db_path)["steps"]
    alone = whole_read(session)["steps"]
    session_id = alone[0][0]
    assert [row[1:] for row in steps if row[0] == session_id] == [row[1:] for row in alone]


def test_following_ends_with_no_staging_file_left(tmp_path, monkeypatch):
    import tempfile
    import threading

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    path, rest = started(tmp_path, SAMPLES / "events.jsonl", 3)
    opening = prepare(str(path))
    opening.run_import()
    follower = Follower(opening, watch=False, poll=0.05)
    looks = threading.Semaphore(0)
    thread = threading.Thread(target=follower.run, args=(lambda change: looks.release(),), daemon=True)
    thread.start()
    assert looks.acquire(timeout=60)  # the first look: the log read into its Tail, staged
    assert [p.name for p in scratch.iterdir() if p.name.startswith("tracetui-staging-")]
    with open(path, "ab") as f:
        f.write(b"".join(rest[:2]))
    assert looks.acquire(timeout=60)
    follower.close()
    thread.join(60)
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("tracetui-staging-")]


def test_an_unchanged_file_of_a_format_without_a_tail_is_not_read_again_when_followed(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s")), run("r2", step("s"))])
    opening = followed(Path(path))

    watcher = sqlite3.connect(opening.db_path)  # its data_version moves when another connection commits
    before = watcher.execute("PRAGMA data_version").fetchone()[0]
    assert not opening.refresh() and not opening.refresh()
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == before  # nothing written: an export has no Tail
    watcher.close()
    assert not opening.tails.has(str(path))
