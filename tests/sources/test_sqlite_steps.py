"""Databases read in place (phoenix, mlflow, opencode) give what importing them gives, row for row.

Their run list is SQL and their step trees are built in Python (sources/sqlite_steps.py); `tracetui
import` reads the same views. So the in-place store and the imported one must agree on every run
column (the SQL step counts and sums included) and every step column.
"""

from __future__ import annotations

import sqlite3

import pytest
from agents import MLFLOW, OPENCODE, PHOENIX, copied, opened

from tracetui.loading import prepare
from tracetui.model import Step
from tracetui.sources.sqlite_steps import install_steps
from tracetui.store import RUN_COLUMNS, STEP_COLUMNS, Store


def imported(path: str, out: str) -> Store:
    opening = prepare(path, output=out)
    opening.run_import()
    return opening.connect()


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return a == b


@pytest.mark.parametrize("fixture", [PHOENIX, MLFLOW, OPENCODE], ids=lambda p: p.name)
def test_in_place_and_imported_agree_on_every_run_and_step(fixture, tmp_path):
    path = copied(fixture, tmp_path / "src")
    here, there = opened(path), imported(path, str(tmp_path / "imported.db"))
    assert here.path == path  # read in place, not through the cache
    ids = here.run_ids()
    assert ids and ids == there.run_ids()
    for run_id in ids:
        a, b = here.get_run(run_id), there.get_run(run_id)
        for column in RUN_COLUMNS:
            if column.startswith("total_"):
                continue  # Run does not hold them; Run.total() is compared below
            assert same(getattr(a, column), getattr(b, column)), (run_id, column)
        for name in ("tokens_in", "tokens_out", "cost_usd", "tokens_cache_read"):
            assert same(a.total(name), b.total(name)), (run_id, name)
        steps_a, steps_b = here.steps(run_id, payloads=True), there.steps(run_id, payloads=True)
        assert [s.id for s in steps_a] == [s.id for s in steps_b]
        for x, y in zip(steps_a, steps_b, strict=True):
            for column in STEP_COLUMNS:
                assert same(getattr(x, column), getattr(y, column)), (run_id, x.id, column)
    assert [str(p) for p in here.problems()] == [str(p) for p in there.problems()]


def test_a_step_builder_that_fails_gives_a_failed_step_and_the_other_runs_still_read():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("good",), ("bad",)])

    def build(_conn, key):
        if key == "bad":
            raise ValueError("nobody foresaw this")
        return [Step(id="only", name="only")]

    install_steps(conn, "test", build, runs_from="t", run_id="t.id", key="t.id")
    rows = conn.execute("SELECT run_id, id, status, error FROM steps ORDER BY run_id").fetchall()
    assert rows == [
        ("bad", "unreadable", "failed", "ValueError: nobody foresaw this"),
        ("good", "only", "completed", None),
    ]
