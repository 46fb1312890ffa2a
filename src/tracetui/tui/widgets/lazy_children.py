"""Which steps of a big run are in the step tree, and which are still to be read — without Textual.

A big run's tree holds only some children of each parent. The rest are stood in for by a Gap
("… 1,200 more steps"); reading a page of a gap's range replaces it with the steps read and up to
two smaller gaps (`Gap.fill`). LazyChildren indexes the tree's nodes by step id and by gap and
knows which gaps are being read. It is generic in the node type, so tests use plain objects
(tests/tui/test_lazy_children.py). The reads themselves are here too, as plain functions of a TraceStore.

Nesting is capped at display.MAX_NESTING levels: a step at the last level shows every step below
it as a flat list of its children, in execution order (each row says its real depth). Textual's
Tree keeps, for every visible line, the path from the root and builds it recursively; a 10,000-deep
run would exhaust the recursion limit and hold the square of its depth in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from ...display import MAX_NESTING
from ...model import Step
from ...store.protocol import TraceStore

PAGE = 500  # children read at a time
EVAL_EXTRA_LIMIT = 2000

N = TypeVar("N")


@dataclass(frozen=True)
class Gap:
    """Children of `parent_id` at positions start..end-1 that are not in the tree yet.

    With `first_ord` set, the parent is at the nesting cap and its children in the tree are all its
    descendants, flat: position i is the step executed at first_ord + i.
    """

    parent_id: str | None
    start: int
    end: int
    first_ord: int | None = None

    @property
    def count(self) -> int:
        return self.end - self.start

    def overlaps(self, offset: int, count: int) -> bool:
        """Do children offset..offset+count-1 reach into this gap?"""
        return self.start < offset + count and offset < self.end

    def fill(self, offset: int, steps: Sequence[Step]) -> list[Step | Gap] | None:
        """What takes the gap's place once `steps` (children from `offset` on) are read:
        a gap before them, the ones inside the gap, a gap after them. None: they miss the gap."""
        lo, hi = max(offset, self.start), min(offset + len(steps), self.end)
        if lo >= hi:
            return None
        head: list[Step | Gap] = [replace(self, end=lo)] if lo > self.start else []
        tail: list[Step | Gap] = [replace(self, start=hi)] if hi < self.end else []
        return [*head, *steps[lo - offset : hi - offset], *tail]


class NoSteps:
    """Stands in the tree of a run that has no steps."""


class DeepNote:
    """The first child of a step at the nesting cap: says that the steps below it are listed flat."""


def flat(step: Step) -> bool:
    """Is the step drawn at the nesting cap, among the flat descendants of its ancestor there?"""
    return (step.depth or 0) >= MAX_NESTING


def at_cap(step: Step) -> bool:
    """Is the step at the last nesting level, with steps below it (listed flat as its children)?"""
    return (step.depth or 0) == MAX_NESTING - 1 and step.child_count > 0


def expandable(step: Step) -> bool:
    return step.child_count > 0 and not flat(step)


def first_page(parent_id: str | None, steps: Sequence[Step], total: int) -> list[Step | Gap]:
    """A parent's children when `steps` are the first of `total`: the steps, then a gap for the rest."""
    tail: list[Step | Gap] = [Gap(parent_id, len(steps), total)] if total > len(steps) else []
    return [*steps, *tail]


def placeholder(step: Step) -> Gap | None:
    """The one child a step starts with while its own children are not read (None: it has none)."""
    if not expandable(step):
        return None
    if at_cap(step):
        return Gap(step.id, 0, step.size - 1, first_ord=step.ord + 1)
    return Gap(step.id, 0, step.child_count)


class LazyChildren(Generic[N]):
    """The tree's nodes by step id and by gap, and the gaps being read."""

    def __init__(self) -> None:
        self.steps: dict[str, N] = {}
        self._gaps: dict[Gap, N] = {}
        self._reading: set[Gap] = set()

    def clear(self) -> None:
        self.steps.clear()
        self._gaps.clear()
        self._reading.clear()

    def add(self, data: object, node: N) -> None:
        if isinstance(data, Step):
            self.steps[data.id] = node
        elif isinstance(data, Gap):
            self._gaps[data] = node

    def forget(self, data: object) -> None:
        if isinstance(data, Step):
            self.steps.pop(data.id, None)
        elif isinstance(data, Gap):
            self._gaps.pop(data, None)

    def gap_node(self, gap: Gap) -> N | None:
        return self._gaps.get(gap)

    def start_reading(self, gap: Gap) -> bool:
        """Mark a gap as being read; False when it already is."""
        if gap in self._reading:
            return False
        self._reading.add(gap)
        return True

    def done_reading(self, gap: Gap) -> None:
        self._reading.discard(gap)

    def is_reading(self, gap: Gap) -> bool:
        return gap in self._reading


# -- moving between failures ----------------------------------------------------------------------
# A run's failed steps come from TraceStore.failed_step_positions as (step id, execution position, size).
FailedPosition = tuple[str, int, int]


def position_of_row(data: object, before: object, parent: object) -> int:
    """Execution position of a tree row: a step's own; a gap's is the last step before it (the
    previous sibling's subtree), else its parent's. -1: before every step."""
    if isinstance(data, Step):
        return data.ord
    if isinstance(before, Step):
        # A flat row's own descendants are its next siblings, not inside it.
        return before.ord if flat(before) else before.ord + before.size - 1
    return parent.ord if isinstance(parent, Step) else -1


def adjacent_failure(positions: Sequence[FailedPosition], here: int, direction: int) -> tuple[str, bool] | None:
    """The failed step after (+1) / before (-1) execution position `here`, wrapping around at the
    ends: (step id, wrapped). None: the run has no failed step."""
    if not positions:
        return None
    if direction > 0:
        later = [p for p in positions if p[1] > here]
        return (later[0][0], False) if later else (positions[0][0], True)
    earlier = [p for p in positions if p[1] < here]
    return (earlier[-1][0], False) if earlier else (positions[-1][0], True)


# -- reading ---------------------------------------------------------------------------------------
# A window of children read around a step: (parent id, offset of the first, the steps).
Window = tuple[str | None, int, list[Step]]


def with_eval_extras(store: TraceStore, run_id: str, steps: list[Step]) -> list[Step]:
    """Tree rows are read without payload columns, but an evaluation's row shows passed/retried,
    which sources keep in extra: read extra for those few steps."""
    for step in [s for s in steps if s.kind == "evaluation"][:EVAL_EXTRA_LIMIT]:
        step.extra = store.get_step(run_id, step.id).extra
    return steps


def read_gap(store: TraceStore, run_id: str, gap: Gap) -> list[Step]:
    """The first page of a gap's children."""
    limit = min(PAGE, gap.count)
    if gap.first_ord is not None:
        steps = store.steps_from(run_id, gap.first_ord + gap.start, limit=limit)
    else:
        steps = store.children(run_id, gap.parent_id, limit=limit, offset=gap.start)
    return with_eval_extras(store, run_id, steps)


def read_path(store: TraceStore, run_id: str, step_id: str, loaded: frozenset[str]) -> tuple[list[str], list[Window]]:
    """What a jump to a step needs: its ancestors and itself (root first), and for each of them not
    in the tree yet (`loaded`), a PAGE of its siblings around it.

    Ancestors below the nesting cap are not in the tree: the step is among the flat descendants of
    its ancestor at the cap, and the window is read from those, in execution order."""
    chain = store.ancestors(run_id, step_id) + [step_id]
    deep = len(chain) > MAX_NESTING
    shown = chain[:MAX_NESTING] + [step_id] if deep else chain
    windows: list[Window] = []
    parent_id: str | None = None
    for sid in shown[: MAX_NESTING if deep else len(shown)]:
        if sid not in loaded:
            # seq is the step's position among its siblings (finalize_run numbers them 0..n-1).
            seq = store.get_step(run_id, sid).seq
            offset = max(0, seq - PAGE // 2)
            window = store.children(run_id, parent_id, limit=PAGE, offset=offset)
            windows.append((parent_id, offset, with_eval_extras(store, run_id, window)))
        parent_id = sid
    if deep and step_id not in loaded:
        anchor = store.get_step(run_id, chain[MAX_NESTING - 1])
        first_ord = anchor.ord + 1
        position = store.get_step(run_id, step_id).ord - first_ord
        offset = max(0, position - PAGE // 2)
        limit = max(0, min(PAGE, anchor.size - 1 - offset))
        window = store.steps_from(run_id, first_ord + offset, limit=limit)
        windows.append((anchor.id, offset, with_eval_extras(store, run_id, window)))
    return shown, windows
