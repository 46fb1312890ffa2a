"""Layering: the core (everything outside tracetui.tui) never imports Textual or the viewer.

The CLI (cli.py, and launch.py for `tracetui open PATH`) may start the viewer, but only from inside a
command, so `tracetui list` and friends never pay for importing it. The rules are checked over every module found on disk, so a new module is
covered without editing this file.
"""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "src" / "tracetui"


def core_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "tui" not in path.relative_to(PACKAGE).parts:
            yield path


def imported_names(path: pathlib.Path, *, top_level_only: bool = False) -> list[str]:
    """Absolute names of the modules a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    package = ["tracetui", *path.relative_to(PACKAGE).parent.parts]
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names.append(module)
            names += [f"{module}.{a.name}" for a in node.names]
    return names


def is_viewer(name: str) -> bool:
    return name.split(".")[0] == "textual" or name == "tracetui.tui" or name.startswith("tracetui.tui.")


def test_no_core_module_imports_textual_or_the_viewer_except_the_cli_inside_a_command():
    offenders = []
    for path in core_modules():
        cli = path.name in ("cli.py", "launch.py") and path.parent == PACKAGE  # (launch.py: `open PATH`)
        names = imported_names(path, top_level_only=cli)
        offenders += [f"{path.relative_to(PACKAGE)}: {n}" for n in names if is_viewer(n)]
    assert offenders == []


def test_the_layering_check_sees_relative_imports():
    probe = PACKAGE / "sources" / "__init__.py"
    assert "tracetui.errors" in imported_names(probe)


def test_using_the_cli_and_core_loads_no_textual():
    modules = [
        f"tracetui.{'.'.join(p.relative_to(PACKAGE).with_suffix('').parts)}"
        for p in core_modules()
        if p.name not in ("__main__.py",)
    ]
    code = "import sys\n" + "".join(f"import {m.removesuffix('.__init__')}\n" for m in modules)
    code += "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules), 'textual imported'\n"
    code += "assert not any(m.startswith('tracetui.tui') for m in sys.modules), 'the viewer imported'\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# What the viewer's first screen (the run list of a file in the cache, or of a database read in place)
# never needs before its first rows: each costs every start (issue 15). Imported later, when used.
FIRST_SCREEN_NEVER_IMPORTS = frozenset(
    {
        # the core's machinery for other work (not analysis and store.stats: the CLI's `stats --by`
        # choices are store.stats's groupings)
        "tracetui.background_import",
        "tracetui.discovery",
        "tracetui.file_import",
        "tracetui.filestate",
        "tracetui.folders",
        "tracetui.follow",
        "tracetui.live",
        "tracetui.parallel",
        "tracetui.postgres.opening",
        "tracetui.postgres.store",
        "tracetui.postgres.target",
        "tracetui.store.files",
        "tracetui.store.search",
        "tracetui.store.sessions",
        "tracetui.store.writer",
        # the viewer's other screens and their widgets
        "tracetui.tui.screens.compare",
        "tracetui.tui.screens.error",
        "tracetui.tui.screens.help",
        "tracetui.tui.screens.run",
        "tracetui.tui.screens.start",
        "tracetui.tui.screens.stats",
        "tracetui.tui.screens.step_hits",
        "tracetui.tui.widgets.detail",
        "tracetui.tui.widgets.key_pager",  # (a PostgreSQL database's run list)
        "tracetui.tui.widgets.live_marker",
        "tracetui.tui.widgets.step_tree",
        # the CLI's commands and click: `tracetui open PATH` starts without them (launch.py)
        "click",
        "tracetui.cli",
        # libraries
        "genai_prices",
        "multiprocessing",
        "psycopg",
        "secrets",
        "tomllib",
    }
)

# … nor, for a file (not a database read in place), the database half of the source contract.
A_FILES_FIRST_SCREEN_NEVER_IMPORTS = FIRST_SCREEN_NEVER_IMPORTS | {"tracetui.sources.contract_db"}

# Runs `tracetui open PATH` through its entry point (tracetui.launch.main, the console script's) with
# the viewer headless under Pilot, until its first run row is drawn, and prints the modules imported by
# then (the run list's drawing of a run row is wrapped to note the moment).
FIRST_ROWS = """
import asyncio, json, sys
from tracetui import launch
from tracetui.tui.app import TraceApp
from tracetui.tui.widgets.run_list import RunList

seen = []
render_line = RunList.render_line

def noting(self, y):
    strip = render_line(self, y)
    if not seen and y >= 1 and self.run_at(round(self.scroll_offset.y) + y - 1) is not None:
        seen.append(sorted(sys.modules))
    return strip

RunList.render_line = noting

def run_headless(self, *args, **kwargs):
    async def until_the_first_rows():
        async with self.run_test(size=(120, 30)) as pilot:
            for _ in range(2000):
                if seen:
                    break
                await pilot.pause(0.01)

    asyncio.run(until_the_first_rows())

TraceApp.run = run_headless
sys.argv = ["tracetui", "open", sys.argv[1]]
launch.main()
print(json.dumps(seen[0] if seen else None))
"""


def modules_at_first_rows(path: str, home: pathlib.Path) -> set[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    # Opened before (a user's second open): the file is in the cache, its format is known.
    (home / "cache" / "tracetui").mkdir(parents=True, mode=0o700)
    listed = subprocess.run([sys.executable, "-m", "tracetui", "list", path], capture_output=True, text=True, env=env)
    assert listed.returncode == 0, listed.stderr
    result = subprocess.run([sys.executable, "-c", FIRST_ROWS, path], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    assert modules is not None, "the viewer drew no run row"
    return set(modules)


def first_screens(tmp_path: pathlib.Path) -> dict[str, tuple[str, str]]:
    """Files by the format module that reads them: a JSON Lines file (imported into the cache) and an
    agent_traces database (read in place)."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from builders import run, step, write_agent_traces, write_jsonl

    jsonl = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("a", kind="llm")), run("r2", status="failed")])
    rows = [{"id": "t1", "agent_id": "bot", "started_at": "2026-01-01T10:00:00.000Z", "final_status": "completed"}]
    database = write_agent_traces(tmp_path / "agent.db", rows)
    return {"tracetui_jsonl": (jsonl, "tracetui_jsonl"), "agent_traces": (database, "agent_traces")}


@pytest.mark.parametrize("kind", ["tracetui_jsonl", "agent_traces"])
def test_the_first_screen_imports_nothing_it_does_not_use_before_its_first_rows(tmp_path, kind):
    """A cached JSON Lines file and a database read in place: the modules imported by the time the first run
    row is drawn hold none of FIRST_SCREEN_NEVER_IMPORTS (a file: nor sources.contract_db), and of the
    formats only the file's own."""
    path, format_module = first_screens(tmp_path)[kind]
    modules = modules_at_first_rows(path, tmp_path / "home")
    never = FIRST_SCREEN_NEVER_IMPORTS if kind == "agent_traces" else A_FILES_FIRST_SCREEN_NEVER_IMPORTS
    unneeded = {m for m in modules if m in never or m.split(".")[0] in never}
    assert unneeded == set()
    formats = {m for m in modules if m.startswith("tracetui.sources.") and m.rsplit(".", 1)[1] in FORMAT_MODULES}
    assert formats == {f"tracetui.sources.{format_module}"}


FORMAT_MODULES = frozenset(  # (sources/ modules not marked HELPER = True)
    p.stem
    for p in (PACKAGE / "sources").glob("*.py")
    if not p.stem.startswith("_") and "HELPER = True" not in p.read_text()
)


def test_the_list_of_modules_the_first_screen_never_imports_names_real_modules():
    import importlib.util

    missing = [name for name in A_FILES_FIRST_SCREEN_NEVER_IMPORTS if importlib.util.find_spec(name) is None]
    assert missing == []
