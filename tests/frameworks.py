"""The framework fixtures (tests/fixtures/frameworks/) and reading them straight through a source module."""

from __future__ import annotations

import os

from tracetui.model import Problem, Run, finalize_run
from tracetui.sources import SourceFile, read_head

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
