"""Questions asked of runs: the root-cause failed step, failed-step navigation, statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import FAILED_STATUSES, Step


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


@dataclass
class GroupStats:
    """One group of `tracetui stats` (store/stats.py computes them): runs, or model or tool calls."""

    group: str | None
    unit: str = "runs"  # what `runs` counts: "runs", or "calls" when grouped by model or tool
    runs: int = 0
    failed: int = 0
    # None until some run carries the value: "no data" is not "zero".
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_cache_read: int | None = None
    credits: float | None = None
    cost_usd: float | None = None
    cost_estimated_usd: float | None = None  # the part of cost_usd estimated from the price table
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    total_ms: float | None = None
    unpriced: int | None = None  # by model: calls with token counts the price table could not price
    share_of_run_time: float | None = None  # by tool: its calls' time over the time of all the runs

    @property
    def failure_rate(self) -> float:
        return self.failed / self.runs if self.runs else 0.0

    @property
    def cost_estimated(self) -> bool:
        return self.cost_estimated_usd is not None

    def as_dict(self) -> dict:
        def share(part: float | None, whole: float | None) -> float | None:
            return None if part is None or not whole else round(part / whole, 4)

        out = {
            "group": self.group,
            self.unit: self.runs,
            "failed": self.failed,
            "failure_rate": round(self.failure_rate, 4),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "tokens_cache_read": self.tokens_cache_read,
            "cached_share": share(self.tokens_cache_read, self.tokens_in),
            "credits": None if self.credits is None else round(self.credits, 6),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
            "cost_estimated": self.cost_estimated,
            "estimated_share": share(self.cost_estimated_usd, self.cost_usd),
            "p50_duration_ms": self.p50_ms,
            "p95_duration_ms": self.p95_ms,
            "max_duration_ms": self.max_ms,
            "total_duration_ms": self.total_ms,
        }
        if self.unpriced is not None:
            out["unpriced_calls"] = self.unpriced
        if self.share_of_run_time is not None:
            out["share_of_run_time"] = round(self.share_of_run_time, 4)
        return out
