"""One step as one tree row: status, name, kind and badges on the left; duration, a waterfall
timing bar, tokens, credits and cost in fixed columns on the right, so bars line up at every depth.

Only rich is used here: every piece of untrusted text goes through display.safe() into Text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text

from ... import display, present
from ...model import Run, Step
from ...normalize import epoch_ms
from ...present import PSEUDO_MARK, STYLE

BAR_WIDTH = 16
# Left-aligned partial blocks, one to seven eighths of a cell.
_EIGHTHS = " ▏▎▍▌▋▊▉"


@dataclass(frozen=True)
class Columns:
    """Which right-hand columns fit, and their widths (0 = left out)."""

    duration: int = 8
    bar: int = BAR_WIDTH
    tokens: int = 11
    credits: int = 7
    cost: int = 8

    @property
    def width(self) -> int:
        parts = [w for w in (self.duration, self.bar, self.tokens, self.credits, self.cost) if w]
        return sum(parts) + len(parts)  # one space before each column

    @classmethod
    def fitting(cls, width: int) -> Columns:
        if width >= 110:
            return cls()
        if width >= 90:
            return cls(bar=12)  # the tree beside the detail pane of a 160-column terminal
        if width >= 64:
            return cls(tokens=0, credits=0, cost=0)
        if width >= 40:
            return cls(bar=0, tokens=0, credits=0, cost=0)
        return cls(duration=0, bar=0, tokens=0, credits=0, cost=0)


@dataclass(frozen=True)
class TimeScale:
    """The run's span, which every timing bar is drawn against."""

    start: float | None = None
    end: float | None = None

    @classmethod
    def of_run(cls, run: Run, steps: Sequence[Step] = ()) -> TimeScale:
        start = epoch_ms(run.started_at)
        end = epoch_ms(run.ended_at)
        if end is None and start is not None and run.duration_ms is not None:
            end = start + run.duration_ms
        scale = cls(start, end)
        return scale.widened(steps)

    def widened(self, steps: Iterable[Step]) -> TimeScale:
        start, end = self.start, self.end
        for step in steps:
            span = step_span(step)
            if span is None:
                continue
            s, e = span
            start = s if start is None else min(start, s)
            end = e if end is None else max(end, e)
        return TimeScale(start, end)

    @property
    def usable(self) -> bool:
        return self.start is not None and self.end is not None and self.end > self.start


def step_span(step: Step) -> tuple[float, float] | None:
    """(start, end) in epoch milliseconds, or None when the step has no start time."""
    start = epoch_ms(step.started_at)
    if start is None:
        return None
    end = epoch_ms(step.ended_at)
    if end is None:
        end = start + (step.duration_ms or 0.0)
    return start, max(start, end)


def timing_bar(step: Step, scale: TimeScale, width: int = BAR_WIDTH) -> Text:
    """Where the step sat within the run, in `width` cells (eighth-cell precision at the end)."""
    track = Text("·" * width, style="dim")
    step_at = step_span(step)
    if step_at is None or scale.start is None or scale.end is None or scale.end <= scale.start:
        return track
    (start, end), origin = step_at, scale.start
    span = scale.end - origin
    x0 = max(0.0, min(width, (start - origin) / span * width))
    x1 = max(x0, min(width, (end - origin) / span * width))
    cells: list[str | None] = []
    for i in range(width):
        left, right = max(x0, i), min(x1, i + 1)
        covered = right - left
        if covered <= 0:
            cells.append(None)
        elif covered >= 0.875:
            cells.append("█")
        elif x0 > i and x1 >= i + 1:
            cells.append("▐")  # starts inside this cell and runs on
        else:
            cells.append(_EIGHTHS[max(1, round(covered * 8))])
    if all(c is None for c in cells):  # an instant: still show where it happened
        cells[min(width - 1, int(x0))] = "▏"
    style = present.status_style(step.status) or "white"
    if step.pseudo:
        style = STYLE["flag"]
    out = Text()
    for c in cells:
        if c is None:
            out.append("·", "dim")
        else:
            out.append(c, style)
    return out


def _fit(text: Text, width: int) -> Text:
    text = text.copy()
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


def _right(value: str, width: int, style: str = "") -> Text:
    if len(value) > width:
        value = value[: width - 1] + "…"
    return Text(value.rjust(width), style=style)


def kind_tag(step: Step) -> Text:
    """Kind; for pseudo-steps marked, with a scan's own type."""
    tag = Text()
    raw = display.safe(step.raw_type, single_line=True) if step.raw_type else ""
    if not step.pseudo:
        shown = raw if raw and step.kind in ("control", "other") else step.kind
        tag.append(shown, "dim")
        return tag
    tag.append(f"{PSEUDO_MARK} {step.kind}", STYLE["pseudo"])
    if step.kind == "scan" and raw and raw != "scan" and raw != step.name:
        tag.append(f" {raw}", STYLE["pseudo"])
    return tag


def badges(step: Step) -> Text:
    """The step's badges and flags as present.py draws them for the CLI too, one space apart."""
    out = Text()
    flags = present.flags_badge(step.flags)
    for badge in [*present.step_badges(step, compact=True), *([flags] if flags else [])]:
        out.append(" ")
        out.append(*badge)
    return out


def step_label(step: Step, width: int, columns: Columns, scale: TimeScale) -> Text:
    """The whole row after the tree's guides and expand icon, exactly `width` cells wide."""
    left_width = max(8, width - columns.width)
    head = Text()
    head.append(display.depth_note(step.depth or 0), "dim")  # a step drawn at the nesting cap
    head.append(*present.status_icon(step.status))
    name_style = STYLE["failure"] if step.failed else ("italic" if step.pseudo else "")
    name = Text(display.safe(step.name or step.id, single_line=True), name_style)
    tags = Text("  ").append_text(kind_tag(step)).append_text(badges(step))
    room = left_width - head.cell_len - tags.cell_len
    if room < min(12, name.cell_len):
        room = min(12, name.cell_len)
    if name.cell_len > room:
        name = _fit(name, room)
    left = _fit(Text.assemble(head, name, tags), left_width)

    row = Text.assemble(left)
    if columns.duration:
        row.append(" ")
        row.append_text(_right(display.duration(step.duration_ms), columns.duration))
    if columns.bar:
        row.append(" ")
        row.append_text(timing_bar(step, scale, columns.bar))
    if columns.tokens:
        row.append(" ")
        # Subtree totals: what the step cost with its children (an LLM step with its tool calls).
        row.append_text(_right(display.tokens(step.sub_tokens_in, step.sub_tokens_out), columns.tokens))
    if columns.credits:
        row.append(" ")
        row.append_text(_right(display.credits(step.sub_credits), columns.credits))
    if columns.cost:
        row.append(" ")
        row.append_text(_right(present.cost_text(step, subtree=True), columns.cost))
    if step.status == "skipped":
        row.stylize("dim")
    return row


def run_label(run: Run, width: int, columns: Columns, scale: TimeScale) -> Text:
    """The tree's root row: the run itself, with its totals in the step columns."""
    left = Text.assemble(
        present.status_icon(run.status),
        ("run ", STYLE["label"]),
        (display.safe(run.id, single_line=True), STYLE["id"]),
    )
    if run.agent:
        left.append(f"  {display.safe(run.agent, single_line=True)}", STYLE["agent"])
    if run.status != "completed":
        left.append("  ").append_text(present.status_text(run.status))
    row = _fit(left, max(8, width - columns.width))
    if columns.duration:
        row.append(" ")
        row.append_text(_right(display.duration(run.duration_ms), columns.duration))
    if columns.bar:
        row.append(" ")
        bar = "█" * columns.bar if scale.usable else "·" * columns.bar
        row.append(bar, "dim" if not scale.usable else "grey50")
    if columns.tokens:
        row.append(" ")
        row.append_text(_right(display.tokens(run.total("tokens_in"), run.total("tokens_out")), columns.tokens))
    if columns.credits:
        row.append(" ")
        row.append_text(_right(display.credits(run.total("credits")), columns.credits))
    if columns.cost:
        row.append(" ")
        row.append_text(_right(present.cost_text(run), columns.cost))
    return row


def header_label(width: int, columns: Columns) -> Text:
    """Column titles over the tree, aligned with step_label()'s columns."""
    row = Text("step".ljust(max(0, width - columns.width)), "bold")
    for title, w in (
        ("duration", columns.duration),
        ("timeline", columns.bar),
        ("tok in→out", columns.tokens),
        ("credits", columns.credits),
        ("cost", columns.cost),
    ):
        if w:
            row.append(" ")
            row.append(title[:w].rjust(w) if title != "timeline" else title[:w].center(w), "bold")
    return row
