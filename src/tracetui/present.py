"""How each concept looks, one renderer per concept, shared by the CLI text output and the viewer.

A status, a chosen branch, flags, totals or a run header is drawn by one function here; each surface
(textout, compare_text, the viewer's tree rows, detail pane and headers) only chooses the layout:
which pieces, in what order, with what between them. Styles are named once, in STATUS_STYLE,
VERDICT_STYLE and STYLE.

Plain rich, no Textual (the core never imports it). Every untrusted string goes through
display.safe() into Text, never into markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Text

from . import display, jsonsafe
from .model import TOKEN_PARTS, Run, Step
from .store import RunFilter

if TYPE_CHECKING:
    from .store.search import Snippet
    from .store.sessions import SessionRow

# Hex colours, not ANSI names: Textual's default theme draws ANSI magenta as the same red as failures.
STATUS_STYLE = {
    "failed": "bold red",
    "timeout": "bold #ff8700",
    "completed": "green",
    "running": "yellow",
    "pending": "cyan",
    "skipped": "dim",
}
VERDICT_STYLE = {"pass": "green", "flag": "bold yellow", "block": "bold red"}
STYLE = {
    "label": "dim",  # the word before a value: "run", "agent", "tokens"
    "id": "bold",
    "agent": "cyan",
    "chosen": "bold cyan",  # the branch an if/else or switch took
    "no_match": "bold yellow",  # a switch where no case matched
    "branch": "italic cyan",  # the branch a step ran in
    "pseudo": "italic #af87ff",  # scans, governance and evaluation pseudo-steps
    "flag": "#af87ff",
    "verdict": "bold",  # a verdict VERDICT_STYLE does not know
    "score": "yellow",
    "retry": "bold yellow",
    "passed": "green",
    "not_passed": "bold red",
    "mismatch": "bold yellow",  # a reported total the steps do not add up to
    "event": "bold yellow",  # circuit-breaker events
    "error": "red",
    "failure": "bold red",  # failed-step counts and first-failure marks
    "model": "#5fafaf",  # the model a model call used
    "found": "bold black on yellow",  # text a search found (run view `/`)
}
PSEUDO_MARK = "◇"
NO_MATCH = "no match"

Piece = tuple[str, str]  # (text, rich style): what Text.assemble takes


def mark_found(text: Text, query: str | None) -> int:
    """Highlight every occurrence of `query` in `text` (case folded, literally); how many there are."""
    if not query:
        return 0
    return text.highlight_regex(re.compile(re.escape(query), re.IGNORECASE), STYLE["found"])


def snippet_text(snip: Snippet | None, query: str | None, width: int | None = None) -> Text:
    """Where a search found a step: "input: …the text around the match…", literal, the match marked;
    cut to `width` cells. None: the step is gone, or matched only as SQLite folds case."""
    if snip is None:
        return Text("(no text to show)", STYLE["label"])
    text = Text.assemble((f"{snip.field}: ", STYLE["label"]), snip.text)
    mark_found(text, query)
    if width is not None:
        text.truncate(width, overflow="ellipsis")
    return text


def safe_text(value: object, style: str = "") -> Text:
    """An untrusted value as one literal line of Text."""
    return Text(display.safe(value, single_line=True), style=style)


# -- status -----------------------------------------------------------------------------------


def status_style(status: str | None) -> str:
    return STATUS_STYLE.get(status or "", "")


def status_icon(status: str | None) -> Piece:
    """The icon and the space after it, as a row starts: "✗ "."""
    return display.STATUS_ICONS.get(status or "", "?") + " ", status_style(status)


def status_text(status: str | None) -> Text:
    """Icon and word, so a status reads without colour: "✗ failed".

    The style is a span, not the Text's base style, so what a layout appends is not tinted by it.
    """
    return Text.assemble((display.status_word(status), status_style(status)))


# -- a step's badges --------------------------------------------------------------------------


def chosen_style(chosen: str) -> str:
    return STYLE["no_match"] if chosen == NO_MATCH else STYLE["chosen"]


def chosen_badge(step: Step) -> Piece | None:
    """The branch a decision step took: "chosen: then"."""
    if not step.chosen_branch:
        return None
    chosen = display.safe(step.chosen_branch, single_line=True)
    return f"chosen: {chosen}", chosen_style(chosen)


def branch_badge(step: Step, *, compact: bool = False) -> Piece | None:
    """The branch a step ran in: "(branch else)", or "↳ else" where a row has little room."""
    if not step.branch:
        return None
    branch = display.safe(step.branch, single_line=True)
    return (f"↳ {branch}" if compact else f"(branch {branch})"), STYLE["branch"]


def verdict_badge(step: Step) -> Piece | None:
    if not step.verdict:
        return None
    verdict = display.safe(step.verdict, single_line=True)
    return f"verdict: {verdict}", VERDICT_STYLE.get(verdict.lower(), STYLE["verdict"])


def evaluation_badge(step: Step) -> Piece | None:
    """An evaluation's outcome: retried, passed or not."""
    if step.kind != "evaluation":
        return None
    extra = step.extra or {}
    if extra.get("retried"):
        return "retry", STYLE["retry"]
    if extra.get("passed") is True:
        return "passed", STYLE["passed"]
    if extra.get("passed") is False:
        return "not passed", STYLE["not_passed"]
    return None


def flags_badge(flags: Iterable[object] | None) -> Piece | None:
    """Why a record looks odd: "⚑ orphan,cycle"."""
    shown = [display.safe(flag, single_line=True) for flag in flags or ()]
    if not shown:
        return None
    return "⚑ " + ",".join(shown), STYLE["flag"]


def model_badge(step: Step) -> Piece | None:
    """The model a model call used, unless the step's name already says it: "gpt-4o-mini"."""
    if not step.model or step.model in (step.name or ""):
        return None
    return display.safe(step.model, single_line=True), STYLE["model"]


def step_badges(step: Step, *, compact: bool = False) -> list[Piece]:
    """What a step's line says after its name and kind: model, branch, chosen branch, a status other
    than completed, verdict, score, evaluation outcome. Flags are left to flags_badge (placed by the surface).

    `compact` is for the viewer's tree rows, which share their width with fixed columns.
    """
    badges = (model_badge(step), branch_badge(step, compact=compact), chosen_badge(step))
    out = [badge for badge in badges if badge is not None]
    if step.status != "completed":
        out.append((display.status_word(step.status), status_style(step.status)))
    verdict = verdict_badge(step)
    if verdict is not None:
        out.append(verdict)
    if step.score is not None:
        out.append((f"score: {step.score:g}", STYLE["score"]))
    outcome = evaluation_badge(step)
    if outcome is not None:
        out.append(outcome)
    return out


# -- a run ------------------------------------------------------------------------------------


def run_header(run: Run, *, started: bool = True) -> Text:
    """Who the run is: "✓ completed  run <id>  agent <agent>  started <when>  <duration>"."""
    head = status_text(run.status)
    head.append("  run ", STYLE["label"])
    head.append(display.clip(run.id), STYLE["id"])
    if run.agent:
        head.append("  agent ", STYLE["label"])
        head.append(display.clip(run.agent), STYLE["agent"])
    if started:
        head.append("  started ", STYLE["label"])
        head.append(display.when(run.started_at))
    head.append("  " + display.duration(run.duration_ms))
    return head


def step_counts(run: Run) -> Text:
    """ "12 steps, 1 failed"."""
    steps, failed = run.step_count or 0, run.failed_steps or 0
    out = Text(f"{steps:,} step{'s' if steps != 1 else ''}, ")
    out.append(f"{failed:,} failed", STYLE["failure"] if failed else "")
    return out


def cost_estimated(target: Run | Step, *, subtree: bool = False) -> bool:
    """Whether a cost holds an estimate: a run's total, a step's own cost or (subtree) its subtree's."""
    if isinstance(target, Run):
        return target.cost_estimated
    return target.sub_cost_estimated_usd is not None if subtree else target.cost_estimated


def cost_text(target: Run | Step, *, subtree: bool = False) -> str:
    """A run's total cost, a step's own or (subtree) its subtree's: "$0.0123", estimates "≈$0.0123"."""
    if isinstance(target, Run):
        value = target.total("cost_usd")
    else:
        value = target.sub_cost_usd if subtree else target.cost_usd
    return display.cost(value, cost_estimated(target, subtree=subtree))


def run_totals(run: Run, *, short: bool = False) -> Text:
    """ "tokens 1230→118  credits 0.55  cost $0.0123": as reported, else the sum of the steps; the
    token parts where there are some ("tokens in 1230 (cache read 1000 · write 0) · out 118 (reasoning 20)").

    Short, the labels are a step line's ("tok 1230→118  cr 0.55  $0.0123"), for a line with little room.
    """
    parts = () if short else tuple(run.total(name) for name in TOKEN_PARTS)
    totals = (
        ("tok" if short else "tokens", display.tokens(run.total("tokens_in"), run.total("tokens_out"), *parts)),
        ("cr" if short else "credits", display.credits(run.total("credits"))),
        ("" if short else "cost", cost_text(run)),
    )
    out = Text()
    for label, value in totals:
        if out:
            out.append("  ")
        if label:
            out.append(label + " ", STYLE["label"])
        out.append(value)
    return out


def filter_text(flt: RunFilter) -> Text:
    """What a run filter keeps, as the run list's status line and the stats screen say it:
    " · status: failed · agent: a · model: m · tool: t · project: p · file: f · time: 2026-11-01 09:00–10:00
    · search: 'x'"."""
    text = Text()
    items: list[tuple[str, object]] = [("status", flt.status), ("agent", flt.agent), ("model", flt.model)]
    items += [("tool", flt.tool), ("project", flt.project), ("file", flt.file), ("session", flt.session)]
    if flt.since is not None or flt.until is not None:
        items.append(("time", display.period(flt.since, flt.until)))
    for label, value in items:
        if value:
            text.append(f" · {label}: ", "bold")
            text.append(display.safe(value, single_line=True), "bold")
    if flt.search:
        text.append(" · search: ", "bold")
        text.append(jsonsafe.quoted(flt.search), "bold")
    return text


def session_cells(row: SessionRow) -> dict[str, str]:
    """A session as the run list's cells (and `list --by session`'s): worst status, id, run count,
    first start, span, steps, tokens, credits, cost, failed runs."""
    runs = f"{row.runs:,} run{'' if row.runs == 1 else 's'}"
    return {
        "status": display.status_word(row.status),
        "id": display.clip(row.session if row.session is not None else row.run_id),
        "runs": runs,
        "started": display.when(row.started_at),
        "duration": display.duration(row.duration_ms),
        "steps": display.count(row.steps),
        "tokens": display.tokens(row.tokens_in, row.tokens_out),
        "credits": display.credits(row.credits),
        "cost": display.cost(row.cost_usd, row.cost_estimated),
        "failed": f"{row.failed:,} failed" if row.failed else "",
    }


def mismatch_text(name: str, reported: float | None, summed: float | None) -> Text:
    """A reported total its steps do not add up to: "⚠ credits mismatch: run reports 5, steps sum to 3"."""
    return Text(
        f"⚠ {display.LABELS[name]} mismatch: run reports {display.total(name, reported)},"
        f" steps sum to {display.total(name, summed)}",
        STYLE["mismatch"],
    )
