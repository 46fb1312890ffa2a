"""The viewer on the data side of the hostile corpus (tests/hostile/): each file opens, every run's tree
shows and `w` lists the problems, with no error screen and no exception (issue 9, classes 2-4)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tracetui.loading import prepare
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.error import ErrorScreen, ProblemsScreen
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.widgets.step_tree import StepTree

HOSTILE = Path(__file__).parent.parent / "hostile"
CASES = tomllib.loads((HOSTILE / "cases.toml").read_text(encoding="utf-8"))["case"]
# The SQLite files (read in place: every value typed as it is read) and the deepest and oddest JSON.
OPENED = [
    case
    for case in CASES
    if "file" in case
    and case.get("exit", 0) == 0
    and (
        case["file"].endswith(".db")
        or case["name"] in ("payload-20000-deep", "lone-surrogate", "wrong-types-tracetui-jsonl")
    )
]


@pytest.mark.parametrize("case", OPENED, ids=[case["name"] for case in OPENED])
async def test_a_hostile_file_opens_and_every_run_shows(case):
    opening = prepare(str(HOSTILE / "files" / case["file"]))
    app = TraceApp(opening)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: not app.importing)  # the import's thread takes its time under load
        await settle(pilot)
        assert not isinstance(app.screen, ErrorScreen)
        store = opening.connect()
        ids = store.run_ids()
        assert len(ids) == case["runs"]
        odd = [run_id for run_id in ids if not run_id.startswith("good-")]
        for run_id in odd[:2] or ids[:1]:  # the odd runs (the good ones are like every other test's)
            app.open_run(run_id)
            await settle(pilot)
            assert isinstance(app.screen, RunScreen), app.screen
            # The run opened by the id the list shows (text that is not UTF-8 too), with its steps
            # (a row-N run has none: its row lost the id its steps name).
            assert app.screen.run is not None and app.screen.run.id == run_id
            if app.screen.run.step_count and not run_id.startswith("row-"):
                tree = app.screen.query_one(StepTree)
                assert len(tree.root.children) == store.count_children(run_id, None) > 0
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ProblemsScreen)
