"""Inputs git cannot hold (FIFOs, symlink loops, modes) or should not (copies of big fixtures, edited):
`make = "name"` in cases.toml calls MAKERS[name](tmp_dir)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

MAKERS: dict[str, Callable[[Path], str]] = {}


def maker(fn: Callable[[Path], str]) -> Callable[[Path], str]:
    MAKERS[fn.__name__] = fn
    return fn


# -- viewer side (issue 9 classes 5, 7, 8) --------------------------------------------------------

_HELD: list[object] = []  # connections holding locks, and pipe feeders, for the rest of the session


def _jsonl(path: Path, runs: list) -> str:
    from tracetui.sources import tracetui_jsonl

    with open(path, "wb") as f:
        for run in runs:
            f.write(tracetui_jsonl.dumps(run))
    return str(path)


def _small_runs():
    from tracetui.model import Run, Step

    first = Run("small", agent="a", started_at="2026-01-01T00:00:00.000Z")
    first.steps = [Step("s", name="s")]
    return [first]


@maker
def deep_run(tmp: Path) -> str:
    """Two runs nested 10,000 steps deep (one failing at the bottom), after a small one."""
    from tracetui.model import Run, Step

    runs = _small_runs()
    for n, run_id in enumerate(("deep", "deep-failing")):
        run = Run(run_id, agent="a", started_at=f"2026-01-0{n + 2}T00:00:00.000Z")
        run.steps = [Step("s0", name="s0")] + [
            Step(f"s{i}", parent_id=f"s{i - 1}", name=f"s{i}") for i in range(1, 10_000)
        ]
        if n:
            run.steps[-1].status, run.steps[-1].error = "failed", "the bottom step broke"
        runs.append(run)
    return _jsonl(tmp / "deep.jsonl", runs)


@maker
def long_run_id(tmp: Path) -> str:
    """A run id of 100,000 characters and a step name of 50,000."""
    from tracetui.model import Run, Step

    run = Run("run-" + "x" * 100_000 + "-end", agent="a" * 5_000, started_at="2026-01-02T00:00:00.000Z")
    run.steps = [Step("s", name="n" * 50_000)]
    return _jsonl(tmp / "long-id.jsonl", [*_small_runs(), run])


def _feed_forever(fifo: Path, data: bytes) -> None:
    """Whoever opens the pipe gets `data`, as often as it is opened (every command reads it anew)."""
    import threading
    import time

    def feed() -> None:
        while True:
            with open(fifo, "wb") as f:  # waits for a reader
                f.write(data)
            # Let that reader close its end (it has read to the end already); opening again at once
            # could hand it a second copy. The next reader waits in open() meanwhile.
            time.sleep(0.2)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    _HELD.append(thread)


@maker
def pipe(tmp: Path) -> str:
    """A FIFO carrying tracetui JSON Lines, as `tracetui list <(zcat runs.jsonl.gz)` gives one."""
    import os

    source = _jsonl(tmp / "runs.jsonl", _small_runs() + _small_runs())
    data = Path(source).read_bytes().replace(b'"small"', b'"other"', 1)
    os.mkfifo(tmp / "pipe")
    _feed_forever(tmp / "pipe", data)
    return str(tmp / "pipe")


@maker
def empty_pipe(tmp: Path) -> str:
    import os

    os.mkfifo(tmp / "pipe")
    _feed_forever(tmp / "pipe", b"")
    return str(tmp / "pipe")


@maker
def symlink_loop(tmp: Path) -> str:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return str(tmp / "a")


@maker
def broken_symlink(tmp: Path) -> str:
    (tmp / "link.jsonl").symlink_to(tmp / "gone.jsonl")
    return str(tmp / "link.jsonl")


@maker
def character_device(tmp: Path) -> str:
    return "/dev/null"


@maker
def locked_database(tmp: Path) -> str:
    """An agent_traces database another program is writing: it holds an exclusive lock."""

    path = tmp / "busy.db"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE agent_traces (id TEXT PRIMARY KEY, agent_id TEXT, final_status TEXT)")
    conn.execute("INSERT INTO agent_traces VALUES ('t1', 'a', 'completed')")
    conn.execute("BEGIN EXCLUSIVE")
    _HELD.append(conn)
    return str(path)


@maker
def wal_database(tmp: Path) -> str:
    """An agent_traces database in WAL mode, closed cleanly (no -wal or -shm beside it)."""

    path = tmp / "wal.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE agent_traces (id TEXT PRIMARY KEY, agent_id TEXT, final_status TEXT)")
    conn.execute("INSERT INTO agent_traces VALUES ('t1', 'a', 'completed'), ('t2', 'b', 'failed')")
    conn.commit()
    conn.close()
    return str(path)


# -- class 4 in the databases read in place whose trees are built in Python ------------------------

_AGENTS = Path(__file__).parent.parent / "fixtures" / "agents"


def _edited(fixture: str, tmp: Path, *statements: str) -> str:
    """A copy of the format's fixture with odd values put in by SQL: each shows as `-`, no run is lost."""
    path = tmp / Path(fixture).name
    with sqlite3.connect(_AGENTS / fixture) as source, sqlite3.connect(path) as conn:
        source.backup(conn)
        for statement in statements:
            conn.execute(statement)
    return str(path)


@maker
def phoenix_odd_values(tmp: Path) -> str:
    return _edited(
        "phoenix/phoenix.db",
        tmp,
        "UPDATE spans SET llm_token_count_prompt = 'n/a', llm_token_count_completion = 1e999 WHERE id = 1",
        "UPDATE traces SET start_time = 'noon' WHERE id = 2",
        "UPDATE span_costs SET total_cost = x'01' WHERE span_rowid = 1",
    )


@maker
def mlflow_odd_values(tmp: Path) -> str:
    return _edited(
        "mlflow/mlflow.db",
        tmp,
        "UPDATE trace_info SET timestamp_ms = 'noon', execution_time_ms = -1e999 WHERE rowid = 1",
        "UPDATE spans SET content = json_set(content, '$.attributes.\"mlflow.chat.tokenUsage\"', printf('%s',"
        " json_set(json_extract(content, '$.attributes.\"mlflow.chat.tokenUsage\"'), '$.input_tokens', 'n/a')))"
        " WHERE rowid = 1",
    )


@maker
def opencode_odd_values(tmp: Path) -> str:
    return _edited(
        "opencode/opencode.db",
        tmp,
        "UPDATE session SET time_created = 'noon', tokens_input = 'n/a' WHERE rowid = 1",
        "UPDATE part SET data = json_set(data, '$.tokens.input', json('true'), '$.cost', 'free') WHERE rowid = 6",
    )


@maker
def phoenix_negative_values(tmp: Path) -> str:
    return _edited(
        "phoenix/phoenix.db",
        tmp,
        "UPDATE spans SET llm_token_count_prompt = -5,"
        " attributes = json_set(attributes, '$.llm.token_count.prompt_details.cache_read', -3) WHERE id = 3",
        "UPDATE span_costs SET total_cost = -0.5 WHERE span_rowid = 5",
    )


# JSON means a key spelled with \u escapes as that key (the trees read it so): the SQL views too.


@maker
def phoenix_escaped_keys(tmp: Path) -> str:
    return _edited(
        "phoenix/phoenix.db",
        tmp,
        "DELETE FROM span_costs WHERE span_rowid = 1",  # (its model's estimate: found under the escaped key)
        "UPDATE spans SET attributes = replace(replace(attributes, '\"model_name\"', '\"model\\u005fname\"'),"
        " '\"cache_read\"', '\"cache\\u005fread\"')",
    )


@maker
def mlflow_escaped_keys(tmp: Path) -> str:
    return _edited(
        "mlflow/mlflow.db",
        tmp,
        "UPDATE spans SET content = json_set(content, '$.attributes.\"mlflow.chat.tokenUsage\"', printf('%s',"
        " json_set(json_extract(content, '$.attributes.\"mlflow.chat.tokenUsage\"'), '$.input_tokens', 'n/a')))"
        " WHERE rowid = 1",
        "UPDATE spans SET model_name = NULL, type = NULL",  # (read from the attributes)
        "UPDATE spans SET total_cost = NULL WHERE rowid = 9",  # (its cost: the attribute under the escaped key)
        "UPDATE spans SET content = replace(replace(content, '\"attributes\": {', '\"\\u0061ttributes\": {'),"
        " '\"attributes\":{', '\"\\u0061ttributes\":{')",
    )
