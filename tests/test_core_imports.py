"""The core (everything outside tracetui.tui) never imports Textual."""

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "src" / "tracetui"


def core_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "tui" not in path.relative_to(PACKAGE).parts:
            yield path


def test_no_core_module_mentions_textual_in_an_import():
    offenders = []
    for path in core_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "textual"]
    assert offenders == []


def test_using_the_cli_and_core_loads_no_textual():
    modules = [
        f"tracetui.{'.'.join(p.relative_to(PACKAGE).with_suffix('').parts)}"
        for p in core_modules()
        if p.name not in ("__main__.py",)
    ]
    code = "import sys\n" + "".join(f"import {m.removesuffix('.__init__')}\n" for m in modules)
    code += "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules), 'textual imported'\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
