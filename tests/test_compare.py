import random
import sys

from builders import run, step

from tracetui.compare import (
    CHANGED,
    DP_LIMIT,
    ONLY_A,
    ONLY_B,
    SAME,
    align_keys,
    compare_runs,
)
from tracetui.model import Run, finalize_run


def both(a: Run, b: Run):
    return compare_runs(finalize_run(a), finalize_run(b))


def rows(comparison):
    """(A step id, B step id, depth, mark) per pair."""
    return [(p.a.id if p.a else None, p.b.id if p.b else None, p.depth, p.mark) for p in comparison.pairs]


def agent_run(run_id, *extra_steps, **fields):
    """plan → search → answer, the shape most tests vary."""
    return run(
        run_id,
        step("plan", kind="llm", output="the plan", tokens_in=100, tokens_out=20, duration_ms=100),
        step("search", kind="tool", output="3 hits", duration_ms=300),
        step("answer", kind="llm", output="42", tokens_in=200, tokens_out=10, duration_ms=50),
        *extra_steps,
        **fields,
    )


def test_identical_runs_align_step_for_step_with_no_divergence():
    result = both(agent_run("a"), agent_run("b"))
    assert rows(result) == [
        ("plan", "plan", 0, SAME),
        ("search", "search", 0, SAME),
        ("answer", "answer", 0, SAME),
    ]
    assert result.first_divergence is None
    assert result.differences == []
    assert all(p.changes == [] and p.branch is None for p in result.pairs)
    assert result.pairs[0].deltas == {
        "duration_ms": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "credits": None,
        "cost_usd": None,
    }


def test_an_inserted_step_is_only_in_b_and_later_rows_stay_aligned():
    a = agent_run("a")
    b = run(
        "b",
        step("plan", kind="llm", output="the plan", tokens_in=100, tokens_out=20),
        step("check", kind="tool"),
        step("search", kind="tool", output="3 hits"),
        step("answer", kind="llm", output="42", tokens_in=200, tokens_out=10),
    )
    result = both(a, b)
    assert [(x, y, m) for x, y, _, m in rows(result)] == [
        ("plan", "plan", SAME),
        (None, "check", ONLY_B),
        ("search", "search", SAME),
        ("answer", "answer", SAME),
    ]
    assert result.first_divergence == 1


def test_a_deleted_step_is_only_in_a():
    a = agent_run("a")
    b = run(
        "b",
        step("plan", kind="llm", output="the plan", tokens_in=100, tokens_out=20),
        step("answer", kind="llm", output="42", tokens_in=200, tokens_out=10),
    )
    result = both(a, b)
    assert [(x, y, m) for x, y, _, m in rows(result)] == [
        ("plan", "plan", SAME),
        ("search", None, ONLY_A),
        ("answer", "answer", SAME),
    ]


def test_a_retried_step_pairs_the_attempts_that_agree_and_leaves_the_failed_one_unmatched():
    a = run(
        "a",
        step("s1", name="search", kind="tool", status="failed", error="rate limited"),
        step("s2", name="search", kind="tool", output="3 hits"),
        step("answer", kind="llm"),
    )
    b = run("b", step("s1", name="search", kind="tool", output="3 hits"), step("answer", kind="llm"))
    result = both(a, b)
    assert [(x, y, m) for x, y, _, m in rows(result)] == [
        ("s1", None, ONLY_A),
        ("s2", "s1", SAME),
        ("answer", "answer", SAME),
    ]
    assert result.first_divergence == 0


def test_a_step_that_fails_in_b_without_a_retry_is_changed():
    a = run("a", step("s1", name="search", kind="tool", output="3 hits"), step("answer", kind="llm"))
    b = run(
        "b", step("s1", name="search", kind="tool", status="failed", error="rate limited"), step("answer", kind="llm")
    )
    result = both(a, b)
    assert [(x, y, m) for x, y, _, m in rows(result)] == [("s1", "s1", CHANGED), ("answer", "answer", SAME)]
    assert result.pairs[0].changes == ["status", "output", "error"]


def test_a_different_branch_is_flagged_as_a_branch_divergence():
    def gated(run_id, chosen, child):
        return run(
            run_id,
            step("gate", kind="control", raw_type="if_else", chosen_branch=chosen),
            step(child, "gate", kind="tool", branch=chosen),
            step("answer", kind="llm"),
        )

    result = both(gated("a", "then", "search"), gated("b", "else", "ask_user"))
    assert [(x, y, d, m) for x, y, d, m in rows(result)] == [
        ("gate", "gate", 0, CHANGED),
        ("search", None, 1, ONLY_A),
        (None, "ask_user", 1, ONLY_B),
        ("answer", "answer", 0, SAME),
    ]
    gate = result.pairs[0]
    assert gate.branch == {"a": "then", "b": "else"}
    assert gate.changes == ["chosen_branch"]
    assert result.pairs[3].branch is None


def test_different_nesting_keeps_the_matched_parent_and_splits_the_rest():
    a = run("a", step("agent", kind="agent"), step("search", kind="tool"), step("answer", kind="llm"))
    b = run("b", step("agent", kind="agent"), step("search", "agent", kind="tool"), step("answer", kind="llm"))
    result = both(a, b)
    assert rows(result) == [
        ("agent", "agent", 0, SAME),
        (None, "search", 1, ONLY_B),
        ("search", None, 0, ONLY_A),
        ("answer", "answer", 0, SAME),
    ]


def test_an_empty_run_puts_every_step_of_the_other_on_its_own_side_with_subtrees():
    a = run("a", step("agent", kind="agent"), step("search", "agent", kind="tool"), step("answer", kind="llm"))
    result = both(a, run("b"))
    assert rows(result) == [
        ("agent", None, 0, ONLY_A),
        ("search", None, 1, ONLY_A),
        ("answer", None, 0, ONLY_A),
    ]
    assert all(v is None for v in result.pairs[0].deltas.values())
    flipped = both(run("b"), a)
    assert [(x, y, m) for x, y, _, m in rows(flipped)] == [
        (None, "agent", ONLY_B),
        (None, "search", ONLY_B),
        (None, "answer", ONLY_B),
    ]
    assert both(run("x"), run("y")).pairs == []


def test_loop_repeats_align_in_order_and_an_extra_iteration_is_only_in_b():
    def looped(run_id, iterations):
        steps = [step("loop", kind="control", raw_type="for_each")]
        for _ in range(iterations):
            steps += [step("think", "loop", kind="llm"), step("act", "loop", kind="tool")]
        return run(run_id, *steps)

    result = both(looped("a", 3), looped("b", 4))
    assert [(x, y, m) for x, y, _, m in rows(result)] == [
        ("loop", "loop", SAME),
        ("think", "think", SAME),
        ("act", "act", SAME),
        ("think#2", "think#2", SAME),
        ("act#2", "act#2", SAME),
        ("think#3", "think#3", SAME),
        ("act#3", "act#3", SAME),
        (None, "think#4", ONLY_B),
        (None, "act#4", ONLY_B),
    ]


def test_numbers_change_only_beyond_the_tolerance_and_missing_counts_as_changed():
    def one(run_id, **fields):
        return run(run_id, step("llm", kind="llm", **fields))

    def changes(a_fields, b_fields):
        return both(one("a", **a_fields), one("b", **b_fields)).pairs[0].changes

    assert changes({"tokens_in": 1000}, {"tokens_in": 1040}) == []  # 4%
    assert changes({"tokens_in": 1000}, {"tokens_in": 1200}) == ["tokens_in"]
    assert changes({"tokens_out": 2}, {"tokens_out": 9}) == []  # 350% but only 7 tokens
    assert changes({"credits": 1.0}, {"credits": 1.5}) == ["credits"]
    assert changes({"cost_usd": 0.00001}, {"cost_usd": 0.00005}) == []
    assert changes({"tokens_in": 10}, {}) == ["tokens_in"]
    assert changes({"duration_ms": 10}, {"duration_ms": 9000}) == []  # timing never marks a change


def test_deltas_are_b_minus_a_and_none_where_a_side_lacks_the_number():
    a = run("a", step("llm", kind="llm", duration_ms=100, tokens_in=10, credits=2.0), duration_ms=1000, tokens_in=10)
    b = run("b", step("llm", kind="llm", duration_ms=250, tokens_in=4, cost_usd=0.5), duration_ms=800)
    result = both(a, b)
    assert result.pairs[0].deltas == {
        "duration_ms": 150,
        "tokens_in": -6,
        "tokens_out": None,
        "credits": None,
        "cost_usd": None,
    }
    assert result.deltas["duration_ms"] == -200
    assert result.deltas["tokens_in"] == -6  # B has no run total: the sum of its steps
    assert result.deltas["step_count"] == 0


def test_pairs_come_in_pre_order_with_matched_children_under_their_parent():
    def tree(run_id, leaf_output):
        return run(
            run_id,
            step("agent", kind="agent"),
            step("plan", "agent", kind="llm"),
            step("tool", "agent", kind="tool", output=leaf_output),
            step("done", kind="llm"),
        )

    result = both(tree("a", "x"), tree("b", "y"))
    assert rows(result) == [
        ("agent", "agent", 0, SAME),
        ("plan", "plan", 1, SAME),
        ("tool", "tool", 1, CHANGED),
        ("done", "done", 0, SAME),
    ]
    assert result.first_divergence == 2
    assert result.counts() == {SAME: 3, CHANGED: 1, ONLY_A: 0, ONLY_B: 0}


def _check_ops(ops, n, m):
    assert [i for i, _ in ops if i is not None] == list(range(n))
    assert [j for _, j in ops if j is not None] == list(range(m))


def _lcs_length(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def test_small_alignments_are_exact_longest_common_subsequences():
    rng = random.Random(7)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randrange(0, 12))]
        b = [rng.choice("abcd") for _ in range(rng.randrange(0, 12))]
        ties = ([rng.choice("xy") for _ in a], [rng.choice("xy") for _ in b])
        for tie in (None, ties):
            ops = align_keys(a, b, tie)
            _check_ops(ops, len(a), len(b))
            matched = [(i, j) for i, j in ops if i is not None and j is not None]
            assert all(a[i] == b[j] for i, j in matched)
            assert len(matched) == _lcs_length(a, b)  # ties never cost a match


def test_huge_sibling_lists_still_align_around_an_insertion_and_a_deletion():
    n = 3000
    assert n * n > DP_LIMIT  # the heuristic path, not the exact one
    a = [f"step-{i}" for i in range(n)]
    b = a[:10] + ["new"] + a[10:2000] + a[2001:]
    ops = align_keys(a, b)
    _check_ops(ops, len(a), len(b))
    unmatched = [(i, j) for i, j in ops if i is None or j is None]
    assert unmatched == [(None, 10), (2000, None)]


def test_huge_loops_of_repeated_keys_stay_aligned_around_scattered_differences():
    a = ["llm", "tool"] * 1500
    b = a[:301] + ["ask_user"] + a[301:2500] + a[2502:]  # one step more early on, one round less later
    ops = align_keys(a, b)
    _check_ops(ops, len(a), len(b))
    matched = [(i, j) for i, j in ops if i is not None and j is not None]
    assert all(a[i] == b[j] for i, j in matched)
    assert len(matched) == len(a) - 2  # as many as an exact LCS
    assert [j for i, j in ops if i is None] == [301]


def test_a_very_deep_chain_aligns_without_recursion():
    depth = sys.getrecursionlimit() + 500
    a = run("a", *[step(f"s{i}", f"s{i - 1}" if i else None, name="nested", kind="agent") for i in range(depth)])
    b = run("b", *[step(f"s{i}", f"s{i - 1}" if i else None, name="nested", kind="agent") for i in range(depth)])
    result = both(a, b)
    assert len(result.pairs) == depth
    assert result.pairs[-1].depth == depth - 1
    assert result.first_divergence is None
