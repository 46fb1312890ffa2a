"""The Markdown of a run, or of one step and the steps under it, made to paste into an LLM or an issue:
`tracetui show --format markdown` and the viewer's `Y` (copy) and `x` (export).

A header (status, agent, models, duration, tokens, credits, cost), the step tree as `tracetui show`
draws it (textout.tree_lines, first failure marked) with each step numbered, then every input, output
and error in a fenced block.

Everything from the trace is untrusted and stays literal: it goes through display.safe (terminal
escapes and control characters made visible), and is only ever written inside code: inline code
spans and fenced blocks whose fence is longer than any run of backticks in what they hold, so a
payload holding ``` cannot close its block and no Markdown or HTML in the data is interpreted.
"""

from __future__ import annotations

import re

from . import display, present
from .analysis import first_failed_step
from .model import TOKEN_PARTS, Run, Step, preorder
from .payload import Payload, make_payload
from .textout import tree_lines

DEFAULT_MAX_PAYLOAD = display.PAYLOAD_PREVIEW  # characters of each payload written; 0 writes them whole
ESTIMATE_NOTE = f"{display.ESTIMATE_MARK}: estimated by tracetui from a price table, not reported by the source"

_BACKTICKS = re.compile("`+")
# What can open inline Markdown, HTML or an entity inside a line (a value never starts one here).
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>&!~|$])")


def plain(value: object) -> str:
    """A short value written as text inside a line (a status word, a kind, a time): one line, each
    character that could open Markdown or HTML backslash-escaped. Known values have none."""
    return _INLINE_SPECIAL.sub(r"\\\1", display.safe(value, single_line=True))


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def code(value: object, *, whole: bool = False) -> str:
    """An untrusted value as an inline code span, on one line, cut in the middle past display.CLIP
    unless `whole` (an id, which is copied to look things up)."""
    text = display.safe(value, single_line=True) if whole else display.clip(value)
    if not text:
        return '""'
    ticks = "`" * (_longest_backticks(text) + 1)
    # CommonMark takes one space off each end of a span that has one at both: pad when the text
    # starts or ends with a backtick (it would join the fence) or already has spaces at both ends.
    both_spaces = text[0] == " " and text[-1] == " " and text.strip(" ")
    pad = " " if text[0] == "`" or text[-1] == "`" or both_spaces else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: str, info: str = "text") -> str:
    """`text` (already safe) in a fenced block no line of it can close: the fence is one backtick
    longer than the longest run of backticks inside, and at least three."""
    ticks = "`" * max(3, _longest_backticks(text) + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def payload_block(title: str, raw: object, max_payload: int) -> list[str]:
    """ "**Input** (1.2 KB, JSON):" and the payload fenced; cut to `max_payload` characters (0: whole)
    with a note of what was left out."""
    payload = make_payload(raw)
    if payload is None:
        return []
    shown = _cut(payload, max_payload)
    lines = [
        f"**{title}** ({payload.describe(preview=False)}):",
        "",
        fence(shown, "json" if payload.is_json else "text"),
    ]
    if shown != payload.text:
        lines += ["", f"*… cut: {payload.rest(shown)}; `--max-payload` sets how much is written*"]
    return lines + [""]


def _cut(payload: Payload, limit: int) -> str:
    text = payload.text
    if not limit or len(text) <= limit:
        return text
    head = text[:limit]
    newline = head.rfind("\n")
    return head[:newline] if newline > limit // 2 else head  # end on a whole line when one is near


def _status(status: str | None) -> str:
    return plain(display.status_word(status))


def _item(label: str, value: str) -> str:
    return f"- **{label}:** {value}"


def _run_items(run: Run, models: list[str]) -> list[str]:
    items = []
    if len(display.safe(run.id, single_line=True)) > display.CLIP:
        items.append(_item("run id", code(run.id, whole=True)))  # cut in the title
    if run.agent:
        items.append(_item("agent", code(run.agent)))
    if run.session:
        items.append(_item("session", code(run.session)))
    if models:
        items.append(_item("model" if len(models) == 1 else "models", ", ".join(code(m) for m in models)))
    items.append(_item("started", plain(display.when(run.started_at, utc=True)) + (" UTC" if run.started_at else "")))
    items.append(_item("duration", display.duration(run.duration_ms)))
    items.append(_item("steps", present.step_counts(run).plain))
    parts = [run.total(name) for name in TOKEN_PARTS]
    items.append(_item("tokens", display.tokens(run.total("tokens_in"), run.total("tokens_out"), *parts)))
    if run.total("credits") is not None:
        items.append(_item("credits", display.credits(run.total("credits"))))
    items.append(_item("cost", present.cost_text(run)))
    items += [f"- {present.mismatch_text(name, *values).plain}" for name, values in run.mismatches.items()]
    return items


def _subtree_items(run: Run, top: Step, steps: list[Step]) -> list[str]:
    items = [_item("run", f"{code(run.id, whole=True)} ({_status(run.status)})")]
    models = sorted({s.model for s in steps if s.model})  # the run's models may not be this subtree's
    if run.agent:
        items.append(_item("agent", code(run.agent)))
    if models:
        items.append(_item("model" if len(models) == 1 else "models", ", ".join(code(m) for m in models)))
    items.append(_item("started", plain(display.when(top.started_at, utc=True)) + (" UTC" if top.started_at else "")))
    items.append(_item("duration", display.duration(top.duration_ms)))
    failed = sum(1 for s in steps if s.failed)
    items.append(_item("steps", f"{len(steps):,} step{'s' if len(steps) != 1 else ''}, {failed:,} failed"))
    parts = [getattr(top, "sub_" + name) for name in TOKEN_PARTS]
    items.append(_item("tokens", display.tokens(top.sub_tokens_in, top.sub_tokens_out, *parts)))
    if top.sub_credits is not None:
        items.append(_item("credits", display.credits(top.sub_credits)))
    items.append(_item("cost", present.cost_text(top, subtree=True)))
    return items


def _step_heading(number: int, step: Step) -> str:
    return f"### {number} · {_status(step.status)} · {code(step.name or step.id)} · {plain(step.kind)}"


def _step_items(step: Step, first: Step | None) -> list[str]:
    items = [_item("id", code(step.id, whole=True))]
    if step.model:
        items.append(_item("model", code(step.model)))
    items.append(_item("duration", display.duration(step.duration_ms)))
    if step.tokens_in is not None or step.tokens_out is not None:
        parts = [getattr(step, name) for name in TOKEN_PARTS]
        items.append(_item("tokens", display.tokens(step.tokens_in, step.tokens_out, *parts)))
    if step.cost_usd is not None:
        items.append(_item("cost", present.cost_text(step)))
    if first is not None and step.id == first.id:
        items.append("- **◀ first failure:** the step that broke (the root cause)")
    return items


def run_markdown(
    run: Run,
    *,
    top: Step | None = None,
    models: list[str] | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> str:
    """The Markdown of `run` (its steps linked, with payloads), or of `top`, one of its steps with
    the steps under it linked (Store.subtree). `models`: the models the run called (Store.models)."""
    roots = [s for s in run.steps if s.parent_id is None] if top is None else [top]
    steps = list(preorder(roots))
    first = first_failed_step(steps)
    models = models or []
    if top is None:
        out = [f"# {_status(run.status)} · run {code(run.id)}", "", *_run_items(run, models)]
    else:
        title = f"# {_status(top.status)} · step {code(top.name or top.id)} · {plain(top.kind)}"
        out = [title, "", *_subtree_items(run, top, steps)]
    if first is not None:
        number = steps.index(first) + 1
        out.append(_item("first failure", f"step {number}, {code(first.name or first.id)} ({code(first.id)})"))
    cost = present.cost_text(run if top is None else top, subtree=top is not None)
    if cost.startswith(display.ESTIMATE_MARK):
        out += ["", f"*{ESTIMATE_NOTE}*"]
    out.append("")

    if top is None:
        for title, raw in (("Error", run.error), ("Input", run.input), ("Output", run.output)):
            out += payload_block(title, raw, max_payload)
        if run.events:
            out += payload_block("Circuit-breaker events", run.events, max_payload)

    out += ["## Steps", ""]
    if steps:
        width = len(str(len(steps)))
        lines = tree_lines(roots, first)
        numbered = (f"{n:>{width}} " + "".join(text for text, _ in line) for n, line in enumerate(lines, 1))
        out += [fence("\n".join(numbered)), ""]
    else:
        out += ["(no steps)", ""]

    for number, step in enumerate(steps, 1):
        blocks: list[str] = []
        for title, raw in (("Error", step.error), ("Input", step.input), ("Output", step.output)):
            blocks += payload_block(title, raw, max_payload)
        if blocks or step is first:
            out += [_step_heading(number, step), "", *_step_items(step, first), "", *blocks]
    return "\n".join(out).rstrip("\n") + "\n"
