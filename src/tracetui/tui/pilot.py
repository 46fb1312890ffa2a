"""Waiting for the viewer under Textual's Pilot: shared by the tests and the screenshot script."""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE_S = 60.0  # a loaded machine (CI, other jobs) may take this long to reach a state


async def workers_done(app) -> None:
    """Wait for the app's workers. A worker the app cancelled on purpose (an exclusive worker replaced
    by a newer one) ends the wait quietly; a worker that failed still raises."""
    from textual.worker import WorkerCancelled

    try:
        await app.workers.wait_for_complete()
    except WorkerCancelled:
        pass


async def settle(pilot) -> None:
    """Let workers finish and their results be applied and painted."""
    for _ in range(3):
        await pilot.pause()
        await workers_done(pilot.app)
    await pilot.pause()


async def until(pilot, condition: Callable[[], bool], tries: int = 400) -> None:
    """Let the app run until condition() holds; fail loudly if it never does: after `tries` turns of
    the event loop and PATIENCE_S seconds both (a timer's poll needs time, not turns)."""
    began = time.monotonic()
    done = 0
    while not condition():
        if done >= tries and time.monotonic() - began > PATIENCE_S:
            raise AssertionError(f"the viewer never reached the state wanted (screen {pilot.app.screen!r})")
        done += 1
        await pilot.pause()
        await workers_done(pilot.app)
