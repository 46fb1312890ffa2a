"""A trace's received spans made into its run's rows: the OTLP reader's run (arriving_run), priced and
finalized, with what a trace still arriving needs (its run `running`, spans waiting for their parent
not flagged as orphans). Made by the decoding workers for a trace whose spans all came in one request,
and by their SpanWriter for one that has spans in the store already, or in several requests.
"""

from __future__ import annotations

from .. import pricing
from ..model import FLAG_ORPHAN, finalize_run
from ..sources import otlp
from ..sources.contract import StagedRecords
from ..store.schema import run_row, step_row

Rows = tuple[tuple, list[list]]


def rows(trace_id: str, records: StagedRecords, pricer: pricing.Pricer | None) -> Rows:
    """The run row and the step rows of the trace made of these staged spans."""
    run = otlp.arriving_run(trace_id, records)
    still = running(records)
    if still:
        run.status = "running"
    finalize_run(pricing.apply(run, pricer))
    if still:  # a span whose parent has not arrived yet is not an orphan (yet): no flag
        for step in run.steps:
            if FLAG_ORPHAN in step.flags:
                step.flags.remove(FLAG_ORPHAN)
    return run_row(run), [step_row(s) for s in run.steps]


def running(records: StagedRecords) -> bool:
    """The trace's root span (the one without a parent) has not arrived, or has not ended."""
    roots = [rec for _, rec in records if rec["step"]["parent_id"] is None]
    return not roots or any(rec["end"] is None for rec in roots)
