"""Following a growing file without reading it again: only the bytes appended since the last look.

A followed source (follow.py) keeps a `Tails`: for each file whose format is Resumable (Claude Code,
Codex and Gemini CLI sessions, event logs, OTLP, LangSmith, Agents SDK and Langfuse JSON Lines; see
sources/contract.py) a `Tail` holds
where the last read ended (offset and line number), the format's reader as it was there (a session's
conversation, a log's staged records) and what was written to the store from it. When the file grew,
only the whole lines appended since are read, only the runs they change are built again, and of
those only the steps whose rows differ are written (file_import.read_file, store/files.FileWriter).
A last line without its newline waits for it.

The file is read again from the start (a new Tail) when it was truncated or replaced (filestate.compare
says it did not just grow), when its format changed, and for layouts a format cannot resume (a JSON
document: Gemini CLI's .json chats, OTLP or a Langfuse export as one JSON document). Formats with
one run per line have their own append path (file_import._append_point). Tails live in this process;
a folder's store keeps the Tails of its files likely to grow between processes (tailstate.py pickles
them: getstate/setstate below).
"""

from __future__ import annotations

import os

from . import filestate, pricing, sources
from .filestate import Read
from .model import Problem, Run
from .sources.resume import Window, whole_lines


class Tail:
    """One followed file: the format's reader as it was at the end of the last read, and where that was."""

    def __init__(self, path: str, module: sources.Source, head: sources.Head) -> None:
        assert isinstance(module, sources.Resumable)
        self.path, self.format = path, module.NAME
        self.line_problems: list[Problem] = []  # problems of the lines read so far (kept: lines are read once)
        self.resumed: sources.Resumed = module.resume(head, self.line_problems.append)
        self.offset = 0  # the end of the last whole line read
        self.lines = 0  # lines before offset
        self.read: Read | None = None  # the file as measured before the last read
        self.written = False  # its runs are in the store as this tail built them
        self.stored: dict[str, str] = {}  # run id as built -> its id in the store (kept apart as id~2)
        self.tree_problems: dict[str, list[Problem]] = {}  # run id as built -> problems of its tree
        self.step_rows: dict[str, dict[str, int]] = {}  # id in the store -> step id -> hash of its row
        # Every look prices the run again: a model call priced once is not priced again (pricing.apply).
        self.prices: pricing.Remembered = {}

    def __getstate__(self) -> dict:
        # hash() of a str differs from one process to the next: the row hashes are not kept.
        return {**self.__dict__, "step_rows": {}}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def only_grew(self, module: sources.Source) -> bool:
        """Whether the file is the one read, with the bytes read unchanged (perhaps more after them)."""
        if self.read is None or module.NAME != self.format:
            return False
        change, _ = filestate.compare(self.read, self.path)
        return change in (filestate.Change.SAME, filestate.Change.GREW)

    def catch_up(self, read: Read, report) -> list[Run]:
        """Read the whole lines appended since the last read; the runs they change (every run of the
        file when the format builds them all, or when nothing was written yet). Raises OSError, and
        UnusableInput when the file is unusable as first read."""
        data = whole_lines(self.path, self.offset)
        if data or self.read is None:
            window = Window(self.path, data, self.lines + 1, self.offset)
            self.resumed.read(window)
            self.offset += len(data)
            self.lines += window.lines
        self.read = read
        return self.resumed.runs(report)

    @property
    def whole(self) -> bool:
        """The runs catch_up() gives are all the file's runs (they replace all it had in the store)."""
        return self.resumed.whole or not self.written

    def stored_ids(self, runs: list[Run]) -> list[str]:
        """Where the store has these runs now (what writing them replaces)."""
        return [self.stored.get(run.id, run.id) for run in runs]

    def close(self) -> None:
        close = getattr(self.resumed, "close", None)
        if close is not None:
            close()


class Tails:
    """The Tail of each followed file of a source (one file, or the files of a folder that grew)."""

    def __init__(self) -> None:
        self._tails: dict[str, Tail] = {}

    def tail(self, path: str, module: sources.Source, head: sources.Head) -> Tail | None:
        """The file's Tail to read on with: the one kept when the file only grew since, else a new one
        (read from the start); None when its format or layout cannot be read on (read it whole)."""
        path = os.path.abspath(path)
        kept = self._tails.get(path)
        if kept is not None and kept.only_grew(module):
            return kept
        self.drop(path)
        if not sources.resumable(module, head):
            return None
        tail = self._tails[path] = Tail(path, module, head)
        return tail

    def has(self, path: str) -> bool:
        return os.path.abspath(path) in self._tails

    def get(self, path: str) -> Tail | None:
        return self._tails.get(os.path.abspath(path))

    def keep(self, tail: Tail) -> None:
        """Take a Tail made elsewhere (tailstate.py: kept in the cache by another process)."""
        self.drop(tail.path)
        self._tails[tail.path] = tail

    def drop(self, path: str) -> None:
        tail = self._tails.pop(os.path.abspath(path), None)
        if tail is not None:
            tail.close()

    def close(self) -> None:
        for path in list(self._tails):
            self.drop(path)
