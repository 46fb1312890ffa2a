"""Every issue-10 agent format opens in the viewer: its run list, a run's tree, `f` to its root cause,
and `w` listing a damaged row (the rest still shown)."""

from __future__ import annotations

import sqlite3

import pytest
from agents import ATIF, MLFLOW, OPENCODE, PHOENIX, copied
from builders import opening

from tracetui.loading import open_store
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, shown_text, until
from tracetui.tui.screens.error import ProblemsScreen
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen

FIXTURES = [ATIF, PHOENIX, MLFLOW, OPENCODE]


def source(fixture, tmp_path) -> str:
    return str(fixture) if fixture.suffix == ".json" else copied(fixture, tmp_path / "src")


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.parent.name)
async def test_each_agent_format_lists_its_runs(fixture, tmp_path):
    path = source(fixture, tmp_path)
    expected = open_store(path).run_ids()
    app = TraceApp(opening(path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)
        run_list = app.runs_screen.run_list
        assert sorted(run_list.id_at(i) for i in range(run_list.count)) == sorted(expected)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.parent.name)
@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_each_agent_format_opens_a_run_and_f_lands_on_the_first_failure(fixture, size, tmp_path):
    path = source(fixture, tmp_path)
    store = open_store(path)
    run_id = next(r.id for r in store.list_runs() if store.first_failed_step(r.id) is not None)
    first = store.first_failed_step(run_id)
    app = TraceApp(opening(path), run_id=run_id)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        await pilot.press("f")
        await until(pilot, lambda: (s := screen.step_tree.step_at_cursor()) is not None and s.id == first.id)
        assert screen.step_tree.step_at_cursor().status == "failed"


async def test_a_damaged_row_is_listed_under_w_and_the_runs_still_show(tmp_path):
    path = copied(OPENCODE, tmp_path / "src")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE part SET data = 'not json' WHERE id = 'prt_p0006'")
    conn.commit()
    conn.close()
    app = TraceApp(opening(path))
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.runs_screen.run_list.count == 1
        await until(pilot, lambda: "1 problem while reading" in shown_text(app.runs_screen, "warnings"))
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ProblemsScreen))  # read in a worker
        assert "part 'prt_p0006': data is not a JSON object" in str(app.screen.query_one("#problems-text").render())
