"""The run view: step tree, jumps to failures, detail pane, pager, big runs, hostile text."""

from __future__ import annotations

import contextlib
import os
import sys

import orjson
from builders import opening, run, step, write_store
from textual.widgets import Collapsible, Static

from tracetui.model import Run, Step, finalize_run
from tracetui.store import StoreWriter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen
from tracetui.tui.widgets.step_tree import FULL_LOAD_LIMIT, PAGE, Gap, StepTree

T0 = "2026-01-01T10:00:00.000Z"


def ts(seconds: float) -> str:
    return f"2026-01-01T10:00:{seconds:06.3f}Z"


def branching_run() -> Run:
    """An if/else taking `then`, a switch matching nothing, skipped steps, pseudo-steps, a failure."""
    return run(
        "run-branches",
        step("scan", name="input_scan", kind="scan", raw_type="input_scan", seq=0, started_at=ts(0), duration_ms=100),
        step(
            "plan",
            name="plan",
            kind="llm",
            seq=1,
            started_at=ts(0.1),
            duration_ms=900,
            tokens_in=300,
            tokens_out=40,
            credits=0.1,
        ),
        step(
            "gate",
            name="check amount",
            kind="control",
            raw_type="if_else",
            seq=2,
            chosen_branch="then",
            started_at=ts(1),
            duration_ms=2000,
        ),
        step(
            "approve",
            "gate",
            name="auto_approve",
            kind="tool",
            branch="then",
            seq=0,
            started_at=ts(1),
            duration_ms=1500,
        ),
        step("escalate", "gate", name="escalate", kind="tool", branch="else", status="skipped", seq=1),
        step(
            "route",
            name="route intent",
            kind="control",
            raw_type="switch",
            seq=3,
            chosen_branch="no match",
            started_at=ts(3),
            duration_ms=10,
        ),
        step(
            "verdict",
            name="policy check",
            kind="governance",
            seq=4,
            verdict="block",
            confidence=0.93,
            policy="pii",
            started_at=ts(3.1),
            duration_ms=50,
        ),
        step(
            "eval",
            name="grade answer",
            kind="evaluation",
            seq=5,
            score=0.42,
            extra={"passed": False, "retried": True},
            started_at=ts(3.2),
            duration_ms=300,
        ),
        step(
            "send",
            name="send_reply",
            kind="tool",
            seq=6,
            status="failed",
            error="SMTP 550: mailbox unavailable",
            started_at=ts(3.5),
            duration_ms=500,
        ),
        agent="support-agent",
        status="failed",
        started_at=T0,
        ended_at=ts(4),
        source_file="support.jsonl",  # fixed, so snapshots do not show a temp dir
        duration_ms=4000,
    )


def nested_failure_run() -> Run:
    return run(
        "run-nested",
        step("a", name="research", kind="agent", seq=0, status="failed", started_at=ts(0), duration_ms=3000),
        step(
            "a1",
            "a",
            name="gather",
            kind="control",
            raw_type="for_each",
            seq=0,
            status="failed",
            started_at=ts(0),
            duration_ms=2500,
        ),
        step("a1x", "a1", name="fetch ok", kind="tool", seq=0, started_at=ts(0), duration_ms=1000),
        step(
            "a1y",
            "a1",
            name="fetch broken",
            kind="tool",
            seq=1,
            status="failed",
            error="TLS handshake failed",
            started_at=ts(1),
            duration_ms=400,
        ),
        step("b", name="summarize", kind="llm", seq=1, started_at=ts(3), duration_ms=500),
        step(
            "c",
            name="second failure",
            kind="tool",
            seq=2,
            status="timeout",
            error="timed out",
            started_at=ts(3.5),
            duration_ms=400,
        ),
        status="failed",
        started_at=T0,
        duration_ms=4000,
        source_file="research.jsonl",
    )


def app_for(tmp_path, runs: list[Run], run_id: str, name: str = "t.db") -> TraceApp:
    return TraceApp(opening(write_store(tmp_path / name, runs)), run_id=run_id)


async def open_run(pilot) -> RunScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.run is not None)
    return pilot.app.screen


def cursor_id(screen: RunScreen) -> str | None:
    current = screen.step_tree.step_at_cursor()
    return current.id if current else None


async def detail_loaded(pilot, screen: RunScreen) -> None:
    await until(
        pilot, lambda: screen.detail.details is not None and screen.detail.details.key == screen.detail.subject_key
    )


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def static_text(widget: Static, width: int = 200) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


# -- the tree --------------------------------------------------------------------------------------
async def test_tree_rows_follow_execution_order_and_nesting(tmp_path):
    app = app_for(tmp_path, [branching_run()], "run-branches")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        top = [n.data.id for n in tree.root.children]
        assert top == ["scan", "plan", "gate", "route", "verdict", "eval", "send"]
        assert [n.data.id for n in tree.nodes["gate"].children] == ["approve", "escalate"]
        assert tree.fully_loaded and tree.nodes["gate"].is_expanded


async def test_rows_carry_badges_kinds_verdicts_and_skipped_marks(tmp_path):
    app = app_for(tmp_path, [branching_run()], "run-branches")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree

        def row(step_id: str):
            return tree.row_text(tree.nodes[step_id], 120)

        assert "chosen: then" in row("gate").plain
        assert "chosen: no match" in row("route").plain
        assert "↳ then" in row("approve").plain
        escalate = row("escalate")
        assert "⊘ skipped" in escalate.plain and "↳ else" in escalate.plain
        assert any("dim" in str(span.style) for span in escalate.spans if span.end - span.start == len(escalate))
        assert "◇ governance" in row("verdict").plain and "verdict: block" in row("verdict").plain
        assert (
            "◇ evaluation" in row("eval").plain and "score: 0.42" in row("eval").plain and "retry" in row("eval").plain
        )
        assert "◇ scan" in row("scan").plain
        failed = row("send")
        assert "✗ failed" in failed.plain and failed.plain.startswith("✗ send_reply")
        assert "300→40" in row("plan").plain
        # the waterfall: plan ran in the first quarter of the run, send_reply in the last (the 12-cell
        # bar of a tree beside the detail pane sits before the tokens, credits and cost: 12 + 8 + 9 cells)
        plan_bar = row("plan").plain[-41:-29]
        assert plan_bar.startswith("▐") or plan_bar.startswith("█") or plan_bar[1] in "█▐"
        assert "█" in row("send").plain[-41:-29][-3:]


async def test_run_with_no_steps_says_so(tmp_path):
    app = app_for(tmp_path, [run("empty", status="completed", started_at=T0)], "empty")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        await detail_loaded(pilot, screen)
        assert "this run has no steps" in screen_text(app)
        assert "run empty" in static_text(screen.query_one("#detail-summary", Static))
        await pilot.press("f")
        await pilot.pause()
        assert screen.step_tree.cursor_node is screen.step_tree.root


# -- jumping to failures ---------------------------------------------------------------------------
async def test_f_lands_on_the_root_cause_inside_a_collapsed_subtree(tmp_path):
    app = app_for(tmp_path, [nested_failure_run()], "run-nested")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        await pilot.press("e")  # small runs open expanded: collapse everything first
        await pilot.pause()
        assert not tree.nodes["a"].is_expanded
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(screen) == "a1y")
        node = tree.nodes["a1y"]
        assert tree.nodes["a"].is_expanded and tree.nodes["a1"].is_expanded
        assert node.line != -1 and tree.cursor_line == node.line
        await detail_loaded(pilot, screen)
        assert "TLS handshake failed" in static_text(screen.query_one("#detail-error-body", Static))


async def test_n_and_shift_n_walk_failed_steps_in_execution_order(tmp_path):
    app = app_for(tmp_path, [nested_failure_run()], "run-nested")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        seen = []
        for _ in range(4):
            await pilot.press("n")
            await until(pilot, lambda: cursor_id(screen) not in (None, *seen[-1:]))
            seen.append(cursor_id(screen))
        assert seen == ["a", "a1", "a1y", "c"]
        await pilot.press("n")  # past the last one: wraps around
        await until(pilot, lambda: cursor_id(screen) == "a")
        await pilot.press("N")
        await until(pilot, lambda: cursor_id(screen) == "c")
        await pilot.press("N")
        await until(pilot, lambda: cursor_id(screen) == "a1y")


async def test_e_collapses_and_expands_everything(tmp_path):
    app = app_for(tmp_path, [nested_failure_run()], "run-nested")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        await pilot.press("e")
        await pilot.pause()
        assert [n.is_expanded for n in (tree.nodes["a"], tree.nodes["a1"])] == [False, False]
        assert tree.last_line == 3  # root and its three children
        await pilot.press("e")
        await pilot.pause()
        assert tree.nodes["a"].is_expanded and tree.nodes["a1"].is_expanded
        assert tree.last_line == 6


async def test_keys_move_expand_and_collapse(tmp_path):
    app = app_for(tmp_path, [nested_failure_run()], "run-nested")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        await pilot.press("j")
        assert cursor_id(screen) == "a"
        await pilot.press("h")  # collapse
        assert not tree.nodes["a"].is_expanded
        await pilot.press("l")  # expand
        assert tree.nodes["a"].is_expanded
        await pilot.press("l")  # into the first child
        assert cursor_id(screen) == "a1"
        await pilot.press("G")
        assert cursor_id(screen) == "c"
        await pilot.press("g")
        assert tree.cursor_node is tree.root
        await pilot.press("j", "space")
        assert not tree.nodes["a"].is_expanded
        await pilot.press("enter")
        assert tree.nodes["a"].is_expanded
        await pilot.press("tab")
        assert app.focused is screen.detail
        await pilot.press("shift+tab")
        assert app.focused is tree


async def test_brackets_open_the_adjacent_failed_run_at_its_failure_and_escape_goes_back(tmp_path):
    runs = [
        nested_failure_run(),
        run("ok", step("s", name="fine"), status="completed", started_at="2026-01-01T09:00:00.000Z"),
        run(
            "older-failure",
            step("x", name="boom", status="failed", error="bad"),
            status="failed",
            started_at="2026-01-01T08:00:00.000Z",
        ),
    ]
    app = app_for(tmp_path, runs, "run-nested")
    async with app.run_test(size=(120, 30)) as pilot:
        await open_run(pilot)
        expected = app.runs_screen.failed_run_next_to("run-nested", +1)
        assert expected == "older-failure"
        await pilot.press("right_square_bracket")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, RunScreen) and app.screen.run_id == expected and cursor_id(app.screen) == "x"
            ),
        )
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: app.screen.run_id == "run-nested" and cursor_id(app.screen) == "a1y")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))


# -- the detail pane -------------------------------------------------------------------------------
async def test_detail_of_a_failed_step_opens_its_error_and_shows_totals(tmp_path):
    r = nested_failure_run()
    r.steps[3].tokens_in, r.steps[3].tokens_out, r.steps[3].credits = 12, 3, 0.25
    r.credits = 5.0  # the run reports more than its steps add up to
    app = app_for(tmp_path, [r], "run-nested")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(screen) == "a1y")
        await detail_loaded(pilot, screen)
        error = screen.query_one("#detail-error", Collapsible)
        assert error.display and not error.collapsed
        summary = static_text(screen.query_one("#detail-summary", Static))
        assert "fetch broken" in summary and "kind" in summary and "400ms" in summary
        assert "self" in summary and "subtree" in summary and "mismatch: run reports 5" in summary
        assert not screen.query_one("#detail-input", Collapsible).display  # nothing to show


async def test_detail_decodes_json_inside_strings(tmp_path):
    inner = {"query": "weather", "args": orjson.dumps({"city": "Oslo"}).decode()}
    output = orjson.dumps(orjson.dumps(inner).decode()).decode()  # JSON text of a JSON string
    r = run("json", step("call", name="tool", kind="tool", output=output, input='{"plain": true}'), started_at=T0)
    app = app_for(tmp_path, [r], "json")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        await pilot.press("j")
        await detail_loaded(pilot, screen)
        body = static_text(screen.query_one("#detail-output-body", Static))
        assert '"query": "weather"' in body
        assert '"city": "Oslo"' in body  # the string inside was JSON too
        title = screen.query_one("#detail-output", Collapsible).title
        assert "decoded from a JSON string" in str(title)
        assert '"plain": true' in static_text(screen.query_one("#detail-input-body", Static))


async def test_long_payload_is_cut_to_a_preview_and_o_opens_it_all_in_the_pager(tmp_path, monkeypatch):
    lines = [f"line {i}" for i in range(5000)]
    r = run("long", step("big", name="dump", kind="tool", output="\n".join(lines)), started_at=T0)
    paged = tmp_path / "paged.txt"
    copier = tmp_path / "pager.py"
    copier.write_text(f"import shutil, sys\nshutil.copy(sys.argv[1], {str(paged)!r})\n")
    monkeypatch.setenv("PAGER", f"{sys.executable} {copier}")
    app = app_for(tmp_path, [r], "long")
    # the headless test driver cannot suspend; a real terminal does
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        await pilot.press("j")
        await detail_loaded(pilot, screen)
        body = static_text(screen.query_one("#detail-output-body", Static))
        assert "line 0" in body and "line 199" in body and "line 4999" not in body
        assert "press o to open the full text in the pager" in body
        await pilot.press("o")
        await until(pilot, paged.exists)
        text = paged.read_text()
        assert "line 4999" in text and "Output" in text


async def test_pager_failure_is_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGER", str(tmp_path / "no-such-pager"))
    r = run("p", step("s", name="s", output="x"), started_at=T0)
    app = app_for(tmp_path, [r], "p")
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        await detail_loaded(pilot, screen)
        await pilot.press("o")
        await pilot.pause()
        assert any("pager not found" in n.message for n in app._notifications)


async def test_run_detail_lists_circuit_breaker_events_and_tool_calls(tmp_path):
    r = run(
        "cb",
        step("call-1", name="search", kind="tool", duration_ms=20),
        step("call-2", name="fetch", kind="tool", status="failed", error="503"),
        events=[{"breaker": "openai", "state": "open"}, {"breaker": "openai", "state": "closed"}],
        status="failed",
        started_at=T0,
    )
    app = app_for(tmp_path, [r], "cb")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        await detail_loaded(pilot, screen)
        events = screen.query_one("#detail-events", Collapsible)
        assert events.display
        assert '"state": "open"' in static_text(screen.query_one("#detail-events-body", Static))
        tools = static_text(screen.query_one("#detail-tools", Static))
        assert "Tool calls (2)" in tools and "fetch" in tools and "503" in tools
        assert "2 circuit-breaker events" in static_text(screen.query_one("#run-header", Static))


# -- hostile text ----------------------------------------------------------------------------------
HOSTILE = "[bold]x[/bold] [/tool_call] [@click=app.quit]click[/] \x1b[31mred\x1b[0m \x1b]0;title\x07"


async def test_hostile_names_and_payloads_render_literally(tmp_path):
    r = run(
        HOSTILE,
        step(
            HOSTILE,
            name=HOSTILE,
            kind="tool",
            status="failed",
            error=HOSTILE,
            input=HOSTILE,
            output=orjson.dumps({"k": HOSTILE}).decode(),
            branch=HOSTILE,
            extra={HOSTILE: HOSTILE},
        ),
        agent=HOSTILE,
        status="failed",
        started_at=T0,
    )
    app = app_for(tmp_path, [r], HOSTILE)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_run(pilot)
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(screen) == HOSTILE)
        await detail_loaded(pilot, screen)
        text = screen_text(app)
        assert "[bold]x[/bold]" in text and "[/tool_call]" in text and "[@click=app.quit]click[/]" in text
        assert "\\x1b[31mred" in text and "\x1b" not in text
        row = screen.step_tree.row_text(screen.step_tree.nodes[HOSTILE], 150)
        assert not any("@click" in str(span.style) for span in row.spans)
        for body in ("error", "input", "output", "extra"):
            assert "[/tool_call]" in static_text(screen.query_one(f"#detail-{body}-body", Static))
        await pilot.click(StepTree, offset=(30, 1))
        await pilot.pause()
        assert app.is_running


SAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "sample_traces", "traces.db")


async def test_every_step_of_the_hostile_sample_renders_literally():
    app = TraceApp(opening(SAMPLES), run_id="run-0015-hostile-payloads")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        seen = []
        for _ in range(screen.step_tree.last_line + 1):
            await detail_loaded(pilot, screen)
            seen.append(screen_text(app))
            await pilot.press("j")
        everything = "\n".join(seen)
        assert "\x1b" not in everything
        for literal in ("[@click=app.quit]x[/]", "[/tool_call]", "[bold]", "\\x1b["):
            assert literal in everything
        assert app.is_running


# -- big runs --------------------------------------------------------------------------------------
def write_big(path, r: Run) -> str:
    writer = StoreWriter(str(path))
    writer.add(finalize_run(r))
    writer.finish()
    return str(path)


def big_nested_run(n_turns: int) -> tuple[Run, str]:
    steps = []
    for t in range(n_turns):
        steps.append(Step(f"t{t}", name=f"turn {t}", kind="agent", seq=t))
        for a in range(4):
            steps.append(Step(f"t{t}/a{a}", parent_id=f"t{t}", name="plan", kind="llm", seq=a))
            for b in range(4):
                steps.append(Step(f"t{t}/a{a}/b{b}", parent_id=f"t{t}/a{a}", name="tool", kind="tool", seq=b))
    target = f"t{n_turns - 3}/a2/b3"
    by_id = {s.id: s for s in steps}
    for sid in (target, f"t{n_turns - 3}/a2", f"t{n_turns - 3}"):
        by_id[sid].status = "failed"
    r = Run("big", status="failed", started_at=T0)
    r.steps = steps
    return r, target


async def test_a_big_run_loads_lazily_and_f_reaches_a_deep_failure(tmp_path):
    r, target = big_nested_run(1000)  # 21,000 steps
    path = write_big(tmp_path / "big.db", r)
    app = TraceApp(opening(path), run_id="big")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        assert r.step_count > FULL_LOAD_LIMIT and not tree.fully_loaded
        assert len(tree.nodes) == PAGE  # the first page of turns, nothing below them yet
        gap = tree.root.children[-1].data
        assert isinstance(gap, Gap) and gap.count == 1000 - PAGE
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(screen) == target)
        node = tree.nodes[target]
        assert node.line != -1 and tree.cursor_line == node.line
        assert len(tree.nodes) < 2000
        # expanding a turn reads its children
        await pilot.press("g", "j", "l")
        await until(
            pilot, lambda: len(tree.nodes["t0"].children) == 4 and isinstance(tree.nodes["t0"].children[0].data, Step)
        )


async def test_a_flat_big_run_pages_siblings_and_jumps_far(tmp_path):
    r = Run("flat", status="failed", started_at=T0)
    r.steps = [Step(f"s{i}", name=f"call {i}", kind="tool", seq=i) for i in range(5000)]
    r.steps[4321].status = "failed"
    path = write_big(tmp_path / "flat.db", r)
    app = TraceApp(opening(path), run_id="flat")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(screen) == "s4321")
        kinds = [type(n.data).__name__ for n in tree.root.children]
        assert kinds[PAGE] == "Gap" and kinds[-1] == "Gap"  # the window around s4321 sits between gaps
        assert tree.nodes["s4321"].line == tree.cursor_line
        # moving onto a gap reads it, and the cursor stays where the gap was: on its first step
        tree.move_cursor(tree.root.children[PAGE - 1])
        await pilot.press("j")
        await until(pilot, lambda: "s500" in tree.nodes and cursor_id(screen) == "s500")
        assert "s999" in tree.nodes and "s1000" not in tree.nodes


async def test_a_gap_says_loading_while_its_steps_are_read(tmp_path, monkeypatch):
    import threading

    from tracetui.tui.widgets import lazy_step_tree

    release = threading.Event()
    real_read_gap = lazy_step_tree.read_gap

    def slow_read_gap(*args):
        release.wait(10)
        return real_read_gap(*args)

    monkeypatch.setattr(lazy_step_tree, "read_gap", slow_read_gap)
    r = Run("flat", status="completed", started_at=T0)
    r.steps = [Step(f"s{i}", name=f"call {i}", kind="tool", seq=i) for i in range(FULL_LOAD_LIMIT + 1)]
    app = TraceApp(opening(write_big(tmp_path / "flat.db", r)), run_id="flat")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        await pilot.press("G")  # the last row: the gap after the first page
        # Not `until`: it waits for the workers, and the read of the gap is held back on purpose.
        for _ in range(500):
            if "more steps (loading…)" in screen_text(app):
                break
            await pilot.pause(0.01)
        else:
            raise AssertionError("the gap never said it was loading")
        release.set()
        await until(pilot, lambda: "s500" in tree.nodes and "loading…" not in screen_text(app))


async def test_expand_all_on_a_big_run_reads_everything_in_slices(tmp_path):
    r, target = big_nested_run(200)  # 4,200 steps
    path = write_big(tmp_path / "big.db", r)
    app = TraceApp(opening(path), run_id="big")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        await pilot.press("j")
        await pilot.press("e")
        await until(pilot, lambda: tree.fully_loaded and len(tree.nodes) == r.step_count)
        assert all(node.is_expanded for node in tree.nodes.values() if node.allow_expand)
        assert cursor_id(screen) == "t0"
        await pilot.press("e")
        await pilot.pause()
        assert not tree.nodes["t0"].is_expanded


# -- snapshots -------------------------------------------------------------------------------------
def _snapshot_app(tmp_path) -> TraceApp:
    return app_for(tmp_path, [branching_run(), nested_failure_run()], "run-branches")


def test_snapshot_tree_with_branch_badges_and_skipped_steps(tmp_path, snap_compare):
    async def ready(pilot):
        screen = await open_run(pilot)
        await detail_loaded(pilot, screen)

    assert snap_compare(_snapshot_app(tmp_path), terminal_size=(160, 40), run_before=ready)


def test_snapshot_detail_pane_with_an_error(tmp_path, snap_compare):
    async def on_failure(pilot):
        screen = await open_run(pilot)
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(screen) == "send")
        await detail_loaded(pilot, screen)

    assert snap_compare(_snapshot_app(tmp_path), terminal_size=(160, 40), run_before=on_failure)


def test_snapshot_narrow_terminal_stacks_tree_over_detail(tmp_path, snap_compare):
    async def ready(pilot):
        screen = await open_run(pilot)
        await detail_loaded(pilot, screen)

    assert snap_compare(_snapshot_app(tmp_path), terminal_size=(80, 24), run_before=ready)


async def test_orphan_and_cycle_steps_show_under_the_root_flagged(tmp_path):
    broken = run("broken", step("a"), step("lost", "gone"), step("x", "y"), step("y", "x"), started_at=T0)
    app = app_for(tmp_path, [broken], "broken")
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await open_run(pilot)
        roots = [node.data.id for node in screen.step_tree.root.children]
        assert roots == ["a", "lost", "x", "y"]
        text = screen_text(app)
        assert "lost" in text and "⚑ orphan" in text and "⚑ cycle" in text


def test_a_running_runs_detail_says_latest_and_so_far_not_ended():
    # A live run's end is only its latest span's so far (tracetui serve, a followed file).
    from rich.console import Console

    from tracetui.tui.widgets.detail import run_summary

    def shown(status: str) -> str:
        r = run("r", status=status, started_at="2026-01-01T10:00:00Z", ended_at="2026-01-01T10:00:03Z")
        r.duration_ms = 3000
        console = Console(width=80, record=True, file=open(os.devnull, "w"))
        console.print(run_summary(r))
        return console.export_text()

    running = shown("running")
    assert "ended" not in running and "latest" in running and "so far" in running and "3.00s" in running
    done = shown("completed")
    assert "ended" in done and "latest" not in done and "so far" not in done
