"""Two aligned runs as rich Text: the header, one line per pair, marks and deltas.

Shared by `tracetui compare` (printed) and the compare screen (drawn line by line). Untrusted
names and ids go through display.safe() into Text objects, never markup.
"""

from __future__ import annotations

from rich.text import Text

from . import display, present
from .compare import CHANGED, ONLY_A, ONLY_B, SAME, Comparison, Pair
from .model import Run, Step

# Icon and word: the mark must read without colour.
MARK_LABELS = {SAME: "= same", CHANGED: "≠ changed", ONLY_A: "− only A", ONLY_B: "+ only B"}
MARK_STYLES = {SAME: "dim", CHANGED: "bold yellow", ONLY_A: "bold red", ONLY_B: "bold green"}
MARK_WIDTH = 10


def mark_text(mark: str) -> Text:
    return Text(MARK_LABELS[mark].ljust(MARK_WIDTH), MARK_STYLES[mark])


def signed(value: float | int | None, fmt) -> str:
    if value is None:
        return ""
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return sign + fmt(abs(value))


DELTA_FORMATS = (
    ("duration_ms", "", display.duration),
    ("tokens_in", "in ", display.count),
    ("tokens_out", "out ", display.count),
    ("credits", "cr ", display.credits),
    ("cost_usd", "", display.cost),
)


def deltas_text(deltas: dict, *, zero: bool = False) -> Text:
    """B − A for duration, tokens, credits and cost; zero and missing deltas left out unless asked."""
    out = Text()
    for name, label, fmt in DELTA_FORMATS:
        value = deltas.get(name)
        if value is None or (value == 0 and not zero):
            continue
        if out:
            out.append(" ")
        style = "red" if value > 0 else "green" if value < 0 else "dim"
        out.append(label + signed(value, fmt), style)
    return out


def branch_text(branch: dict | None) -> Text:
    if not branch:
        return Text()
    a = display.safe(branch.get("a") or "-", single_line=True)
    b = display.safe(branch.get("b") or "-", single_line=True)
    return Text(f"⇄ A: {a} · B: {b}", present.STYLE["chosen"])


def step_cell(step: Step | None, depth: int, levels: int = display.MAX_NESTING) -> Text:
    """One side of a row: indentation, status icon, name, kind, duration, tokens, credits.

    Indented at most `levels` deep (and never past display.MAX_NESTING); a deeper row says its depth.
    """
    levels = min(levels, display.MAX_NESTING)
    indent = "  " * min(depth, levels)
    if step is None:
        return Text(indent + "·", "dim")
    out = Text(indent)
    out.append(display.depth_note(depth, levels), "dim")
    out.append(*present.status_icon(step.status))
    out.append(display.safe(step.name or step.id, single_line=True), "bold" if step.status != "skipped" else "dim")
    out.append(f" [{step.kind}]", "dim")
    chosen = present.chosen_badge(step)
    if chosen is not None:
        out.append(" ")
        out.append(*chosen)
    out.append(" " + display.duration(step.duration_ms), "dim")
    if step.tokens_in is not None or step.tokens_out is not None:
        out.append(" tok " + display.tokens(step.tokens_in, step.tokens_out), "dim")
    if step.credits is not None:
        out.append(" cr " + display.credits(step.credits), "dim")
    return out


def notes_text(pair: Pair) -> Text:
    """What differs in a row: the branch divergence, changed fields, the deltas."""
    out = Text()
    if pair.branch:
        out.append_text(branch_text(pair.branch))
    changed = [c for c in pair.changes if c != "chosen_branch"]
    if changed:
        if out:
            out.append(" ")
        out.append(", ".join(changed), "yellow")
    delta = deltas_text(pair.deltas)
    if delta:
        if out:
            out.append(" ")
        out.append("Δ ", "dim")
        out.append_text(delta)
    return out


def _fit(text: Text, width: int) -> Text:
    text = text.copy()
    text.truncate(max(width, 0), overflow="ellipsis", pad=True)
    return text


def column_widths(width: int, natural: int | None = None) -> tuple[int, int]:
    """(side column, notes column) widths for a line of `width` cells.

    `natural` is the widest side cell; the sides shrink to it, leaving the rest to the notes.
    """
    notes = max(20, width // 4)
    side = max(12, (width - MARK_WIDTH - notes - 6) // 2)
    if natural is not None and natural < side:
        side = max(natural, 12)
    return side, width - MARK_WIDTH - 2 * side - 6


def pair_line(pair: Pair, width: int, side: int | None = None) -> Text:
    side = side or column_widths(width)[0]
    levels = side // 6  # indentation takes at most a third of the column
    line = mark_text(pair.mark)
    line.append_text(_fit(step_cell(pair.a, pair.depth, levels), side))
    line.append(" │ ", "dim")
    line.append_text(_fit(step_cell(pair.b, pair.depth, levels), side))
    line.append(" │ ", "dim")
    line.append_text(notes_text(pair))
    line.truncate(width, overflow="ellipsis")
    return line


def run_line(label: str, run: Run) -> Text:
    """One run on one line: the label (A or B), the run header, its step counts and totals.

    Without the start time and with short total labels, so both runs' totals fit in 120 columns.
    """
    return Text.assemble(
        (f"{label}  ", "bold"),
        present.run_header(run, started=False),
        "  ",
        present.step_counts(run),
        "  ",
        present.run_totals(run, short=True),
    )


def header_lines(comparison: Comparison) -> list[Text]:
    counts = comparison.counts()
    delta = Text("Δ B−A  ", "bold")
    d = comparison.deltas
    delta.append_text(deltas_text(d, zero=True) or Text("-", "dim"))
    if d.get("step_count"):
        delta.append(f"  steps {signed(d['step_count'], str)}")
    failed = d.get("failed_steps")
    if failed:
        delta.append(f"  failed {signed(failed, str)}", "red" if failed > 0 else "green")
    summary = Text()
    for mark in (SAME, CHANGED, ONLY_A, ONLY_B):
        if summary:
            summary.append("  ")
        summary.append(f"{MARK_LABELS[mark]} {counts[mark]}", MARK_STYLES[mark] if counts[mark] else "dim")
    return [run_line("A", comparison.run_a), run_line("B", comparison.run_b), delta, summary]


def first_divergence_text(comparison: Comparison) -> Text:
    index = comparison.first_divergence
    if index is None:
        return Text("no divergence: the runs align step for step", "green")
    pair = comparison.pairs[index]
    out = Text(f"first divergence: row {index + 1}  ", "bold")
    out.append(MARK_LABELS[pair.mark], MARK_STYLES[pair.mark])
    out.append("  ")
    out.append(display.clip(pair.step.name or pair.step.id), "bold")
    notes = notes_text(pair)
    if notes:
        out.append("  ")
        out.append_text(notes)
    return out


def print_comparison(comparison: Comparison) -> None:
    from .textout import console

    out = console()
    width = out.width
    for line in header_lines(comparison):
        out.print(line, no_wrap=True, crop=True, overflow="ellipsis")
    natural = max(
        (step_cell(step, p.depth).cell_len for p in comparison.pairs for step in (p.a, p.b) if step is not None),
        default=12,
    )
    side, _ = column_widths(width, natural)
    title = Text(" " * MARK_WIDTH)
    title.append_text(_fit(Text("A  " + display.clip(comparison.run_a.id), "bold"), side))
    title.append(" │ ", "dim")
    title.append_text(_fit(Text("B  " + display.clip(comparison.run_b.id), "bold"), side))
    title.append(" │ ", "dim")
    title.append("what differs · Δ B−A", "bold")
    out.print(title, no_wrap=True, crop=True)
    if not comparison.pairs:
        out.print(Text("(neither run has steps)", "dim"))
    for pair in comparison.pairs:
        out.print(pair_line(pair, width, side), no_wrap=True, crop=True)
    out.print(first_divergence_text(comparison), no_wrap=True, crop=True, overflow="ellipsis")
