"""Following a growing file without reading it again: only the bytes appended since the last look.

A followed source (follow.py) keeps a `Tails`: for each file whose format is Resumable (Claude Code,
Codex and Gemini CLI sessions, event logs, OTLP, LangSmith, Agents SDK and Langfuse JSON Lines; see
sources/contract.py) a `Tail` holds
where the last read ended (offset and line number), the format's reader as it was there (a session's
conversation, a log's staged records) and what was written to the store from it. When the file grew,
only the whole lines appended since are read, only the runs they change are built again, and of
those only the steps whose rows differ are written (file_import.read_file, store/files.FileWriter).
A last line without its newline waits for it.

A format that builds one run of the whole file (a session) may also offer `Resumed.grown()`: the run
with only the top-level steps that the new lines changed, and those after them (Claude Code; see
claude_code._Resumed.grown). The Tail then keeps the run as the last look built it (`Built`) and puts
the rebuilt steps after the kept ones, and the store's writer makes no rows for the kept steps: a
look costs what was appended, not the session's size. Whatever the checks cannot vouch for (a step
id met twice, a rebuilt step under a kept one) is built whole.

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
from .model import (
    Problem,
    Run,
    Step,
    finalize_run,
    report_negatives,
    set_run_totals,
    summed,
    tree_problems,
)
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
        self.problems: dict[str, list[Problem]] = {}  # run id as built -> problems of its tree
        self.step_rows: dict[str, dict[str, int]] = {}  # id in the store -> step id -> hash of its row
        # Every look prices the run again: a model call priced once is not priced again (pricing.apply).
        self.prices: pricing.Remembered = {}
        self.built: Built | None = None  # the run as the last look wrote it (a whole-run format's)

    def __getstate__(self) -> dict:
        # hash() of a str differs from one process to the next: the row hashes are not kept. Nor is the
        # run as built (as big as the reader's conversation): another process builds it whole once.
        return {**self.__dict__, "step_rows": {}, "built": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def only_grew(self, module: sources.Source) -> bool:
        """Whether the file is the one read, with the bytes read unchanged (perhaps more after them)."""
        if self.read is None or module.NAME != self.format:
            return False
        change, _ = filestate.compare(self.read, self.path)
        return change in (filestate.Change.SAME, filestate.Change.GREW)

    def catch_up(self, read: Read, report, pricer: pricing.Pricer | None) -> list[tuple[Run, int]]:
        """Read the whole lines appended since the last read; the runs they change (every run of the
        file when the format builds them all, or when nothing was written yet), priced and finalized,
        each with how many of its first steps are as the last look wrote them (store/files.FileWriter
        makes no rows for them). Raises OSError, and UnusableInput when the file is unusable as first read."""
        data = whole_lines(self.path, self.offset)
        if data or self.read is None:
            window = Window(self.path, data, self.lines + 1, self.offset)
            self.resumed.read(window)
            self.offset += len(data)
            self.lines += window.lines
        self.read = read
        grown = getattr(self.resumed, "grown", None)
        if self.built is not None and grown is not None:
            said: list[Problem] = []  # reported only when the run is built so (else runs() says them)
            made = grown(said.append)
            if made is not None:
                run, first = made
                kept = self._extend(run, first, pricer, said.append)
                if kept is not None:
                    for problem in said:
                        report(problem)
                    return [(run, kept)]
        self.built = None
        out = []
        negatives: dict[str, list[Problem]] = {}
        for run in self.resumed.runs(report):
            run.source_file = run.source_file or self.path
            report_negatives(run, report, steps=())
            negatives = _negatives(run, run.steps, report)
            finalize_run(pricing.apply(run, pricer, self.prices))
            out.append((run, 0))
        if len(out) == 1 and self.resumed.whole and grown is not None:
            self.built = Built.of(out[0][0], negatives)
        return out

    def _extend(self, run: Run, first: str | None, pricer: pricing.Pricer | None, report) -> int | None:
        """Make `run` (its steps: those of the top-level steps from the one with id `first` on, not
        finalized) the whole run a look at the file gives, with the steps before `first` as the last look
        built them; how many those are. None (nothing changed) when they cannot be kept: a step of the
        run hangs under one of them, or has the id of one."""
        built = self.built
        assert built is not None
        kept = built.ords.get(first, len(built.steps)) if first is not None else len(built.steps)
        if run.id != built.run_id or (kept < len(built.steps) and built.steps[kept].parent_id):
            return None
        ids = {step.id for step in run.steps}
        if len(ids) != len(run.steps):
            return None  # made unique by finalize_run over the whole run
        if any(step.id not in ids for step in built.steps[kept:]):
            return None  # not what was built from there on (a step of another has the id of `first`)
        for step in run.steps:
            at = built.ords.get(step.id)
            if at is not None and at < kept:
                return None
            if step.parent_id and step.parent_id not in ids and built.ords.get(step.parent_id, kept) < kept:
                return None
        run.source_file = run.source_file or self.path
        report_negatives(run, report, steps=())
        negatives = _negatives(run, run.steps, report)
        for step_id, problems in built.negatives.items():
            if built.ords[step_id] < kept:  # said of the steps kept, as each look says it
                for problem in problems:
                    report(problem)
        pricing.apply(run, pricer, self.prices)
        flags = list(run.flags)
        finalize_run(run)  # these steps alone: their order, depth and sums do not depend on the others
        run.flags[:] = flags
        rank = built.steps[kept].seq if kept < len(built.steps) else built.roots
        for step in run.steps:
            step.ord += kept
            if step.parent_id is None:
                step.seq += rank
        built.replace(kept, run, negatives)
        return kept

    @property
    def whole(self) -> bool:
        """The runs catch_up() gives are all the file's runs (they replace all it had in the store)."""
        return self.resumed.whole or not self.written

    def tree_problems(self, run: Run) -> list[Problem]:
        """model.tree_problems(run), of a run catch_up() gave."""
        built = self.built
        if built is not None and built.steps is run.steps:
            return tree_problems(Run(run.id, source_line=run.source_line, steps=built.flagged))
        return tree_problems(run)

    def stored_ids(self, runs: list[Run]) -> list[str]:
        """Where the store has these runs now (what writing them replaces)."""
        return [self.stored.get(run.id, run.id) for run in runs]

    def close(self) -> None:
        close = getattr(self.resumed, "close", None)
        if close is not None:
            close()


class Built:
    """A whole-run format's run as a look last built it (finalized, steps in execution order), so that
    the next look builds only the top-level steps that changed and those after them (Resumed.grown):
    the others keep their rows, and the run's totals are summed from their values as kept here."""

    def __init__(self, run: Run, values: dict[str, list], failed: int) -> None:
        self.run_id = run.id
        self.steps = run.steps
        self.ords = {step.id: step.ord for step in run.steps}
        self.roots = sum(1 for step in run.steps if step.parent_id is None)
        self.values = values  # ROLLED_UP_FIELDS and ESTIMATED_COST -> the steps' values, None left out
        self.failed = failed
        self.flagged = [step for step in run.steps if step.flags]  # what tree_problems looks at
        self.negatives: dict[str, list[Problem]] = {}  # step id -> the negative numbers dropped from it, said

    @classmethod
    def of(cls, run: Run, negatives: dict[str, list[Problem]]) -> Built | None:
        """None when finalize_run had to make a step id unique (the kept steps' ids must be theirs)."""
        if len({step.id for step in run.steps}) != len(run.steps):
            return None
        values, failed = summed(run.steps)
        built = cls(run, values, failed)
        built.negatives = negatives
        return built

    def replace(self, kept: int, run: Run, negatives: dict[str, list[Problem]]) -> None:
        """The steps from `kept` on are now run.steps (finalized, placed): the run's totals and steps."""
        old, new = self.steps[kept:], run.steps
        gone, failed_gone = summed(old)
        added, failed_added = summed(new)
        values = {
            name: self.values[name][: len(self.values[name]) - len(gone[name])] + added[name] for name in self.values
        }
        failed = self.failed - failed_gone + failed_added
        for step in old:
            del self.ords[step.id]
            self.negatives.pop(step.id, None)
        self.negatives.update(negatives)
        self.ords.update((step.id, step.ord) for step in new)
        self.roots += sum(1 for step in new if step.parent_id is None) - sum(1 for s in old if s.parent_id is None)
        self.steps = run.steps = self.steps[:kept] + new
        self.values, self.failed = values, failed
        self.flagged = [step for step in self.flagged if step.ord < kept] + [step for step in new if step.flags]
        set_run_totals(run, len(run.steps), failed, values)


def _negatives(run: Run, steps: list[Step], report) -> dict[str, list[Problem]]:
    """model.report_negatives() of the steps (not the run), reported; what was said of each step."""
    said: dict[str, list[Problem]] = {}

    def of_step(step: Step, problem: Problem) -> None:
        said.setdefault(step.id, []).append(problem)
        report(problem)

    report_negatives(run, report, steps, run_too=False, of_step=of_step)
    return said


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
