"""A followed Claude Code session is built on from the turn its appended lines changed (tailing.Built,
claude_code._Resumed.grown): the steps of the turns before it keep their rows, and the store ends up
exactly as a whole read of the file leaves it.

Each test appends lines one at a time (each in two writes, the first ending mid-line), looks after
each write, and compares the followed store with a fresh import of the file whenever it ends with a
newline: the real fixtures (with their subagent files, sidechain and progress lines, forks: built
whole), the same sessions without them (built on), a session written to meet every way a line
changes an earlier step, hostile lines, a rewritten file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from agents import CLAUDE, claude
from test_tailing import contents, followed, lines_of, whole_read

SESSION = "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e77"


def grow_line_by_line(opening, path: Path, rest: list[bytes]) -> None:
    for number, line in enumerate(rest, 1):
        cut = len(line) // 2
        with open(path, "ab") as f:
            f.write(line[:cut])
        opening.refresh()
        with open(path, "ab") as f:
            f.write(line[cut:])
        opening.refresh()
        if line.endswith(b"\n"):  # (a last line cut short waits for its end: a whole read reports it)
            assert contents(opening.db_path) == whole_read(path), f"after {number} appended lines"


def begun(lines: list[bytes]) -> int:
    """How many lines make the session's start: up to its first user line (a file with no conversation
    yet cannot be imported)."""
    return next(i for i, line in enumerate(lines, 1) if orjson.loads(line).get("type") == "user")


def built(opening, path: Path):
    tail = opening.tails.get(str(path))
    return tail.built if tail is not None else None


def plain(lines: list[bytes]) -> list[bytes]:
    """The lines without subagents: no sidechain lines, no agent_progress lines."""
    out = []
    for line in lines:
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            rec = {}
        if rec.get("isSidechain") is True or rec.get("type") == "progress":
            continue
        out.append(line)
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_a_real_session_with_its_subagents_followed_line_by_line_is_what_a_whole_read_gives(tmp_path, n):
    project = tmp_path / "projects" / CLAUDE.name
    shutil.copytree(CLAUDE, project)
    session = project / claude(n).name
    lines = lines_of(session)
    start = begun(lines)
    session.write_bytes(b"".join(lines[:start]))
    opening = followed(session)
    grow_line_by_line(opening, session, lines[start:])


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_a_real_session_without_subagents_followed_line_by_line_is_what_a_whole_read_gives(tmp_path, n):
    session = tmp_path / claude(n).name  # alone: no subagent files beside it
    lines = plain(lines_of(claude(n)))
    start = begun(lines)
    session.write_bytes(b"".join(lines[:start]))
    opening = followed(session)
    grow_line_by_line(opening, session, lines[start:])


# -- a session that meets every way a line changes an earlier step --------------------------------


class Writer:
    """Claude Code lines, each chained to the one before (parentUuid), a second apart."""

    def __init__(self) -> None:
        self.n = 0
        self.last: str | None = None
        self.lines: list[bytes] = []

    def line(self, kind: str, *, parent: str | None = "last", **fields) -> str:
        self.n += 1
        uuid = fields.pop("uuid", f"u-{self.n:03d}")
        rec = {
            "parentUuid": self.last if parent == "last" else parent,
            "isSidechain": False,
            "type": kind,
            "uuid": uuid,
            "timestamp": f"2026-02-01T10:{self.n // 60:02d}:{self.n % 60:02d}.000Z",
            "sessionId": SESSION,
            "cwd": "/home/dev/shop",
            "version": "2.1.0",
            **fields,
        }
        self.last = uuid
        self.lines.append(orjson.dumps(rec) + b"\n")
        return uuid

    def other(self, rec: dict) -> None:
        self.lines.append(orjson.dumps({"sessionId": SESSION, **rec}) + b"\n")

    def prompt(self, text: str, **fields) -> str:
        return self.line("user", message={"role": "user", "content": text}, **fields)

    def reply(self, message_id: str, content: list, usage: dict | None = None, **fields) -> str:
        message = {"id": message_id, "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": content}
        if usage is not None:
            message["usage"] = usage
        return self.line("assistant", message=message, **fields)

    def result(self, tool_id: str, text: str, error: bool = False) -> str:
        block = {"type": "tool_result", "tool_use_id": tool_id, "content": text, "is_error": error}
        return self.line("user", message={"role": "user", "content": [block]})


def usage(i: int, o: int) -> dict:
    return {"input_tokens": i, "output_tokens": o, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 7}


def busy_session() -> list[bytes]:
    w = Writer()
    w.other({"type": "permission-mode", "permissionMode": "default"})
    w.prompt("Add a health endpoint")
    # A response streamed over three lines (one message id), its usage rewritten, a tool's input too.
    w.reply("msg_1", [{"type": "thinking", "thinking": "Look first"}], usage(10, 1))
    w.reply("msg_1", [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"file": "a"}}], usage(10, 5))
    w.reply("msg_1", [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"file": "app.py"}}], usage(10, 9))
    w.result("t1", "from flask import Flask")
    # A result written before its tool call (it waits for it).
    w.result("t2", "early output")
    w.reply("msg_2", [{"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "ls"}}], usage(20, 3))
    w.reply("msg_3", [{"type": "tool_use", "id": "t3", "name": "Bash", "input": {"command": "make"}}], usage(30, 3))
    w.reply("msg_3b", [{"type": "text", "text": "Started the build."}], usage(31, 4))
    w.other({"type": "custom-title", "customTitle": "Health endpoint"})
    # The next prompt comes before t3's result: the result changes the turn before.
    w.prompt("And tests?")
    w.result("t3", "build failed", error=True)
    w.line("user", message={"role": "user", "content": "<command>ls</command>"}, isMeta=True)
    # Retries no model call took yet, then one that takes them.
    w.line("system", subtype="api_error", error={"status": 529, "error": {"error": {"message": "Overloaded"}}})
    w.line("system", subtype="api_error", error={"status": 529}, retryAttempt=2, maxRetries=10)
    w.reply("msg_4", [{"type": "text", "text": "Tests added."}], usage(40, 8))
    w.other({"type": "mystery-record", "payload": {"note": "drift"}})
    # Retries the session moved on from (they stay on their turn), an interrupted request.
    w.line("system", subtype="api_error", error={"status": 500})
    w.prompt("Stop")
    w.line("user", message={"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]})
    compaction = w.line(
        "system", parent=None, subtype="compact_boundary", content="Conversation compacted",
        compactMetadata={"trigger": "auto", "preTokens": 1000}, logicalParentUuid=w.last,
    )  # fmt: skip
    w.line("user", message={"role": "user", "content": "Summary of before"}, isCompactSummary=True)
    w.reply("msg_5", [{"type": "text", "text": "After the compaction"}], usage(5, 5), parent=compaction)
    w.prompt("Ship it")
    w.reply("msg_6", [{"type": "text", "text": "API Error: 400"}], usage(0, 0), isApiErrorMessage=True)
    w.line("system", subtype="turn_duration", durationMs=1234)
    # A line written twice (same uuid), and a model call whose message id is a prompt's uuid.
    w.lines.append(w.lines[-2])
    w.prompt("One more")
    w.reply("u-001", [{"type": "text", "text": "an id seen before"}], usage(1, 1))
    w.prompt("Last")
    w.reply("msg_7", [{"type": "text", "text": "Done."}], usage(50, 10))
    w.other({"type": "summary", "summary": "Health work", "leafUuid": w.last})
    return w.lines


def test_a_session_whose_lines_change_earlier_steps_is_what_a_whole_read_gives_after_each_line(tmp_path):
    lines = busy_session()
    session = tmp_path / f"{SESSION}.jsonl"
    session.write_bytes(b"".join(lines[:2]))
    opening = followed(session)
    grow_line_by_line(opening, session, lines[2:])


def test_the_turns_before_the_one_a_line_changed_are_kept_as_built(tmp_path):
    lines = busy_session()
    session = tmp_path / f"{SESSION}.jsonl"
    session.write_bytes(b"".join(lines[:2]))
    opening = followed(session)
    first_turn_kept = []
    for line in lines[2:]:
        before = built(opening, session)
        first = before.steps[0] if before is not None else None
        with open(session, "ab") as f:
            f.write(line)
        opening.refresh()
        after = built(opening, session)
        first_turn_kept.append(first is not None and after is not None and after.steps[0] is first)
    assert contents(opening.db_path) == whole_read(session)
    # From the second prompt on, a line changes the first turn only once (the result written after it).
    second = next(i for i, line in enumerate(lines[2:]) if b"And tests?" in line)
    assert first_turn_kept[second:].count(False) <= 2, first_turn_kept


def test_a_rewind_appended_to_a_followed_session_chooses_the_branch_as_a_whole_read_does(tmp_path):
    lines = plain(lines_of(claude(3)))
    first = orjson.loads(lines[0])
    again = {**first, "uuid": "rewound-1", "message": {"role": "user", "content": "Summarise it shorter"}}
    reply = orjson.loads(lines[3]) | {"parentUuid": "rewound-1", "uuid": "rewound-2"}
    reply["message"] = {**reply["message"], "id": "msg_rewound"}
    session = tmp_path / claude(3).name
    session.write_bytes(b"".join(lines[:4]))
    opening = followed(session)
    grow_line_by_line(opening, session, [orjson.dumps(again) + b"\n", orjson.dumps(reply) + b"\n", lines[4]])


HOSTILE_LINES = [
    b"{not json\n",
    b"[1, 2, 3]\n",
    b'"just a string"\n',
    b"\xff\xfe not utf-8 \xc3\x28\n",
    b'{"type": "user", "uuid": "h-nul", "parentUuid": null, "sessionId": "S", "message": {"role": "user", "content": "a\\u0000b"}}\n',
    b'{"type": "user", "uuid": "h-sur", "parentUuid": null, "sessionId": "S", "message": {"role": "user", "content": "\\ud800 lone"}}\n',
    b'{"type": "assistant", "uuid": "h-big", "parentUuid": "h-sur", "sessionId": "S", "message": {"id": "m-big", "content": '
    b'[{"type": "text", "text": "big"}], "usage": {"input_tokens": 9007199254740993, "output_tokens": -5}}}\n',
    b'{"type": "assistant", "uuid": "h-odd", "parentUuid": "h-big", "sessionId": "S", "message": {"id": "m-odd", '
    b'"content": 5, "usage": {"input_tokens": "many", "output_tokens": [1]}}}\n',
    b'{"type": "assistant", "uuid": "h-str", "sessionId": "S", "parentUuid": "h-odd", "message": "not an object"}\n',
    b'{"type": "user", "uuid": "h-deep", "parentUuid": "h-str", "sessionId": "S", "message": {"role": "user", "content": '
    + b"[" * 300
    + b"]" * 300
    + b"}}\n",
    b'{"type": "assistant", "uuid": "h-markup", "parentUuid": "h-deep", "sessionId": "S", "message": {"id": "[bold]m[/]", '
    b'"content": [{"type": "tool_use", "id": "[/tool]", "name": "\\u001b[31mred", "input": {}}]}}\n',
    b'{"type": "user", "uuid": "h-res", "parentUuid": "h-markup", "sessionId": "S", "message": {"role": "user", '
    b'"content": [{"type": "tool_result", "tool_use_id": "nowhere", "content": "orphan result"}]}}\n',
    b'{"no": "type"}\n',
    b"\n",
]


def test_hostile_lines_appended_to_a_followed_session_are_met_as_a_whole_read_meets_them(tmp_path):
    lines = plain(lines_of(claude(1)))
    session = tmp_path / claude(1).name
    session.write_bytes(b"".join(lines[:6]))
    opening = followed(session)
    mixed = [line for pair in zip(HOSTILE_LINES, lines[6:] + lines[6:], strict=False) for line in pair]
    grow_line_by_line(opening, session, mixed + HOSTILE_LINES[len(mixed) // 2 :])


def test_a_session_rewritten_while_followed_is_read_again_from_the_start(tmp_path):
    lines = busy_session()
    session = tmp_path / f"{SESSION}.jsonl"
    session.write_bytes(b"".join(lines[:12]))
    opening = followed(session)
    grow_line_by_line(opening, session, lines[12:16])
    edited = b"".join(lines[:16]).replace(b"Add a health endpoint", b"Add a status endpoint")
    session.write_bytes(edited + b"".join(lines[16:20]))  # same start and end bytes would not do: a prompt changed
    refresh = opening.refresh()
    assert refresh.restarted == [str(session)]
    assert contents(opening.db_path) == whole_read(session)
    grow_line_by_line(opening, session, lines[20:])


def subagent_lines() -> list[bytes]:
    """A subagent's own file (subagents/agent-ag1.jsonl): its sidechain conversation."""
    w = Writer()
    w.n = 100
    common = {"isSidechain": True, "agentId": "ag1"}
    w.line("user", message={"role": "user", "content": "Write the tests"}, **common)
    w.reply(
        "sub_1", [{"type": "tool_use", "id": "st1", "name": "Write", "input": {"file": "t.py"}}], usage(9, 2), **common
    )
    w.result("st1", "written")
    w.reply("sub_2", [{"type": "text", "text": "Tests written."}], usage(12, 3), **common)
    return [line.replace(b'"isSidechain":false', b'"isSidechain":true') for line in w.lines]


def test_a_session_and_its_subagent_file_growing_together_are_what_a_whole_read_gives(tmp_path):
    session_lines = busy_session()
    at = next(i for i, line in enumerate(session_lines) if b"And tests?" in line) + 1
    task = Writer()
    task.n = 90
    task.last = orjson.loads(session_lines[at - 1])["uuid"]
    task.reply(
        "msg_task", [{"type": "tool_use", "id": "task1", "name": "Task", "input": {"prompt": "Write the tests"}}]
    )
    session_lines[at:at] = task.lines
    session = tmp_path / f"{SESSION}.jsonl"
    folder = tmp_path / SESSION / "subagents"
    folder.mkdir(parents=True)
    (folder / "agent-ag1.meta.json").write_bytes(orjson.dumps({"agentType": "tester", "toolUseId": "task1"}))
    agent = folder / "agent-ag1.jsonl"
    sub = subagent_lines()
    session.write_bytes(b"".join(session_lines[: at + 1]))
    agent.write_bytes(sub[0])  # (a file that appears is seen when its session next changes: not tested here)
    opening = followed(session)
    # The subagent's lines and the session's in turn, then the rest of the session's.
    appends = [(agent, line) for line in sub[1:]]
    for k, line in enumerate(session_lines[at + 1 :]):
        appends.insert(min(2 * k + 1, len(appends)), (session, line))
    late = orjson.loads(sub[-1]) | {"uuid": "u-late", "parentUuid": orjson.loads(sub[-1])["uuid"]}
    late["message"] = {**late["message"], "id": "sub_3"}
    appends.append((agent, orjson.dumps(late) + b"\n"))  # its turn is long over: built again from there
    kept = []
    for i, (path, line) in enumerate(appends):
        before = built(opening, session)
        first = before.steps[0] if before is not None else None
        with open(path, "ab") as f:
            f.write(line)
        opening.refresh()
        after = built(opening, session)
        kept.append(first is not None and after is not None and after.steps[0] is first)
        assert contents(opening.db_path) == whole_read(session), f"after {i + 1} appended lines"
    assert kept.count(True) >= len(kept) // 2, kept
