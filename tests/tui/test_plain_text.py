"""Data never reaches Textual's markup parser: every notification, title, tooltip and command
palette entry in the viewer's code goes through tui/plain.py (checked on the source), and hostile
text in a toast or the palette shows literally (checked in the app)."""

from __future__ import annotations

import ast
from pathlib import Path

from builders import opening, run, step, write_store
from textual.command import CommandPalette

from tracetui.tui import plain
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen

TUI = Path(plain.__file__).parent
SAFE_CALLS = {"notify_plain", "plain_title", "palette_text", "Content", "Text"}
TITLE_ATTRIBUTES = {"title", "sub_title", "border_title", "border_subtitle", "tooltip"}
PALETTE_ENTRIES = {"SystemCommand", "Hit", "DiscoveryHit"}
MARKUP = "[b]x[/b] [/] [@click=app.quit]quit[/] [$x] \\[y] a\\"


def call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return None


def safe(node: ast.AST | None, palette: bool = False) -> bool:
    """A literal string, a call of a plain.py helper (or Content/Text), or an f-string, join or
    conditional made only of those."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.IfExp):
        return safe(node.body, palette) and safe(node.orelse, palette)
    if isinstance(node, ast.JoinedStr):
        return all(safe(v.value if isinstance(v, ast.FormattedValue) else v, palette) for v in node.values)
    name = call_name(node)
    if palette:  # the palette parses even Content-free strings: only palette_text makes data literal
        return name == "palette_text"
    return name in SAFE_CALLS


def violations(source: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = call_name(node)
            if name == "notify":
                out.append(f"line {node.lineno}: notify() called directly; use plain.notify_plain")
            if name in PALETTE_ENTRIES:
                values = [*node.args[:2], *(k.value for k in node.keywords if k.arg in ("title", "help", "text"))]
                out += [
                    f"line {node.lineno}: {name} text not through palette_text" for v in values if not safe(v, True)
                ]
            if name == "Collapsible":
                out += [
                    f"line {node.lineno}: Collapsible title not plain"
                    for k in node.keywords
                    if k.arg == "title" and not safe(k.value)
                ]
            for k in node.keywords:
                if k.arg == "tooltip" and not safe(k.value):
                    out.append(f"line {node.lineno}: tooltip not plain")
            if name in ("Static", "Label", "update") and node.args:
                first = node.args[0]
                if isinstance(first, ast.JoinedStr | ast.BinOp) or call_name(first) in ("str", "format"):
                    out.append(f"line {node.lineno}: {name}() given a built str (parsed as markup)")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr in TITLE_ATTRIBUTES and not safe(node.value):
                    out.append(f"line {node.lineno}: .{target.attr} set from data without plain_title")
    return out


def test_the_checker_catches_each_unsafe_form():
    bad = """
self.notify(error)
app.notify("x", markup=False)
SystemCommand(f"Filter: {agent}", "help", cb)
SystemCommand(escape(agent), "help", cb)
Hit(1, name, cb)
Collapsible(title=f"{name}")
section.title = f"Output · {name}"
self.border_title = run.id
Binding("x", "y", tooltip=description)
Static(f"run {run_id}")
widget.update("loading " + name)
"""
    assert len(violations(bad)) == 11
    good = """
notify_plain(self, error, severity="error")
SystemCommand(f"Filter: {palette_text(agent)}", "help", cb)
Collapsible(title=plain_title(name))
section.title = plain_title(name)
self.border_title = "Runs"
Binding("x", "y", tooltip="Static words")
Static(Text(name))
widget.update(Text.assemble("run ", name))
"""
    assert violations(good) == []


def test_no_viewer_code_hands_data_to_a_markup_parser():
    found = []
    for path in sorted(TUI.rglob("*.py")):
        if path.name == "plain.py":
            continue
        found += [f"{path.relative_to(TUI)} {v}" for v in violations(path.read_text())]
    assert found == []


def test_palette_text_is_literal_for_any_string():
    from textual.content import Content

    for text in (MARKUP, "[", "]", "\\", "\\[", "[[b]]", "x [1] y", "[link=https://x]y[/link]", "$x [$y]"):
        content = Content.from_markup(plain.palette_text(text))
        assert content.plain == text and not content.spans


async def test_an_error_toast_quoting_hostile_text_shows_it_literally(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "t.db", [run("r", step("s"))])))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        hostile = "[b]x[/b] [/] [@click=app.quit]quit[/]"
        app.open_run(hostile)  # no such run: the tree fails to load and says why in a toast
        await until(pilot, lambda: any(hostile in n.message for n in app._notifications))
        assert isinstance(app.screen, RunScreen) and app.is_running
        toast = next(n for n in app._notifications if hostile in n.message)
        assert toast.message.startswith("✗ cannot show this run: NotFound: no run") and not toast.markup


async def test_the_palette_lists_hostile_agent_names_literally(tmp_path):
    runs = [run("r1", step("s"), agent=MARKUP), run("r2", step("s"), agent="[/tool_call]")]
    app = TraceApp(opening(write_store(tmp_path / "t.db", runs)))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.run_list.count == 2)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"agent")
        palette = app.screen

        def prompts() -> list[str]:
            from textual.command import CommandList

            options = palette.query_one(CommandList).options
            return [str(option.prompt) for option in options]

        await until(pilot, lambda: any("tool_call" in p for p in prompts()))
        shown = "\n".join(prompts())
        assert f"Filter: agent {MARKUP}" in shown and "Filter: agent [/tool_call]" in shown
        assert f"Show only runs of agent {MARKUP}" in shown
        assert app.is_running
