"""Runs nested thousands of steps deep: every command completes, nothing recurses, output stays
correct and bounded (indentation stops at display.MAX_NESTING; deeper rows say their depth)."""

from __future__ import annotations

import io
import json
from typing import Any

import ijson
from builders import run, step
from click.testing import CliRunner

from tracetui import display
from tracetui.cli import dumps, main, step_dict
from tracetui.model import Run, Step, finalize_run
from tracetui.store import StoreWriter
from tracetui.tree_json import dumps_with_tree

DEPTH = 10_000


def chain(run_id: str, depth: int, *, fail_last: bool = False) -> Run:
    """One step under the other, `depth` levels."""
    steps = [Step("s0", name="s0")] + [Step(f"s{i}", parent_id=f"s{i - 1}", name=f"s{i}") for i in range(1, depth)]
    if fail_last:
        steps[-1].status, steps[-1].error = "failed", "boom"
    r = Run(run_id, agent="a", status="failed" if fail_last else "completed")
    r.steps = steps
    return r


def deep_store(path) -> str:
    writer = StoreWriter(str(path))
    writer.add(finalize_run(chain("deep", DEPTH)))
    writer.add(finalize_run(chain("deep2", DEPTH, fail_last=True)))
    writer.finish()
    return str(path)


def invoke(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def build(events) -> Any:
    """A JSON value from ijson.basic_parse events, with an explicit stack (no recursion, no prefixes)."""
    stack: list[Any] = []
    keys: list[str | None] = []
    result: Any = None

    def put(value: Any) -> None:
        nonlocal result
        if not stack:
            result = value
        elif isinstance(stack[-1], list):
            stack[-1].append(value)
        else:
            stack[-1][keys[-1]] = value

    for event, value in events:
        if event in ("start_map", "start_array"):
            container: Any = {} if event == "start_map" else []
            put(container)
            stack.append(container)
            keys.append(None)
        elif event in ("end_map", "end_array"):
            stack.pop()
            keys.pop()
        elif event == "map_key":
            keys[-1] = value
        else:
            put(value)
    return result


def test_show_json_nests_a_10000_deep_run_completely(tmp_path):
    db = deep_store(tmp_path / "deep.db")
    out = invoke("show", db, "deep2", "--json")
    doc = build(ijson.basic_parse(io.BytesIO(out.encode()), use_float=True))
    assert doc["first_failed_step"]["id"] == "s9999"
    node, ids = doc["steps"], []
    while node:
        assert len(node) == 1
        ids.append(node[0]["id"])
        assert node[0]["depth"] == len(ids) - 1
        node = node[0]["children"]
    assert ids == [f"s{i}" for i in range(DEPTH)]
    # Indentation stops growing: the output grows with the steps, not with the square of the depth.
    assert max(len(line) - len(line.lstrip(" ")) for line in out.splitlines()) <= 4 * display.MAX_NESTING + 2


def test_show_markdown_of_a_10000_deep_run_is_bounded_and_parses(tmp_path):
    from markdown_it import MarkdownIt

    db = deep_store(tmp_path / "deep.db")
    out = invoke("show", db, "deep2", "--format", "markdown")
    outline = next(t for t in MarkdownIt("commonmark").parse(out) if t.type == "fence").content.splitlines()
    assert len(outline) == DEPTH and outline[-1].endswith("◀ first failure")
    assert f"↳ depth {DEPTH - 1:,}" in outline[-1]
    assert max(len(line) for line in outline) < 6 * display.MAX_NESTING + 100
    assert f"- **first failure:** step {DEPTH}, `s9999` (`s9999`)" in out


def test_show_json_of_an_ordinary_run_is_what_a_recursive_encoder_writes():
    r = finalize_run(
        run("r", step("a"), step("b", "a"), step("c", "b"), step("d", "a"), step("e"), agent="x", status="failed")
    )

    def nested(s: Step) -> dict:
        return {**step_dict(s), "children": [nested(c) for c in s.children]}

    roots = [s for s in r.steps if s.parent_id is None]
    document = {"id": r.id, "steps": [], "first_failed_step": None}
    expected = dumps({**document, "steps": [nested(s) for s in roots]})
    assert dumps_with_tree(document, "steps", roots, step_dict, dumps) == expected
    assert dumps_with_tree(document, "steps", [], step_dict, dumps) == dumps(document)


def test_show_text_of_a_10000_deep_run_draws_every_step_with_bounded_indentation(tmp_path):
    db = deep_store(tmp_path / "deep.db")
    lines = invoke("show", db, "deep2").splitlines()
    rows = [line for line in lines if "✓ s" in line or "✗ s" in line]
    assert len(rows) == DEPTH
    assert "↳ depth" not in rows[display.MAX_NESTING - 1]
    assert "↳ depth 9,999 ✗ s9999" in rows[-1] and "◀ first failure" in rows[-1]
    cap_indent = rows[display.MAX_NESTING].index("├─")
    assert all(row.index("├─") == cap_indent for row in rows[display.MAX_NESTING :])
    assert cap_indent == 3 * display.MAX_NESTING


def test_compare_of_two_10000_deep_runs_completes_as_text_and_json(tmp_path):
    db = deep_store(tmp_path / "deep.db")
    text = invoke("compare", db, "deep", "deep2", "--text")
    assert "first divergence: row 10000" in text
    assert "↳ depth 9,999" in text
    data = json.loads(invoke("compare", db, "deep", "deep2", "--json"))
    assert data["counts"] == {"same": DEPTH - 1, "changed": 1, "only_a": 0, "only_b": 0}
    assert data["first_divergence"]["a"]["id"] == "s9999" and data["first_divergence"]["depth"] == DEPTH - 1
