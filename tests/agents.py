"""The issue-10 agent fixtures (tests/fixtures/agents/, see its README for the expected values): coding-agent
sessions, an ATIF trajectory and the Phoenix, MLflow and OpenCode databases.

The databases are copied into the test's directory before they are opened (`copied`): a test must
never leave anything beside the committed files, whatever SQLite does with a WAL database.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path

from tracetui import sources
from tracetui.loading import prepare
from tracetui.model import Problem, Run, Step, finalize_run
from tracetui.sources import SourceFile, read_head
from tracetui.store import Store

AGENTS = Path(__file__).resolve().parent / "fixtures" / "agents"
CLAUDE = AGENTS / "claude" / "projects" / "-home-dev-shop"
CODEX = AGENTS / "codex" / "sessions"
GEMINI = AGENTS / "gemini" / "tmp" / "e828acfc792e3bbcd2a6c6c35323cb44b7b438741c168c8ec59aefe347f193bb" / "chats"


def claude(n: int) -> Path:
    """Main session file n (1-4) of the Claude Code fixture project."""
    return CLAUDE / f"5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e0{n}.jsonl"


CLAUDE_SUBAGENT = CLAUDE / "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01" / "subagents" / "agent-a9f3c2e1b0d4c5e6f.jsonl"
CLAUDE_FLAT_AGENT = CLAUDE / "agent-5e6f7a8b.jsonl"
CODEX_MAIN = CODEX / "2026/01/03/rollout-2026-01-03T10-00-00-019b8a10-0000-7000-8000-000000000001.jsonl"
CODEX_CHILD = CODEX / "2026/01/03/rollout-2026-01-03T10-00-13-019b8a10-0000-7000-8000-000000000003.jsonl"
CODEX_FORK = CODEX / "2026/01/03/rollout-2026-01-03T12-00-00-019b8a10-0000-7000-8000-000000000004.jsonl"
CODEX_BARE = CODEX / "2025/08/18/rollout-2025-08-18T10-00-00-5d2c7f3e-0000-4000-8000-000000000002.jsonl"
GEMINI_JSON = GEMINI / "session-2026-01-04T10-00-3f2a9c1d.json"
GEMINI_JSONL = GEMINI / "session-2026-01-04T11-00-7c1e2b3a.jsonl"
ATIF = AGENTS / "atif" / "trajectory.json"
PHOENIX = AGENTS / "phoenix" / "phoenix.db"
MLFLOW = AGENTS / "mlflow" / "mlflow.db"
OPENCODE = AGENTS / "opencode" / "opencode.db"

# One file per run the viewer and CLI tests open: every layout of the three formats.
SESSION_FILES = [
    claude(1),
    claude(2),
    claude(3),
    claude(4),
    CODEX_MAIN,
    CODEX_FORK,
    CODEX_BARE,
    GEMINI_JSON,
    GEMINI_JSONL,
]


def read_one(module, path) -> tuple[Run, list[Problem]]:
    """The one run of a session file, read straight through its module and finalized."""
    problems: list[Problem] = []
    runs = [finalize_run(r) for r in module.read(read_head(str(path)), problems.append, SourceFile(str(path)))]
    assert len(runs) == 1
    return runs[0], problems


def by_id(run: Run) -> dict[str, Step]:
    return {s.id: s for s in run.steps}


def shape(run: Run) -> list[tuple[int, str, str]]:
    return [(s.depth, s.kind, s.name) for s in run.steps]


def totals(run: Run) -> tuple:
    """(in, out, cache read, cache write, reasoning) over every step of the run."""
    return (
        run.steps_tokens_in,
        run.steps_tokens_out,
        run.steps_tokens_cache_read,
        run.steps_tokens_cache_write,
        run.steps_tokens_reasoning,
    )


def subtree(step: Step) -> tuple:
    return step.sub_tokens_in, step.sub_tokens_out


def copy_lines(src, dst, edit=None) -> str:
    """The file's lines written to dst, after edit(lines) -> lines when given."""
    lines = Path(src).read_bytes().splitlines(keepends=True)
    if edit is not None:
        lines = edit(lines)
    Path(dst).write_bytes(b"".join(lines))
    return os.fspath(dst)


def copied(fixture: Path, folder: Path) -> str:
    """A copy of the fixture in `folder` (created), under the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / fixture.name
    shutil.copyfile(fixture, target)
    return str(target)


def read_runs(path: str) -> tuple[list[Run], list[Problem]]:
    """The runs as `tracetui import` reads them (the detected format's read()), finalized."""
    head = read_head(path)
    module, _ = sources.detect(path)
    problems: list[Problem] = []
    runs = [finalize_run(r) for r in module.read(head, problems.append, SourceFile(path))]
    return runs, problems


def opened(path: str) -> Store:
    """The store tracetui opens for path: in place for the databases, else imported into the test's cache."""
    opening = prepare(path)
    opening.run_import()
    return opening.connect()


def nullable(conn: sqlite3.Connection, table: str, column: str) -> None:
    """Let `table`.`column` hold NULL, as a file another tool wrote may: the table made again without
    that column's NOT NULL (SQLite's own way to change a table: a new one, the rows copied, renamed)."""
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    loose = re.sub(rf"(\b{column}\W+[A-Za-z]+(\(\d+\))?)\s+NOT NULL", r"\1", sql, count=1)
    assert loose != sql, f"{table}.{column} is not NOT NULL"
    indexes = [
        r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))
    ]
    conn.execute("PRAGMA foreign_keys = OFF")
    new = f"{table}_loose"
    conn.execute(re.sub(rf'CREATE TABLE (IF NOT EXISTS )?["`]?{table}["`]?', f"CREATE TABLE {new}", loose, count=1))
    conn.execute(f"INSERT INTO {new} SELECT * FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {new} RENAME TO {table}")
    for index in indexes:
        if index:  # (an automatic index of a UNIQUE or PRIMARY KEY constraint has no SQL: made again with the table)
            conn.execute(index)
    conn.commit()
