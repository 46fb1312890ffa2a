"""The bundled sample traces: each opens cleanly, shows what the README promises, is exactly what
generate.py writes, and shows its hostile strings literally in the CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracetui.analysis import first_failed_step
from tracetui.cli import main
from tracetui.loading import open_store
from tracetui.model import RUN_STATUSES, STEP_STATUSES

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces"
GENERATOR = SAMPLES / "generate.py"

# file -> (detected format, number of runs)
EXPECTED = {
    "export.jsonl": ("export", 15),
    "export.json": ("export", 4),
    "traces.db": ("tracetui-sqlite", 15),
    "agent_traces.db": ("agent-traces", 20),
    "events.jsonl": ("events", 5),
}
TEXT_FILES = ("export.jsonl", "export.json", "events.jsonl")
MARKUP = ("[bold]", "[/tool_call]", "[@click=app.quit]x[/]")


def generate(out: Path) -> Path:
    done = subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def table_rows(db: Path, table: str, order: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    finally:
        conn.close()


def db_contents(db: Path) -> dict[str, list[tuple]]:
    """What a sample database holds, without the file's incidental bytes (page layout, import meta)."""
    if db.name == "agent_traces.db":
        return {"agent_traces": table_rows(db, "agent_traces", "rowid")}
    return {"runs": table_rows(db, "runs", "id"), "steps": table_rows(db, "steps", "run_id, ord")}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("fresh"))


@pytest.fixture
def store():
    opened = []

    def open_sample(name: str):
        s = open_store(str(SAMPLES / name))
        opened.append(s)
        return s

    yield open_sample
    for s in opened:
        s.close()


@pytest.mark.parametrize("name", EXPECTED)
def test_every_sample_opens_as_its_format_with_all_runs_and_no_problems(name, store):
    fmt, runs = EXPECTED[name]
    s = store(name)
    assert s.source_format == fmt
    assert s.count_runs() == runs
    assert [str(p) for p in s.problems()] == []


def test_generator_writes_the_same_bytes_every_time(tmp_path):
    first, second = generate(tmp_path / "a"), generate(tmp_path / "b")
    for name in TEXT_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in ("agent_traces.db", "traces.db"):
        assert db_contents(first / name) == db_contents(second / name), name


@pytest.mark.parametrize("name", TEXT_FILES)
def test_committed_text_samples_are_what_the_generator_writes(name, fresh):
    assert (SAMPLES / name).read_bytes() == (fresh / name).read_bytes()


@pytest.mark.parametrize("name", ["agent_traces.db", "traces.db"])
def test_committed_databases_hold_what_the_generator_writes(name, fresh):
    # traces.db is tracetui's import of export.jsonl: after a change to that import, regenerate it.
    assert db_contents(SAMPLES / name) == db_contents(fresh / name), "run: python sample_traces/generate.py"


def test_the_export_json_is_pretty_printed_envelope():
    text = (SAMPLES / "export.json").read_text()
    assert text.startswith('{\n  "export_type": "agent_traces",\n  "exported_at": ')
    assert '\n  "runs": [\n' in text


def test_events_lines_interleave_runs_and_put_children_before_parents():
    import orjson

    lines = [orjson.loads(line) for line in (SAMPLES / "events.jsonl").read_bytes().splitlines()]
    run_order = [line["run_id"] for line in lines]
    switches = sum(1 for a, b in zip(run_order, run_order[1:], strict=False) if a != b)
    assert switches > len(set(run_order))  # more run changes than runs: the lines interleave
    position = {(line["run_id"], line["step_id"]): i for i, line in enumerate(lines)}
    assert any(line["parent_id"] and position[(line["run_id"], line["parent_id"])] > i for i, line in enumerate(lines))


# -- the samples cover what the README promises -----------------------------------------------


def all_steps(s, run_ids=None):
    for run_id in run_ids or s.run_ids():
        yield from s.steps(run_id)


def test_samples_cover_every_run_and_step_status(store):
    run_statuses = set()
    for name in ("export.jsonl", "agent_traces.db", "events.jsonl"):
        run_statuses |= {r.status for r in store(name).list_runs()}
    assert run_statuses >= set(RUN_STATUSES)
    assert {step.status for step in all_steps(store("export.jsonl"))} >= set(STEP_STATUSES)


def test_export_covers_every_kind_of_branch_choice(store):
    chosen = {s.chosen_branch for s in all_steps(store("export.jsonl")) if s.chosen_branch}
    assert chosen >= {"then", "else", "refund", "no match"}


def test_untaken_branches_are_skipped_and_continuations_follow_the_switch(store):
    steps = {s.id: s for s in store("export.jsonl").steps("run-0003-support-refund")}
    route = next(s for s in steps.values() if s.kind == "control")
    branches = {s.branch: s.status for s in steps.values() if s.parent_id == route.id and s.branch}
    assert branches["refund"] == "completed"
    assert branches["billing"] == branches["shipping"] == branches["else"] == "skipped"
    continuation = [s for s in steps.values() if s.parent_id == route.id and not s.branch]
    assert [s.kind for s in continuation] == ["llm", "governance"]


def test_export_has_every_pseudo_step_kind_with_a_block_and_a_retry(store):
    steps = list(all_steps(store("export.jsonl")))
    assert {s.raw_type for s in steps if s.kind == "scan"} == {"input_scan", "output_scan"}
    block = next(s for s in steps if s.kind == "governance" and s.verdict == "block")
    assert block.policy == "payments.max_amount" and block.confidence == pytest.approx(0.97)
    retried = [s for s in steps if s.kind == "evaluation" and s.run_id == "run-0008-writer-eval-retry"]
    assert [s.score for s in retried] == [pytest.approx(0.42), pytest.approx(0.91)]
    assert retried[1].definition_id == "evaluate"


def test_a_recovered_tool_error_and_a_nested_failure_are_found(store):
    s = store("export.jsonl")
    recovered = s.run_tree("run-0009-research-recovered")
    assert recovered.status == "completed"
    assert "503" in first_failed_step(recovered.steps).error
    nested = s.run_tree("run-0010-research-nested-failure")
    cause = first_failed_step(nested.steps)
    assert cause.depth == 2 and "TLS handshake" in cause.error


def test_a_run_has_no_steps_and_one_a_200_kb_payload(store):
    s = store("export.jsonl")
    assert s.get_run("run-0014-writer-no-steps").step_count == 0
    biggest = max(len(step.output or "") for step in s.steps("run-0009-research-recovered", payloads=True))
    assert biggest >= 200 * 1024


def test_the_two_research_runs_have_the_same_steps_but_a_branch_and_a_tool_error(store):
    s = store("export.jsonl")
    first, rerun = (s.steps(r) for r in ("run-0001-research", "run-0002-research-rerun"))
    top = [[(x.name, x.kind) for x in steps if x.depth == 0] for steps in (first, rerun)]
    assert top[0] == top[1]
    assert {x.chosen_branch for x in first} - {None} == {"then"}
    assert {x.chosen_branch for x in rerun} - {None} == {"else"}
    assert not any(x.failed for x in first) and any(x.failed for x in rerun)


def test_agent_traces_sample_has_circuit_breaker_events_timeouts_and_tool_errors(store):
    s = store("agent_traces.db")
    events = [e for run_id in s.run_ids() for e in s.get_run(run_id).events]
    assert {(e["provider"], e["to_state"]) for e in events} >= {("openai", "open"), ("openai", "closed")}
    assert {"timeout", "failed"} <= {r.status for r in s.list_runs()}
    recovered = s.run_tree("turn-0003")
    assert recovered.status == "completed" and recovered.failed_steps == 1


def test_events_sample_has_a_run_failed_by_an_error_event(store):
    s = store("events.jsonl")
    assert s.get_run("ev-0003-codefix-error").status == "failed"
    assert s.get_run("ev-0002-codefix").status == "completed"


# -- hostile strings stay literal in the CLI --------------------------------------------------

# (sample, run, the markup `list` shows for it: the columns it prints hold only some of the strings)
HOSTILE_RUNS = [
    ("export.jsonl", "run-0015-hostile-payloads", MARKUP),
    ("traces.db", "run-0015-hostile-payloads", MARKUP),
    ("agent_traces.db", "turn-0019", MARKUP),
    ("events.jsonl", "ev-0005-hostile", ("[bold]",)),  # only the agent name is a list column here
]


def assert_literal(output: str, markup=MARKUP) -> None:
    for text in markup:
        assert text in output
    assert "\\x1b" in output  # ESC made visible as four characters
    assert "\x1b" not in output and "\x07" not in output  # and never sent to the terminal


@pytest.mark.parametrize("name, run_id, markup", HOSTILE_RUNS)
def test_hostile_strings_are_shown_literally_by_list(name, run_id, markup):
    result = CliRunner().invoke(main, ["list", str(SAMPLES / name), "--search", run_id])
    assert result.exit_code == 0, result.output
    assert run_id in result.output
    assert_literal(result.output, markup)


@pytest.mark.parametrize("name, run_id", [h[:2] for h in HOSTILE_RUNS])
def test_hostile_strings_are_shown_literally_by_show(name, run_id):
    result = CliRunner().invoke(main, ["show", str(SAMPLES / name), run_id])
    assert result.exit_code == 0, result.output
    assert_literal(result.output)


@pytest.mark.parametrize("name", EXPECTED)
def test_no_sample_sends_escape_characters_to_the_terminal(name):
    result = CliRunner().invoke(main, ["list", str(SAMPLES / name)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
