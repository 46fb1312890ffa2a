"""An import that runs in a thread while the viewer starts and shows it.

`tracetui open` on a file not imported yet starts the import before Textual is imported: the worker
processes spawn and read the first block on the other core during the ~0.3 s the viewer needs to
start. The viewer attaches when it is up (`listen`) and is told what happened so far, then each
progress report and the end as they come. Closing the viewer cancels it (the half-built store is
removed, as Opening.run_import does when its progress callback raises ImportCancelled).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .errors import TraceError
from .loading import ImportCancelled, Opening, SourceOpening

Progress = Callable[[int, int, int], object]  # (bytes read, total bytes, runs stored)
Finished = Callable[[str | None], object]  # why it failed, or None: the store is complete


FIRST_ROWS_WAIT = 1.0  # seconds the import waits, after storing its first runs, for the viewer to show them


class BackgroundImport:
    """Opening.run_import in a thread, started at once (see the module's docstring)."""

    def __init__(self, opening: SourceOpening) -> None:
        self.opening = opening
        if isinstance(opening, Opening):
            opening.background = True  # its worker processes yield the CPU to the viewer
        if opening.uses_workers:
            from .parallel import start_helpers

            start_helpers()  # now, in this thread, while sys.stderr is still the real one
        self._lock = threading.Lock()
        self._cancelled = False
        self._last: tuple[int, int, int] | None = None
        self._finished = False
        self._error: str | None = None
        self._on_progress: Progress | None = None
        self._on_finished: Finished | None = None
        self._rows_shown = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracetui-import")
        self._thread.start()

    def listen(self, on_progress: Progress, on_finished: Finished) -> None:
        """Be told of progress and the end from now on (from the import's thread), after what happened so far.

        The callbacks run under this object's lock: they must only hand the news on (post a message).
        """
        with self._lock:  # held while telling, so reports arrive in order and the end exactly once
            self._on_progress, self._on_finished = on_progress, on_finished
            if self._last is not None:
                on_progress(*self._last)
            if self._finished:
                on_finished(self._error)

    def rows_shown(self) -> None:
        """The viewer shows the first runs: the rest of the import may have the CPU now."""
        self._rows_shown.set()

    def cancel(self) -> None:
        """Stop reading at the next progress report; nothing is told after this."""
        with self._lock:
            self._cancelled = True
            self._on_progress = self._on_finished = None
        self._rows_shown.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _progress(self, done: int, total: int, runs: int) -> None:
        with self._lock:
            if self._cancelled:
                raise ImportCancelled
            first_runs = runs > 0 and (self._last is None or self._last[2] == 0)
            self._last = (done, total, runs)
            if self._on_progress is not None:
                self._on_progress(done, total, runs)
        if first_runs:
            # Until the viewer has drawn the first runs, reading more (worker processes, merging)
            # would take the CPU it needs for that on a machine with few cores.
            self._rows_shown.wait(FIRST_ROWS_WAIT)

    def _run(self) -> None:
        try:
            self.opening.run_import(self._progress)
        except ImportCancelled:
            return
        except TraceError as exc:
            self._finish(str(exc))
        except Exception as exc:  # a reader bug must end on the error screen, not in a traceback
            self._finish(f"{self.opening.label}: import failed ({type(exc).__name__}: {exc})")
        else:
            self._finish(None)

    def _finish(self, error: str | None) -> None:
        with self._lock:
            self._finished, self._error = True, error
            if self._on_finished is not None:
                self._on_finished(error)
