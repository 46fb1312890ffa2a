"""Every framework format and coding-agent session opens in the viewer: the run list, a run's tree,
and `f` to its root cause."""

import pathlib

import pytest
from agents import SESSION_FILES, claude
from builders import opening

from tracetui.loading import open_store
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "frameworks"
FILES = sorted(
    p for p in FIXTURES.iterdir() if p.suffix in (".jsonl", ".json", ".txt") and not p.name.startswith("requirements")
) + list(SESSION_FILES)


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


async def test_a_claude_session_shows_its_subagent_and_its_fork_badged_like_an_if_else():
    path = claude(1)
    app = TraceApp(opening(str(path)), run_id=path.stem)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        tree = app.screen.step_tree
        await until(pilot, lambda: "agent-a9f3c2e1b0d4c5e6f" in tree.nodes)

        def row(step_id: str) -> str:
            return tree.row_text(tree.nodes[step_id], 150).plain

        assert "general-purpose" in row("agent-a9f3c2e1b0d4c5e6f") and "2637→190" in row("agent-a9f3c2e1b0d4c5e6f")
        assert "chosen: attempt 2" in row("5b0f8c1e-1111-4000-8000-000000000001")
        abandoned = row("5b0f8c1e-1111-4000-8000-000000000020")
        assert "↳ attempt 1" in abandoned and "⊘ skipped" in abandoned
        assert row("5b0f8c1e-1111-4000-8000-000000000001").startswith("✓ Add a /health endpoint to app.py [bold]")
