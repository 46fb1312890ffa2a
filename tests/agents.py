"""The issue-10 agent fixtures (tests/fixtures/agents/, expected values in its README.md).

The SQLite ones are copied into the test's directory before they are opened: a test must never
leave anything beside the committed files, whatever SQLite does with a WAL database.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tracetui import sources
from tracetui.loading import prepare
from tracetui.model import Problem, Run, finalize_run
from tracetui.sources import SourceFile, read_head
from tracetui.store import Store

AGENTS = Path(__file__).resolve().parent / "fixtures" / "agents"
ATIF = AGENTS / "atif" / "trajectory.json"
PHOENIX = AGENTS / "phoenix" / "phoenix.db"
MLFLOW = AGENTS / "mlflow" / "mlflow.db"
OPENCODE = AGENTS / "opencode" / "opencode.db"


def copied(fixture: Path, folder: Path) -> str:
    """A copy of the fixture in `folder` (created), under the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / fixture.name
    shutil.copyfile(fixture, target)
    return str(target)


def read_runs(path: str) -> tuple[list[Run], list[Problem]]:
    """The runs as `tracetui import` reads them (the format's read()), finalized."""
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


def shape(run: Run) -> list[tuple[int, str, str]]:
    return [(s.depth, s.kind, s.name) for s in run.steps]
