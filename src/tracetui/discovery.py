"""Where the traces on this machine are: the places coding agents and tracing tools write by default
(`tracetui sources` and the viewer's start screen).

Only names and stat are read here: each place is listed (its session files matched by name, its
database's size and times) and nothing inside a file is opened, so looking is quick and safe
however big the stores are. The environment variables each tool honours are honoured
(see docs/formats.md, "Where the traces are").
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Place:
    """Where one tool keeps its traces: a folder of session files, or a database."""

    tool: str  # the tool, for people ("Claude Code")
    format: str  # the format tracetui reads it as (`tracetui formats`)
    path: str  # what `tracetui open` is given
    why: str  # where the path came from: "default", or the variable that set it
    patterns: tuple[str, ...] = ()  # session files: paths under `path` matching one (fnmatch, "/"-separated)
    depth: int = 0  # how deep under `path` session files are


@dataclass(frozen=True)
class Found:
    """A place that holds traces, as stat sees it."""

    tool: str
    format: str
    path: str
    why: str
    files: int  # session files, or 1 for a database
    unit: str  # "sessions" or "database"
    size: int  # bytes (a database with its -wal)
    newest: float | None  # the latest modification time (epoch seconds)

    def as_dict(self) -> dict:
        return asdict(self)

    def shown_path(self, home: str | None = None) -> str:
        """The path as people write it: under the home folder, from "~"."""
        home = (home or os.path.expanduser("~")).rstrip("/")
        if home and (self.path == home or self.path.startswith(home + "/")):
            return "~" + self.path[len(home) :]
        return self.path

    def cells(self) -> list[str]:
        """Its row in `tracetui sources` and on the start screen (display.SOURCE_HEADERS)."""
        from . import display

        return display.source_cells(self.tool, self.shown_path(), self.files, self.unit, self.size, self.newest)


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def places(env: Mapping[str, str] | None = None, cwd: str | None = None) -> list[Place]:
    """Every place a supported tool writes its traces by default, given the environment."""
    env = os.environ if env is None else env
    home = _home(env)
    cwd = cwd or os.getcwd()
    out: list[Place] = []

    claude = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    if claude:
        out += [_claude(os.path.join(p, "projects"), "CLAUDE_CONFIG_DIR") for p in claude]
    else:
        config = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        out.append(_claude(os.path.join(home, ".claude", "projects"), "default"))
        out.append(
            _claude(
                os.path.join(config, "claude", "projects"), "XDG_CONFIG_HOME" if "XDG_CONFIG_HOME" in env else "default"
            )
        )

    codex_home, why = (
        (env["CODEX_HOME"], "CODEX_HOME") if env.get("CODEX_HOME") else (os.path.join(home, ".codex"), "default")
    )
    for folder in ("sessions", "archived_sessions"):
        out.append(Place("Codex CLI", "codex", os.path.join(codex_home, folder), why, ("**/rollout-*.jsonl",), 4))

    gemini_home, why = (env["GEMINI_CLI_HOME"], "GEMINI_CLI_HOME") if env.get("GEMINI_CLI_HOME") else (home, "default")
    out.append(
        Place(
            "Gemini CLI",
            "gemini-cli",
            os.path.join(gemini_home, ".gemini", "tmp"),
            why,
            ("*/chats/session-*.json", "*/chats/session-*.jsonl"),
            3,
        )
    )

    phoenix, why = (
        (env["PHOENIX_WORKING_DIR"], "PHOENIX_WORKING_DIR")
        if env.get("PHOENIX_WORKING_DIR")
        else (os.path.join(home, ".phoenix"), "default")
    )
    out.append(Place("Arize Phoenix", "phoenix", os.path.join(phoenix, "phoenix.db"), why))

    out.append(Place("MLflow", "mlflow", os.path.join(cwd, "mlflow.db"), "the current folder"))
    uri = env.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        out.append(
            Place("MLflow", "mlflow", path if os.path.isabs(path) else os.path.join(cwd, path), "MLFLOW_TRACKING_URI")
        )

    data, why = (
        (env["XDG_DATA_HOME"], "XDG_DATA_HOME")
        if env.get("XDG_DATA_HOME")
        else (os.path.join(home, ".local", "share"), "default")
    )
    opencode = os.path.join(data, "opencode")
    out += [Place("OpenCode", "opencode", os.path.join(opencode, name), why) for name in _opencode_dbs(opencode)]
    return _unique(out)


def _claude(path: str, why: str) -> Place:
    # Session files sit in each project's folder; agent-*.jsonl beside them are subagents (counted in size only).
    return Place("Claude Code", "claude-code", path, why, ("*/*.jsonl",), 2)


def _opencode_dbs(folder: str) -> list[str]:
    """opencode.db, and the databases of other release channels (opencode-beta.db, …)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return ["opencode.db"]
    found = sorted(n for n in names if fnmatch.fnmatch(n, "opencode*.db"))
    return found or ["opencode.db"]


def _unique(items: list[Place]) -> list[Place]:
    seen: set[str] = set()
    out = []
    for place in items:
        key = os.path.realpath(place.path)
        if key not in seen:
            seen.add(key)
            out.append(place)
    return out


def look(place: Place) -> Found | None:
    """What stat says about a place: None when it holds no traces (missing, empty, unreadable)."""
    if not place.patterns:
        return _database(place)
    files = size = 0
    newest: float | None = None
    for rel, st in _files(place.path, place.depth):
        size += st.st_size
        newest = st.st_mtime if newest is None else max(newest, st.st_mtime)
        name = rel.rsplit("/", 1)[-1]
        if any(
            fnmatch.fnmatch(rel, p) or (p.startswith("**/") and fnmatch.fnmatch(name, p[3:])) for p in place.patterns
        ):
            if not name.startswith("agent-"):
                files += 1
    if files == 0:
        return None
    return Found(place.tool, place.format, place.path, place.why, files, "sessions", size, newest)


def _database(place: Place) -> Found | None:
    try:
        st = os.stat(place.path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return None
    size, newest = st.st_size, st.st_mtime
    try:
        wal = os.stat(place.path + "-wal")
        size += wal.st_size
        newest = max(newest, wal.st_mtime)
    except OSError:
        pass
    return Found(place.tool, place.format, place.path, place.why, 1, "database", size, newest)


def _files(root: str, depth: int):
    """(relative path, stat) of the regular files under root, at most `depth` folders down."""
    stack = [(root, "", 0)]
    while stack:
        folder, rel, level = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                st = entry.stat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if level + 1 < depth:
                    stack.append((entry.path, child, level + 1))
            elif stat.S_ISREG(st.st_mode):
                yield child, st


def discover(env: Mapping[str, str] | None = None, cwd: str | None = None) -> tuple[list[Found], list[Place]]:
    """(the places that hold traces, newest activity first; every place looked at)."""
    looked = places(env, cwd)
    found = [f for f in map(look, looked) if f is not None]
    found.sort(key=lambda f: -(f.newest or 0))
    return found, looked
