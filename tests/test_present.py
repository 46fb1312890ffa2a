"""One renderer per concept: status, badges, flags, totals and the run header, for the CLI and the viewer."""

import ast
import pathlib

from builders import run, step
from rich.text import Text

from tracetui import present
from tracetui.compare_text import run_line, step_cell
from tracetui.model import finalize_run
from tracetui.textout import step_segments

HOSTILE = "[bold red]evil[/] [@click=app.quit]x[/]\x1b[31m\x07"
HOSTILE_SHOWN = "[bold red]evil[/] [@click=app.quit]x[/]\\x1b[31m\\x07"
PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "src" / "tracetui"


def styled(text: Text, part: str) -> set[str]:
    """The styles of the spans that cover `part` of text exactly."""
    start = text.plain.index(part)
    return {str(s.style) for s in text.spans if s.start == start and s.end == start + len(part)}


def test_status_reads_without_colour_and_is_styled_from_one_table():
    assert present.status_text("failed").plain == "✗ failed"
    assert styled(present.status_text("failed"), "✗ failed") == {present.STATUS_STYLE["failed"]}
    assert present.status_icon("skipped") == ("⊘ ", present.STATUS_STYLE["skipped"])
    assert present.status_text(None).plain == "? unknown"
    assert present.status_text("weird").plain == "? weird" and styled(present.status_text("weird"), "? weird") == set()


def test_hostile_ids_in_the_run_header_stay_literal_text():
    r = finalize_run(run(HOSTILE, step("a"), agent=HOSTILE, started_at="2026-01-01T00:00:00.000Z", duration_ms=1500))
    head = present.run_header(r)
    assert head.plain == f"✓ completed  run {HOSTILE_SHOWN}  agent {HOSTILE_SHOWN}  started 2026-01-01 00:00:00  1.50s"
    assert "\x1b" not in head.plain and "\x07" not in head.plain
    # Nothing was read as markup: the only styles are the table's, and no span is a link or action.
    assert {str(s.style) for s in head.spans} <= {*present.STYLE.values(), *present.STATUS_STYLE.values()}
    assert styled(head, HOSTILE_SHOWN) == {present.STYLE["id"]}
    # Only the status is in the status colour, not what follows it.
    assert str(head.style) == "" and styled(head, "✓ completed") == {present.STATUS_STYLE["completed"]}


def test_the_run_header_leaves_the_start_out_only_when_asked():
    r = finalize_run(run("r", agent=None, started_at=None))
    assert present.run_header(r).plain == "✓ completed  run r  started -  -"
    assert present.run_header(r, started=False).plain == "✓ completed  run r  -"


def test_step_counts_say_step_or_steps_and_mark_failures():
    assert present.step_counts(finalize_run(run("r", step("a")))).plain == "1 step, 0 failed"
    failed = present.step_counts(finalize_run(run("r", step("a"), step("b", status="failed"))))
    assert failed.plain == "2 steps, 1 failed"
    assert styled(failed, "1 failed") == {present.STYLE["failure"]}


def test_run_totals_in_full_and_short():
    r = finalize_run(run("r", step("a", tokens_in=1200, tokens_out=40, credits=1.5), cost_usd=0.25))
    assert present.run_totals(r).plain == "tokens 1200→40  credits 1.50  cost $0.2500"
    assert present.run_totals(r, short=True).plain == "tok 1200→40  cr 1.50  $0.2500"
    assert present.run_totals(finalize_run(run("empty"))).plain == "tokens -  credits -  cost -"


def test_a_mismatch_names_the_total_and_both_numbers():
    text = present.mismatch_text("credits", 5.0, 3.25)
    assert text.plain == "⚠ credits mismatch: run reports 5, steps sum to 3.25"
    assert str(text.style) == present.STYLE["mismatch"]
    assert present.mismatch_text("cost_usd", 1.5, 0.5).plain.endswith("run reports $1.50, steps sum to $0.5000")


def test_step_badges_in_order_with_the_status_only_when_not_completed():
    s = step("s", branch="else", chosen_branch="then", status="skipped", verdict="Block", score=0.5)
    assert [text for text, _ in present.step_badges(s)] == [
        "(branch else)",
        "chosen: then",
        "⊘ skipped",
        "verdict: Block",
        "score: 0.5",
    ]
    assert present.step_badges(s, compact=True)[0] == ("↳ else", present.STYLE["branch"])
    assert present.step_badges(step("plain")) == []
    assert present.verdict_badge(s) == ("verdict: Block", present.VERDICT_STYLE["block"])


def test_evaluation_outcomes_are_badges():
    def outcome(**extra):
        return present.evaluation_badge(step("e", kind="evaluation", extra=extra))

    assert outcome(retried=True) == ("retry", present.STYLE["retry"])
    assert outcome(passed=True) == ("passed", present.STYLE["passed"])
    assert outcome(passed=False) == ("not passed", present.STYLE["not_passed"])
    assert outcome() is None
    assert present.evaluation_badge(step("t", kind="tool", extra={"passed": True})) is None


def test_a_switch_without_a_match_is_marked_apart_from_a_chosen_branch():
    assert present.chosen_badge(step("s", chosen_branch="no match")) == ("chosen: no match", present.STYLE["no_match"])
    assert present.chosen_badge(step("s", chosen_branch="refund")) == ("chosen: refund", present.STYLE["chosen"])
    assert present.chosen_badge(step("s")) is None


def test_hostile_branch_names_and_flags_stay_literal():
    s = step("s", branch=HOSTILE, chosen_branch=HOSTILE, flags=["orphan", HOSTILE])
    assert present.branch_badge(s) == (f"(branch {HOSTILE_SHOWN})", present.STYLE["branch"])
    assert present.chosen_badge(s) == (f"chosen: {HOSTILE_SHOWN}", present.STYLE["chosen"])
    assert present.flags_badge(s.flags) == (f"⚑ orphan,{HOSTILE_SHOWN}", present.STYLE["flag"])
    assert present.flags_badge([]) is None and present.flags_badge(None) is None


def test_the_cli_tree_line_and_the_compare_cell_draw_the_chosen_branch_alike():
    s = step("gate", kind="control", chosen_branch="then")
    badge = present.chosen_badge(s)
    assert badge in step_segments(s)
    cell = step_cell(s, 0)
    assert styled(cell, badge[0]) == {badge[1]}


def test_the_cli_tree_line_shows_flags_with_the_shared_badge():
    s = step("lost", flags=["orphan", "cycle"])
    assert present.flags_badge(s.flags) in step_segments(s)
    assert "".join(text for text, _ in step_segments(s)).endswith("  ⚑ orphan,cycle")


def test_the_compare_line_is_the_run_header_with_counts_and_short_totals():
    r = finalize_run(run("r", step("a", tokens_in=10, tokens_out=2), agent="bot", duration_ms=2000))
    line = run_line("A", r)
    assert line.plain == "A  ✓ completed  run r  agent bot  2.00s  1 step, 0 failed  tok 10→2  cr -  -"
    assert line.plain.startswith("A  " + present.run_header(r, started=False).plain)


def test_no_module_keeps_its_own_copy_of_a_shared_style_or_formatter():
    shared = {"STATUS_STYLE", "STATUS_STYLES", "VERDICT_STYLE", "FLAG_STYLE", "PSEUDO_STYLE", "PSEUDO_MARK"}
    shared |= {"size_text", "_t", "_fmt_total", "_credits", "TOTAL_LABELS"}
    homes = {"display.py", "present.py"}
    defined = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            defined += [f"{path.relative_to(PACKAGE)}: {n}" for n in names if n in shared and path.name not in homes]
    assert defined == []
