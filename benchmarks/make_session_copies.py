"""Write a folder of many copies of a fixture folder's session files, each copy with ids of its own.

Usage: python benchmarks/make_session_copies.py FIXTURE_DIR OUT_DIR COPIES

For a quick check that a format's folder import does not get slower (bench_throughput.py times the
Claude Code folder of make_claude_folder.py; Codex and Gemini CLI have no generator of their own):
every file under FIXTURE_DIR (say tests/fixtures/agents/codex) is written COPIES times under
OUT_DIR/copy-N/, with every UUID in its text and name replaced by one derived from it and N, so the
copies' runs do not share ids and a copy's subagent still names its parent. The fixtures are small
(a few KB), so such a folder weighs the cost per file more than the cost per byte.
"""

from __future__ import annotations

import os
import re
import sys
import uuid

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def renamed(copy: int):
    def one(match: re.Match[bytes]) -> bytes:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{copy}:{match.group().decode()}")).encode()

    return one


def make(fixtures: str, out: str, copies: int) -> None:
    if os.path.isdir(out):
        return
    files = [os.path.join(d, f) for d, _, fs in os.walk(fixtures) for f in fs if not f.endswith((".md", ".py"))]
    for n in range(copies):
        swap = renamed(n)
        for path in files:
            rel = os.path.relpath(path, fixtures)
            target = os.path.join(out + ".part", f"copy-{n}", UUID.sub(swap, rel.encode()).decode())
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(path, "rb") as f:
                data = UUID.sub(swap, f.read())
            with open(target, "wb") as f:
                f.write(data)
    os.replace(out + ".part", out)


if __name__ == "__main__":
    make(sys.argv[1], sys.argv[2], int(sys.argv[3]))
