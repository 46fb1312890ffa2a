"""Every framework format opens in the viewer: the run list, a run's tree, and `f` to its root cause."""

import pathlib

import pytest
from builders import opening

from tracetui.loading import open_store
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "frameworks"
FILES = sorted(
    p for p in FIXTURES.iterdir() if p.suffix in (".jsonl", ".json", ".txt") and not p.name.startswith("requirements")
)


def failing_run(path: pathlib.Path):
    """A run of the file with a failed step (the viewer's `f` has somewhere to go), and that step."""
    store = open_store(str(path))
    for run in store.list_runs():
        first = store.first_failed_step(run.id)
        if first is not None:
            return run.id, first
    run = store.list_runs(limit=1)[0]
    return run.id, None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
async def test_each_format_opens_and_f_finds_the_root_cause(path):
    run_id, first = failing_run(path)
    app = TraceApp(opening(str(path)), run_id=run_id)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        assert screen.run.id == run_id
        await pilot.press("f")
        if first is None:
            return
        await until(pilot, lambda: (s := screen.step_tree.step_at_cursor()) is not None and s.id == first.id)
        assert screen.step_tree.step_at_cursor().status in ("failed", "timeout")
