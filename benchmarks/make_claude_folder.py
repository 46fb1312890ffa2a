"""Write a folder shaped like ~/.claude/projects: many Claude Code sessions, some with subagent files.

Usage: python benchmarks/make_claude_folder.py OUT_DIR [SESSIONS] [MEGABYTES]

The sessions follow the shapes of tests/fixtures/agents/claude (see its README): a user prompt
starts a turn; each model response is written as one line per content block (thinking, text,
tool_use) sharing a message id, its usage growing line by line; tool results come back in user
lines, some of them errors; a few sessions have a subagent in `<session>/subagents/` with its
`.meta.json`, and carry the lines that are not conversation (file-history-snapshot, progress).
Tool results hold code-like text of 0.5-12 KB, so a session of ~100 steps is ~0.5 MB, as real
ones are. File times are spread over the last 60 days, newest last. Deterministic (seeded).
"""

from __future__ import annotations

import json
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta

WORDS = (
    "def return self import from class if else for while try except with yield lambda async await "
    "value result items config request response handler cache client server path file line error "
    "status token model tool call step run test assert check build parse render"
).split()
TOOLS = ("Read", "Bash", "Grep", "Edit", "Write", "Glob")
MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001")
PROJECTS = ("shop", "billing", "web", "infra", "docs", "api", "ml-pipeline", "cli", "mobile", "data")


def code_text(rnd: random.Random, size: int) -> str:
    lines, total, n = [], 0, 1
    while total < size:
        words = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12)))
        line = f"{n}\t{'    ' * rnd.randint(0, 3)}{words}"
        lines.append(line)
        total += len(line) + 1
        n += 1
    return "\n".join(lines)


class Session:
    """Lines of one conversation (the main session or a subagent's file)."""

    def __init__(self, rnd: random.Random, session_id: str, cwd: str, when: datetime, agent_id: str | None = None):
        self.rnd, self.session_id, self.cwd, self.when = rnd, session_id, cwd, when
        self.agent_id = agent_id
        self.lines: list[str] = []
        self.parent: str | None = None
        self.model = rnd.choice(MODELS)
        self.msg = 0

    def _tick(self, seconds: float) -> str:
        self.when += timedelta(seconds=seconds)
        return self.when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.when.microsecond // 1000:03d}Z"

    def _line(self, kind: str, body: dict, seconds: float = 0.5) -> str:
        uid = str(uuid.UUID(int=self.rnd.getrandbits(128)))
        rec = {
            "parentUuid": self.parent,
            "isSidechain": self.agent_id is not None,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": "2.1.131",
            "gitBranch": "main",
            "type": kind,
            "uuid": uid,
            "timestamp": self._tick(seconds),
            **body,
        }
        if self.agent_id:
            rec["agentId"] = self.agent_id
        self.lines.append(json.dumps(rec, separators=(",", ":")))
        self.parent = uid
        return uid

    def prompt(self, text: str) -> None:
        uid = self._line("user", {"message": {"role": "user", "content": text}})
        snapshot = {"messageId": uid, "trackedFileBackups": {}, "timestamp": self._tick(0)}
        self.lines.append(
            json.dumps(
                {"type": "file-history-snapshot", "messageId": uid, "snapshot": snapshot, "isSnapshotUpdate": False}
            )
        )

    def response(self, tools: int) -> list[tuple[str, str]]:
        """One model response: thinking, text and `tools` tool_use blocks as separate lines; its tool ids."""
        self.msg += 1
        msg_id = f"msg_{self.session_id[:8]}_{self.agent_id or 'm'}_{self.msg:04d}"
        rnd = self.rnd
        cache_read = rnd.randint(2_000, 60_000)
        usage = {"input_tokens": rnd.randint(3, 40), "cache_creation_input_tokens": rnd.randint(50, 3_000)}
        usage["cache_read_input_tokens"] = cache_read
        blocks: list[dict] = [
            {"type": "thinking", "thinking": code_text(rnd, rnd.randint(100, 800)), "signature": "c2ln"},
            {"type": "text", "text": " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(10, 120)))},
        ]
        ids = []
        for _ in range(tools):
            tool_id = f"toolu_{rnd.getrandbits(64):016x}"
            name = rnd.choice(TOOLS)
            blocks.append({"type": "tool_use", "id": tool_id, "name": name, "input": {"command": code_text(rnd, 80)}})
            ids.append((tool_id, name))
        out = 0
        for i, block in enumerate(blocks):
            out += rnd.randint(5, 200)
            message = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [block],
                "stop_reason": "tool_use" if i == len(blocks) - 1 and tools else None,
                "usage": {**usage, "output_tokens": out, "service_tier": "standard"},
            }
            self._line("assistant", {"message": message, "requestId": f"req_{msg_id}"}, seconds=rnd.uniform(0.5, 4))
        return ids

    def result(self, tool_id: str, fail: bool, extra: dict | None = None) -> None:
        rnd = self.rnd
        if fail:
            content = "<tool_use_error>Exit code 1\n" + code_text(rnd, rnd.randint(200, 1500)) + "</tool_use_error>"
        else:
            content = code_text(rnd, int(rnd.lognormvariate(7.8, 0.8)))
        body = {"type": "tool_result", "tool_use_id": tool_id, "content": content, "is_error": fail}
        self._line(
            "user", {"message": {"role": "user", "content": [body]}, **(extra or {})}, seconds=rnd.uniform(0.2, 9)
        )


def write_session(root: str, rnd: random.Random, index: int, target: int, when: datetime) -> int:
    project = PROJECTS[index % len(PROJECTS)]
    cwd = f"/home/dev/{project}"
    folder = os.path.join(root, "-home-dev-" + project)
    os.makedirs(folder, exist_ok=True)
    session_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    main = Session(rnd, session_id, cwd, when)
    subagent: Session | None = None
    meta: dict = {}
    size = 0
    turn = 0
    while size < target:
        turn += 1
        main.prompt(f"Turn {turn}: " + " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(5, 40))))
        for _ in range(rnd.randint(1, 6)):
            ids = main.response(rnd.choice((0, 1, 1, 1, 2, 3)))
            if not ids:
                break
            for tool_id, _name in ids:
                if subagent is None and index % 7 == 0 and turn == 2:
                    agent_id = f"{rnd.getrandbits(64):016x}"
                    subagent = Session(rnd, session_id, cwd, main.when, agent_id=agent_id)
                    subagent.prompt("Investigate " + " ".join(rnd.choice(WORDS) for _ in range(8)))
                    for _ in range(rnd.randint(3, 10)):
                        for sub_tool, _ in subagent.response(1):
                            subagent.result(sub_tool, rnd.random() < 0.05)
                    subagent.response(0)
                    meta = {"agentType": "general-purpose", "description": "Investigate", "toolUseId": tool_id}
                    main.result(tool_id, False, {"toolUseResult": {"status": "completed", "agentId": agent_id}})
                    continue
                main.result(tool_id, rnd.random() < 0.04)
        size = sum(len(line) + 1 for line in main.lines)
    path = os.path.join(folder, f"{session_id}.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(main.lines) + "\n")
    written = os.path.getsize(path)
    stamp = main.when.timestamp()
    if subagent is not None:
        sub_dir = os.path.join(folder, session_id, "subagents")
        os.makedirs(sub_dir, exist_ok=True)
        sub_path = os.path.join(sub_dir, f"agent-{subagent.agent_id}.jsonl")
        with open(sub_path, "w") as f:
            f.write("\n".join(subagent.lines) + "\n")
        with open(os.path.join(sub_dir, f"agent-{subagent.agent_id}.meta.json"), "w") as f:
            json.dump(meta, f)
        written += os.path.getsize(sub_path)
        os.utime(sub_path, (stamp, stamp))
    os.utime(path, (stamp, stamp))
    return written


def make(root: str, sessions: int = 2000, megabytes: float = 1000, seed: int = 10) -> int:
    """Write the folder; returns the bytes of session files written."""
    rnd = random.Random(seed)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    mean = megabytes * (1 << 20) / sessions
    total = 0
    for i in range(sessions):
        target = int(min(max(rnd.lognormvariate(0, 0.6) * mean * 0.84, 20_000), mean * 6))
        when = start + timedelta(minutes=43 * i + rnd.randint(0, 40))
        total += write_session(root, rnd, i, target, when)
    return total


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    sessions = int(argv[1]) if len(argv) > 1 else 2000
    megabytes = float(argv[2]) if len(argv) > 2 else 1000
    total = make(argv[0], sessions, megabytes)
    print(f"{sessions} sessions, {total / (1 << 20):.0f} MB in {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
