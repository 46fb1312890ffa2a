"""A run nested 10,000 steps deep in the viewer: the tree nests display.MAX_NESTING levels, lists the
steps below the last level flat (each with its depth), and `e`, `f` and reading gaps all finish."""

from __future__ import annotations

from builders import opening

from tracetui.display import MAX_NESTING
from tracetui.model import Run, Step, finalize_run
from tracetui.store import StoreWriter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.widgets.lazy_children import DeepNote, Gap
from tracetui.tui.widgets.step_tree import StepTree

DEPTH = 10_000


def chain(run_id: str, depth: int) -> Run:
    steps = [Step("s0", name="s0")] + [Step(f"s{i}", parent_id=f"s{i - 1}", name=f"s{i}") for i in range(1, depth)]
    steps[-1].status, steps[-1].error = "failed", "boom"
    r = Run(run_id, status="failed")
    r.steps = steps
    return r


def deep_app(tmp_path, depth: int = DEPTH) -> TraceApp:
    writer = StoreWriter(str(tmp_path / "deep.db"))
    writer.add(finalize_run(chain("deep", depth)))
    writer.finish()
    return TraceApp(opening(str(tmp_path / "deep.db")), run_id="deep")


async def open_tree(pilot) -> StepTree:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.run is not None)
    return pilot.app.screen.query_one(StepTree)


def cursor_id(tree: StepTree) -> str | None:
    step = tree.step_at_cursor()
    return step.id if step else None


def tree_depth(tree: StepTree) -> int:
    deepest, stack = 0, [(tree.root, 0)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.children)
    return deepest


async def test_f_reaches_a_failure_10000_deep_among_the_flat_steps(tmp_path):
    app = deep_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = await open_tree(pilot)
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(tree) == f"s{DEPTH - 1}")
        cap = tree.nodes[f"s{MAX_NESTING - 1}"]
        assert isinstance(cap.children[0].data, DeepNote)
        assert tree.nodes[f"s{DEPTH - 1}"].parent is cap  # listed flat under the step at the cap
        assert any(isinstance(child.data, Gap) for child in cap.children)  # the rest is read when reached
        assert len(tree.nodes) < 1000
        row = tree.row_text(tree.cursor_node, 200).plain
        assert f"↳ depth {DEPTH - 1:,}" in row and f"s{DEPTH - 1}" in row
        assert tree_depth(tree) == MAX_NESTING + 1
        # The row starts right of the pane (its guides are wider than it): the tree scrolls sideways.
        await pilot.pause()
        assert tree.scroll_offset.x > 0
        shown = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert f"↳ depth {DEPTH - 1:,} ✗ s{DEPTH - 1}" in shown


async def test_e_expands_a_10000_deep_run_and_the_viewer_keeps_answering(tmp_path):
    app = deep_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = await open_tree(pilot)
        await pilot.press("e")
        await until(pilot, lambda: tree.fully_loaded and not tree._rebuilding)
        assert len(tree.nodes) == DEPTH
        cap = tree.nodes[f"s{MAX_NESTING - 1}"]
        assert [c.data.id for c in cap.children[1:4]] == [f"s{MAX_NESTING + i}" for i in range(3)]
        assert tree.last_line == DEPTH + 1  # the run, every step and the note
        assert tree_depth(tree) == MAX_NESTING + 1
        await pilot.press("G")
        await until(pilot, lambda: cursor_id(tree) == f"s{DEPTH - 1}")
        await pilot.press("e")  # and collapses again
        await until(pilot, lambda: not tree.expanded_all and cursor_id(tree) == "s0")


async def test_a_run_deeper_than_the_cap_but_small_enough_to_load_whole(tmp_path):
    app = deep_app(tmp_path, depth=1200)
    async with app.run_test(size=(80, 24)) as pilot:
        tree = await open_tree(pilot)
        assert tree.fully_loaded and len(tree.nodes) == 1200
        assert tree_depth(tree) == MAX_NESTING + 1
        await pilot.press("f")
        await until(pilot, lambda: cursor_id(tree) == "s1199")
        assert app.is_running


# -- deep payloads ---------------------------------------------------------------------------------
def nested(depth: int) -> object:
    value: object = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def test_a_payload_nested_past_orjsons_limits_is_laid_out_without_recursion():
    import json

    from tracetui.payload import make_payload
    from tracetui.tui.widgets.pair_detail import readable

    for depth in (300, 5000, 100_000):
        payload = make_payload(nested(depth))
        assert payload is not None and payload.is_json and payload.cut
        assert payload.text.count("\n") >= depth and "bottom" in payload.text
        # two spaces a level, until the indentation stops growing
        assert max(len(line) - len(line.lstrip()) for line in payload.text.splitlines()) <= 4 * MAX_NESTING
    text = json.dumps(nested(900))
    assert make_payload(text).is_json  # a string holding JSON 900 deep is decoded and laid out
    assert json.loads(readable(text)) == nested(900)


def test_a_payload_is_laid_out_as_json_only_when_it_is_json_as_it_is():
    from tracetui.payload import make_payload
    from tracetui.tui.widgets.pair_detail import readable

    big = '{"n": 1180591620717411303424}'
    assert make_payload({"n": 2**70}).text == '{\n  "n": 1180591620717411303424\n}'  # exact, not a float
    assert make_payload(big).is_json
    # JSON only after repairs (NaN, a lone surrogate) is shown as it came, never as the repaired value.
    for text in ('{"a": NaN}', '{"a": "x\\udfff"}'):
        payload = make_payload(text)
        assert payload is not None and not payload.is_json and payload.text == text
        assert readable(text) == text
    assert readable('{"a": [1]}') == '{\n  "a": [\n    1\n  ]\n}'


async def test_the_detail_and_compare_panes_show_a_900_deep_payload(tmp_path):
    import json

    from builders import run, step, write_store
    from textual.widgets import Static

    from tracetui.tui.screens.compare import CompareScreen

    deep = json.dumps(nested(900))
    runs = [run("a", step("s", output=deep)), run("b", step("s", output=deep + " "))]
    app = TraceApp(opening(write_store(tmp_path / "t.db", runs)), run_id="a")
    async with app.run_test(size=(120, 40)) as pilot:
        tree = await open_tree(pilot)
        await pilot.press("j")
        screen = app.screen
        await until(pilot, lambda: screen.detail.step is not None and screen.detail.details is not None)
        output = screen.detail.details.payloads["output"]
        assert output.is_json and '"a": [' in output.text
        assert screen.query_one("#detail-output-body", Static).display
        app.compare_runs("a", "b")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        await pilot.press("j")
        await pilot.pause()
        assert app.is_running and tree is not None
