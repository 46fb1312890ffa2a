"""The framework fixtures (tests/fixtures/frameworks/), read straight through a source module or opened as a store."""

from __future__ import annotations

import os

from tracetui.loading import prepare
from tracetui.model import Problem, Run, finalize_run
from tracetui.sources import SourceFile, read_head
from tracetui.store import Store

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "frameworks")


def fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def read_runs(module, path) -> tuple[list[Run], list[Problem]]:
    problems: list[Problem] = []
    runs = [finalize_run(r) for r in module.read(read_head(str(path)), problems.append, SourceFile(str(path)))]
    return runs, problems


def by_agent(runs: list[Run]) -> dict[str, Run]:
    return {r.agent: r for r in runs}


def shape(run: Run) -> list[tuple[int, str]]:
    return [(s.depth, s.name) for s in run.steps]


def opened(path) -> Store:
    """The store tracetui opens for path: imported into the test's cache, then connected."""
    opening = prepare(str(path))
    opening.run_import()
    return opening.connect()


def stored_run(store: Store, agent: str) -> Run:
    return next(r for r in store.list_runs(limit=100) if r.agent == agent)


def by_id(runs: list[Run]) -> dict[str, Run]:
    return {r.id: r for r in runs}
