"""Inputs git cannot hold (FIFOs, symlink loops, modes): `make = "name"` in cases.toml calls MAKERS[name](tmp_dir)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

MAKERS: dict[str, Callable[[Path], str]] = {}


def maker(fn: Callable[[Path], str]) -> Callable[[Path], str]:
    MAKERS[fn.__name__] = fn
    return fn
