"""Layering: the core (everything outside tracetui.tui) never imports Textual or the viewer.

The CLI may start the viewer, but only from inside a command, so `tracetui list` and friends never
pay for importing it. The rules are checked over every module found on disk, so a new module is
covered without editing this file.
"""

import ast
import pathlib
import subprocess
import sys

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
        cli = path.name == "cli.py" and path.parent == PACKAGE
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


def test_starting_the_viewer_imports_nothing_its_first_screen_does_not_use(tmp_path):
    """Every module imported before the first rows costs every start (issue 15): no config parser
    without a config file, no price table, no import machinery for a store that is there."""
    code = (
        "import sys, tracetui.cli, tracetui.first_page, tracetui.tui.app, tracetui.config\n"
        "tracetui.config.load()\n"
        "found = {'tomllib', 'secrets', 'genai_prices', 'sqlite_utils', 'multiprocessing'} & set(sys.modules)\n"
        "assert not found, found\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
