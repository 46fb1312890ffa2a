"""Waiting for the viewer under Textual's Pilot: shared by the tests and the screenshot script."""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE_S = 60.0  # a loaded machine (CI, other jobs) may take this long to reach a state


async def workers_done(app) -> None:
    """Wait for the app's workers to end. One replaced by a newer one (exclusive workers: a list
    read again before the last read ended) ends cancelled, as it should: not an error here. The
    reconnecting worker is not waited for: it ends only when the database answers (a test that set
    its first wait to 600 s hung here when a lost connection started it)."""
    from textual.worker import WorkerCancelled

    for worker in list(app.workers):
        if worker.group == "reconnect":  # it runs as long as the database is down, by design
            continue
        try:
            await worker.wait()
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


def shown_text(screen, widget_id: str) -> str:
    """The text of a line mounted when first needed (the run list's warnings, say), '' while it is not
    mounted or hidden: such lines come after timers and workers settle() does not wait for."""
    found = screen.query(f"#{widget_id}")
    return str(found.first().render()) if found and found.first().display else ""
