"""Waiting for the viewer under Textual's Pilot: shared by the tests and the screenshot script."""

from __future__ import annotations

from collections.abc import Callable


async def settle(pilot) -> None:
    """Let workers finish and their results be applied and painted."""
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot, condition: Callable[[], bool], tries: int = 400) -> None:
    """Let the app run until condition() holds; fail loudly if it never does."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    raise AssertionError(f"the viewer never reached the state wanted (screen {pilot.app.screen!r})")
