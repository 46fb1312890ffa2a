"""Both steps of one aligned pair side by side, with line diffs of their outputs and inputs.

Every payload is untrusted: it is made visible with display.safe() and shown as rich Text only.
Big payloads are cut to a preview so moving the cursor stays instant.
"""

from __future__ import annotations

import difflib
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ... import display, jsonsafe, present
from ...compare import ONLY_A, ONLY_B, Pair
from ...compare_text import MARK_LABELS, MARK_STYLES, branch_text, deltas_text
from ...model import Step

PREVIEW_CHARS = 4000
DIFF_INPUT_LINES = 400  # per side
DIFF_OUTPUT_LINES = 300
PRETTY_LIMIT = 200_000


def readable(payload: str | None) -> str | None:
    """Payload text with JSON pretty-printed, so a line diff has lines to work with."""
    if payload is None or len(payload) > PRETTY_LIMIT or payload[:1] not in ("{", "["):
        return payload
    try:
        value, repairs = jsonsafe.loads(payload)
    except ValueError:  # not JSON: as it came
        return payload
    return payload if repairs else jsonsafe.dumps(value, indent=True)


def preview(payload: str | None) -> Text:
    if payload is None:
        return Text("-", "dim")
    text = display.safe(payload)
    if len(text) <= PREVIEW_CHARS:
        return Text(text)
    out = Text(text[:PREVIEW_CHARS])
    out.append(f"\n… {len(text) - PREVIEW_CHARS:,} more characters", "dim italic")
    return out


def line_diff(a: str | None, b: str | None) -> Text:
    """A unified diff of two payloads: removed lines red, added lines green."""
    if a is None or b is None:
        return Text("only one side has it", "dim")
    if a == b:
        return Text("identical", "dim")
    a_lines = display.safe(a).splitlines()
    b_lines = display.safe(b).splitlines()
    cut = len(a_lines) > DIFF_INPUT_LINES or len(b_lines) > DIFF_INPUT_LINES
    diff = difflib.unified_diff(a_lines[:DIFF_INPUT_LINES], b_lines[:DIFF_INPUT_LINES], "A", "B", lineterm="", n=2)
    out = Text()
    for n, line in enumerate(diff):
        if n >= DIFF_OUTPUT_LINES:
            out.append("… diff cut here\n", "dim italic")
            break
        if line.startswith(("---", "+++")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("+"):
            style = "green"
        else:
            style = "dim"
        out.append(line + "\n", style)
    if cut:
        out.append(f"(diffed the first {DIFF_INPUT_LINES} lines of each side)\n", "dim italic")
    out.rstrip()
    return out


def _step_title(step: Step | None) -> Text:
    if step is None:
        return Text("no matching step", "dim italic")
    out = Text.assemble(present.status_icon(step.status))
    out.append(display.safe(step.name or step.id, single_line=True), present.STYLE["id"])
    out.append(f" [{step.kind}]", "dim")
    return out


def _field(step: Step | None, name: str) -> Text:
    if step is None:
        return Text("")
    value: Any = getattr(step, name, None)
    if name == "status":
        return present.status_text(value)
    if name == "duration_ms":
        return Text(display.duration(value))
    if name == "tokens":
        return Text(display.tokens(step.tokens_in, step.tokens_out))
    if name == "cost":
        return Text(f"cr {display.credits(step.credits)} · {present.cost_text(step)}")
    if name == "chosen_branch" and value:
        chosen = display.safe(value, single_line=True)
        return Text(chosen, present.chosen_style(chosen))
    return Text(display.safe(value, single_line=True) if value is not None else "-")


SCALAR_ROWS = (
    ("id", "id", ()),
    ("status", "status", ("status",)),
    ("duration", "duration_ms", ()),
    ("tokens in→out", "tokens", ("tokens_in", "tokens_out")),
    ("credits · cost", "cost", ("credits", "cost_usd")),
    ("chosen branch", "chosen_branch", ("chosen_branch",)),
)


def pair_renderable(pair: Pair, run_a: str, run_b: str) -> RenderableType:
    """The detail of one pair: what differs, both steps side by side, then the line diffs."""
    head = Text()
    head.append(MARK_LABELS[pair.mark], MARK_STYLES[pair.mark])
    if pair.changes:
        head.append("  differs in: ")
        head.append(", ".join(pair.changes), "yellow")
    if pair.branch:
        head.append("  ")
        head.append_text(branch_text(pair.branch))
    delta = deltas_text(pair.deltas)
    if delta:
        head.append("  Δ ", "dim")
        head.append_text(delta)

    table = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False, pad_edge=False)
    table.add_column("", style="bold", no_wrap=True, width=16)
    for label, run_id in (("A", run_a), ("B", run_b)):
        # One line each, cut short: a folded id put the other run's title beside its last line.
        title = Text(f"{label}  " + display.safe(run_id, single_line=True), no_wrap=True, overflow="ellipsis")
        table.add_column(title, ratio=1, overflow="fold")
    table.add_row(Text("step"), _step_title(pair.a), _step_title(pair.b))
    changed = set(pair.changes)
    for label, name, fields in SCALAR_ROWS:
        mark = "≠ " if changed.intersection(fields) else ""
        table.add_row(Text(mark + label, "yellow" if mark else ""), _field(pair.a, name), _field(pair.b, name))
    for name in ("input", "output", "error"):  # getattr on a missing side (None) gives None
        mark = "≠ " if name in changed else ""
        table.add_row(
            Text(mark + name, "yellow" if mark else ""),
            preview(getattr(pair.a, name, None)),
            preview(getattr(pair.b, name, None)),
        )

    parts: list[RenderableType] = [head, table]
    if pair.mark not in (ONLY_A, ONLY_B):
        for name in ("output", "input"):
            parts.append(Text(f"{name} diff (A → B)", "bold underline"))
            parts.append(line_diff(readable(getattr(pair.a, name)), readable(getattr(pair.b, name))))
    return Group(*parts)


class PairDetail(VerticalScroll, can_focus=True):
    """The selected pair in full; scrolls on its own (Tab moves focus here)."""

    DEFAULT_CSS = """
    PairDetail { height: 1fr; border-top: solid $primary; padding: 0 1; }
    PairDetail:focus { border-top: double $accent; }
    """

    def compose(self):
        yield Static(Text("select a row to see both steps", "dim"), id="pair-detail-body")

    def show(self, pair: Pair | None, run_a: str, run_b: str) -> None:
        body = self.query_one("#pair-detail-body", Static)
        body.update(Text("no steps in either run", "dim") if pair is None else pair_renderable(pair, run_a, run_b))
        self.scroll_home(animate=False)
