"""The detection matrix: every fixture and sample file is claimed by exactly one format, the one we expect.

So detection order (PRIORITY) never decides silently: for these files no other format's sniff
says yes too. A new fixture or sample file must get a row here; every format has at least one row.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tracetui import sources
from tracetui.loading import open_store
from tracetui.sources import tracetui_jsonl

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ROOT / "tests" / "fixtures" / "frameworks"
SAMPLES = ROOT / "sample_traces"
AGENTS = ROOT / "tests" / "fixtures" / "agents"
# Coding-agent sessions keep the folders their tools write (projects/, sessions/YYYY/MM/DD/, tmp/<hash>/chats/).
SESSION_FOLDERS = [AGENTS / "claude", AGENTS / "codex", AGENTS / "gemini"]
# ATIF and the databases: one folder each, beside the scripts that made them.
AGENT_FILE_FOLDERS = [AGENTS / "atif", AGENTS / "mlflow", AGENTS / "opencode", AGENTS / "phoenix"]
GEMINI = "tests/fixtures/agents/gemini/tmp/e828acfc792e3bbcd2a6c6c35323cb44b7b438741c168c8ec59aefe347f193bb/chats"

EXPECTED: dict[str, str | None] = {
    "sample_traces/agent_traces.db": "agent-traces",
    "sample_traces/events.jsonl": "events",
    "sample_traces/export.json": "export",
    "sample_traces/export.jsonl": "export",
    "sample_traces/traces.db": "tracetui-sqlite",
    "tests/fixtures/frameworks/inspect_ai_eval.json": "inspect-ai",
    "tests/fixtures/frameworks/langfuse_observations.jsonl": "langfuse",
    "tests/fixtures/frameworks/langfuse_trace.json": "langfuse",
    "tests/fixtures/frameworks/langfuse_traces.jsonl": "langfuse",
    "tests/fixtures/frameworks/langgraph_openinference.jsonl": "otlp",
    "tests/fixtures/frameworks/langsmith_runs.jsonl": "langsmith",
    "tests/fixtures/frameworks/openai_agents_traces.jsonl": "openai-agents",
    "tests/fixtures/frameworks/pydantic_ai_console.txt": "otlp",
    "tests/fixtures/frameworks/pydantic_ai_openinference.jsonl": "otlp",
    "tests/fixtures/frameworks/pydantic_ai_otlp.jsonl": "otlp",
    "tests/fixtures/frameworks/pydantic_ai_otlp_pretty.json": "otlp",
    "tests/fixtures/frameworks/smolagents_runs.jsonl": "smolagents",
    "tests/fixtures/agents/claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01.jsonl": "claude-code",
    "tests/fixtures/agents/claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01/subagents/agent-a9f3c2e1b0d4c5e6f.jsonl": "claude-code",
    # A subagent's meta file is read with its session, never on its own: no format claims it.
    "tests/fixtures/agents/claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01/subagents/agent-a9f3c2e1b0d4c5e6f.meta.json": None,
    "tests/fixtures/agents/claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02.jsonl": "claude-code",
    "tests/fixtures/agents/claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e03.jsonl": "claude-code",
    "tests/fixtures/agents/claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e04.jsonl": "claude-code",
    "tests/fixtures/agents/claude/projects/-home-dev-shop/agent-5e6f7a8b.jsonl": "claude-code",
    "tests/fixtures/agents/codex/sessions/2025/08/18/rollout-2025-08-18T10-00-00-5d2c7f3e-0000-4000-8000-000000000002.jsonl": (
        "codex"
    ),
    "tests/fixtures/agents/codex/sessions/2026/01/03/rollout-2026-01-03T10-00-00-019b8a10-0000-7000-8000-000000000001.jsonl": (
        "codex"
    ),
    "tests/fixtures/agents/codex/sessions/2026/01/03/rollout-2026-01-03T10-00-13-019b8a10-0000-7000-8000-000000000003.jsonl": (
        "codex"
    ),
    "tests/fixtures/agents/codex/sessions/2026/01/03/rollout-2026-01-03T12-00-00-019b8a10-0000-7000-8000-000000000004.jsonl": (
        "codex"
    ),
    f"{GEMINI}/session-2026-01-04T10-00-3f2a9c1d.json": "gemini-cli",
    f"{GEMINI}/session-2026-01-04T11-00-7c1e2b3a.jsonl": "gemini-cli",
    "tests/fixtures/agents/atif/trajectory.json": "atif",
    "tests/fixtures/agents/mlflow/mlflow.db": "mlflow",
    "tests/fixtures/agents/opencode/opencode.db": "opencode",
    "tests/fixtures/agents/phoenix/phoenix.db": "phoenix",
    # Phoenix's PostgreSQL database as pg_dump wrote it: loaded into the test server (tests/postgres/), no file format.
    "tests/fixtures/agents/phoenix/phoenix_postgres.sql": None,
    # Made by the test from sample_traces/traces.db: tracetui's own JSONL is not committed.
    "tracetui export of sample_traces/traces.db": "tracetui-jsonl",
}
MADE = "tracetui export of sample_traces/traces.db"


def trace_files() -> list[str]:
    """Every data file among the fixtures and samples (not the scripts that make them, nor their notes)."""
    found = []
    for folder in (FRAMEWORKS, SAMPLES, *AGENT_FILE_FOLDERS):
        for path in sorted(folder.iterdir()):
            if path.suffix in (".py", ".md") or path.name.startswith("requirements-"):
                continue
            found.append(str(path.relative_to(ROOT)))
    for folder in SESSION_FOLDERS:
        found.extend(str(path.relative_to(ROOT)) for path in sorted(folder.rglob("*")) if path.is_file())
    return found


def test_every_fixture_and_sample_file_has_a_row():
    assert sorted(trace_files()) == sorted(k for k in EXPECTED if k != MADE)


# Formats read only from a database: their detection matrix is tests/postgres/test_detection_pg.py.
DATABASE_ONLY = {"tracetui-postgres"}


def test_every_format_has_a_row():
    assert set(EXPECTED.values()) - {None} == set(sources.names()) - DATABASE_ONLY


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    path = tmp_path_factory.mktemp("made") / "traces.jsonl"
    store = open_store(str(SAMPLES / "traces.db"))
    with open(path, "wb") as f:
        for run in store.iter_runs(None):
            f.write(tracetui_jsonl.dumps(run))
    store.close()
    return str(path)


@pytest.mark.parametrize(
    "line, expected",
    [
        ('{"run_id": "r1", "step_id": "s1", "type": "tool_call", "status": "ok"}', "events"),
        ('{"run_id": "r1", "type": "error", "content": "boom"}', "events"),
        # An event type, but run fields and no step: the export format has always been the one to read these.
        ('{"run_id": "r1", "type": "error", "status": "failed"}', "export"),
        ('{"run_id": "r1", "type": "reasoning", "agent_id": "a"}', "export"),
    ],
)
def test_lines_both_catch_alls_could_read_are_claimed_by_one(line, expected, tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(line + "\n")
    head = sources.read_head(str(path))
    assert [s.NAME for s in sources.formats() if s.sniff(head)] == [expected]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_is_claimed_by_exactly_its_format(name, made, tmp_path):
    path = made if name == MADE else str(ROOT / name)
    if name.startswith("tests/fixtures/agents/") and name.endswith(".db"):
        # WAL databases: read a copy, so nothing SQLite makes beside them lands among the fixtures.
        path = str(shutil.copy(path, tmp_path))
    head = sources.read_head(path)
    claimed = [s.NAME for s in sources.formats() if s.sniff(head)]
    if EXPECTED[name] is None:
        assert claimed == []
        return
    assert claimed == [EXPECTED[name]]
    assert sources.detect(path)[0].NAME == EXPECTED[name]
