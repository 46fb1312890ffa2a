"""screenshots/make_screenshots.py writes every README screenshot, each showing its view."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# A few literal strings each view can only show once it is loaded and the keys were pressed.
EXPECTED = {
    "run-list.svg": ["15 runs", "run-0011-support-timeout", "Step track-shipment"],
    "step-tree.svg": ["chosen: then", "skipped", "chosen branch"],
    "first-failure.svg": ["fetch-source#3", "Error", "TLS handshake failed"],
    "stats.svg": ["Models", "claude-sonnet-4-5", "≈$0.2237", "15 runs"],
    "help.svg": ["tracetui keys", "tracetui.runs.compare"],
    "compare.svg": ["run-0002-research-rerun", "A: then · B: else", "differs in"],
}


def svg_text(path: Path) -> str:
    return html.unescape(path.read_text(encoding="utf-8")).replace("\xa0", " ")


def test_the_script_writes_each_view_without_touching_the_users_cache(tmp_path):
    user_cache = Path(os.environ["XDG_CACHE_HOME"])  # conftest's per-test cache
    out = tmp_path / "shots"
    subprocess.run(
        [sys.executable, str(REPO / "screenshots" / "make_screenshots.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED)
    for name, strings in EXPECTED.items():
        text = svg_text(out / name)
        for expected in strings:
            assert expected in text, f"{name} lacks {expected!r}"
    assert not user_cache.exists() or not any(user_cache.iterdir())
