"""Which steps of a big run are in the step tree, and which are still to be read — without Textual.

A big run's tree holds only some children of each parent. The rest are stood in for by a Gap
("… 1,200 more steps"); reading a page of a gap's range replaces it with the steps read and up to
two smaller gaps (`Gap.fill`). LazyChildren indexes the tree's nodes by step id and by gap and
knows which gaps are being read. It is generic in the node type, so tests use plain objects
(tests/tui/test_lazy_children.py). The reads themselves are here too, as plain functions of a Store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ...model import Step
from ...store import Store

PAGE = 500  # children read at a time
EVAL_EXTRA_LIMIT = 2000

N = TypeVar("N")


@dataclass(frozen=True)
class Gap:
    """Children of `parent_id` at positions start..end-1 that are not in the tree yet."""

    parent_id: str | None
    start: int
    end: int

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
        head: list[Step | Gap] = [Gap(self.parent_id, self.start, lo)] if lo > self.start else []
        tail: list[Step | Gap] = [Gap(self.parent_id, hi, self.end)] if hi < self.end else []
        return [*head, *steps[lo - offset : hi - offset], *tail]


class NoSteps:
    """Stands in the tree of a run that has no steps."""


def first_page(parent_id: str | None, steps: Sequence[Step], total: int) -> list[Step | Gap]:
    """A parent's children when `steps` are the first of `total`: the steps, then a gap for the rest."""
    tail: list[Step | Gap] = [Gap(parent_id, len(steps), total)] if total > len(steps) else []
    return [*steps, *tail]


def placeholder(step: Step) -> Gap | None:
    """The one child a step starts with while its own children are not read (None: it has none)."""
    return Gap(step.id, 0, step.child_count) if step.child_count > 0 else None


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
# A run's failed steps come from Store.failed_step_positions as (step id, execution position, size).
FailedPosition = tuple[str, int, int]


def position_of_row(data: object, before: object, parent: object) -> int:
    """Execution position of a tree row: a step's own; a gap's is the last step before it (the
    previous sibling's subtree), else its parent's. -1: before every step."""
    if isinstance(data, Step):
        return data.ord
    if isinstance(before, Step):
        return before.ord + before.size - 1
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


def with_eval_extras(store: Store, run_id: str, steps: list[Step]) -> list[Step]:
    """Tree rows are read without payload columns, but an evaluation's row shows passed/retried,
    which sources keep in extra: read extra for those few steps."""
    for step in [s for s in steps if s.kind == "evaluation"][:EVAL_EXTRA_LIMIT]:
        step.extra = store.get_step(run_id, step.id).extra
    return steps


def read_gap(store: Store, run_id: str, gap: Gap) -> list[Step]:
    """The first page of a gap's children."""
    steps = store.children(run_id, gap.parent_id, limit=min(PAGE, gap.count), offset=gap.start)
    return with_eval_extras(store, run_id, steps)


def read_path(store: Store, run_id: str, step_id: str, loaded: frozenset[str]) -> tuple[list[str], list[Window]]:
    """What a jump to a step needs: its ancestors and itself (root first), and for each of them not
    in the tree yet (`loaded`), a PAGE of its siblings around it."""
    chain = store.ancestors(run_id, step_id) + [step_id]
    windows: list[Window] = []
    parent_id: str | None = None
    for sid in chain:
        if sid not in loaded:
            # seq is the step's position among its siblings (finalize_run numbers them 0..n-1).
            seq = store.get_step(run_id, sid).seq
            offset = max(0, seq - PAGE // 2)
            window = store.children(run_id, parent_id, limit=PAGE, offset=offset)
            windows.append((parent_id, offset, with_eval_extras(store, run_id, window)))
        parent_id = sid
    return chain, windows
