"""Adding a format is adding one module: dropped into the package, or registered by another package.

Both run tracetui in a fresh process, as a user would: nothing in the core is edited or patched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import tracetui

FORMAT_MODULE = '''
"""A throw-away format made by a test: one run per line, "{marker} <run id> <status>"."""

from tracetui.model import Run, Step

NAME = "{name}"
DESCRIPTION = "a throw-away format made by a test"
DETECTION = 'text whose first line starts with "{marker} "'
PRIORITY = 50


def sniff(head):
    return head.data.startswith(b"{marker} ")


def read(head, report, source):
    with source.open() as f:
        for number, line in enumerate(f, 1):
            _, run_id, status = line.decode().split()
            yield Run(id=run_id, status=status, source_line=number, steps=[Step(id="only", name="only step")])
'''


def tracetui_cli(*args: str, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, "-m", "tracetui", *args], capture_output=True, text=True, env=env)


def trace_file(tmp_path: Path, marker: str) -> str:
    path = tmp_path / "runs.txt"
    path.write_text(f"{marker} run-a completed\n{marker} run-b failed\n")
    return str(path)


def test_a_module_dropped_into_the_package_is_a_format(tmp_path):
    package = tmp_path / "copy" / "tracetui"
    shutil.copytree(Path(tracetui.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "sources" / "throwaway.py").write_text(FORMAT_MODULE.format(name="throwaway", marker="THROWAWAY"))

    formats = tracetui_cli("formats", pythonpath=tmp_path / "copy")
    assert formats.returncode == 0, formats.stderr
    assert "throwaway\n  a throw-away format made by a test\n" in formats.stdout
    assert "otlp\n" in formats.stdout  # the built-in formats are all still there

    listed = tracetui_cli("list", trace_file(tmp_path, "THROWAWAY"), "--json", pythonpath=tmp_path / "copy")
    assert listed.returncode == 0, listed.stderr
    assert '"id": "run-a"' in listed.stdout and '"status": "failed"' in listed.stdout


def registered_plugin(tmp_path: Path, target: str, module_text: str) -> Path:
    """A tiny installed distribution declaring a `tracetui.sources` entry point, found on PYTHONPATH."""
    site = tmp_path / "site"
    (site / "throwaway_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "throwaway_plugin.py").write_text(module_text)
    (site / "throwaway_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: throwaway-plugin\nVersion: 0.1\n"
    )
    (site / "throwaway_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        f"[tracetui.sources]\nthrowaway-plugin = {target}\n"
    )
    return site


def test_a_module_registered_by_another_package_is_a_format(tmp_path):
    site = registered_plugin(
        tmp_path, "throwaway_plugin", FORMAT_MODULE.format(name="throwaway-plugin", marker="PLUGIN")
    )
    formats = tracetui_cli("formats", pythonpath=site)
    assert formats.returncode == 0, formats.stderr
    assert "throwaway-plugin\n  a throw-away format made by a test\n" in formats.stdout

    path = trace_file(tmp_path, "PLUGIN")
    listed = tracetui_cli("list", path, "--json", pythonpath=site)
    assert listed.returncode == 0, listed.stderr
    assert '"id": "run-b"' in listed.stdout and '"status": "failed"' in listed.stdout

    forced = tracetui_cli("list", path, "--format", "throwaway-plugin", "--no-cache", pythonpath=site)
    assert forced.returncode == 0, forced.stderr
    assert "run-a" in forced.stdout


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path):
    site = registered_plugin(tmp_path, "throwaway_plugin", 'NAME = "half-done"\n')
    formats = tracetui_cli("formats", pythonpath=site)
    assert formats.returncode == 0
    assert formats.stderr.startswith("tracetui: warning: format plug-in 'throwaway_plugin' lacks NAME")
    assert len(formats.stderr.splitlines()) == 1
    assert "half-done" not in formats.stdout and "otlp\n" in formats.stdout
