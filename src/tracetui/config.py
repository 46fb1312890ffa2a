"""tracetui's own settings: a TOML file of keys, theme, default sort and the clock times are shown in.

Found at `--config PATH`, else `$TRACETUI_CONFIG`, else `$XDG_CONFIG_HOME/tracetui/config.toml`
(`~/.config/tracetui/config.toml`). Every setting is optional:

    theme = "gruvbox"          # any Textual theme; picking one in the viewer (Ctrl+P) writes it here
    times = "local"            # or "utc" (the default): how every time is shown; `u` toggles it
    sort = "cost"              # the run list's first sort: started, duration, tokens, credits, cost, …
    sort_order = "desc"        # or "asc"; without it, the sort key's own first direction

    [keymap]                   # binding id (listed by the `?` screen) = keys, comma-separated
    "tracetui.runs.sessions" = "B"
    "tracetui.quit" = "q,ctrl+q"

A file that cannot be used is reported in one message naming its line, and the settings it got wrong
fall back to the defaults: tracetui never stops over its config file. Nothing here imports Textual;
the viewer applies the settings (tui/settings.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonsafe
from .store.sort_keys import BY_NAME

ENV = "TRACETUI_CONFIG"
TIMES = ("utc", "local")
ORDERS = ("asc", "desc")
KNOWN = ("theme", "times", "sort", "sort_order", "keymap")


@dataclass
class Config:
    path: str  # the file the settings are (or would be) read from
    exists: bool = False
    theme: str | None = None
    times: str = "utc"
    sort: str | None = None
    desc: bool | None = None  # None: the sort key's own first direction
    keymap: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be used, each naming its line
    readable: bool = True  # False: not TOML at all (never rewritten, so nothing of it is lost)

    def message(self) -> str | None:
        """The one message about the problems of the file (None: no problem)."""
        if not self.problems:
            return None
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"config {self.path}: {self.problems[0]}{more}; defaults used instead"

    def problem(self, section: str | None, key: str, what: str) -> None:
        """A setting that cannot be used, told with the line it is on."""
        line = line_of(self._text, section, key)
        where = f"line {line}: " if line else ""
        self.problems.append(f"{where}{what}")

    _text: str = ""


def default_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "tracetui", "config.toml")


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(ENV) or default_path()


_SECTION = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?$")


def line_of(text: str, section: str | None, key: str) -> int | None:
    """The line (from 1) where `key` is set in `section` (None: the top level) of a TOML text."""
    current: str | None = None
    pattern = re.compile(r"""^\s*(["']?)""" + re.escape(key) + r"""\1\s*=""")
    for n, line in enumerate(text.splitlines(), 1):
        found = _SECTION.match(line)
        if found:
            current = found.group(1).strip("\"'")
            if section is not None and current == section and key == "":
                return n
            continue
        if current == section and pattern.match(line):
            return n
    return None


def load(explicit: str | None = None) -> Config:
    """The settings of the config file (defaults where it has none, or where it is wrong)."""
    path = config_path(explicit)
    config = Config(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit or os.environ.get(ENV):
            config.problems.append("no such file")
        return config
    except (OSError, UnicodeDecodeError) as exc:
        config.problems.append(f"cannot be read ({exc})")
        config.readable = False
        return config
    config.exists, config._text = True, text
    import tomllib  # here: most users have no config file, and every start of the viewer reads this

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        config.readable = False
        config.problems.append(_toml_problem(exc))
        return config
    _read(config, data)
    return config


def _toml_problem(exc: ValueError) -> str:
    """'line 3: Invalid value' from tomllib's 'Invalid value (at line 3, column 9)'."""
    text = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)$", text)
    if found:
        return f"line {found.group(1)}: {text[: found.start()].strip()} (column {found.group(2)}), not TOML"
    return f"{text}, not TOML"


def _read(config: Config, data: dict[str, Any]) -> None:
    for key in data:
        if key not in KNOWN:
            config.problem(None, key, f"unknown setting {jsonsafe.quoted(key)} (known: {', '.join(KNOWN)})")
    theme = data.get("theme")
    if theme is not None:
        if isinstance(theme, str) and theme:
            config.theme = theme
        else:
            config.problem(None, "theme", "theme must be the name of a theme, in quotes")
    times = data.get("times")
    if times is not None:
        if times in TIMES:
            config.times = times
        else:
            config.problem(None, "times", f"times must be {' or '.join(jsonsafe.quoted(t) for t in TIMES)}")
    sort = data.get("sort")
    if sort is not None:
        if sort in BY_NAME:
            config.sort = sort
        else:
            config.problem(None, "sort", f"sort must be one of {', '.join(BY_NAME)}")
    order = data.get("sort_order")
    if order is not None:
        if order in ORDERS:
            config.desc = order == "desc"
        else:
            config.problem(None, "sort_order", "sort_order must be 'asc' or 'desc'")
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict):
        config.problem(None, "keymap", 'keymap must be a table: [keymap] then binding-id = "keys" lines')
        return
    for binding_id, keys in _flat(keymap).items():
        if isinstance(keys, str) and keys.strip():
            config.keymap[binding_id] = keys
        else:
            config.problem(
                "keymap", binding_id, f'keymap {jsonsafe.quoted(binding_id)}: keys must be a string such as "ctrl+q"'
            )


def _flat(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Binding ids written without quotes (tracetui.quit = "x") are dotted keys: TOML nests them."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def remember_theme(config: Config, theme: str) -> str | None:
    """Write `theme` into the config file, keeping the rest of it as it is (comments included);
    the file is made if there is none. Returns why it could not be written (None: written)."""
    if not config.readable:
        return f"config {config.path} is not TOML, so the theme was not written into it"
    import tomlkit

    path = Path(config.path)
    try:
        document = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
        document["theme"] = theme
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
        os.replace(temporary, path)  # whole or not at all
    except (OSError, tomlkit.exceptions.TOMLKitError) as exc:
        return f"cannot write the theme into config {config.path}: {exc}"
    config.theme, config.exists = theme, True
    return None
