"""The Markdown of a run (run_markdown.py): well-formed and literal whatever the trace holds.

Every check parses the Markdown with a real CommonMark parser (markdown-it-py, which Rich depends on)
and looks at what it understood: the payloads must come back, exactly and only, as the contents of
fenced blocks; nothing from the trace may become a link, emphasis, HTML or a heading.
"""

import re

import pytest
from builders import run, step, write_jsonl
from markdown_it import MarkdownIt

from tracetui import display
from tracetui.loading import prepare
from tracetui.payload import make_payload
from tracetui.run_markdown import ESTIMATE_NOTE, code, fence, run_markdown

# What a hostile trace puts in its payloads: fences of every length, Markdown, HTML, Rich markup,
# ANSI colours, an OSC 52 clipboard write, a terminal title, bidi overrides, a CR that would end a line.
FENCE_BREAKER = "before\n```\n# not a heading\n````json\n<script>alert(1)</script>\n`````\nafter"
MARKUP = "[bold red]red[/] [@click=app.quit]quit[/] **strong** _em_ [link](javascript:alert(1)) <b>html</b> &amp;"
ESCAPES = "\x1b[31mred\x1b[0m \x1b]52;c;aGk=\x07 \x1b]0;title\x1b\\ \u202egnp.exe\r\nnext\x00"
HOSTILE_NAME = "`tick` **name** <i>x</i> [a](b) \x1b[2J"


def hostile_run():
    return run(
        "run `1` <b>",
        step("plan", kind="llm", model="gpt-4o-mini", tokens_in=100, tokens_out=10, input=FENCE_BREAKER),
        step(
            "tool-1",
            "plan",
            name=HOSTILE_NAME,
            kind="tool",
            status="failed",
            error=ESCAPES,
            input='{"cmd": "```rm -rf /```", "note": "[/]"}',
            output=MARKUP,
        ),
        step("after", status="skipped"),
        agent="agent *x*",
        status="failed",
        error="run failed: " + MARKUP,
        input="question ``` with a fence",
        started_at="2026-01-01T00:00:00.000Z",
        duration_ms=1234.0,
    )


def stored(tmp_path, runs):
    """A real store holding `runs`, imported (and priced) as `tracetui import` would; the format is
    named, since a huge or deeply nested first run hides it from detection."""
    src = write_jsonl(tmp_path / "runs.jsonl", runs)
    prepare(src, fmt="tracetui-jsonl", output=str(tmp_path / "t.db")).run_import()
    return prepare(str(tmp_path / "t.db")).connect()


def parse(markdown: str):
    md = MarkdownIt("commonmark")
    tokens = md.parse(markdown)
    inline = [child for t in tokens if t.type == "inline" for child in t.children or ()]
    return tokens, inline


def fences(tokens) -> list[str]:
    return [t.content.removesuffix("\n") for t in tokens if t.type == "fence"]


def test_hostile_payloads_come_back_exactly_as_fenced_blocks(tmp_path):
    store = stored(tmp_path, [hostile_run()])
    r = store.run_tree("run `1` <b>")
    text = run_markdown(r, max_payload=0)
    tokens, inline = parse(text)
    blocks = fences(tokens)
    for raw in (FENCE_BREAKER, ESCAPES, MARKUP, "run failed: " + MARKUP, "question ``` with a fence"):
        assert make_payload(raw).text in blocks, raw
    assert make_payload('{"cmd": "```rm -rf /```", "note": "[/]"}').text in blocks
    # Nothing from the trace was read as Markdown or HTML: no link, image, HTML, or emphasis but ours.
    kinds = {t.type for t in tokens} | {c.type for c in inline}
    assert not kinds & {"link_open", "image", "html_inline", "html_block", "s_open"}
    emphasis = {inline[i + 1].content for i, c in enumerate(inline) if c.type == "em_open"}
    assert emphasis == {ESTIMATE_NOTE}
    strong = {inline[i + 1].content for i, c in enumerate(inline) if c.type == "strong_open"}
    ours = {"agent:", "model:", "started:", "duration:", "steps:", "tokens:", "cost:", "first failure:", "id:"}
    assert strong == ours | {"◀ first failure:", "Error", "Input", "Output"}
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "✗ failed · run `run `1` <b>`".replace("`run `1` <b>`", code("run `1` <b>"))
    assert headings[1] == "Steps"
    # Terminal escapes were made visible, never passed on.
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\r" not in text
    assert "\\x1b[31mred" in text and "\\u202egnp.exe" in text


def test_names_and_ids_are_inline_code_shown_literally(tmp_path):
    store = stored(tmp_path, [hostile_run()])
    text = run_markdown(store.run_tree("run `1` <b>"))
    _, inline = parse(text)
    spans = {c.content for c in inline if c.type == "code_inline"}
    assert display.clip(HOSTILE_NAME) in spans
    assert "run `1` <b>" in spans and "agent *x*" in spans and "gpt-4o-mini" in spans


@pytest.mark.parametrize(
    "value",
    ["`", "``", "a`b", "`lead", "trail`", " spaced ", "   ", "x ``` y", "<b>", "\\", "a  b"],
)
def test_a_code_span_holds_any_value(value):
    _, inline = parse(f"x {code(value)} y")
    assert [c.content for c in inline if c.type == "code_inline"] == [display.clip(value)]


@pytest.mark.parametrize("text", ["", "```", "````x", "a\n```\nb", "`" * 40, "~~~\nx"])
def test_a_fence_holds_any_text(text):
    tokens, _ = parse(fence(text) + "\n\nafter")
    assert fences(tokens) == [text]
    assert tokens[-2].content == "after"


def test_long_payloads_are_cut_with_a_note(tmp_path):
    big = "\n".join(f"line {i} " + "x" * 50 for i in range(2000))
    store = stored(tmp_path, [run("r", step("s", output=big))])
    r = store.run_tree("r")
    text = run_markdown(r, max_payload=1000)
    tokens, _ = parse(text)
    (block,) = fences(tokens)[1:]  # the first fence is the step tree
    assert len(block) <= 1000 and big.startswith(block) and block.endswith("x")  # ends on a whole line
    assert re.search(r"\*… cut: [\d.]+ KB more \([\d,]+ more lines\); `--max-payload` sets how much", text)
    whole = run_markdown(r, max_payload=0)
    assert big in fences(parse(whole)[0]) and "cut:" not in whole


def test_outline_numbers_steps_and_marks_the_first_failure(tmp_path):
    store = stored(tmp_path, [hostile_run()])
    text = run_markdown(store.run_tree("run `1` <b>"))
    tokens, _ = parse(text)
    outline = fences(tokens)[2]  # after the run's error and input
    lines = outline.split("\n")
    assert lines[0].startswith("1 ├─ ✓ plan  [llm]")
    assert lines[1].startswith("2 │  └─ ✗ ") and lines[1].endswith("◀ first failure")
    assert lines[2].startswith("3 └─ ⊘ after")
    assert "- **first failure:** step 2, " in text
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[2:] == ["1 · ✓ completed · `plan` · llm", f"2 · ✗ failed · {code(HOSTILE_NAME)} · tool"]


def test_a_subtree_has_only_its_steps_and_their_totals(tmp_path):
    store = stored(tmp_path, [hostile_run()])
    r = store.get_run("run `1` <b>")
    top = store.subtree(r.id, "plan")
    text = run_markdown(r, top=top, models=["gpt-4o-mini"])
    tokens, _ = parse(text)
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0] == "✓ completed · step `plan` · llm"
    assert "after" not in fences(tokens)[0] and "run failed" not in text
    assert "- **steps:** 2 steps, 1 failed" in text and "- **tokens:** 100→10" in text
    assert f"- **run:** {code(r.id)} (✗ failed)" in text


def test_estimated_costs_are_marked_and_reported_ones_are_not(tmp_path):
    call = step("call", kind="llm", model="gpt-4o-mini", tokens_in=1000, tokens_out=100)
    store = stored(tmp_path, [run("r", call), run("p", step("call", cost_usd=0.5))])
    text = run_markdown(store.run_tree("r"))
    assert re.search(r"- \*\*cost:\*\* ≈\$0\.\d+", text)
    assert "*≈: estimated by tracetui from a price table, not reported by the source*" in text
    reported = run_markdown(store.run_tree("p"))
    assert "- **cost:** $0.5000" in reported and "≈" not in reported


def test_a_run_nested_thousands_deep_is_written(tmp_path):
    steps = [step("s0")] + [step(f"s{i}", f"s{i - 1}") for i in range(1, 3000)]
    store = stored(tmp_path, [run("deep", *steps)])
    text = run_markdown(store.run_tree("deep"))
    tokens, _ = parse(text)
    outline = fences(tokens)[0].split("\n")
    assert len(outline) == 3000 and "↳ depth 2,999" in outline[-1]
    assert max(len(line) for line in outline) < 200


def test_no_steps(tmp_path):
    store = stored(tmp_path, [run("empty", status="completed")])
    text = run_markdown(store.run_tree("empty"))
    assert "## Steps\n\n(no steps)\n" in text


def test_long_ids_are_cut_in_titles_and_whole_where_they_are_listed(tmp_path):
    run_id, step_id = "run-" + "r" * 200, "step-" + "s" * 200
    store = stored(tmp_path, [run(run_id, step(step_id, error="boom"), status="failed")])
    r = store.run_tree(run_id)
    _, inline = parse(run_markdown(r))
    spans = [c.content for c in inline if c.type == "code_inline"]
    assert display.clip(run_id) in spans and run_id in spans and step_id in spans
    _, inline = parse(run_markdown(r, top=store.subtree(run_id, step_id)))
    assert run_id in [c.content for c in inline if c.type == "code_inline"]
