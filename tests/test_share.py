"""share.py: file names made from hostile ids, and new files that never overwrite one."""

import os

import pytest

from tracetui import share


@pytest.mark.parametrize(
    ("run_id", "step_id", "stem"),
    [
        ("run-0011-support-timeout", None, "tracetui-run-0011-support-timeout"),
        ("run-1", "call/../../etc", "tracetui-run-1-call_.._.._etc"),
        ("../../.bashrc", None, "tracetui-bashrc"),
        ("\x1b]0;x\x07 [b]", "é", "tracetui-0_x_b-_"),
        ("", "", "tracetui-_-_"),
        ("x" * 500, None, "tracetui-" + "x" * share.NAME_PART),
    ],
)
def test_file_stems_are_plain_and_short(run_id, step_id, stem):
    assert share.file_stem(run_id, step_id) == stem
    assert os.path.basename(stem) == stem and not stem.startswith(".")


def test_new_file_never_overwrites(tmp_path):
    (tmp_path / "tracetui-r.md").write_text("mine")
    (tmp_path / "tracetui-r-2.md").write_text("mine too")
    path = share.new_file(str(tmp_path), "tracetui-r", ".md", "new ✓")
    assert path == str(tmp_path / "tracetui-r-3.md")
    assert (tmp_path / "tracetui-r-3.md").read_text(encoding="utf-8") == "new ✓"
    assert (tmp_path / "tracetui-r.md").read_text() == "mine" and (
        tmp_path / "tracetui-r-2.md"
    ).read_text() == "mine too"
    first = share.new_file(str(tmp_path), "tracetui-r", ".json", "{}")
    assert first == str(tmp_path / "tracetui-r.json")
