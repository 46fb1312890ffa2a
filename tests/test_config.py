"""tracetui's config file: where it is looked for, what each setting does, and a bad file told in one line
naming the line, with the defaults used (never a traceback)."""

from __future__ import annotations

import json

import pytest
from builders import write_agent_traces
from click.testing import CliRunner

from tracetui import config as settings
from tracetui import display
from tracetui.cli import main


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_the_file_is_found_by_option_then_environment_then_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings.config_path() == str(tmp_path / "xdg" / "tracetui" / "config.toml")
    monkeypatch.setenv("TRACETUI_CONFIG", str(tmp_path / "env.toml"))
    assert settings.config_path() == str(tmp_path / "env.toml")
    assert settings.config_path(str(tmp_path / "given.toml")) == str(tmp_path / "given.toml")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.delenv("TRACETUI_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert settings.config_path() == str(tmp_path / "home" / ".config" / "tracetui" / "config.toml")


def test_no_file_is_the_defaults_without_a_word(tmp_path):
    config = settings.load()
    assert (config.exists, config.theme, config.times, config.sort, config.desc, config.keymap) == (
        False,
        None,
        "utc",
        None,
        None,
        {},
    )
    assert config.message() is None


def test_every_setting_is_read(tmp_path):
    path = write(
        tmp_path / "c.toml",
        'theme = "gruvbox"\ntimes = "local"\nsort = "cost"\nsort_order = "asc"\n'
        '[keymap]\n"tracetui.quit" = "ctrl+q"\ntracetui.runs.sessions = "B"\n',
    )
    config = settings.load(path)
    assert (config.theme, config.times, config.sort, config.desc) == ("gruvbox", "local", "cost", False)
    assert config.keymap == {"tracetui.quit": "ctrl+q", "tracetui.runs.sessions": "B"}
    assert config.message() is None


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ('theme = "dracula"\ntimes = "mars"\n', "line 2: times must be 'utc' or 'local'"),
        ('\n\nsort = "tokns"\n', "line 3: sort must be one of started, duration"),
        ('sort_order = "up"\n', "line 1: sort_order must be 'asc' or 'desc'"),
        ('colour = "red"\n', "line 1: unknown setting 'colour'"),
        ('[keymap]\n"tracetui.quit" = 3\n', "line 2: keymap 'tracetui.quit': keys must be a string"),
        ('theme = "x\n', "line 1: Illegal character"),
        ("[keymap\n", "line 1: "),
    ],
)
def test_a_bad_setting_is_told_with_its_line_and_the_default_is_used(tmp_path, text, told):
    config = settings.load(write(tmp_path / "c.toml", text))
    message = config.message()
    assert message is not None and told in message and message.endswith("defaults used instead")
    assert str(tmp_path / "c.toml") in message
    assert config.times == "utc" and config.sort is None
    if "dracula" in text:
        assert config.theme == "dracula"  # the good settings of the file still count


def test_a_named_file_that_is_missing_is_told(tmp_path):
    assert "no such file" in (settings.load(str(tmp_path / "missing.toml")).message() or "")


def test_remembering_a_theme_keeps_the_rest_of_the_file(tmp_path):
    path = write(
        tmp_path / "c.toml", '# my settings\ntimes = "local"  # I live here\n\n[keymap]\n"tracetui.quit" = "x"\n'
    )
    config = settings.load(path)
    assert settings.remember_theme(config, "nord") is None
    text = (tmp_path / "c.toml").read_text()
    assert "# my settings" in text and '"local"  # I live here' in text and 'theme = "nord"' in text
    again = settings.load(path)
    assert (again.theme, again.times, again.keymap) == ("nord", "local", {"tracetui.quit": "x"})
    assert settings.remember_theme(again, "gruvbox") is None
    assert settings.load(path).theme == "gruvbox" and (tmp_path / "c.toml").read_text().count("theme =") == 1


def test_remembering_a_theme_makes_the_file_and_never_rewrites_a_broken_one(tmp_path):
    fresh = settings.load(str(tmp_path / "new" / "dir" / "c.toml"))
    assert settings.remember_theme(fresh, "nord") is None
    assert settings.load(str(tmp_path / "new" / "dir" / "c.toml")).theme == "nord"
    broken = write(tmp_path / "b.toml", "theme = [\n")
    config = settings.load(broken)
    assert "not TOML" in (settings.remember_theme(config, "nord") or "")
    assert (tmp_path / "b.toml").read_text() == "theme = [\n"


ROWS = [{"id": "r1", "session_id": "s1", "started_at": "2026-11-01T09:00:00Z", "finished_at": "2026-11-01T09:00:05Z"}]


def test_the_cli_shows_times_as_the_config_says_and_tells_a_bad_file_once(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        db = write_agent_traces(tmp_path / "a.db", ROWS)
        local = write(tmp_path / "local.toml", 'times = "local"\n')
        result = CliRunner().invoke(main, ["--config", local, "list", db])
        assert result.exit_code == 0 and "2026-11-01 14:30:00" in result.stdout
        monkeypatch.setenv("TRACETUI_CONFIG", local)
        assert "2026-11-01 14:30:00" in CliRunner().invoke(main, ["list", db, "--by", "session"]).stdout
        data = json.loads(CliRunner().invoke(main, ["list", db, "--json"]).stdout)
        assert data[0]["started_at"] == "2026-11-01T09:00:00.000Z"  # JSON stays as stored
        markdown = CliRunner().invoke(main, ["show", db, "r1", "--format", "markdown"]).stdout
        assert "2026-11-01 09:00:00 UTC" in markdown  # a document to share says UTC, whatever the clock
        display.use_local_time(False)
        bad = write(tmp_path / "bad.toml", 'times = "local"\nsort = 1\n')
        result = CliRunner().invoke(main, ["--config", bad, "list", db])
        assert result.exit_code == 0 and "Traceback" not in result.output
        assert result.stderr.count("\n") == 1 and "line 2: sort must be one of" in result.stderr
        assert "2026-11-01 14:30:00" in result.stdout  # the good setting still counts
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_no_color_leaves_colour_out_of_the_cli_and_every_status_says_its_word(tmp_path, monkeypatch):
    import re

    rows = [*ROWS, {"id": "r2", "final_status": "error", "started_at": "2026-11-01T09:01:00Z"}]
    db = write_agent_traces(tmp_path / "a.db", rows)
    colour = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;)")
    monkeypatch.setenv("FORCE_COLOR", "1")  # as on a terminal
    for args in (["list", db], ["list", db, "--by", "session"], ["show", db, "r2"]):
        assert colour.search(CliRunner().invoke(main, args).stdout), args  # coloured on a terminal…
    monkeypatch.setenv("NO_COLOR", "1")
    for args in (["list", db], ["list", db, "--by", "session"], ["show", db, "r2"]):
        out = CliRunner().invoke(main, args).stdout
        assert not colour.search(out) and "✗ failed" in out, args  # … not with NO_COLOR, the words stay
