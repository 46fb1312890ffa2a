"""The step tree's lazy loading without a terminal: gaps, pages, the node index, jumps between
failures and the reads behind them (tui/widgets/lazy_children.py)."""

from __future__ import annotations

from builders import opening, run, step

from tracetui.display import MAX_NESTING
from tracetui.model import Run, Step, finalize_run
from tracetui.store import StoreWriter
from tracetui.tui.widgets.lazy_children import (
    PAGE,
    Gap,
    LazyChildren,
    adjacent_failure,
    expandable,
    first_page,
    placeholder,
    position_of_row,
    read_gap,
    read_path,
)


def steps(*ids: str) -> list[Step]:
    return [step(i) for i in ids]


def ids(items) -> list[object]:
    return [item.id if isinstance(item, Step) else item for item in items]


def test_a_first_page_is_followed_by_a_gap_for_the_rest():
    assert ids(first_page("p", steps("a", "b"), 5)) == ["a", "b", Gap("p", 2, 5)]
    assert ids(first_page(None, steps("a", "b"), 2)) == ["a", "b"]


def test_only_a_step_with_children_starts_with_a_placeholder_gap():
    assert placeholder(step("s", child_count=3)) == Gap("s", 0, 3)
    assert placeholder(step("leaf")) is None


def test_at_the_nesting_cap_every_step_below_is_a_flat_child():
    # The last nested level: its placeholder covers its 40 descendants, in execution order.
    cap = step("cap", depth=MAX_NESTING - 1, ord=100, size=41, child_count=2)
    assert placeholder(cap) == Gap("cap", 0, 40, first_ord=101)
    below = step("below", depth=MAX_NESTING + 5, ord=120, size=3, child_count=1)
    assert placeholder(below) is None and not expandable(below)
    # A flat row's descendants follow it as siblings: a gap after it starts right after it.
    assert position_of_row(Gap("cap", 21, 40, first_ord=101), below, cap) == 120
    assert ids(Gap("cap", 0, 40, first_ord=101).fill(10, steps("x", "y"))) == [
        Gap("cap", 0, 10, first_ord=101),
        "x",
        "y",
        Gap("cap", 12, 40, first_ord=101),
    ]


def test_filling_a_gap_keeps_gaps_for_what_was_not_read():
    gap = Gap("p", 10, 20)
    assert gap.count == 10
    # A window from 8 to 13 (offset 8, five steps): 8 and 9 are already shown; 10..12 fill the gap's head.
    assert ids(gap.fill(8, steps("s8", "s9", "s10", "s11", "s12"))) == ["s10", "s11", "s12", Gap("p", 13, 20)]
    assert ids(gap.fill(14, steps("s14", "s15"))) == [Gap("p", 10, 14), "s14", "s15", Gap("p", 16, 20)]
    assert ids(gap.fill(18, steps("s18", "s19", "s20"))) == [Gap("p", 10, 18), "s18", "s19"]
    assert ids(gap.fill(10, steps(*(f"s{i}" for i in range(10, 20))))) == [f"s{i}" for i in range(10, 20)]


def test_steps_that_miss_a_gap_do_not_fill_it():
    gap = Gap("p", 10, 20)
    assert gap.fill(0, steps("a", "b")) is None
    assert gap.fill(20, steps("a")) is None
    assert gap.overlaps(19, 1) and gap.overlaps(5, 6)
    assert not gap.overlaps(5, 5) and not gap.overlaps(20, 3)


def test_nodes_are_indexed_by_step_id_and_by_gap_and_forgotten_again():
    lazy: LazyChildren[str] = LazyChildren()
    gap = Gap("a", 0, 3)
    lazy.add(step("a"), "node-a")
    lazy.add(gap, "node-gap")
    lazy.add(None, "the root")  # neither a step nor a gap: not indexed
    assert lazy.steps == {"a": "node-a"} and lazy.gap_node(gap) == "node-gap"
    lazy.forget(gap)
    lazy.forget(step("a"))
    assert lazy.steps == {} and lazy.gap_node(gap) is None


def test_a_gap_is_read_once_at_a_time():
    lazy: LazyChildren[str] = LazyChildren()
    gap = Gap(None, 500, 900)
    assert lazy.start_reading(gap) and lazy.is_reading(gap)
    assert not lazy.start_reading(gap)
    lazy.done_reading(gap)
    assert not lazy.is_reading(gap) and lazy.start_reading(gap)
    lazy.clear()
    assert not lazy.is_reading(gap)


def test_the_position_of_a_row_in_execution_order():
    parent = step("p", ord=4)
    before = step("b", ord=5, size=3)  # b and its two descendants: positions 5..7
    assert position_of_row(step("s", ord=9), before, parent) == 9
    assert position_of_row(Gap("p", 1, 9), before, parent) == 7  # a gap sits after its previous sibling's subtree
    assert position_of_row(Gap("p", 0, 9), None, parent) == 4
    assert position_of_row(Gap(None, 0, 9), None, None) == -1


def test_next_and_previous_failures_wrap_around():
    failed = [("x", 3, 1), ("y", 8, 2), ("z", 12, 1)]
    assert adjacent_failure(failed, -1, +1) == ("x", False)
    assert adjacent_failure(failed, 3, +1) == ("y", False)
    assert adjacent_failure(failed, 12, +1) == ("x", True)
    assert adjacent_failure(failed, 12, -1) == ("y", False)
    assert adjacent_failure(failed, 3, -1) == ("z", True)
    assert adjacent_failure([], 0, +1) is None


def wide_store(tmp_path):
    """A store of one run: a parent with 3*PAGE children, one of which (returned) has a child of its own."""
    middle = f"c{PAGE + 10}"
    children = [step(f"c{i}", "top") for i in range(3 * PAGE)]
    writer = StoreWriter(str(tmp_path / "wide.db"))
    writer.add(finalize_run(run("wide", step("top"), *children, step("deep", middle), status="failed")))
    writer.finish()
    return opening(str(tmp_path / "wide.db")).connect(), middle


def test_a_gap_reads_one_page_of_its_range(tmp_path):
    store, _ = wide_store(tmp_path)
    try:
        page = read_gap(store, "wide", Gap("top", PAGE, 3 * PAGE))
        tail = read_gap(store, "wide", Gap("top", 3 * PAGE - 2, 3 * PAGE))
    finally:
        store.close()
    assert [s.id for s in page] == [f"c{i}" for i in range(PAGE, 2 * PAGE)]
    assert [s.id for s in tail] == [f"c{3 * PAGE - 2}", f"c{3 * PAGE - 1}"]


def test_a_jump_reads_the_ancestors_and_a_window_of_siblings_around_each_unread_one(tmp_path):
    store, middle = wide_store(tmp_path)
    try:
        chain, windows = read_path(store, "wide", "deep", frozenset({"top"}))
    finally:
        store.close()
    assert chain == ["top", middle, "deep"]
    # "top" is in the tree already; its child `middle` and then "deep" get a window each.
    (parent_a, offset_a, window_a), (parent_b, offset_b, window_b) = windows
    assert (parent_a, offset_a) == ("top", PAGE + 10 - PAGE // 2)
    assert len(window_a) == PAGE and middle in [s.id for s in window_a]
    assert (parent_b, offset_b, [s.id for s in window_b]) == (middle, 0, ["deep"])


def test_a_jump_below_the_nesting_cap_reads_a_window_of_the_flat_steps(tmp_path):
    depth = MAX_NESTING + 600
    r = Run("chain")
    r.steps = [step("s0")] + [step(f"s{i}", f"s{i - 1}") for i in range(1, depth)]
    writer = StoreWriter(str(tmp_path / "chain.db"))
    writer.add(finalize_run(r))
    writer.finish()
    store = opening(str(tmp_path / "chain.db")).connect()
    try:
        chain, windows = read_path(store, "chain", f"s{depth - 1}", frozenset({"s0"}))
        gap = read_gap(store, "chain", Gap(f"s{MAX_NESTING - 1}", 3, 5, first_ord=MAX_NESTING))
    finally:
        store.close()
    cap = f"s{MAX_NESTING - 1}"
    assert chain == [f"s{i}" for i in range(MAX_NESTING)] + [f"s{depth - 1}"]
    parent, offset, window = windows[-1]
    assert parent == cap and offset == 599 - PAGE // 2
    assert [s.id for s in window] == [f"s{MAX_NESTING + offset + i}" for i in range(600 - offset)]
    assert [s.id for s in gap] == [f"s{MAX_NESTING + 3}", f"s{MAX_NESTING + 4}"]
