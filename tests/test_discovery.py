"""`tracetui sources` and `tracetui` alone: the traces on this machine, found where each tool writes them
by default (a fake home with copies of the agent fixtures), by name and stat only."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from agents import AGENTS
from click.testing import CliRunner

from tracetui import discovery, sources
from tracetui.cli import main

ENV = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_CLI_HOME",
    "PHOENIX_WORKING_DIR",
    "MLFLOW_TRACKING_URI",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
)


def make_home(home) -> None:
    """Copies of the agent fixtures where each tool keeps its traces by default."""
    shutil.copytree(AGENTS / "claude" / "projects", home / ".claude" / "projects")
    shutil.copytree(AGENTS / "codex" / "sessions", home / ".codex" / "sessions")
    shutil.copytree(AGENTS / "gemini" / "tmp", home / ".gemini" / "tmp")
    (home / ".phoenix").mkdir()
    shutil.copy(AGENTS / "phoenix" / "phoenix.db", home / ".phoenix")
    (home / ".local" / "share" / "opencode").mkdir(parents=True)
    shutil.copy(AGENTS / "opencode" / "opencode.db", home / ".local" / "share" / "opencode")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home and an empty current folder, with none of the tools' variables set."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)
    return home


def invoke(*args):
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result


def test_the_default_places_of_every_tool_are_found(home):
    make_home(home)
    shutil.copy(AGENTS / "mlflow" / "mlflow.db", "mlflow.db")
    found, _ = discovery.discover()
    by_tool = {f.tool: f for f in found}
    assert set(by_tool) == {"Claude Code", "Codex CLI", "Gemini CLI", "Arize Phoenix", "MLflow", "OpenCode"}
    assert by_tool["Claude Code"].files == 4  # the flat agent-*.jsonl is a subagent, not a session
    assert by_tool["Claude Code"].path == str(home / ".claude" / "projects")
    assert by_tool["Gemini CLI"].files == 2 and by_tool["Gemini CLI"].path == str(home / ".gemini" / "tmp")
    assert by_tool["Codex CLI"].files == 4
    assert by_tool["Arize Phoenix"].unit == "database" and by_tool["Arize Phoenix"].size > 0
    assert by_tool["MLflow"].path == os.path.join(os.getcwd(), "mlflow.db")
    for f in found:  # every one is a source tracetui reads as the format it is listed as
        assert f.format in sources.names()


def test_the_tools_variables_are_honoured(home, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(AGENTS / "claude" / "projects", elsewhere / "claude-a" / "projects")
    shutil.copytree(AGENTS / "codex" / "sessions", elsewhere / "codex" / "sessions")
    shutil.copytree(AGENTS / "gemini" / "tmp", elsewhere / "gem" / ".gemini" / "tmp")
    (elsewhere / "px").mkdir()
    shutil.copy(AGENTS / "phoenix" / "phoenix.db", elsewhere / "px")
    (elsewhere / "data" / "opencode").mkdir(parents=True)
    shutil.copy(AGENTS / "opencode" / "opencode.db", elsewhere / "data" / "opencode" / "opencode-beta.db")
    shutil.copy(AGENTS / "mlflow" / "mlflow.db", elsewhere / "runs.db")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{elsewhere / 'claude-a'},{elsewhere / 'claude-b'}")
    monkeypatch.setenv("CODEX_HOME", str(elsewhere / "codex"))
    monkeypatch.setenv("GEMINI_CLI_HOME", str(elsewhere / "gem"))
    monkeypatch.setenv("PHOENIX_WORKING_DIR", str(elsewhere / "px"))
    monkeypatch.setenv("XDG_DATA_HOME", str(elsewhere / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere / 'runs.db'}")
    found, looked = discovery.discover()
    paths = {f.path: f.why for f in found}
    assert paths == {
        str(elsewhere / "claude-a" / "projects"): "CLAUDE_CONFIG_DIR",
        str(elsewhere / "codex" / "sessions"): "CODEX_HOME",
        str(elsewhere / "gem" / ".gemini" / "tmp"): "GEMINI_CLI_HOME",
        str(elsewhere / "px" / "phoenix.db"): "PHOENIX_WORKING_DIR",
        str(elsewhere / "data" / "opencode" / "opencode-beta.db"): "XDG_DATA_HOME",
        str(elsewhere / "runs.db"): "MLFLOW_TRACKING_URI",
    }
    assert str(elsewhere / "claude-b" / "projects") in {p.path for p in looked}
    assert not any(p.path.startswith(str(home)) for p in looked)


def test_looking_opens_no_file(home, monkeypatch):
    make_home(home)
    import builtins

    def no_open(*args, **kwargs):
        raise AssertionError(f"opened {args[0]}")

    monkeypatch.setattr(builtins, "open", no_open)
    monkeypatch.setattr(os, "open", no_open)
    found, _ = discovery.discover()
    assert len(found) == 5


def test_sources_lists_them_newest_first(home):
    make_home(home)
    os.utime(home / ".phoenix" / "phoenix.db", (2_000_000_000, 2_000_000_000))
    out = invoke("sources").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["tool", "holds", "size", "newest", "(UTC)", "path"]
    assert lines[1].startswith("Arize Phoenix") and lines[1].rstrip().endswith("~/.phoenix/phoenix.db")
    assert "4 session files" in out and "tracetui open PATH" in out


def test_sources_json(home):
    make_home(home)
    data = json.loads(invoke("sources", "--json").stdout)
    claude = next(s for s in data["sources"] if s["format"] == "claude-code")
    assert claude["files"] == 4 and claude["unit"] == "sessions" and claude["newest"].endswith("Z")
    assert {p["tool"] for p in data["looked_in"]} >= {"Claude Code", "Codex CLI", "MLflow", "OpenCode"}


def test_an_empty_machine_says_where_it_looked_and_how_to_open_a_file(home):
    out = invoke("sources").stdout
    assert out.startswith("No traces found")
    assert str(home / ".claude" / "projects") in out and "tracetui open PATH" in out
    assert json.loads(invoke("sources", "--json").stdout)["sources"] == []


def test_tracetui_alone_off_a_terminal_prints_the_sources(home):
    make_home(home)
    out = invoke().stdout
    assert "Claude Code" in out and "~/.claude/projects" in out


def test_each_source_found_opens(home):
    make_home(home)
    found, _ = discovery.discover()
    for f in found:
        rows = json.loads(invoke("list", f.path, "--json").stdout)
        assert rows, f.path
