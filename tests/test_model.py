from builders import run, step

from tracetui.analysis import first_failed_step, root_cause
from tracetui.model import FLAG_CYCLE, FLAG_ORPHAN, FLAG_TOTAL_MISMATCH, finalize_run


def ids(r):
    return [s.id for s in r.steps]


def test_steps_are_ordered_depth_first_by_seq_whatever_the_input_order():
    r = finalize_run(run("r", step("b", seq=1), step("a1", "a", seq=0), step("a", seq=0), step("a0", "a", seq=-1)))
    assert ids(r) == ["a", "a0", "a1", "b"]
    assert [s.depth for s in r.steps] == [0, 1, 1, 0]
    assert [s.ord for s in r.steps] == [0, 1, 2, 3]
    assert r.steps[0].size == 3 and r.steps[0].child_count == 2


def test_repeated_step_ids_get_unique_ids_and_keep_the_definition_id():
    r = finalize_run(run("r", step("retry"), step("retry"), step("retry")))
    assert ids(r) == ["retry", "retry#2", "retry#3"]
    assert [s.definition_id for s in r.steps] == [None, "retry", "retry"]


def test_orphan_goes_under_the_root_and_is_flagged():
    r = finalize_run(run("r", step("a"), step("lost", "nowhere")))
    lost = r.steps[1]
    assert lost.parent_id is None and FLAG_ORPHAN in lost.flags
    assert lost.extra["missing_parent_id"] == "nowhere"


def test_parent_cycle_is_broken_at_its_members_and_flagged_keeping_hanging_children():
    r = finalize_run(run("r", step("x", "y"), step("y", "x"), step("kid", "x"), step("ok")))
    by = {s.id: s for s in r.steps}
    assert FLAG_CYCLE in by["x"].flags and FLAG_CYCLE in by["y"].flags
    assert by["x"].parent_id is None and by["y"].parent_id is None
    assert by["kid"].parent_id == "x" and FLAG_CYCLE not in by["kid"].flags
    assert len(r.steps) == 4


def test_self_parent_is_treated_as_orphan():
    r = finalize_run(run("r", step("me", "me")))
    assert r.steps[0].parent_id is None and FLAG_ORPHAN in r.steps[0].flags


def test_subtree_totals_and_run_sums():
    r = finalize_run(
        run(
            "r",
            step("a", tokens_in=10, credits=1.0),
            step("b", "a", tokens_in=5, tokens_out=7, cost_usd=0.5),
            step("c", tokens_in=1),
            credits=1.0,
        )
    )
    a = r.steps[0]
    assert (a.sub_tokens_in, a.sub_tokens_out, a.sub_credits, a.sub_cost_usd) == (15, 7, 1.0, 0.5)
    assert (r.steps_tokens_in, r.steps_tokens_out, r.steps_credits, r.steps_cost_usd) == (16, 7, 1.0, 0.5)
    assert r.total("tokens_in") == 16 and r.total("credits") == 1.0
    assert not r.mismatches


def test_reported_total_that_disagrees_with_steps_is_kept_and_flagged():
    r = finalize_run(run("r", step("a", credits=2.0), step("b", credits=3.0), credits=9.0))
    assert r.total("credits") == 9.0
    assert r.mismatches == {"credits": (9.0, 5.0)}
    assert FLAG_TOTAL_MISMATCH in r.flags


def test_no_step_values_means_no_sum_rather_than_zero():
    r = finalize_run(run("r", step("a"), tokens_in=4))
    assert r.steps_tokens_in is None and r.total("tokens_in") == 4 and not r.mismatches


def test_first_failed_step_descends_to_the_root_cause():
    r = finalize_run(
        run(
            "r",
            step("ok"),
            step("agent", status="failed"),
            step("llm", "agent"),
            step("tool", "agent", status="failed"),
            step("http", "tool", status="timeout"),
            step("later", status="failed"),
        )
    )
    assert first_failed_step(r.steps).id == "http"


def test_first_failed_step_stays_on_the_earliest_when_descendants_did_not_fail():
    r = finalize_run(run("r", step("a", status="failed"), step("a1", "a"), step("b", status="failed")))
    assert first_failed_step(r.steps).id == "a"


def test_recovered_tool_error_in_a_completed_run_counts():
    r = finalize_run(
        run("r", step("llm"), step("tool", "llm", status="failed"), step("retry", "llm"), status="completed")
    )
    assert r.failed_steps == 1
    assert first_failed_step(r.steps).id == "tool"


def test_root_cause_of_no_failures_is_none():
    assert root_cause([]) is None
    assert first_failed_step(finalize_run(run("r", step("a"))).steps) is None
