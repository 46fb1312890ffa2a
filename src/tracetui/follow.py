"""Following a source while it is written: `tracetui open PATH --follow` and `tracetui list PATH --follow`.

A Follower is a live source (live.Live) for the viewer, and a loop for `list --follow`. It waits for
the file system to say something changed near the source (watchfiles: inotify, FSEvents…; polling
when that cannot start), and at least once a second looks again, then brings the store up to date.
A folder followed through the watcher stats only the paths its events name, and is walked again only
for an event on a folder (and once a minute, in case events were lost); polling walks it (stat only):

* a file imported into a store, or a folder: `Opening.refresh()` / `FolderOpening.refresh()` read
  what changed. Lines appended to a one-run-per-line file are read alone; so are lines appended to a
  session, an event log or OTLP JSON Lines (tailing.py: their reader is kept between looks, and only
  the runs and steps the new lines change are written). A half-written last line waits for its end;
  a file that grew in other layouts (a JSON document) is read again (loading.Refresh).
* a database read in place (tracetui's store, agent_traces, Phoenix, MLflow, OpenCode): nothing is
  copied, its views read the file as it is; a change of the file or its `-wal` (stat only) tells
  the viewer to read again. Nothing is opened for writing.

A file truncated or replaced is read again from the start, with a notice; a deleted file keeps what
was read from it, with a notice. Nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from . import display
from .errors import TraceError
from .filestate import Signature
from .live import Change
from .loading import Openable, Refresh, SourceOpening
from .model import RUN_STATUSES, Run
from .store import RunFilter
from .store.protocol import TraceStore
from .tailing import Tails

POLL_SECONDS = 1.0  # looked at again this often even when the file system says nothing
DEBOUNCE_MS = 200  # changes closer than this are taken together (watchfiles' default of 1.6 s is too slow)
STEP_MS = 50
# A folder followed through watcher events is walked again this often all the same: events can be lost
# (an overflowing inotify queue), and a walk is stat only (~8 ms for 2,500 files).
FULL_LOOK_SECONDS = 60.0


def followable(opening: SourceOpening) -> Openable | None:
    """The opening, when it is a file or a folder (what can be followed); None for a database server."""
    from .folders import FolderOpening
    from .loading import Opening

    return opening if isinstance(opening, (Opening, FolderOpening)) else None


class Follower:
    """Keeps a store up to date with its source while the source is written."""

    def __init__(self, opening: Openable, *, poll: float = POLL_SECONDS, watch: bool = True) -> None:
        """poll: seconds between looks when nothing was heard; watch: False polls only (no watchfiles)."""
        self.opening = opening
        self.poll = poll
        self.watch = watch
        self.watching = False  # watchfiles is running (False: polling)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gone: set[str] = set()  # files whose deletion was told
        self._last_trouble: str | None = None
        self._signature: tuple[Signature | None, ...] | None = None  # an in-place database and its -wal
        if not opening.in_place and opening.tails is None:
            opening.tails = Tails()  # grown files are read on from where the last read ended
        self.prime()  # made before the viewer or `list` first reads the source

    @property
    def description(self) -> str:
        return f"following {self.opening.label}"

    # -- live.Live --------------------------------------------------------------------------------
    async def start(self, changed: Callable[[Change], None] | None = None) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(changed,), name="tracetui-follow", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            await asyncio.to_thread(thread.join)

    def prime(self) -> None:
        """Note a database read in place as it is now, before it is first read (a change after the
        first read is then seen by the first look)."""
        if self.opening.in_place:
            self._signature = self._database_signature()

    def close(self) -> None:
        """Stop following (any thread): run() returns soon after."""
        self._stop.set()

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, changed: Callable[[Change], None] | None = None) -> None:
        """Look for changes until close(); call `changed` after each change to the store.

        It looks at once (what was written since the source was read), then whenever woken. The first
        look after the store is ready is told even when nothing changed: the live marker then says
        since when what is shown is current, instead of "waiting for data"."""
        if self.opening.in_place and self._signature is None:
            self._signature = self._database_signature()
        caught_up = False
        last_full = 0.0
        try:
            for heard in itertools.chain([None], self._wakeups()):
                if self._stop.is_set():
                    break
                first = not caught_up and self.opening.ready
                caught_up = caught_up or first
                if first or not caught_up or time.monotonic() - last_full > FULL_LOOK_SECONDS:
                    heard = None  # what was heard during the import is not known: look at everything
                if heard is None:
                    last_full = time.monotonic()
                change = self.check(heard)
                if change is None and first:
                    # In place, what changed between the first read and now is not known: say any run may have.
                    change = Change(ids=None if self.opening.in_place else ())
                if change is not None and changed is not None:
                    changed(change)
        finally:
            if self.opening.tails is not None:
                self.opening.tails.close()  # their staging files go; following again reads the files anew

    def check(self, heard: set[str] | None = None) -> Change | None:
        """Bring the store up to date with the source now; the change, or None when nothing changed.
        heard: the paths the watcher said changed since the last look (None: not known, look at all)."""
        opening = self.opening
        if not opening.ready:
            return None  # still being imported: the import reads what is there
        if opening.in_place:
            now = self._database_signature()
            if now == self._signature:
                return None
            self._signature = now
            return Change(notice=self._gone_notice(now[0] is None), ids=None)
        try:
            refresh = opening.refresh(keep_gone=True, changed=heard)
        except (TraceError, OSError, sqlite3.Error) as exc:
            return self._trouble(f"{opening.label}: cannot follow it now ({exc})")
        except Exception as exc:  # a reader's bug must not end following without a word
            return self._trouble(f"{opening.label}: cannot follow it now ({type(exc).__name__}: {exc})")
        self._last_trouble = None
        notices = [*self._restarted(refresh), *self._deleted(refresh)]
        if not refresh and not notices:
            return None
        ids = (*refresh.added, *refresh.changed)
        return Change(
            runs=len(ids) + len(refresh.removed),
            new_runs=len(refresh.added),
            notice="\n".join(notices) or None,
            ids=ids,
            removed=tuple(refresh.removed),
        )

    def _wakeups(self) -> Iterator[set[str] | None]:
        """Yields when something may have changed: the paths the file system said changed (an empty set
        when `poll` seconds passed without a word), or None when polling (anything may have)."""
        if self.watch:
            try:
                import watchfiles

                paths, recursive = self._watched()
                self.watching = True
                started = False
                for changes in watchfiles.watch(
                    *paths,
                    watch_filter=None,
                    debounce=DEBOUNCE_MS,
                    step=STEP_MS,
                    stop_event=self._stop,
                    rust_timeout=int(self.poll * 1000),
                    yield_on_timeout=True,
                    recursive=recursive,
                    raise_interrupt=True,  # Ctrl+C ends `list --follow` (the CLI takes it as the way out)
                    ignore_permission_denied=True,
                ):
                    # The first wakeup looks at everything: what changed between the first look and
                    # the watcher's start has no event (the watcher is set up before it first yields).
                    yield {path for _, path in changes} if started else None
                    started = True
                return  # stop_event was set
            except (OSError, RuntimeError, ImportError):
                pass  # no watcher here (inotify limits, a file system without events): poll instead
            finally:
                self.watching = False
        while not self._stop.wait(self.poll):
            yield None

    def _watched(self) -> tuple[list[str], bool]:
        """What to watch: a folder and everything under it, or the folder a file is in (not below it:
        a file's folder may be a home directory; a session's subagent files are seen by the poll)."""
        path = os.path.abspath(self.opening.path)
        if os.path.isdir(path):
            return [path], True
        return [os.path.dirname(path)], False

    # -- what to tell -----------------------------------------------------------------------------
    def _database_signature(self) -> tuple[Signature | None, ...]:
        path = self.opening.path
        return Signature.stat(path), Signature.stat(path + "-wal")

    def _gone_notice(self, gone: bool) -> str | None:
        label = self.opening.label
        if not gone:
            self._gone.discard(label)
            return None
        if label in self._gone:
            return None
        self._gone.add(label)
        return f"{display.safe(label, single_line=True)} was deleted: what was read from it stays on screen"

    def _restarted(self, refresh: Refresh) -> list[str]:
        return [
            f"{display.safe(path, single_line=True)} was truncated or replaced: read again from the start"
            for path in refresh.restarted
        ]

    def _deleted(self, refresh: Refresh) -> list[str]:
        gone = set(refresh.gone)
        new = sorted(gone - self._gone)
        self._gone = gone
        return [f"{display.safe(path, single_line=True)} was deleted: the runs read from it are kept" for path in new]

    def _trouble(self, message: str) -> Change | None:
        """A problem reading the source, told once (until it goes away)."""
        if message == self._last_trouble:
            return None
        self._last_trouble = message
        return Change(notice=message)


# -- tracetui list --follow -------------------------------------------------------------------------

UNFINISHED = ("pending", "running")
CHUNK = 500  # run ids asked for at a time (one SQL parameter each)


def follow_runs(
    opening: Openable,
    flt: RunFilter,
    *,
    sort: str,
    desc: bool,
    limit: int | None,
    show: Callable[[TraceStore, list[Run]], None],
    tell: Callable[[str], None],
    follower: Follower | None = None,
    keep: Callable[[TraceStore, list[str]], set[str]] | None = None,
) -> None:
    """`tracetui list PATH --follow`: `show` the runs of the filter that have finished (not pending or
    running), then each run as it finishes while the source is written, each run once; `tell` the
    notices. `keep` (--grep) says which of the finished runs to show (the others are looked at once,
    as they finish, and never shown). Returns when the follower is closed (or Ctrl+C stops its watcher)."""
    done = replace(flt, status=[s for s in (_statuses(flt.status) or RUN_STATUSES) if s not in UNFINISHED])
    shown: set[str] = set()

    def new_runs(store: TraceStore, change: Change | None) -> list[Run]:
        if change is None and keep is not None:
            ids = store.run_ids(done, sort=sort, desc=desc)
            shown.update(ids)
            kept = keep(store, ids)
            return _in_order(store, [i for i in ids if i in kept][:limit])
        if change is None:
            runs = store.list_runs(done, sort=sort, desc=desc, limit=limit)
            shown.update(store.run_ids(done))  # those left out by --limit are not shown later either
            return runs
        if change.ids is None:  # read in place: anything may have changed
            fresh = [i for i in store.run_ids(done, sort=sort, desc=desc) if i not in shown]
            return _in_order(store, fresh)
        out: list[Run] = []
        wanted = [i for i in dict.fromkeys(change.ids) if i not in shown]
        for start in range(0, len(wanted), CHUNK):
            out += store.list_runs(replace(done, ids=wanted[start : start + CHUNK]), sort=sort, desc=desc)
        return out

    def look(change: Change | None) -> None:
        if change is not None and change.notice:
            for line in change.notice.splitlines():
                tell(line)
        store = opening.connect()  # a new connection sees every commit (and a database's new -wal)
        try:
            runs = new_runs(store, change)
            shown.update(r.id for r in runs)
            if keep is not None and change is not None and runs:
                kept = keep(store, [r.id for r in runs])
                runs = [r for r in runs if r.id in kept]
            if runs:
                show(store, runs)
        finally:
            store.close()

    follower = follower or Follower(opening)
    follower.prime()
    with _ctrl_c_closes(follower):
        look(None)
        follower.run(look)


@contextlib.contextmanager
def _ctrl_c_closes(follower: Follower) -> Iterator[None]:
    """Ctrl+C closes the follower as well as raising KeyboardInterrupt: Python drops an exception
    raised inside a weakref callback or a __del__ ("Exception ignored in ..."), and following would
    then go on; a closed follower returns at its next wakeup whatever was interrupted."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    before = signal.getsignal(signal.SIGINT)

    def interrupted(signum: int, frame: types.FrameType | None) -> None:
        follower.close()
        if callable(before):
            before(signum, frame)
        else:
            raise KeyboardInterrupt

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if info.exc_type is KeyboardInterrupt:
            return  # the follower is closed already; "Exception ignored ... KeyboardInterrupt" is no news
        hook_before(info)

    hook_before = sys.unraisablehook
    signal.signal(signal.SIGINT, interrupted)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        sys.unraisablehook = hook_before


def _statuses(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _in_order(store: TraceStore, ids: list[str]) -> list[Run]:
    by_id: dict[str, Run] = {}
    for start in range(0, len(ids), CHUNK):
        by_id.update((r.id, r) for r in store.runs_by_ids(ids[start : start + CHUNK]))
    return [by_id[i] for i in ids if i in by_id]
