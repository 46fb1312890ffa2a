"""A hostile sample shown in every screen: what the viewer would write to the terminal carries no
escape sequence, C1 control, bidi override or zero-width character from the data, and no markup
from it (which would become styles, links or actions). Only Textual's own cursor moves and colours."""

from __future__ import annotations

import re

import orjson
from builders import opening
from textual.command import CommandPalette

from tracetui.model import Problem, Run, Step, finalize_run
from tracetui.store import StoreWriter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.compare import CompareScreen
from tracetui.tui.screens.error import ErrorScreen, ProblemsScreen
from tracetui.tui.screens.help import HelpScreen
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen
from tracetui.tui.screens.text_view import TextScreen

# Clear screen, an OSC 8 hyperlink, a CSI query as a C1 byte, NEL, a right-to-left override that
# makes "exe.png" read as "gnp.exe", isolates, zero-width space / joiner / BOM, marks, markup, BEL.
EVIL = (
    "\x1b[2J\x1b]8;;https://evil.invalid/\x07link\x1b]8;;\x07 \x9b6n \x85 \u202egnp.exe \u2066i\u2069"
    " a\u200bb\u200dc\ufeffd\u200e\u200f\u061c\u2060 [@click=app.quit]quit[/] [link=https://evil.invalid]l[/link] \x07"
)
# Textual's own output: cursor moves (H) and colours (m).
OWN = re.compile(r"\x1b\[[0-9;]*[mH]")
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def hostile_run(run_id: str, output: str) -> Run:
    def evil_step(sid: str, parent: str | None = None, **fields) -> Step:
        return Step(f"{EVIL}{sid}", parent_id=f"{EVIL}{parent}" if parent else None, name=f"{EVIL}{sid}", **fields)

    r = Run(
        run_id,
        agent=EVIL,
        session=EVIL,
        status="failed",
        error=EVIL,
        started_at="2026-01-01T10:00:00.000Z",
        metadata={EVIL: EVIL},
        events=[EVIL, {"breaker": EVIL}],
        flags=[EVIL],
        source_file=EVIL,
    )
    r.steps = [
        evil_step("scan", kind="scan", raw_type=EVIL, verdict=EVIL, policy=EVIL),
        evil_step(
            "llm",
            kind="llm",
            input=EVIL,
            output=output,
            error=EVIL,
            status="failed",
            tokens_in=10,
            chosen_branch=EVIL,
            extra={EVIL: EVIL},
            events=[EVIL],
        ),
        evil_step(
            "tool", "llm", kind="tool", branch=EVIL, status="failed", error=EVIL, input=orjson.dumps([EVIL]).decode()
        ),
        evil_step("orphan", "nowhere", kind="tool", definition_id=EVIL),
    ]
    return finalize_run(r)


def hostile_app(tmp_path) -> TraceApp:
    writer = StoreWriter(str(tmp_path / "evil.db"))
    writer.add(hostile_run(f"{EVIL}A", orjson.dumps({EVIL: [EVIL, "a"]}).decode()))
    writer.add(hostile_run(f"{EVIL}B", orjson.dumps({EVIL: [EVIL, "b"]}).decode()))
    writer.add_problem(Problem(EVIL, line=1, run_id=EVIL))
    writer.finish()
    return TraceApp(opening(str(tmp_path / "evil.db")))


def terminal_output(app) -> str:
    """What the app would write to a terminal for the whole screen (as App._display does)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return update.render_segments(app.console)


def leaks(output: str) -> list[str]:
    rest = OWN.sub("", output)
    return sorted({f"U+{ord(c):04X}" for c in FORBIDDEN.findall(rest)})


async def test_the_hostile_sample_reaches_no_screen_as_escapes_or_markup(tmp_path):
    app = hostile_app(tmp_path)
    seen: dict[str, str] = {}

    def capture(name: str) -> None:
        out = terminal_output(app)
        seen[name] = out
        assert leaks(out) == [], name
        assert "\\x1b" in out or name == "help", name  # the data was drawn, visibly

    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.run_list.count == 2)
        await pilot.pause()
        capture("run list")

        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ProblemsScreen))
        capture("warnings")
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"agent")
        await pilot.pause(0.3)
        capture("palette")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        for row in range(screen.step_tree.last_line + 1):
            await until(pilot, lambda: screen.detail.details is not None)
            await pilot.pause()
            capture(f"run view row {row}")
            await pilot.press("j")

        app.open_run(f"{EVIL}missing")  # fails to load: a toast quoting the id
        await until(pilot, lambda: any("missing" in n.message for n in app._notifications))
        await pilot.pause()
        capture("toast")

        app.compare_runs(f"{EVIL}A", f"{EVIL}B")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        for row in range(len(app.screen.comparison.pairs)):
            await pilot.pause()
            capture(f"compare row {row}")
            await pilot.press("j")

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        capture("help")
        await pilot.press("escape")

        app.push_screen(TextScreen(EVIL, EVIL + "\n" + EVIL))
        await pilot.pause()
        capture("text view")
        await pilot.press("escape")

        app.push_screen(ErrorScreen(EVIL, EVIL))
        await pilot.pause()
        capture("error screen")
        assert app.is_running

    everything = "".join(seen.values())
    assert "\x1b]" not in everything  # no OSC at all: no hyperlink, no title, no clipboard
    for literal in ("[@click=app.quit]quit[/]", "[link=https://evil.invalid]l[/link]", "\\x1b[2J", "\\x9b6n"):
        assert literal in OWN.sub("", everything), literal
