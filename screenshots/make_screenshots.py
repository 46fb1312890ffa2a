"""Write the README's SVG screenshots of the viewer, made from the bundled sample traces.

    .venv/bin/python screenshots/make_screenshots.py            # rewrite the SVGs here
    .venv/bin/python screenshots/make_screenshots.py --out DIR  # or somewhere else

Each view runs headless at a fixed terminal size and is captured only once its workers are done,
so running this twice writes the same files. The sample export is imported into a throwaway
cache, never the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from tracetui.tui.pilot import settle, until

REPO = Path(__file__).resolve().parent.parent
SAMPLE = "sample_traces/export.jsonl"  # relative: the run list's title shows the path as given
SIZE = (160, 40)


async def run_screen(pilot):
    from tracetui.tui.screens.run import RunScreen

    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.run is not None)
    screen = pilot.app.screen
    await detail_shown(pilot, screen)
    return screen


async def detail_shown(pilot, screen) -> None:
    """The detail pane shows the step under the cursor (it is read in a worker)."""
    await settle(pilot)
    await until(
        pilot, lambda: screen.detail.details is not None and screen.detail.details.key == screen.detail.subject_key
    )
    await settle(pilot)


# -- the views ----------------------------------------------------------------------------------
async def run_list(pilot) -> None:
    await settle(pilot)
    run_list = pilot.app.runs_screen.run_list
    await until(pilot, lambda: pilot.app.focused is run_list)
    await pilot.press("right_square_bracket")  # from the failed run on top to the next one
    await until(pilot, lambda: run_list.current_run_id == "run-0011-support-timeout")
    await settle(pilot)


async def step_tree(pilot) -> None:
    screen = await run_screen(pilot)
    for _ in range(20):  # down to the if/else, whose detail shows the chosen branch
        current = screen.step_tree.step_at_cursor()
        if current is not None and current.id == "enough-sources":
            break
        await pilot.press("j")
    else:
        raise RuntimeError("no step enough-sources in run-0001-research")
    await detail_shown(pilot, screen)


async def first_failure(pilot) -> None:
    screen = await run_screen(pilot)
    await pilot.press("f")
    await until(pilot, lambda: (s := screen.step_tree.step_at_cursor()) is not None and s.status == "failed")
    await detail_shown(pilot, screen)


async def help_screen(pilot) -> None:
    await settle(pilot)
    await pilot.press("question_mark")
    await settle(pilot)


async def stats_screen(pilot) -> None:
    from tracetui.tui.screens.stats import StatsScreen

    app = pilot.app
    await settle(pilot)
    await pilot.press("t")
    await until(pilot, lambda: isinstance(app.screen, StatsScreen) and app.screen.done)
    await pilot.press("tab")  # the models: what each cost, estimated from the price table
    await settle(pilot)


async def compare(pilot) -> None:
    from tracetui.tui.screens.compare import CompareScreen

    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
    await settle(pilot)
    await pilot.press("d")  # the first divergence, with both steps' detail below
    await settle(pilot)


def make_app(run_id: str | None = None, compare_with: tuple[str, str] | None = None):
    from tracetui.loading import prepare
    from tracetui.tui.app import TraceApp
    from tracetui.tui.compare_app import compare_app

    opening = prepare(SAMPLE)
    if compare_with is not None:
        return compare_app(opening, compare_with[0], None, compare_with[1])
    return TraceApp(opening, run_id=run_id)


SHOTS: list[tuple[str, Callable[[], object], Callable[[object], Awaitable[None]]]] = [
    ("run-list.svg", lambda: make_app(), run_list),
    ("step-tree.svg", lambda: make_app("run-0001-research"), step_tree),
    ("first-failure.svg", lambda: make_app("run-0010-research-nested-failure"), first_failure),
    ("stats.svg", lambda: make_app(), stats_screen),
    ("help.svg", lambda: make_app(), help_screen),
    ("compare.svg", lambda: make_app(compare_with=("run-0001-research", "run-0002-research-rerun")), compare),
]


async def shoot(name: str, factory, prepare_view, out: Path) -> Path:
    from textual.widgets import Input

    app = factory()
    async with app.run_test(size=SIZE) as pilot:
        await prepare_view(pilot)
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()
        path = out / name
        path.write_text(app.export_screenshot(), encoding="utf-8", newline="\n")
    return path


async def make_all(out: Path) -> list[Path]:
    from tracetui.loading import prepare

    # Import once up front: every view then opens the cached store, as a second `tracetui open`
    # does, rather than racing the first import.
    opening = prepare(SAMPLE)
    if not opening.ready:
        opening.run_import()
    return [await shoot(name, factory, view, out) for name, factory, view in SHOTS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots", help="where to write the SVGs")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    os.environ["TZ"] = "UTC"
    time.tzset()
    os.chdir(REPO)
    with tempfile.TemporaryDirectory(prefix="tracetui-shots-") as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        for path in asyncio.run(make_all(out)):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
