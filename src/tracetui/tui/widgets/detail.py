"""The detail pane: everything about the highlighted step, or about the run when the root is.

What the tree already holds (status, timing, totals, error) is shown at once; payloads, extra
fields and tool calls are read in a thread worker (one store connection per worker) and filled
in when they arrive, so holding j down stays smooth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Collapsible, Static
from textual.worker import get_current_worker

from ... import display, present
from ...errors import Unavailable
from ...model import TOKEN_PARTS, TOTAL_FIELDS, Run, Step
from ...payload import Payload, make_payload
from ...present import PSEUDO_MARK, STYLE, VERDICT_STYLE
from ...present import safe_text as _t
from ...store.protocol import TraceStore
from ..messages import SourceLost
from ..plain import notify_plain, plain_title
from .payload import NoPager, open_in_pager

TOOL_CALL_LIMIT = 200
SECTIONS = ("error", "input", "output", "events", "extra")
SECTION_TITLES = {
    "error": "Error",
    "input": "Input",
    "output": "Output",
    "events": "Circuit-breaker events",
    "extra": "Extra fields",
}


@dataclass
class Details:
    """What the worker read for one subject (a step, or the run when step is None)."""

    key: tuple
    payloads: dict[str, Payload | None] = field(default_factory=dict)
    tools: list[Step] = field(default_factory=list)
    tools_more: bool = False


def totals_table(run: Run, step: Step | None) -> Table:
    """Self, subtree and run totals side by side; run totals that disagree with their steps flagged.

    The token parts (cache read and write, reasoning) follow the token rows where any column has them.
    """
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 2, 0, 0))
    table.add_column("")
    if step is not None:
        table.add_column("self", justify="right")
        table.add_column("subtree", justify="right")
    table.add_column("run", justify="right")
    table.add_column("")
    mismatches = run.mismatches
    for name in _rows(run, step):
        part = name in TOKEN_PARTS
        row: list[Text] = [Text(("  " if part else "") + display.LABELS[name], "dim" if part else "bold")]
        if step is not None:
            own, sub = present.cost_estimated(step), present.cost_estimated(step, subtree=True)
            row.append(Text(display.total(name, getattr(step, name), own)))
            row.append(Text(display.total(name, getattr(step, "sub_" + name), sub)))
        row.append(Text(display.total(name, run.total(name), run.cost_estimated)))
        if name in mismatches:
            row.append(present.mismatch_text(name, *mismatches[name]))
        else:
            row.append(Text(""))
        table.add_row(*row)
    return table


def _rows(run: Run, step: Step | None) -> list[str]:
    """TOTAL_FIELDS, with each token part the run or step has placed after the token rows."""
    parts = [
        name
        for name in TOKEN_PARTS
        if run.total(name) is not None or (step is not None and getattr(step, "sub_" + name) is not None)
    ]
    at = TOTAL_FIELDS.index("tokens_out") + 1
    return [*TOTAL_FIELDS[:at], *parts, *TOTAL_FIELDS[at:]]


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    return grid


def step_summary(run: Run, step: Step) -> RenderableType:
    title = Text.assemble(present.status_text(step.status), "  ", (display.clip(step.name or step.id), STYLE["id"]))
    grid = _grid()
    if step.name and len(step.name) > display.CLIP:
        grid.add_row("name", _whole(step.name))  # cut in the title
    grid.add_row("step id", _t(step.id))
    if step.definition_id:
        grid.add_row("definition id", _t(step.definition_id))
    kind = Text(step.kind, STYLE["pseudo"] if step.pseudo else "")
    if step.pseudo:
        kind = Text.assemble((PSEUDO_MARK + " ", STYLE["pseudo"]), kind, (" (pseudo-step)", "dim"))
    if step.raw_type and step.raw_type != step.kind:
        kind.append_text(_t(f"  raw type: {step.raw_type}", "dim"))
    grid.add_row("kind", kind)
    if step.model:
        grid.add_row("model", _t(step.model, STYLE["model"]))
    if step.provider:
        grid.add_row("provider", _t(step.provider))
    grid.add_row("status", present.status_text(step.status))
    grid.add_row("started", _t(_when(step.started_at)))
    if step.ended_at:
        grid.add_row("ended", _t(_when(step.ended_at)))
    grid.add_row("duration", Text(display.duration(step.duration_ms)))
    if step.chosen_branch:
        chosen = display.safe(step.chosen_branch, single_line=True)
        grid.add_row("chosen branch", Text(chosen, present.chosen_style(chosen)))
    if step.branch:
        grid.add_row("in branch", _t(step.branch, STYLE["branch"]))
    if step.verdict is not None:
        verdict = display.safe(step.verdict, single_line=True)
        grid.add_row("verdict", Text(verdict, VERDICT_STYLE.get(verdict.lower(), STYLE["verdict"])))
    if step.confidence is not None:
        grid.add_row("confidence", Text(f"{step.confidence:g}"))
    if step.policy is not None:
        grid.add_row("policy", _t(step.policy))
    if step.score is not None:
        grid.add_row("score", Text(f"{step.score:g}", STYLE["score"]))
    extra = step.extra or {}
    if step.kind == "evaluation":
        for key in ("passed", "retried"):
            if key in extra:
                grid.add_row(key, _t(extra[key], STYLE["retry"] if key == "retried" and extra[key] else ""))
    if step.child_count:
        grid.add_row("children", Text(f"{step.child_count:,} ({step.size - 1:,} steps below)"))
    flags = present.flags_badge(step.flags)
    if flags is not None:
        grid.add_row("flags", Text(*flags))
    for key in ("missing_parent_id", "cycle_parent_id"):
        if key in extra:
            grid.add_row(key.replace("_", " "), _t(extra[key], STYLE["flag"]))
    grid.add_row("run", _t(run.id, "dim"))
    return Group(title, Text(""), grid, Text(""), totals_table(run, step))


def run_summary(run: Run) -> RenderableType:
    title = Text.assemble(present.status_text(run.status), "  run ", (display.clip(run.id), STYLE["id"]))
    grid = _grid()
    if len(run.id) > display.CLIP:
        grid.add_row("run id", _whole(run.id))  # cut in the title
    if run.agent:
        grid.add_row("agent", _t(run.agent, STYLE["agent"]))
    if run.session:
        grid.add_row("session", _t(run.session))
    grid.add_row("status", present.status_text(run.status))
    grid.add_row("started", _t(_when(run.started_at)))
    # A running run has not ended: its end is its latest step's so far (tracetui serve, a followed file).
    running = run.status == "running"
    if run.ended_at:
        grid.add_row("latest" if running else "ended", _t(_when(run.ended_at)))
    grid.add_row("so far" if running else "duration", Text(display.duration(run.duration_ms)))
    grid.add_row("steps", present.step_counts(run))
    if run.events:
        grid.add_row(
            "circuit breaker", Text(f"{len(run.events)} event{'s' if len(run.events) != 1 else ''}", STYLE["event"])
        )
    flags = present.flags_badge(run.flags)
    if flags is not None:
        grid.add_row("flags", Text(*flags))
    if run.source_file:
        where = run.source_file + (f":{run.source_line}" if run.source_line is not None else "")
        grid.add_row("source", _t(where, "dim"))
    return Group(title, Text(""), grid, Text(""), totals_table(run, None))


def _whole(text: str) -> Text:
    """A long id or name, all of it, folded over as many lines as it takes (to read or copy it)."""
    return Text(display.safe(text, single_line=True), overflow="fold")


def _when(iso_text: str | None) -> str:
    return display.when(iso_text, precise=True)


def tool_lines(tools: list[Step], more: bool) -> RenderableType:
    out = Text()
    out.append(f"Tool calls ({len(tools)}{'+' if more else ''})\n", "bold")
    for tool in tools:
        out.append("  ").append(*present.status_icon(tool.status))
        out.append(display.excerpt(tool.name or tool.id, 40), STYLE["failure"] if tool.failed else "")
        out.append(f"  {display.duration(tool.duration_ms)}", "dim")
        if tool.status != "completed":
            out.append("  ").append_text(present.status_text(tool.status))
        if tool.error:
            out.append(f"  {display.excerpt(tool.error, 60)}", STYLE["error"])
        out.append("\n")
    out.rstrip()
    return out


def marked(renderable: RenderableType, query: str | None) -> RenderableType:
    """A summary or payload with every occurrence of the search's text highlighted (in place)."""
    if not query:
        return renderable
    if isinstance(renderable, Group):
        for part in renderable.renderables:
            marked(part, query)
    elif isinstance(renderable, Text):
        present.mark_found(renderable, query)
    elif isinstance(renderable, Table):
        for column in renderable.columns:
            for cell in column.cells:
                marked(cell, query)
    elif isinstance(renderable, Syntax):
        lines = renderable.code.split("\n")
        pattern = re.compile(re.escape(query), re.IGNORECASE)
        for number, line in enumerate(lines, 1):
            for found in pattern.finditer(line):
                renderable.stylize_range(STYLE["found"], (number, found.start()), (number, found.end()))
    return renderable


SCROLL = Binding.Group("Scroll the detail (after Tab)")


class DetailPane(VerticalScroll):
    """Details of one step or of the run; `o` opens every payload of it in full in $PAGER."""

    BINDINGS = [
        Binding("j", "scroll_down", "Scroll down", show=False, id="tracetui.detail.down", group=SCROLL),
        Binding("k", "scroll_up", "Scroll up", show=False, id="tracetui.detail.up", group=SCROLL),
        Binding("g", "scroll_home", "Top", show=False, id="tracetui.detail.top", group=SCROLL),
        Binding("G", "scroll_end", "Bottom", show=False, id="tracetui.detail.bottom", group=SCROLL),
    ]

    DEFAULT_CSS = """
    DetailPane {
        padding: 0 1;
        & > Static { width: 1fr; height: auto; }
        & #detail-tools { margin-top: 1; }
        & Collapsible { padding-bottom: 0; border-top: none; }
        & Collapsible > Contents { padding: 0 0 0 2; }
        & #detail-error CollapsibleTitle { color: $error; }
    }
    """

    def __init__(self, connect: Callable[[], TraceStore], **kwargs) -> None:
        super().__init__(**kwargs)
        self.connect = connect  # a new read-only store connection, for the worker
        self.can_focus = True
        self.run: Run | None = None
        self.step: Step | None = None
        self.details: Details | None = None
        self.found: str | None = None  # text the run view's search looks for: highlighted here

    def set_found(self, query: str | None) -> None:
        """Highlight `query` (None: nothing) in what the pane shows, now and for the next subjects."""
        if query == self.found:
            return
        self.found = query
        if self.run is not None:
            self._show_summary()
            if self.details is not None:
                for name in SECTIONS:
                    self._fill(name, self.details.payloads.get(name))

    def _show_summary(self) -> None:
        if self.run is None:
            return
        summary = run_summary(self.run) if self.step is None else step_summary(self.run, self.step)
        self.query_one("#detail-summary", Static).update(marked(summary, self.found))

    def compose(self):
        yield Static(id="detail-summary")
        yield Static(id="detail-tools")
        for name in SECTIONS:
            # Content (plain_title), not str: a str title would be parsed as markup (Textual 8.2.8 types it as str).
            with Collapsible(
                title=plain_title(SECTION_TITLES[name]),  # type: ignore[arg-type]
                collapsed=False,
                id=f"detail-{name}",
            ):
                yield Static(id=f"detail-{name}-body")

    def on_mount(self) -> None:
        for name in SECTIONS:
            self.query_one(f"#detail-{name}").display = False
        self.query_one("#detail-tools").display = False

    @property
    def subject_key(self) -> tuple:
        return (self.run.id if self.run else None, self.step.id if self.step else None)

    def show(self, run: Run, step: Step | None) -> None:
        """Show a step (as the tree has it, without payloads) or the run; then read the rest."""
        self.run, self.step, self.details = run, step, None
        self._show_summary()
        self.query_one("#detail-tools").display = False
        error = step.error if step is not None else run.error
        for name in SECTIONS:
            section = self.query_one(f"#detail-{name}", Collapsible)
            if name == "error" and error:
                self._fill("error", make_payload(error))
            else:
                section.display = False
        self.scroll_home(animate=False)
        self._read(self.subject_key, run, step)

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def _read(self, key: tuple, run: Run, step: Step | None) -> None:
        worker = get_current_worker()
        subject: Run | Step
        try:
            store = self.connect()
            try:
                if step is None:
                    subject = run
                    children = store.children(run.id, None, limit=TOOL_CALL_LIMIT + 1)
                else:
                    subject = store.get_step(run.id, step.id)
                    children = store.children(run.id, step.id, limit=TOOL_CALL_LIMIT + 1) if step.child_count else []
            finally:
                store.close()
        except Unavailable as exc:  # a database that went away: the app reconnects; the summary stays
            if exc.lost and not worker.is_cancelled:
                self.post_message(SourceLost(exc.problem))
            return
        if worker.is_cancelled:
            return
        extra = dict(subject.extra or {})
        if step is None and run.metadata:
            extra = {"metadata": run.metadata, **extra}
        details = Details(
            key,
            payloads={
                "error": make_payload(subject.error),
                "input": make_payload(subject.input),
                "output": make_payload(subject.output),
                "events": make_payload(subject.events) if subject.events else None,
                "extra": make_payload(extra) if extra else None,
            },
            # The step's own tool calls, not tool steps that are its children in a branch.
            tools=[c for c in children[:TOOL_CALL_LIMIT] if c.kind == "tool" and not c.branch],
            tools_more=len(children) > TOOL_CALL_LIMIT,
        )
        self.app.call_from_thread(self._apply, details, subject)

    def _apply(self, details: Details, subject: Run | Step) -> None:
        if details.key != self.subject_key:
            return  # the cursor moved on meanwhile
        self.details = details
        if isinstance(subject, Step) and self.run is not None:
            self.step = subject
            self._show_summary()
        for name in SECTIONS:
            self._fill(name, details.payloads.get(name))
        tools = self.query_one("#detail-tools", Static)
        if details.tools:
            tools.update(tool_lines(details.tools, details.tools_more))
            tools.display = True

    def _fill(self, name: str, payload: Payload | None) -> None:
        section = self.query_one(f"#detail-{name}", Collapsible)
        if payload is None:
            section.display = False
            return
        section.title = plain_title(f"{SECTION_TITLES[name]} · {payload.describe()}")  # type: ignore[assignment]
        style = STYLE["error"] if name == "error" and not payload.is_json else ""
        self.query_one(f"#detail-{name}-body", Static).update(marked(payload.renderable(style), self.found))
        section.display = True
        if self.found and payload.cut and self.found.casefold() not in payload.preview().casefold():
            if self.found.casefold() in payload.text.casefold():
                title = f"{SECTION_TITLES[name]} · {payload.describe()} · match past the preview: o shows it"
                section.title = plain_title(title)  # type: ignore[assignment]
        if name == "error":
            section.collapsed = False

    def section_at(self, focused: Widget | None) -> str | None:
        """The section `y` copies: the one whose title has the focus, else the one at the top of the
        view; when the summary is there, the error if there is one (None: copy the id)."""
        node: DOMNode | None = focused
        while node is not None and node is not self:
            if isinstance(node, Collapsible) and node.id and node.id.startswith("detail-"):
                return node.id.removeprefix("detail-")
            node = node.parent
        shown = [name for name in SECTIONS if self.query_one(f"#detail-{name}").display]
        above = [name for name in shown if self.query_one(f"#detail-{name}").virtual_region.y <= self.scroll_y]
        if above:
            return above[-1]
        return "error" if "error" in shown else None

    def payload(self, name: str) -> Payload | None:
        """A section's payload in full; None while it is still being read (an error is known at once)."""
        if self.details is not None:
            return self.details.payloads.get(name)
        if name == "error":
            subject = self.step if self.step is not None else self.run
            return make_payload(subject.error) if subject is not None else None
        return None

    def full_text(self) -> str:
        """Everything about the subject, in full, as plain text for the pager."""
        if self.run is None:
            return ""
        subject = self.step
        lines = []
        if subject is None:
            lines.append(f"run {display.safe(self.run.id)}  ({self.run.status})")
        else:
            lines.append(f"step {display.safe(subject.name or subject.id)}  [{subject.kind}]  ({subject.status})")
            lines.append(f"id {display.safe(subject.id)} in run {display.safe(self.run.id)}")
        payloads = self.details.payloads if self.details else {}
        for name in SECTIONS:
            payload = payloads.get(name)
            if payload is None:
                continue
            lines.append("")
            lines.append(f"━━ {SECTION_TITLES[name]} ({payload.describe().replace(', preview', '')}) ━━")
            lines.append(payload.text)
        return "\n".join(lines) + "\n"

    def open_pager(self) -> None:
        if self.details is None:
            notify_plain(self, "Still reading this step; try again in a moment.", severity="warning")
            return
        text = self.full_text()
        try:
            error = open_in_pager(self.app, text)
        except NoPager:
            from ..screens.text_view import TextScreen

            self.app.push_screen(TextScreen(text.split("\n", 1)[0], text))
            return
        if error:
            notify_plain(self, error, severity="error")
