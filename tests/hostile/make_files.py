"""Writes the corpus files that are awkward to write by hand. Run from anywhere; commit what it writes.

    .venv/bin/python tests/hostile/make_files.py

Each function writes one file of files/ and is named after it; cases.toml says what tracetui must
do with each. Kept minimal: a good run before and after the hostile one, so a loss shows.
"""

from __future__ import annotations

import json
from pathlib import Path

FILES = Path(__file__).parent / "files"


def good(n: int) -> dict:
    return {
        "run_id": f"good-{n}",
        "agent_id": "agent",
        "status": "completed",
        "started_at": f"2025-01-01T00:00:0{n}Z",
        "steps": [{"agent_step_id": "s1", "step_type": "llm", "input": "hello", "prompt_tokens": 3}],
    }


def line(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_lines(name: str, lines: list[str], *, end: str = "\n") -> None:
    (FILES / name).write_bytes(("\n".join(lines) + end).encode("utf-8", "surrogatepass"))


def truncated_last_line() -> None:
    write_lines("truncated-last-line.jsonl", [line(good(1)), line(good(2)), line(good(3))[:40]], end="")


def main() -> None:
    FILES.mkdir(exist_ok=True)
    for name, fn in list(globals().items()):
        if callable(fn) and fn.__module__ == __name__ and name not in ("good", "line", "write_lines", "main"):
            fn()


if __name__ == "__main__":
    main()
