"""Aligning two runs step by step, for `tracetui compare` and the compare screen.

The step trees are aligned level by level: each sibling list of A against the matching sibling
list of B, keyed on (name, kind), with a longest-common-subsequence alignment so that one
inserted, missing or retried step leaves the rows after it aligned. Matched pairs recurse into
their children; unmatched steps carry their whole subtree as only_a / only_b rows.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .model import TOTAL_FIELDS, Run, Step, step_tree

SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only_a", "only_b"
MARKS = (SAME, CHANGED, ONLY_A, ONLY_B)

TEXT_FIELDS = ("status", "output", "error", "input", "chosen_branch")
# (relative, absolute): a number changed only when the difference exceeds both, so token counts
# that wobble by a few percent between otherwise identical runs do not flag every step.
NUMBER_TOLERANCE: dict[str, tuple[float, float]] = {
    "tokens_in": (0.05, 10),
    "tokens_out": (0.05, 10),
    "credits": (0.05, 0.01),
    "cost_usd": (0.05, 0.0001),
}
CHANGE_FIELDS = TEXT_FIELDS + tuple(NUMBER_TOLERANCE)
DELTA_FIELDS = ("duration_ms", *TOTAL_FIELDS)

# An exact LCS costs len(a) * len(b) cells (~70 ns each in pure Python); beyond this, anchor on
# steps whose key is unique on both sides (patience diff) and align between anchors in windows.
DP_LIMIT = 250_000
WINDOW_START, WINDOW = 16, 256

Key = Hashable
Op = tuple[int | None, int | None]  # (index in a, index in b); None on the side that lacks it


@dataclass(slots=True)
class Pair:
    a: Step | None
    b: Step | None
    depth: int
    mark: str
    changes: list[str] = field(default_factory=list)
    branch: dict[str, str | None] | None = None  # {"a": ..., "b": ...} where chosen branches differ
    deltas: dict[str, float | int | None] = field(default_factory=dict)

    @property
    def step(self) -> Step:
        """The step to name the row by (A's when there is one)."""
        return self.a if self.a is not None else self.b  # type: ignore[return-value]


@dataclass
class Comparison:
    run_a: Run
    run_b: Run
    pairs: list[Pair]
    deltas: dict[str, float | int | None]  # run level, b − a

    @cached_property
    def differences(self) -> list[int]:
        """Indices of the pairs whose mark is not "same", in order."""
        return [i for i, p in enumerate(self.pairs) if p.mark != SAME]

    @property
    def first_divergence(self) -> int | None:
        return next((i for i, p in enumerate(self.pairs) if p.mark != SAME), None)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(MARKS, 0)
        for p in self.pairs:
            out[p.mark] += 1
        return out


def step_key(step: Step) -> Key:
    return (step.name, step.kind)


# -- sequence alignment ----------------------------------------------------------------------------
def align_keys(a: Sequence[Key], b: Sequence[Key], ties: tuple[Sequence[Any], Sequence[Any]] | None = None) -> list[Op]:
    """An order-preserving alignment of two key lists with (close to) the most matches.

    Equal keys match in order (the first repeat with the first); between two matches the steps
    only in A come before the steps only in B. `ties` (one value per item, such as the status)
    decide between equally long alignments: a retry that failed in B pairs its successful
    attempt with A's, and the failed attempt is the step only in B.
    """
    n, m = len(a), len(b)
    ta, tb = ties if ties is not None else (a, b)
    lo = 0
    while lo < n and lo < m and a[lo] == b[lo] and ta[lo] == tb[lo]:
        lo += 1
    end_a, end_b = n, m
    while end_a > lo and end_b > lo and a[end_a - 1] == b[end_b - 1] and ta[end_a - 1] == tb[end_b - 1]:
        end_a -= 1
        end_b -= 1
    ops: list[Op] = [(i, i) for i in range(lo)]
    ops += _align_middle(a, b, ta, tb, lo, end_a, lo, end_b, anchors=True)
    ops += [(end_a + k, end_b + k) for k in range(n - end_a)]
    return ops


def _align_middle(a, b, ta, tb, a0: int, a1: int, b0: int, b1: int, *, anchors: bool) -> list[Op]:
    if a0 == a1 or b0 == b1:
        return _gap(a0, a1, b0, b1)
    if (a1 - a0) * (b1 - b0) <= DP_LIMIT:
        return _with_gaps(a0, a1, b0, b1, _lcs(a, b, ta, tb, a0, a1, b0, b1))
    if anchors:
        unique = _patience(a, b, a0, a1, b0, b1)
        if unique:
            return _fill(a, b, ta, tb, a0, a1, b0, b1, unique)
    return _with_gaps(a0, a1, b0, b1, _windowed(a, b, ta, tb, a0, a1, b0, b1))


def _gap(a0: int, a1: int, b0: int, b1: int) -> list[Op]:
    return [(i, None) for i in range(a0, a1)] + [(None, j) for j in range(b0, b1)]


def _with_gaps(a0, a1, b0, b1, matches: list[tuple[int, int]]) -> list[Op]:
    ops: list[Op] = []
    i, j = a0, b0
    for mi, mj in matches:
        ops += _gap(i, mi, j, mj)
        ops.append((mi, mj))
        i, j = mi + 1, mj + 1
    ops += _gap(i, a1, j, b1)
    return ops


def _fill(a, b, ta, tb, a0, a1, b0, b1, anchors: list[tuple[int, int]]) -> list[Op]:
    """Anchored alignment: the stretches between anchors are aligned on their own."""
    ops: list[Op] = []
    i, j = a0, b0
    for mi, mj in anchors + [(a1, b1)]:
        ops += _align_middle(a, b, ta, tb, i, mi, j, mj, anchors=False)
        if mi < a1:
            ops.append((mi, mj))
        i, j = mi + 1, mj + 1
    return ops


def _lcs(a, b, ta, tb, a0, a1, b0, b1) -> list[tuple[int, int]]:
    """Exact LCS by dynamic programming over suffixes, read forwards so repeats match in order.

    A match scores more than all tie bonuses together, so the count of matches comes first and
    agreeing ties (statuses) only choose among the longest alignments.
    """
    n, m = a1 - a0, b1 - b0
    bs, tbs = b[b0:b1], tb[b0:b1]
    weight = min(n, m) + 1
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below, ai, ti = table[i], table[i + 1], a[a0 + i], ta[a0 + i]
        for j in range(m - 1, -1, -1):
            down, right = below[j], row[j + 1]
            best = down if down >= right else right
            if ai == bs[j]:
                diagonal = below[j + 1] + weight + (ti == tbs[j])
                if diagonal > best:
                    best = diagonal
            row[j] = best
    matches = []
    i = j = 0
    while i < n and j < m:
        if a[a0 + i] == bs[j] and table[i][j] == table[i + 1][j + 1] + weight + (ta[a0 + i] == tbs[j]):
            matches.append((a0 + i, b0 + j))
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return matches


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest run of pairs increasing in both indices (pairs come sorted by the A index)."""
    tails: list[int] = []  # smallest B index ending an increasing run of each length
    tail_at: list[int] = []
    back: list[int] = []
    for k, (_, j) in enumerate(pairs):
        pos = bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_at.append(k)
        else:
            tails[pos] = j
            tail_at[pos] = k
        back.append(tail_at[pos - 1] if pos else -1)
    out = []
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        out.append(pairs[k])
        k = back[k]
    return out[::-1]


def _patience(a, b, a0, a1, b0, b1) -> list[tuple[int, int]]:
    """Matches on keys that occur exactly once on each side, kept in order."""
    once_a: dict[Key, int | None] = {}
    for i in range(a0, a1):
        once_a[a[i]] = None if a[i] in once_a else i
    once_b: dict[Key, int | None] = {}
    for j in range(b0, b1):
        once_b[b[j]] = None if b[j] in once_b else j
    pairs = sorted((i, once_b[k]) for k, i in once_a.items() if i is not None and once_b.get(k) is not None)
    return _increasing(pairs)  # type: ignore[arg-type]


def _windowed(a, b, ta, tb, a0, a1, b0, b1) -> list[tuple[int, int]]:
    """LCS in a window sliding along both lists, for lists too long for one exact LCS.

    Identical stretches are matched one by one; at a difference an exact LCS runs on a small
    window, whose matches are kept up to its middle. A window that finds nothing to keep grows
    (up to WINDOW), so a long insertion is still stepped over. The cost stays about linear.
    """
    matches: list[tuple[int, int]] = []
    i, j = a0, b0
    size = WINDOW_START
    while i < a1 and j < b1:
        if a[i] == b[j] and ta[i] == tb[j]:
            matches.append((i, j))
            i, j = i + 1, j + 1
            continue
        end_a, end_b = min(i + size, a1), min(j + size, b1)
        found = _lcs(a, b, ta, tb, i, end_a, j, end_b)
        if end_a == a1 and end_b == b1:
            matches += found
            break
        half = size // 2
        kept = [m for m in found if m[0] < i + half or m[1] < j + half]
        if kept:
            matches += kept
            i, j = kept[-1][0] + 1, kept[-1][1] + 1
            size = WINDOW_START
        elif size < WINDOW:
            size *= 2
        else:
            i, j = i + half, j + half  # nothing in reach matches: these steps stay unmatched
    return matches


# -- pairs -----------------------------------------------------------------------------------------
def _differs(field_name: str, x: Any, y: Any) -> bool:
    if x is None or y is None:
        return (x is None) != (y is None)
    if field_name in NUMBER_TOLERANCE:
        rel, absolute = NUMBER_TOLERANCE[field_name]
        diff = abs(y - x)
        return diff > absolute and diff > rel * max(abs(x), abs(y))
    return x != y


def _delta(x: Any, y: Any) -> float | int | None:
    return None if x is None or y is None else y - x


def matched_pair(a: Step, b: Step, depth: int) -> Pair:
    changes = [f for f in CHANGE_FIELDS if _differs(f, getattr(a, f), getattr(b, f))]
    branch = {"a": a.chosen_branch, "b": b.chosen_branch} if "chosen_branch" in changes else None
    deltas = {f: _delta(getattr(a, f), getattr(b, f)) for f in DELTA_FIELDS}
    return Pair(a, b, depth, CHANGED if changes else SAME, changes, branch, deltas)


def align_steps(roots_a: Sequence[Step], roots_b: Sequence[Step]) -> list[Pair]:
    """Flat pre-order pairs of two step trees (children linked on each Step)."""
    pairs: list[Pair] = []
    no_deltas = dict.fromkeys(DELTA_FIELDS)
    # An explicit stack: traces can nest deeper than Python's recursion limit.
    stack: list[tuple[str, Any, Any, int]] = [("lists", roots_a, roots_b, 0)]
    while stack:
        what, x, y, depth = stack.pop()
        if what == "pair":
            pairs.append(matched_pair(x, y, depth))
            stack.append(("lists", x.children, y.children, depth + 1))
        elif what == "lists":
            ops = align_keys(
                [step_key(s) for s in x], [step_key(s) for s in y], ([s.status for s in x], [s.status for s in y])
            )
            for i, j in reversed(ops):
                if i is not None and j is not None:
                    stack.append(("pair", x[i], y[j], depth))
                elif i is not None:
                    stack.append(("only", x[i], ONLY_A, depth))
                else:
                    stack.append(("only", y[j], ONLY_B, depth))
        else:
            mark = y
            pairs.append(
                Pair(
                    x if mark == ONLY_A else None, x if mark == ONLY_B else None, depth, mark, [], None, dict(no_deltas)
                )
            )
            stack.extend(("only", kid, mark, depth + 1) for kid in reversed(x.children))
    return pairs


def roots(run: Run) -> list[Step]:
    """Root steps of a run whose pre-ordered steps may not be linked yet (links them)."""
    return step_tree(run.steps)


RUN_DELTA_FIELDS = ("duration_ms", "step_count", "failed_steps")


def run_deltas(a: Run, b: Run) -> dict[str, float | int | None]:
    out = {f: _delta(getattr(a, f), getattr(b, f)) for f in RUN_DELTA_FIELDS}
    for f in TOTAL_FIELDS:
        out[f] = _delta(a.total(f), b.total(f))
    return out


def compare_runs(run_a: Run, run_b: Run) -> Comparison:
    """Align two runs whose `steps` hold every step in pre-order (as Store.run_tree returns them)."""
    return Comparison(run_a, run_b, align_steps(roots(run_a), roots(run_b)), run_deltas(run_a, run_b))
