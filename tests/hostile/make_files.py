"""Writes the corpus files that are awkward to write by hand. Run from anywhere; commit what it writes.

    .venv/bin/python tests/hostile/make_files.py

Each entry of FILES writes one file of files/; cases.toml says what tracetui must do with each.
Kept minimal: a good run before and after the hostile one, so that a loss shows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent / "files"
FILES: dict[str, Callable[[Path], None]] = {}


def writes(name: str):
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        FILES[name] = fn
        return fn

    return register


def good(n: int, **fields) -> dict:
    return {
        "run_id": f"good-{n}",
        "agent_id": "agent",
        "status": "completed",
        "started_at": f"2025-01-01T00:00:0{n}Z",
        "steps": [{"agent_step_id": "s1", "step_type": "llm", "input": "hello", "prompt_tokens": 3}],
    } | fields


def line(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False)


def around(bad: str) -> str:
    """A good run, the hostile line, a good run: JSON Lines."""
    return "\n".join([line(good(1)), bad, line(good(2))]) + "\n"


def text(path: Path, content: str) -> None:
    path.write_bytes(content.encode("utf-8", "surrogatepass"))


def nested(depth: int, leaf: str = '"leaf"') -> str:
    return "[" * depth + leaf + "]" * depth


# -- class 2: one bad value never aborts an import ------------------------------------------------


@writes("time-before-year-1.jsonl")
def _(path: Path) -> None:
    text(path, around(line(good(9, run_id="bad", started_at="0001-01-01T00:00:00+05:00"))))


@writes("time-after-year-9999.jsonl")
def _(path: Path) -> None:
    text(path, around(line(good(9, run_id="bad", ended_at="9999-12-31T23:00:00-05:00"))))


@writes("tokens-beyond-64-bits.jsonl")
def _(path: Path) -> None:
    step = {"agent_step_id": "x", "step_type": "llm", "prompt_tokens": 2**64 + 5, "completion_tokens": 2**63}
    text(path, around(line(good(9, run_id="bad", prompt_tokens=2**63, steps=[step]))))


@writes("negative-counts.jsonl")
def _(path: Path) -> None:
    step = {"agent_step_id": "x", "step_type": "llm", "prompt_tokens": -5, "completion_tokens": 4, "duration_ms": -20}
    text(path, around(line(good(9, run_id="bad", completion_tokens=-300, steps=[step]))))


@writes("tokens-summing-past-64-bits.jsonl")
def _(path: Path) -> None:
    bad = [line(good(n, run_id=f"bad-{n}", prompt_tokens=2**62)) for n in (8, 9)]  # each fits; their sum does not
    text(path, around("\n".join(bad)))


@writes("payload-300-deep.jsonl")
def _(path: Path) -> None:
    text(path, around('{"run_id": "bad", "status": "completed", "input": ' + nested(300) + "}"))


@writes("record-1200-deep.jsonl")
def _(path: Path) -> None:
    text(path, around('{"run_id": "bad", "status": "completed", "extra_field": ' + nested(1200) + "}"))


@writes("payload-20000-deep.json")
def _(path: Path) -> None:
    runs = [line(good(1)), '{"run_id": "bad", "status": "completed", "input": ' + nested(20000) + "}", line(good(2))]
    text(path, '{"runs": [\n' + ",\n".join(runs) + "\n]}\n")


@writes("lone-surrogate.jsonl")
def _(path: Path) -> None:
    text(path, around('{"run_id": "bad\\udfff", "status": "completed", "input": "x\\ud800y"}'))


@writes("lone-surrogate-document.json")
def _(path: Path) -> None:
    bad = '{"run_id": "bad", "status": "completed", "input": "x\\udfffy"}'
    text(path, '{"runs": [\n' + ",\n".join([line(good(1)), bad, line(good(2))]) + "\n]}\n")


@writes("not-utf8.jsonl")
def _(path: Path) -> None:
    path.write_bytes(
        around('{"run_id": "bad", "status": "completed", "input": "caf@"}').encode().replace(b"@", b"\xe9")
    )


@writes("nan-and-infinity.jsonl")
def _(path: Path) -> None:
    text(path, around('{"run_id": "bad", "status": "completed", "credits": NaN, "cost_usd": Infinity}'))


@writes("integer-beyond-64-bits-document.json")
def _(path: Path) -> None:
    bad = '{"run_id": "bad", "status": "completed", "prompt_tokens": 18446744073709551616}'
    text(path, "[" + ", ".join([line(good(1)), bad, line(good(2))]) + "]\n")


@writes("wrong-types-tracetui-jsonl.jsonl")
def _(path: Path) -> None:
    def record(run: dict) -> str:
        return line({"tracetui": 1, "run": run})

    bad = {
        "id": 42,
        "status": ["completed"],
        "tokens_in": "n/a",
        "cost_usd": {"usd": 1},
        "flags": "not a list",
        "extra": [1, 2],
        "steps": [{"id": 7, "duration_ms": "fast", "events": {"x": 1}}, "not a step"],
    }
    text(path, "\n".join([record({"id": "good-1"}), record(bad), record({"id": "good-2"})]) + "\n")


# -- class 3: detection never loses data ------------------------------------------------------------


@writes("truncated-last-line.jsonl")
def _(path: Path) -> None:
    text(path, "\n".join([line(good(1)), line(good(2)), line(good(3))[:40]]))


@writes("long-first-line.jsonl")
def _(path: Path) -> None:
    first = line(good(1, input="x" * 100_000))
    text(path, "\n".join([first, line(good(2)), line(good(3))]) + "\n")


@writes("bom-document.json")
def _(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + ("[" + ", ".join([line(good(1)), line(good(2))]) + "]\n").encode())


@writes("bad-token-in-document.json")
def _(path: Path) -> None:
    bad = '{"run_id": "bad", "status": "completed", "credits": NaNx}'
    text(path, '{"export_type": "runs", "runs": [\n' + ",\n".join([line(good(1)), bad, line(good(2))]) + "\n]}\n")


@writes("records-in-a-row.json")
def _(path: Path) -> None:
    text(path, "".join(json.dumps(good(n), indent=2) + "\n" for n in (1, 2, 3)))


# -- class 4: SQLite read in place --------------------------------------------------------------------

AGENT_TRACES = (
    "id TEXT PRIMARY KEY, session_id TEXT, agent_id TEXT, workspace_id TEXT, started_at TEXT, finished_at TEXT,"
    " duration_ms INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, tool_calls TEXT,"
    " circuit_breaker_events TEXT, final_status TEXT, error_message TEXT"
)


def agent_row(n: int, **fields) -> dict:
    calls = json.dumps([{"toolName": "search", "durationMs": 5, "timestamp": 1735689600000 + n}])
    row = {"id": f"good-{n}", "agent_id": "agent", "started_at": f"2025-01-01T00:00:0{n}.000Z"}
    return row | {"prompt_tokens": 3, "tool_calls": calls, "final_status": "completed"} | fields


def agent_traces(path: Path, rows: list[dict], columns: str = AGENT_TRACES, options: str = "") -> None:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE agent_traces ({columns}){options}")
    for row in rows:
        names = ", ".join(row)
        conn.execute(f"INSERT INTO agent_traces ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


@writes("agent-traces-text-in-number-columns.db")
def _(path: Path) -> None:
    bad = agent_row(9, id="bad", prompt_tokens="n/a", completion_tokens=b"\x01", duration_ms="soon")
    agent_traces(path, [agent_row(1), bad, agent_row(2)])


@writes("agent-traces-blob-in-extra-column.db")
def _(path: Path) -> None:
    columns = AGENT_TRACES + ", note"
    agent_traces(path, [agent_row(1, note="fine"), agent_row(9, id="bad", note=b"\x00\xffraw"), agent_row(2)], columns)


@writes("agent-traces-not-utf8.db")
def _(path: Path) -> None:
    agent_traces(path, [agent_row(1), agent_row(9, id="bad", agent_id=b"ag\xffent"), agent_row(2)])
    conn = sqlite3.connect(path)  # bytes stored as TEXT, as a C program writing latin-1 would
    conn.execute("UPDATE agent_traces SET agent_id = CAST(agent_id AS TEXT), error_message = CAST(x'e9' AS TEXT)")
    conn.commit()
    conn.close()


@writes("agent-traces-not-utf8-id.db")
def _(path: Path) -> None:
    """An id that is not UTF-8 (shown as bad\\xe9) and one that is that text as it is: each opens by what is shown."""
    agent_traces(path, [agent_row(1), agent_row(9, id=b"bad\xe9"), agent_row(8, id="ok\\xe9"), agent_row(2)])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE agent_traces SET id = CAST(id AS TEXT)")
    conn.commit()
    conn.close()


@writes("agent-traces-without-rowid.db")
def _(path: Path) -> None:
    agent_traces(path, [agent_row(1), agent_row(2)], options=" WITHOUT ROWID")


@writes("agent-traces-text-in-time-columns.db")
def _(path: Path) -> None:
    bad = agent_row(9, id="bad", started_at="yesterday", finished_at=b"\x00", tool_calls='[{"timestamp": "noon"}]')
    agent_traces(path, [agent_row(1), bad, agent_row(2)])


@writes("agent-traces-null-id.db")
def _(path: Path) -> None:
    agent_traces(path, [agent_row(1), agent_row(9, id=None), agent_row(2)])


@writes("agent-traces-integer-ids.db")
def _(path: Path) -> None:
    columns = AGENT_TRACES.replace("id TEXT PRIMARY KEY", "id INTEGER PRIMARY KEY")
    agent_traces(path, [agent_row(1, id=1), agent_row(2, id=2)], columns)


@writes("store-odd-values.db")
def _(path: Path) -> None:
    """tracetui's own store, edited by hand: bad JSON, text in numbers, a run row without an id."""
    from tracetui.model import Run, Step, finalize_run
    from tracetui.store import StoreWriter

    path.unlink(missing_ok=True)
    writer = StoreWriter(str(path))
    for n in (1, 2, 3):
        run = Run(id=f"run-{n}", agent="agent", started_at=f"2025-01-01T00:00:0{n}.000Z", tokens_in=3)
        run.steps = [Step(id="s1", name="step", tokens_in=3), Step(id="s2", parent_id="s1", name="child")]
        writer.add(finalize_run(run))
    writer.finish()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET extra = '{not json', flags = 'x', tokens_in = 'n/a' WHERE id = 'run-2'")
    conn.execute("UPDATE steps SET duration_ms = x'00', events = '[1,', ord = 'first' WHERE run_id = 'run-2'")
    conn.execute("UPDATE runs SET id = NULL WHERE id = 'run-3'")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


@writes("store-not-utf8-ids.db")
def _(path: Path) -> None:
    """tracetui's own store, edited: a run id, a step id and its child's parent_id that are not UTF-8."""
    from tracetui.model import Run, Step, finalize_run
    from tracetui.store import StoreWriter

    path.unlink(missing_ok=True)
    writer = StoreWriter(str(path))
    for n in (1, 2, 3):
        run = Run(id=f"run-{n}", agent="agent", started_at=f"2025-01-01T00:00:0{n}.000Z", tokens_in=3)
        run.steps = [Step(id="s1", name="step", tokens_in=3), Step(id="s2", parent_id="s1", name="child")]
        writer.add(finalize_run(run))
    writer.finish()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET id = CAST(x'72756eff2d32' AS TEXT) WHERE id = 'run-2'")  # run\xff-2
    conn.execute("UPDATE steps SET run_id = CAST(x'72756eff2d32' AS TEXT) WHERE run_id = 'run-2'")
    conn.execute("UPDATE steps SET id = CAST(x'73e931' AS TEXT) WHERE run_id <> 'run-1' AND id = 's1'")  # s\xe91
    conn.execute("UPDATE steps SET parent_id = CAST(x'73e931' AS TEXT) WHERE run_id <> 'run-1' AND id = 's2'")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


# -- class 6: machine output -------------------------------------------------------------------------


@writes("controls-bidi-and-markup.jsonl")
def _(path: Path) -> None:
    bad = good(
        9,
        run_id="bad\x1b[31m\x9b2J\u202egnp.exe\u200b",
        agent_id="[bold red]agent[/] \x07\x85",
        error="\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ [@click=app.quit]quit[/]",
        steps=[{"agent_step_id": "s\x9d1", "step_type": "tool", "name": "[/tool_call]\x7f", "output": "\x90\x9c"}],
    )
    text(path, around(line(bad)))


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, write in FILES.items():
        write(HERE / name)


if __name__ == "__main__":
    main()
