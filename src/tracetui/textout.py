"""Human-readable CLI output (rich tables and a text tree). Untrusted text is never markup."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.text import Span, Text

from . import display, jsonsafe, present
from .analysis import GroupStats
from .model import Run, Step
from .present import STYLE, safe_text
from .store import SessionRow
from .store.search import Snippet, StepHit

if TYPE_CHECKING:
    from rich.align import AlignMethod
    from rich.console import Console

PIPE_WIDTH = 240  # the width of the text written to a pipe or a file


def console() -> Console:
    from rich.console import Console

    width = None if sys.stdout.isatty() else PIPE_WIDTH
    return Console(width=width, highlight=False, soft_wrap=False, emoji=False)


def unstyled() -> bool:
    """Whether what is printed goes out without styles for certain: stdout is not a terminal and no
    variable asks rich to style it anyway (FORCE_COLOR, TTY_COMPATIBLE). Then the plain text is
    written as it is, without rich's console (importing it is a sixth of `list`'s time)."""
    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return False
    try:
        return not sys.stdout.isatty()
    except ValueError:  # closed
        return False


RUN_COLUMNS: tuple[tuple[str, AlignMethod], ...] = (
    ("status", "left"),
    ("run", "left"),
    ("file", "left"),  # only for the runs of a folder
    ("agent", "left"),
    ("started", "left"),
    ("duration", "right"),
    ("steps", "right"),
    ("failed", "right"),
    ("tokens in→out", "right"),
    ("credits", "right"),
    ("cost", "right"),
    ("error", "left"),
)


def run_columns(*, files: bool = False) -> tuple[tuple[str, AlignMethod], ...]:
    """The columns of run_cells(files=files): the file column only for the runs of a folder."""
    return tuple((name, justify) for name, justify in RUN_COLUMNS if name != "file" or files)


def run_cells(run: Run, *, files: bool = False) -> list[Text]:
    """A run's cells under RUN_COLUMNS (the file column only with `files`)."""
    return [
        present.status_text(run.status),
        safe_text(display.clip(run.id)),
        *((safe_text(display.clip(run.source_file or "-")),) if files else ()),
        safe_text(display.clip(run.agent or "-")),
        safe_text(display.when(run.started_at)),
        safe_text(display.duration(run.duration_ms)),
        safe_text(run.step_count),
        safe_text(run.failed_steps or "", STYLE["failure"] if run.failed_steps else ""),
        safe_text(display.tokens(run.total("tokens_in"), run.total("tokens_out"))),
        safe_text(display.credits(run.total("credits"))),
        safe_text(present.cost_text(run)),
        safe_text(display.excerpt(run.error, 60), STYLE["error"]),
    ]


def runs_table(runs: list[Run], matches: dict[str, dict] | None = None, *, files: bool = False) -> None:
    """The runs, one a row; `matches` (list --grep): each run's first matching step, in a last column;
    `files`: with the file each was read from (the runs of a folder)."""
    columns = run_columns(files=files)
    rows = [run_cells(run, files=files) for run in runs]
    if matches is not None:
        columns += (("match", "left"),)
        for run, row in zip(runs, rows, strict=True):
            row.append(match_text(matches.get(run.id)))
    print_table(columns, rows)


def print_table(
    columns: tuple[tuple[str, AlignMethod], ...], rows: list[list[Text]], out: Console | None = None
) -> None:
    """A table of one-line cells, as rich's Table(box=None, pad_edge=False, header_style="bold") draws
    it: by plain_table when the rows fit the width (20,000 rows: ~1 s instead of ~25 s), else by the Table."""
    if out is None and unstyled():
        lines = plain_table(columns, rows, PIPE_WIDTH)
        if lines is not None:
            sys.stdout.write("".join(f"{line.plain}\n" for line in lines))  # what rich writes without styles
            return
    out = out or console()
    lines = plain_table(columns, rows, out.width)
    if lines is not None:
        # One print: each line fits the width, so nothing needs wrapping (20,000 prints took seconds).
        out.print(Text("\n").join(lines), soft_wrap=True)
        return
    from rich.table import Table  # only when the rows must shrink to fit

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    out.print(table)


def plain_table(columns: tuple[tuple[str, AlignMethod], ...], rows: list[list[Text]], width: int) -> list[Text] | None:
    """The lines rich's Table(box=None, pad_edge=False, header_style="bold") draws for one-line cells
    that fit in `width`, without its measuring of every cell (a third of `list`'s time at 50 rows);
    None when it would have to shrink or wrap (then the Table draws it)."""
    widths = [len(name) for name, _ in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell.cell_len)
    if sum(widths) + 2 * (len(widths) - 1) > width:
        return None
    header = [Text(name, style="bold") for name, _ in columns]
    return [_line(row, columns, widths, style) for row, style in [(header, "bold"), *((row, "") for row in rows)]]


def _line(cells: list[Text], columns: tuple[tuple[str, AlignMethod], ...], widths: list[int], style: str) -> Text:
    """One line of plain_table: each cell padded to its column's width in the cell's own style (as
    Text.align pads it), two spaces between cells in `style`. Made from strings and spans at once: building it by Text.append took most of the time of a 20,000-row table."""
    parts: list[str] = []
    spans: list[Span] = []
    pos = 0
    for i, (cell, (_, justify)) in enumerate(zip(cells, columns, strict=True)):
        if i:
            parts.append("  ")
            if style:  # a span each, as Table draws them (the same bytes, not only the same look)
                spans += [Span(pos, pos + 1, style), Span(pos + 1, pos + 2, style)]
            pos += 2
        room = widths[i] - cell.cell_len
        before = room if justify == "right" else room // 2 if justify == "center" else 0
        plain = cell.plain
        parts.append(f"{' ' * before}{plain}{' ' * (room - before)}")
        if cell.style:
            spans.append(Span(pos, pos + len(plain) + room, cell.style))
        start = pos + before
        spans.extend(Span(start + a, start + b, s) for a, b, s in cell.spans)
        pos += len(plain) + room
    return Text("".join(parts), end="", spans=spans)


def run_lines(runs: list[Run], *, files: bool = False) -> None:
    """One line per run, as `list --follow` prints runs while they come: the table's cells, empty ones
    left out, with the steps and failures named (no header to line up under)."""
    out = console()
    for run in runs:
        cells = run_cells(run, files=files)
        steps = 6 if files else 5
        cells[steps] = Text(f"{run.step_count} step{'' if run.step_count == 1 else 's'}")
        if run.failed_steps:
            cells[steps + 1] = Text(f"{run.failed_steps} failed", STYLE["failure"])
        for offset, unit in ((2, " tokens"), (3, " credits")):
            if cells[steps + offset].plain not in ("", "-"):
                cells[steps + offset].append(unit)
        out.print(Text("  ").join(c for c in cells if c.plain not in ("", "-")), soft_wrap=True)


def sources_table(found) -> None:
    """`tracetui sources`: one row per place that holds traces (discovery.Found)."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in display.SOURCE_HEADERS:
        table.add_column(name, justify="right" if name in ("holds", "size") else "left", no_wrap=True)
    for f in found:
        table.add_row(*(Text(cell) for cell in f.cells()))
    console().print(table)


def sessions_table(rows: list[SessionRow]) -> None:
    """`list --by session`: one row per session, its cells as the run list draws a session row."""
    columns: tuple[tuple[str, str, AlignMethod], ...] = (
        ("status", "status", "left"),
        ("id", "session", "left"),
        ("runs", "runs", "right"),
        ("started", "started", "left"),
        ("duration", "span", "right"),
        ("steps", "steps", "right"),
        ("tokens", "tokens in→out", "right"),
        ("credits", "credits", "right"),
        ("cost", "cost", "right"),
        ("failed", "failed", "left"),
    )
    lines = []
    for row in rows:
        cells = present.session_cells(row)
        texts = [safe_text(cells[name]) for name, _, _ in columns]
        texts[0] = present.status_text(row.status)
        if row.session is None:
            texts[1] = safe_text(cells["id"] + " (no session)", "dim")
        if row.failed:
            texts[-1] = safe_text(cells["failed"], STYLE["failure"])
        lines.append(texts)
    print_table(tuple((title, justify) for _, title, justify in columns), lines)


def match_text(match: dict | None) -> Text:
    """A run's first step that --grep found: "step name (id) · input: …text around it…", literal."""
    if match is None:
        return Text("")  # the run's own id, agent, session or error matched
    text = safe_text(display.clip(match["step_name"] or match["step_id"], 40), STYLE["id"])
    if match["steps"] > 1:
        text.append(f" +{match['steps'] - 1:,}", "dim")
    if match["field"]:
        text.append(f" · {match['field']}: ", "dim")
        text.append(display.excerpt(match["text"], 70))
    return text


def step_hit_lines(hits: Iterable[tuple[StepHit, Snippet | None]], query: str) -> tuple[int, int]:
    """The steps `list --grep --steps` found, a line each as they come: run, step, kind, where the text
    holds the query (marked); how many steps in how many runs were printed."""
    out = console()
    count, runs = 0, set()
    for hit, snip in hits:
        line = Text.assemble(
            safe_text(display.clip(hit.run_id)),
            "  ",
            safe_text(display.clip(hit.name or hit.step_id, 40), STYLE["id"]),
            "  ",
            safe_text(hit.kind or "-", STYLE["label"]),
            "  ",
            present.snippet_text(snip, query),
        )
        out.print(line, soft_wrap=True)
        count += 1
        runs.add(hit.run_id)
    return count, len(runs)


FIRST_FAILURE_MARK = "  ◀ first failure"


def step_segments(step: Step) -> list[tuple[str, str]]:
    """One step as (text, style) pieces: status, name, kind, badges, duration, subtree totals, flags, error."""
    kind = step.kind + (
        f":{display.safe(step.raw_type, single_line=True)}" if step.raw_type and step.raw_type != step.kind else ""
    )
    out = [
        present.status_icon(step.status),
        (display.safe(step.name or step.id, single_line=True), "dim" if step.status == "skipped" else "bold"),
        (f"  [{kind}]", "dim"),
    ]
    for badge in present.step_badges(step):
        out += [("  ", ""), badge]
    out.append((f"  {display.duration(step.duration_ms)}", ""))
    # Subtree totals: what the step cost including its children (its tool calls, say).
    if step.sub_tokens_in is not None or step.sub_tokens_out is not None:
        out.append((f"  tok {display.tokens(step.sub_tokens_in, step.sub_tokens_out)}", ""))
    if step.sub_credits is not None:
        out.append((f"  cr {display.credits(step.sub_credits)}", ""))
    if step.sub_cost_usd is not None:
        out.append((f"  {present.cost_text(step, subtree=True)}", ""))
    flags = present.flags_badge(step.flags)
    if flags is not None:
        out += [("  ", ""), flags]
    if step.error:
        out.append(("  " + display.excerpt(step.error, 80), STYLE["error"]))
    return out


def tree_lines(roots: list[Step], first_failed: Step | None) -> list[list[tuple[str, str]]]:
    """The step tree under `roots`, one line of (text, style) pieces per step in execution order:
    guides, step_segments, and "◀ first failure" on the first failed step. `tracetui show` prints it;
    the Markdown of a run (run_markdown.py) puts it in its outline."""
    lines: list[list[tuple[str, str]]] = []
    # Iterative, not recursive: a run may nest thousands of steps deep. Below display.MAX_NESTING
    # levels the guides stop growing and each row says its depth instead.
    stack = [(step, "", i == len(roots) - 1, 0) for i, step in reversed(list(enumerate(roots)))]
    while stack:
        step, prefix, last, depth = stack.pop()
        capped = depth >= display.MAX_NESTING
        line = [(prefix + ("├─ " if capped else "└─ " if last else "├─ "), "dim")]
        if capped:
            line.append((display.depth_note(depth), "dim"))
        line += step_segments(step)
        if first_failed is not None and step.id == first_failed.id:
            line.append((FIRST_FAILURE_MARK, STYLE["failure"]))
        lines.append(line)
        inner = prefix if capped else prefix + ("   " if last else "│  ")
        kids = step.children
        stack.extend((kid, inner, i == len(kids) - 1, depth + 1) for i, kid in reversed(list(enumerate(kids))))
    return lines


def run_tree_text(run: Run, first_failed: Step | None, roots: list[Step] | None = None) -> None:
    """The run's header and step tree; with `roots` (one step, say) only the tree under them, and
    no run totals after it."""
    out = console()
    out.print(present.run_header(run))
    if run.error:
        out.print(Text("error: " + display.safe(run.error, single_line=True), STYLE["error"]))
    for event in run.events:
        out.print(
            Text(
                "event: " + display.safe(event if isinstance(event, str) else _compact(event), single_line=True),
                STYLE["flag"],
            )
        )
    whole = roots is None
    roots = [s for s in run.steps if s.parent_id is None] if roots is None else roots
    if not roots:
        out.print(Text("(no steps)", "dim"))
    lines = tree_lines(roots, first_failed)
    if lines:
        # One write for the whole tree, styled only for a terminal: Rich takes seconds on 50k lines.
        if out.is_terminal:
            out.print(Text("\n").join(Text.assemble(*line) for line in lines))
        else:
            out.file.write("\n".join("".join(text for text, _ in line) for line in lines) + "\n")
    if whole:
        out.print(Text.assemble("totals: ", present.step_counts(run), "  ", present.run_totals(run)))
        for name, (reported, summed) in run.mismatches.items():
            out.print(present.mismatch_text(name, reported, summed))
    if first_failed is not None:
        out.print(
            Text(
                "first failed step: "
                + display.clip(first_failed.name or first_failed.id)
                + f" ({display.clip(first_failed.id)})",
                STYLE["failure"],
            )
        )


def _compact(value: object) -> str:
    return jsonsafe.dumps(value)  # any depth, any value: never a traceback in the middle of a tree


def stats_table(groups: list[GroupStats], by: str | None) -> None:
    """One row per group; the columns every grouping has, then what only models or tools have."""
    unit = "calls" if by in ("model", "tool") else "runs"
    columns = [by or "group", unit, "failed", "failure rate", "tokens in", "tokens out", "credits", "cost"]
    columns += ["p50", "p95", "max", "cached", "estimated"]
    priced = by == "model" and any(g.unpriced is not None for g in groups)  # not with --no-estimate
    if priced:
        columns.append("unpriced")
    if by == "tool":
        columns += ["total time", "of run time"]
    rows = []
    for g in groups:
        cells = [
            display.clip(g.group if g.group is not None else "-"),
            g.runs,
            g.failed,
            f"{g.failure_rate:.1%}",
            display.count(g.tokens_in),
            display.count(g.tokens_out),
            display.credits(g.credits),
            display.cost(g.cost_usd, g.cost_estimated) if g.cost_usd is not None or not g.unpriced else "unpriced",
            display.duration(g.p50_ms),
            display.duration(g.p95_ms),
            display.duration(g.max_ms),
            display.share(g.tokens_cache_read, g.tokens_in),
            display.share(g.cost_estimated_usd, g.cost_usd),
        ]
        if priced:
            cells.append(g.unpriced or "")
        if by == "tool":
            cells += [display.duration(g.total_ms), display.share(g.share_of_run_time, 1)]
        rows.append([safe_text(cell) for cell in cells])
    aligned: tuple[tuple[str, AlignMethod], ...] = tuple(
        (name, "left" if i == 0 else "right") for i, name in enumerate(columns)
    )
    print_table(aligned, rows)
