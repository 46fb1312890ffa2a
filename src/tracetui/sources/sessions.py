"""What the coding-agent session formats (claude_code, codex, gemini_cli) share.

Counting the records that are not steps, naming a turn by its prompt, the project a session worked
in, whether a session ended on a failure, marking an abandoned branch skipped, and reading the
first line of a companion file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from .. import jsonsafe, normalize
from ..model import Problem, Step
from .contract import ProblemSink

HELPER = True

NAME_LIMIT = 120
FIRST_LINE_LIMIT = 1 << 20  # a session's first line carries its instructions: tens of KiB, rarely more


class RecordTypes:
    """Records that are not steps, counted by type for the run's extra.

    A type the reader does not know is counted too and reported once (with its first line), so
    format drift shows under `w` and never stops a file from loading.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.counts: dict[str, int] = {}
        self.unknown: dict[str, int] = {}  # type -> first line

    def count(self, name: str, line: int | None = None, *, known: bool = True) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1
        if not known and name not in self.unknown:
            self.unknown[name] = line if line is not None else 0

    def report_unknown(self, report: ProblemSink, source_file: str | None = None) -> None:
        for name, line in self.unknown.items():
            n = self.counts[name]
            times = f" ({n} records)" if n > 1 else ""
            report(
                Problem(
                    f"{self.what} {jsonsafe.quoted(name)} is not one tracetui knows{times}: counted, not shown as a step",
                    line=line or None,
                    source_file=source_file,
                )
            )


def as_list(value: Any) -> list:
    """The value when it is a list, else an empty one (a field of the wrong type reads as absent)."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict:
    """The value when it is an object, else an empty one."""
    return value if isinstance(value, dict) else {}


def prompt_name(text: str | None) -> str:
    """A turn's name: the first non-blank line of its prompt, shortened."""
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= NAME_LIMIT else line[: NAME_LIMIT - 1] + "…"
    return "turn"


def project_name(cwd: Any) -> str | None:
    """The project a session worked in: the last part of its working directory."""
    if not isinstance(cwd, str) or not cwd.strip():
        return None
    parts = [p for p in re.split(r"[\\/]", cwd.strip()) if p]
    return parts[-1] if parts else cwd.strip()


def text_of(content: Any) -> str | None:
    """The text of a message content: a string, or the text parts of a list of parts joined."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    texts.append(value)
                elif part.get("type") == "image":
                    texts.append("[image]")
        return "\n".join(texts)
    return None


def ended_in_failure(steps: Sequence[Step]) -> Step | None:
    """The model call (or model error) a session ended on, when it failed: the session failed with it."""
    for step in reversed(steps):  # (from the end: a followed session asks at every look)
        if step.kind == "llm" and step.status != "skipped":
            return step if step.failed else None
    return None


def skip_subtrees(steps: Sequence[Step], roots: set[str], mark: str) -> None:
    """Mark the steps with ids in `roots`, and everything under them, skipped (what they did is kept in extra)."""
    children: dict[str, list[Step]] = {}
    for step in steps:
        if step.parent_id is not None:
            children.setdefault(step.parent_id, []).append(step)
    todo = [s for s in steps if s.id in roots]
    while todo:
        step = todo.pop()
        if step.status == "skipped":
            continue
        if step.status != "completed":
            step.extra["ran_as"] = step.status
        step.extra[mark] = True
        step.status = "skipped"
        todo.extend(children.get(step.id, ()))


def fill_durations(steps: Iterable[Step]) -> None:
    """Durations of steps that have a start and an end but no duration of their own."""
    for step in steps:
        if step.duration_ms is None:
            step.duration_ms = normalize.duration_between(step.started_at, step.ended_at)


def first_line(path: str) -> Any:
    """The first line of a file as JSON, or None (missing, unreadable, not JSON)."""
    try:
        with open(path, "rb") as f:
            line = f.readline(FIRST_LINE_LIMIT)
    except OSError:
        return None
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def head_lines(data: bytes, limit: int = 50) -> list[Any]:
    """The JSON values of the first whole lines of a file's head (a cut last line is left out)."""
    return list(head_values(data, limit))


def head_values(data: bytes, limit: int = 50) -> Iterator[Any]:
    """head_lines(), parsed one by one as they are asked for."""
    end = data.rfind(b"\n")
    start, taken = 0, 0
    # (a head without a newline is one line, taken whole; otherwise the part after the last one may be cut)
    while taken < limit and start <= len(data):
        stop = data.find(b"\n", start)
        if stop == -1:
            if end != -1:
                return
            stop = len(data)
        raw = data[start:stop].strip()
        start = stop + 1
        taken += 1
        if not raw:
            continue
        try:
            yield orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue


def listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []
