"""The trace model: runs and their ordered step trees. Pure data, no I/O.

Every source (sources/) turns its records into these objects; the store writes them to SQLite and
reads them back; the CLI and the viewer only ever see these.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

from . import jsonsafe

RUN_STATUSES = ("pending", "running", "completed", "failed", "timeout")
STEP_STATUSES = RUN_STATUSES + ("skipped",)
FAILED_STATUSES = frozenset({"failed", "timeout"})

KINDS = (
    "llm",
    "tool",
    "reasoning",
    "retrieval",
    "control",
    "scan",
    "governance",
    "evaluation",
    "agent",
    "other",
)
# Pseudo-steps are records a platform adds around real work (scans, verdicts, scores).
PSEUDO_KINDS = frozenset({"scan", "governance", "evaluation"})

TOTAL_FIELDS = ("tokens_in", "tokens_out", "credits", "cost_usd")
# What tokens_in and tokens_out are made of, where the source tells: already counted in them
# (tokens_in includes cache reads and writes, tokens_out the reasoning), kept for pricing and display.
TOKEN_PARTS = ("tokens_cache_read", "tokens_cache_write", "tokens_reasoning")
# Everything summed into subtree (sub_*) and run (steps_*) totals.
ROLLED_UP_FIELDS = TOTAL_FIELDS + TOKEN_PARTS
# Counts, amounts and durations: a value below zero is none of them (shown as -, reported as odd).
NON_NEGATIVE_FIELDS = (*ROLLED_UP_FIELDS, "duration_ms")
_non_negative_values = operator.attrgetter(*NON_NEGATIVE_FIELDS)
# Of cost_usd, the part tracetui estimated from a price table (pricing.py) rather than the source
# reported: summed into sub_/steps_/total_ like the totals, None while there is none. A total with an
# estimated part is shown as an estimate.
ESTIMATED_COST = "cost_estimated_usd"

# Flags explain why a record looks odd; they are shown, never silently repaired away.
FLAG_ORPHAN = "orphan"  # parent_id names no step of the run: shown under the run root
FLAG_CYCLE = "cycle"  # parent links loop: shown under the run root
FLAG_DUPLICATE_ID = "duplicate_id"  # the id occurred before; this occurrence got a new id
FLAG_TOTAL_MISMATCH = "total_mismatch"  # a reported total differs from the sum of the steps
FLAG_DID_NOT_RUN = "did_not_run"


@dataclass(slots=True)
class Step:
    id: str
    run_id: str = ""
    parent_id: str | None = None
    seq: int = 0
    name: str = ""
    kind: str = "other"
    raw_type: str | None = None
    status: str = "completed"
    started_at: str | None = None  # ISO-8601 UTC, millisecond precision, "Z"
    ended_at: str | None = None
    duration_ms: float | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    tokens_in: int | None = None  # every input token the model read, cache reads and writes included
    tokens_out: int | None = None  # every token it generated, reasoning included
    tokens_cache_read: int | None = None
    tokens_cache_write: int | None = None
    tokens_reasoning: int | None = None
    credits: float | None = None
    cost_usd: float | None = None
    cost_estimated: bool = False  # cost_usd was computed from a price table, not reported by the source
    model: str | None = None  # on model calls: the model as the source names it
    provider: str | None = None  # who served it (openai, anthropic, …), where the source says
    branch: str | None = None  # which branch of the parent if/else or switch this step belongs to
    chosen_branch: str | None = None  # on an if/else or switch: then, else, a case name, "no match"
    verdict: str | None = None
    confidence: float | None = None
    policy: str | None = None
    score: float | None = None
    definition_id: str | None = None  # the id the source gave, when it had to be made unique
    events: list[Any] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    # Derived by finalize_run(): position in the tree and subtree totals.
    depth: int = 0
    ord: int = 0  # pre-order position within the run (execution order)
    size: int = 1  # number of steps in the subtree, itself included
    child_count: int = 0
    sub_tokens_in: int | None = None
    sub_tokens_out: int | None = None
    sub_credits: float | None = None
    sub_cost_usd: float | None = None
    sub_tokens_cache_read: int | None = None
    sub_tokens_cache_write: int | None = None
    sub_tokens_reasoning: int | None = None
    sub_cost_estimated_usd: float | None = None
    children: list[Step] = field(default_factory=list, repr=False, compare=False)

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def pseudo(self) -> bool:
        return self.kind in PSEUDO_KINDS

    def copy(self) -> Step:
        """A copy whose lists and extra can change without changing this step (children left empty)."""
        new = Step(*_STEP_VALUES(self))
        new.events, new.extra, new.flags, new.children = list(self.events), dict(self.extra), list(self.flags), []
        return new


_STEP_VALUES = operator.attrgetter(*(f.name for f in fields(Step)))


@dataclass(slots=True)
class Run:
    id: str
    agent: str | None = None
    session: str | None = None
    status: str = "completed"
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: float | None = None
    input: str | None = None
    output: str | None = None
    error: str | None = None
    # As the source record reported them (None when it did not).
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_cache_read: int | None = None
    tokens_cache_write: int | None = None
    tokens_reasoning: int | None = None
    credits: float | None = None
    cost_usd: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)  # circuit-breaker events and the like
    extra: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    source_file: str | None = None
    source_line: int | None = None  # line (JSONL), item index (JSON) or rowid (SQLite)
    steps: list[Step] = field(default_factory=list, repr=False)
    # Derived by finalize_run().
    step_count: int = 0
    failed_steps: int = 0
    steps_tokens_in: int | None = None
    steps_tokens_out: int | None = None
    steps_credits: float | None = None
    steps_cost_usd: float | None = None
    steps_tokens_cache_read: int | None = None
    steps_tokens_cache_write: int | None = None
    steps_tokens_reasoning: int | None = None
    steps_cost_estimated_usd: float | None = None

    def total(self, name: str) -> float | int | None:
        """The run's total for one of ROLLED_UP_FIELDS (or ESTIMATED_COST): as reported, else the sum of
        its steps. A reported run cost has no estimated part."""
        if name == ESTIMATED_COST:
            return None if self.cost_usd is not None else self.steps_cost_estimated_usd
        reported = getattr(self, name)
        return reported if reported is not None else getattr(self, "steps_" + name)

    @property
    def cost_estimated(self) -> bool:
        """Whether the run's total cost holds an estimated part (then it is shown as an estimate)."""
        return self.total(ESTIMATED_COST) is not None

    @property
    def mismatches(self) -> dict[str, tuple[Any, Any]]:
        """Totals where the run's own number and the sum of its steps disagree: {field: (run, steps)}.

        A reported cost is checked against what the steps reported, never against estimates."""
        out = {}
        for name in ROLLED_UP_FIELDS:
            reported, summed = getattr(self, name), getattr(self, "steps_" + name)
            estimated = self.steps_cost_estimated_usd if name == "cost_usd" else None
            if estimated is not None and summed is not None:
                summed = None if summed == estimated else summed - estimated
            if reported is not None and summed is not None and abs(reported - summed) > 1e-9 * max(1, abs(reported)):
                out[name] = (reported, summed)
        return out


# Filled in by finalize_run(), never by a source; a re-read store or export derives them again.
SUB_FIELDS = tuple(f"sub_{name}" for name in (*ROLLED_UP_FIELDS, ESTIMATED_COST))
DERIVED_STEP_FIELDS = ("depth", "ord", "size", "child_count", *SUB_FIELDS)
DERIVED_RUN_FIELDS = (
    "step_count",
    "failed_steps",
    *(f"steps_{name}" for name in (*ROLLED_UP_FIELDS, ESTIMATED_COST)),
)
# What a source fills in, in field order: everything but the derived fields and the tree links
# (Step.children, Run.steps).
SOURCE_STEP_FIELDS = tuple(f.name for f in fields(Step) if f.name not in DERIVED_STEP_FIELDS and f.name != "children")
SOURCE_RUN_FIELDS = tuple(f.name for f in fields(Run) if f.name not in DERIVED_RUN_FIELDS and f.name != "steps")


@dataclass(slots=True)
class Problem:
    """Something in the input that was skipped or repaired, reported to the user."""

    message: str
    line: int | None = None
    run_id: str | None = None
    source_file: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.message}"


def add_optional(a, b):
    """Sum where None means 'no value' (not zero)."""
    if b is None:
        return a
    return b if a is None else a + b


def finalize_run(run: Run) -> Run:
    """Link steps into a tree and derive order, depth, subtree sums and run aggregates.

    Sources give each step its parent_id and seq; this makes step ids unique within the run,
    puts orphans and cycle members under the root (flagged), orders siblings by seq (then source
    order), and fills ord/depth/size/sub_* on steps and step_count/failed_steps/steps_* on the run.
    """
    steps = run.steps
    by_id: dict[str, Step] = {}
    seen_counts: dict[str, int] = {}
    for step in steps:
        step.run_id = run.id
        if step.id in by_id:
            n = seen_counts.get(step.id, 1) + 1
            seen_counts[step.id] = n
            original = step.id
            new_id = f"{original}#{n}"
            while new_id in by_id:
                n += 1
                new_id = f"{original}#{n}"
            seen_counts[original] = n
            if step.definition_id is None:
                step.definition_id = original
            step.id = new_id
        by_id[step.id] = step
        step.children = []

    roots: list[Step] = []
    for step in steps:
        pid = step.parent_id
        if pid is None or pid == "":
            step.parent_id = None
            roots.append(step)
        elif pid not in by_id or pid == step.id:
            if FLAG_ORPHAN not in step.flags:
                step.flags.append(FLAG_ORPHAN)
            step.extra.setdefault("missing_parent_id", pid)
            step.parent_id = None
            roots.append(step)
        else:
            by_id[pid].children.append(step)

    # Steps not reachable from a root hang off a parent cycle: break each loop at its members.
    # (Counted first: what hangs off the roots is a forest, so the walk ends; the set only for a cycle.)
    count, stack = 0, list(roots)
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children)
    if count != len(steps):
        reachable: set[int] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            reachable.add(id(node))
            stack.extend(node.children)
        in_cycle: dict[int, Step] = {}
        for step in steps:
            if id(step) in reachable or id(step) in in_cycle:
                continue
            path: list[Step] = []
            on_path: set[int] = set()
            walker: Step | None = step
            while walker is not None and id(walker) not in on_path and id(walker) not in in_cycle:
                path.append(walker)
                on_path.add(id(walker))
                walker = by_id.get(walker.parent_id) if walker.parent_id else None
            if walker is not None and id(walker) in on_path:
                loop = path[path.index(walker) :]
                for member in loop:
                    in_cycle[id(member)] = member
        for member in in_cycle.values():
            parent = by_id[member.parent_id or ""]  # a cycle member always has a parent
            parent.children = [c for c in parent.children if c is not member]
            member.flags.append(FLAG_CYCLE)
            member.extra.setdefault("cycle_parent_id", member.parent_id)
            member.parent_id = None
            roots.append(member)

    order: list[Step] = []
    todo = [(s, 0) for s in reversed(_sorted_siblings(roots))]
    while todo:
        node, depth = todo.pop()
        node.depth = depth
        node.ord = len(order)
        order.append(node)
        kids = node.children
        node.child_count = len(kids)
        if not kids:  # most steps: nothing to sort, number or visit
            continue
        if len(kids) > 1:
            kids = node.children = sorted(kids, key=_seq)
        for i, kid in enumerate(kids):
            kid.seq = i
        todo.extend((k, depth + 1) for k in reversed(kids))
    for i, root in enumerate(_sorted_siblings(roots)):
        root.seq = i

    # Spelled out per field: this runs for every step of every import.
    for node in reversed(order):
        if not node.children:  # a leaf's subtree is itself
            node.size = 1
            node.sub_tokens_in, node.sub_tokens_out = node.tokens_in, node.tokens_out
            node.sub_credits, node.sub_cost_usd = node.credits, node.cost_usd
            node.sub_tokens_cache_read, node.sub_tokens_cache_write = node.tokens_cache_read, node.tokens_cache_write
            node.sub_tokens_reasoning = node.tokens_reasoning
            node.sub_cost_estimated_usd = node.cost_usd if node.cost_estimated else None
            continue
        size = 1
        tin, tout, credits, cost = node.tokens_in, node.tokens_out, node.credits, node.cost_usd
        read, write, thought = node.tokens_cache_read, node.tokens_cache_write, node.tokens_reasoning
        estimated = cost if node.cost_estimated else None
        for kid in node.children:  # add_optional, inlined
            size += kid.size
            if (v := kid.sub_tokens_in) is not None:
                tin = v if tin is None else tin + v
            if (v := kid.sub_tokens_out) is not None:
                tout = v if tout is None else tout + v
            if (f := kid.sub_credits) is not None:
                credits = f if credits is None else credits + f
            if (f := kid.sub_cost_usd) is not None:
                cost = f if cost is None else cost + f
            if (v := kid.sub_tokens_cache_read) is not None:
                read = v if read is None else read + v
            if (v := kid.sub_tokens_cache_write) is not None:
                write = v if write is None else write + v
            if (v := kid.sub_tokens_reasoning) is not None:
                thought = v if thought is None else thought + v
            if (f := kid.sub_cost_estimated_usd) is not None:
                estimated = f if estimated is None else estimated + f
        node.size = size
        node.sub_tokens_in, node.sub_tokens_out, node.sub_credits, node.sub_cost_usd = tin, tout, credits, cost
        node.sub_tokens_cache_read, node.sub_tokens_cache_write, node.sub_tokens_reasoning = read, write, thought
        node.sub_cost_estimated_usd = estimated

    run.steps = order
    values, failed = summed(order)
    set_run_totals(run, len(order), failed, values)
    return run


def summed(steps: list[Step]) -> tuple[dict[str, list], int]:
    """What a run's totals are made from (set_run_totals): for each of ROLLED_UP_FIELDS and
    ESTIMATED_COST the steps' values in their order, None left out; and how many steps failed."""
    values = {name: [v for v in map(operator.attrgetter(name), steps) if v is not None] for name in ROLLED_UP_FIELDS}
    values[ESTIMATED_COST] = [s.cost_usd for s in steps if s.cost_estimated and s.cost_usd is not None]
    return values, sum(1 for s in steps if s.status in FAILED_STATUSES)


def set_run_totals(run: Run, count: int, failed: int, values: dict[str, list]) -> None:
    """The run's derived fields from its steps: `values` holds, for each of ROLLED_UP_FIELDS and
    ESTIMATED_COST, the steps' values in execution order, None left out (finalize_run, and readers
    that lay out a run's step rows themselves: sources/export.py's plain runs)."""
    run.step_count = count
    run.failed_steps = failed
    for name in ROLLED_UP_FIELDS:
        found = values[name]
        setattr(run, "steps_" + name, sum(found) if found else None)  # in execution order, None if none
    estimates = values[ESTIMATED_COST]
    run.steps_cost_estimated_usd = sum(estimates) if estimates else None
    if run.mismatches and FLAG_TOTAL_MISMATCH not in run.flags:
        run.flags.append(FLAG_TOTAL_MISMATCH)


def finalized(run: Run, report: Callable[[Problem], None], price: Callable[[Run], object] | None = None) -> bool:
    """price(run) then finalize_run(run), for an importer; False (and reported) for a run it cannot put in order.

    The sources give them what the model says (model fields of the right types); a format that does
    not (a plug-in's, or a gap in one of ours) costs its run, not the import.
    """
    try:
        report_negatives(run, report)
    except Exception as exc:  # a run a plug-in built of other types: its values go as they are
        report(Problem(f"run {jsonsafe.quoted(run.id)}: its numbers could not be checked ({_what(exc)})"))
    if price is not None:
        try:
            price(run)
        except Exception as exc:  # a price the table cannot give costs the estimates, never the run
            report(
                Problem(
                    f"run {jsonsafe.quoted(run.id)}: its model calls could not be priced ({_what(exc)})",
                    line=run.source_line,
                )
            )
    try:
        finalize_run(run)
    except Exception as exc:  # any value a source left in any field
        report(Problem(f"skipped a run: its steps could not be put in order ({_what(exc)})", line=run.source_line))
        return False
    return True


def drop_negatives(target: Run | Step) -> list[str]:
    """Clear target's counts, amounts and durations that are below zero (NON_NEGATIVE_FIELDS); what was
    cleared, one phrase each. A cost left out is priced as an estimate, as one the source did not give."""
    try:
        if min(filter(None, _non_negative_values(target)), default=0) >= 0:  # the usual case, in C
            return []
    except TypeError:  # a value of another type (a plug-in's model fields): looked at one by one
        pass
    said = []
    for name in NON_NEGATIVE_FIELDS:
        value = getattr(target, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            setattr(target, name, None)
            said.append(
                f"{name} {jsonsafe.short(value)} is negative: {'left out' if name == 'cost_usd' else 'shown as -'}"
            )
    return said


def report_negatives(
    run: Run,
    report: Callable[[Problem], None],
    steps: Iterable[Step] | None = None,
    *,
    run_too: bool = True,
    of_step: Callable[[Step, Problem], None] | None = None,
) -> None:
    """drop_negatives() of the run (run_too) and of `steps` (None: all the run's), each one's reported
    (a step's to of_step(step, problem) when given)."""
    said = drop_negatives(run) if run_too else []
    if said:
        report(Problem(f"run {jsonsafe.quoted(run.id)}: {'; '.join(said)}", line=run.source_line, run_id=run.id))
    for step in run.steps if steps is None else steps:
        said = drop_negatives(step)
        if said:
            where = f"run {jsonsafe.quoted(run.id)}, step {jsonsafe.quoted(step.id)}"
            problem = Problem(f"{where}: {'; '.join(said)}", line=run.source_line, run_id=run.id)
            if of_step is None:
                report(problem)
            else:
                of_step(step, problem)


def _what(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def tree_problems(run: Run) -> list[Problem]:
    """What finalize_run() had to repair in the run's tree, as problems to report."""
    out = []
    for step in run.steps:
        if not step.flags:  # most steps
            continue
        if FLAG_ORPHAN in step.flags:
            parent = step.extra.get("missing_parent_id")
            out.append(
                Problem(
                    f"run {jsonsafe.quoted(run.id)}: step {jsonsafe.quoted(step.id)} names parent {jsonsafe.quoted(parent)}, which is not in the run;"
                    " shown under the run root",
                    line=run.source_line,
                    run_id=run.id,
                )
            )
        if FLAG_CYCLE in step.flags:
            out.append(
                Problem(
                    f"run {jsonsafe.quoted(run.id)}: step {jsonsafe.quoted(step.id)} is in a loop of parent links; shown under the run root",
                    line=run.source_line,
                    run_id=run.id,
                )
            )
    return out


def run_problems(run: Run) -> list[Problem]:
    """What to report once a run is read and finalized: its tree's repairs and the values dropped reading it.

    The values are the notes normalize made in this thread while the run was read (see
    normalize.take_notes); importers call this after each run, so the notes are the run's own.
    """
    from .normalize import take_notes

    dropped = [
        Problem(f"run {jsonsafe.quoted(run.id)}: {message}", line=run.source_line, run_id=run.id)
        for message in take_notes()
    ]
    return dropped + tree_problems(run)


def _sorted_siblings(nodes: list[Step]) -> list[Step]:
    # Python's sort is stable: equal seq keeps source order (a missing seq sorts as 0).
    if len(nodes) < 2:
        return list(nodes)  # most steps have no children: no sort to set up
    return sorted(nodes, key=_seq)


def _seq(step: Step) -> int:
    return step.seq or 0


def step_tree(steps: list[Step]) -> list[Step]:
    """Root steps of a pre-ordered step list (as the store returns it), with children linked."""
    by_id = {s.id: s for s in steps}
    roots: list[Step] = []
    for s in steps:
        s.children = []
    for s in steps:
        parent = by_id.get(s.parent_id) if s.parent_id else None
        (parent.children if parent is not None else roots).append(s)
    return roots


def preorder(roots: list[Step]) -> Iterator[Step]:
    """The steps under `roots` (linked by step_tree), roots included, in execution order; no recursion."""
    stack = list(reversed(roots))
    while stack:
        step = stack.pop()
        yield step
        stack.extend(reversed(step.children))
