"""Questions asked of runs: the root-cause failed step, failed-step navigation, statistics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import FAILED_STATUSES, Step, add_optional


def root_cause(failed: Sequence[tuple[str, int, int]]) -> str | None:
    """The first failed step of a run, descended to its root cause.

    `failed` holds (id, ord, size) of every failed or timed-out step in execution order. The
    first one wins; while the next failed step lies inside the current one's subtree it is the
    earliest failed descendant, so we descend to it: the step that broke, not the parents that
    failed because of it.
    """
    if not failed:
        return None
    current_id, current_ord, current_size = failed[0]
    for step_id, ord_, size in failed[1:]:
        if current_ord < ord_ < current_ord + current_size:
            current_id, current_ord, current_size = step_id, ord_, size
        else:
            break
    return current_id


def first_failed_step(steps: Sequence[Step]) -> Step | None:
    """root_cause() over a pre-ordered step list (as finalize_run or Store.steps give it)."""
    failed = [s for s in steps if s.status in FAILED_STATUSES]
    chosen = root_cause([(s.id, s.ord, s.size) for s in failed])
    return next((s for s in failed if s.id == chosen), None)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Linear-interpolated percentile (0..100) of already sorted values."""
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


@dataclass
class GroupStats:
    group: str | None
    runs: int = 0
    failed: int = 0
    # None until some run carries the value: "no data" is not "zero".
    tokens_in: int | None = None
    tokens_out: int | None = None
    credits: float | None = None
    cost_usd: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def failure_rate(self) -> float:
        return self.failed / self.runs if self.runs else 0.0

    def as_dict(self) -> dict:
        return {
            "group": self.group,
            "runs": self.runs,
            "failed": self.failed,
            "failure_rate": round(self.failure_rate, 4),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "credits": None if self.credits is None else round(self.credits, 6),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "p50_duration_ms": self.p50_ms,
            "p95_duration_ms": self.p95_ms,
        }


def group_stats(rows: Iterable[tuple]) -> list[GroupStats]:
    """Stats per group from (group, status, duration_ms, tokens_in, tokens_out, credits, cost) rows."""
    groups: dict[str | None, GroupStats] = {}
    durations: dict[str | None, list[float]] = {}
    for group, status, duration, tin, tout, credits, cost in rows:
        g = groups.get(group)
        if g is None:
            g = groups[group] = GroupStats(group)
            durations[group] = []
        g.runs += 1
        g.failed += status in FAILED_STATUSES
        g.tokens_in = add_optional(g.tokens_in, tin)
        g.tokens_out = add_optional(g.tokens_out, tout)
        g.credits = add_optional(g.credits, credits)
        g.cost_usd = add_optional(g.cost_usd, cost)
        if duration is not None:
            durations[group].append(duration)
    for key, g in groups.items():
        values = sorted(durations[key])
        g.p50_ms = percentile(values, 50)
        g.p95_ms = percentile(values, 95)
    return sorted(groups.values(), key=lambda g: (g.group is None, str(g.group)))
