"""Human-readable CLI output (rich tables and a text tree). Untrusted text is never markup."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import display
from .model import Run, Step

STATUS_STYLE = display.STATUS_STYLE


def console() -> Console:
    width = None if sys.stdout.isatty() else 240
    return Console(width=width, highlight=False, soft_wrap=False, emoji=False)


def _t(value: object, style: str = "") -> Text:
    return Text(display.safe(value, single_line=True), style=style)


def runs_table(runs: list[Run]) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in (
        ("status", "left"),
        ("run", "left"),
        ("agent", "left"),
        ("started", "left"),
        ("duration", "right"),
        ("steps", "right"),
        ("failed", "right"),
        ("tokens in→out", "right"),
        ("credits", "right"),
        ("cost", "right"),
        ("error", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)
    for run in runs:
        style = STATUS_STYLE.get(run.status, "")
        table.add_row(
            _t(display.status_word(run.status), style),
            _t(run.id),
            _t(run.agent or "-"),
            _t(display.when(run.started_at)),
            _t(display.duration(run.duration_ms)),
            _t(run.step_count),
            _t(run.failed_steps or "", "red" if run.failed_steps else ""),
            _t(display.tokens(run.total("tokens_in"), run.total("tokens_out"))),
            _t(display.credits(run.total("credits"))),
            _t(display.cost(run.total("cost_usd"))),
            _t(display.excerpt(run.error, 60), "red"),
        )
    console().print(table)


def step_segments(step: Step) -> list[tuple[str, str]]:
    """One step as (text, style) pieces: status, name, kind, badges, duration, tokens, credits."""
    style = STATUS_STYLE.get(step.status, "")
    kind = step.kind + (f":{display.safe(step.raw_type)}" if step.raw_type and step.raw_type != step.kind else "")
    out = [
        (display.STATUS_ICONS.get(step.status, "?") + " ", style),
        (display.safe(step.name or step.id, single_line=True), "dim" if step.status == "skipped" else "bold"),
        (f"  [{kind}]", "dim"),
    ]
    if step.branch:
        out.append((f"  (branch {display.safe(step.branch, single_line=True)})", "dim"))
    if step.chosen_branch:
        out.append((f"  chosen: {display.safe(step.chosen_branch, single_line=True)}", "bold cyan"))
    if step.status != "completed":
        out.append((f"  {step.status}", style))
    if step.verdict:
        out.append((f"  verdict: {display.safe(step.verdict, single_line=True)}", "bold yellow"))
    if step.score is not None:
        out.append((f"  score: {step.score:g}", "yellow"))
    out.append((f"  {display.duration(step.duration_ms)}", ""))
    # Subtree totals: what the step cost including its children (its tool calls, say).
    if step.sub_tokens_in is not None or step.sub_tokens_out is not None:
        out.append((f"  tok {display.tokens(step.sub_tokens_in, step.sub_tokens_out)}", ""))
    if step.sub_credits is not None:
        out.append((f"  cr {display.credits(step.sub_credits)}", ""))
    if step.sub_cost_usd is not None:
        out.append((f"  {display.cost(step.sub_cost_usd)}", ""))
    if step.flags:
        out.append(("  ⚑ " + ",".join(step.flags), display.FLAG_STYLE))
    if step.error:
        out.append(("  " + display.excerpt(step.error, 80), "red"))
    return out


def run_tree_text(run: Run, first_failed: Step | None) -> None:
    out = console()
    head = Text()
    head.append(display.status_word(run.status), STATUS_STYLE.get(run.status, ""))
    head.append("  run ")
    head.append(display.safe(run.id, single_line=True), "bold")
    if run.agent:
        head.append("  agent " + display.safe(run.agent, single_line=True))
    head.append(f"  started {display.when(run.started_at)}  {display.duration(run.duration_ms)}")
    out.print(head)
    if run.error:
        out.print(Text("error: " + display.safe(run.error, single_line=True), "red"))
    for event in run.events:
        out.print(
            Text(
                "event: " + display.safe(event if isinstance(event, str) else _compact(event), single_line=True),
                display.FLAG_STYLE,
            )
        )
    roots = [s for s in run.steps if s.parent_id is None]
    if not roots:
        out.print(Text("(no steps)", "dim"))

    lines: list[list[tuple[str, str]]] = []
    # Iterative, not recursive: a run may nest thousands of steps deep.
    stack = [(step, "", i == len(roots) - 1) for i, step in reversed(list(enumerate(roots)))]
    while stack:
        step, prefix, last = stack.pop()
        line = [(prefix + ("└─ " if last else "├─ "), "dim"), *step_segments(step)]
        if first_failed is not None and step.id == first_failed.id:
            line.append(("  ◀ first failure", "bold red"))
        lines.append(line)
        inner = prefix + ("   " if last else "│  ")
        kids = step.children
        stack.extend((kid, inner, i == len(kids) - 1) for i, kid in reversed(list(enumerate(kids))))
    if lines:
        # One write for the whole tree, styled only for a terminal: Rich takes seconds on 50k lines.
        if out.is_terminal:
            out.print(Text("\n").join(Text.assemble(*line) for line in lines))
        else:
            out.file.write("\n".join("".join(text for text, _ in line) for line in lines) + "\n")
    totals = Text("totals: ")
    totals.append(f"{run.step_count} steps, {run.failed_steps} failed")
    totals.append(f"  tokens {display.tokens(run.total('tokens_in'), run.total('tokens_out'))}")
    totals.append(f"  credits {display.credits(run.total('credits'))}")
    totals.append(f"  cost {display.cost(run.total('cost_usd'))}")
    out.print(totals)
    for name, (reported, summed) in run.mismatches.items():
        out.print(Text(f"⚑ {name}: the run reports {reported:g}, its steps add up to {summed:g}", display.FLAG_STYLE))
    if first_failed is not None:
        out.print(
            Text(
                "first failed step: "
                + display.safe(first_failed.name or first_failed.id, single_line=True)
                + f" ({display.safe(first_failed.id)})",
                "bold red",
            )
        )


def _compact(value: object) -> str:
    import orjson

    return orjson.dumps(value, default=str).decode()


def stats_table(groups, by: str | None) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in (
        by or "group",
        "runs",
        "failed",
        "failure rate",
        "tokens in",
        "tokens out",
        "credits",
        "cost",
        "p50",
        "p95",
    ):
        table.add_column(name, justify="left" if name in (by or "group",) else "right", no_wrap=True)
    for g in groups:
        table.add_row(
            _t(g.group if g.group is not None else "-"),
            _t(g.runs),
            _t(g.failed),
            _t(f"{g.failure_rate:.1%}"),
            _t(display.count(g.tokens_in)),
            _t(display.count(g.tokens_out)),
            _t(display.credits(g.credits)),
            _t(display.cost(g.cost_usd)),
            _t(display.duration(g.p50_ms)),
            _t(display.duration(g.p95_ms)),
        )
    console().print(table)
