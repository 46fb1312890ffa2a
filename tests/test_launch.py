"""The `tracetui` entry point (launch.py): `tracetui open PATH` starts without click and answers as the
click command does; every other command line is click's, unchanged."""

import subprocess
import sys

import pytest

# The console script's entry point and the click CLI, each started the same way (same program name).
ENTRY_POINTS = {
    "launch": "import sys; from tracetui.launch import main; sys.argv[0] = 'tracetui'; main()",
    "click": "import sys; from tracetui.cli import main; sys.argv[0] = 'tracetui'; main()",
}


def run(entry: str, args: list[str], home) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config")}
    env["XDG_CACHE_HOME"] = str(home / "cache")
    return subprocess.run(
        [sys.executable, "-c", ENTRY_POINTS[entry], *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # `tracetui` alone lists the traces it finds when not on a terminal
        env=env,
    )


def answers(entry: str, args: list[str], home) -> tuple[int, str, str]:
    done = run(entry, args, home)
    return done.returncode, done.stdout, done.stderr


def test_open_path_fails_as_the_click_command_does(tmp_path):
    """`open PATH` (started without click): errors before the viewer starts are the click command's,
    the same one line on stderr and the same exit code."""
    not_traces = tmp_path / "notes.txt"
    not_traces.write_text("just some notes\n")
    for path in (str(tmp_path / "missing.jsonl"), str(not_traces)):
        plain = answers("launch", ["open", path], tmp_path)
        assert plain == answers("click", ["open", path], tmp_path)
        code, out, err = plain
        assert (code, out) == (2, "")
        assert err.startswith(f"tracetui: {path}: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["open"],  # no PATH
        ["open", "--help"],
        ["open", "-h"],
        ["open", "-x"],  # an option, never a file called -x
        ["open", "--no-such-option", "x"],
        ["open", "a", "b"],
        ["open", ""],
        ["--help"],
        ["--version"],
        ["opne", "x"],
        ["formats"],
        [],
    ],
)
def test_every_other_command_line_is_clicks(args, tmp_path):
    """Anything but `open PATH` gets click's answer: usage, help, output and errors alike."""
    assert answers("launch", args, tmp_path) == answers("click", args, tmp_path)


def test_a_path_without_a_command_is_opened(tmp_path, monkeypatch):
    """`tracetui PATH` is `tracetui open PATH` (as `vd FILE` is): the same answers, here errors before
    the viewer starts. A word that is no command and no path is still click's usage error, and a file
    named like a command does not hide the command."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("just some notes\n")
    (tmp_path / "formats").write_text("a file named like a command\n")
    for path in ("notes.txt", str(tmp_path / "notes.txt"), "missing.jsonl", "sub/missing"):
        assert answers("click", [path], tmp_path) == answers("click", ["open", path], tmp_path), path
        code, out, err = answers("launch", [path], tmp_path)
        assert (code, out) == (2, "") and err.startswith(f"tracetui: {path}: ") and err.count("\n") == 1, path
    code, out, _ = answers("launch", ["formats"], tmp_path)
    assert code == 0 and "export" in out
    code, _, err = answers("launch", ["nosuchthing"], tmp_path)
    assert code == 2 and "No such command 'nosuchthing'" in err
