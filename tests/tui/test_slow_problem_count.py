"""The `w` count of a big database read in place (every model call priced to find the unpriced models:
seconds) is found in a worker: the run list takes keys meanwhile and the count arrives when ready."""

from __future__ import annotations

import json
import sqlite3
import time

from agents import PHOENIX
from textual import events
from textual.worker import WorkerState

from tracetui.loading import prepare
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import PATIENCE_S, shown_text, until
from tracetui.tui.screens.error import ProblemsScreen

CALLS = 30_000  # ~40-60 µs each to read and price: the count takes seconds, a key press milliseconds
UNKNOWN = "acme-router-7b"


def big_phoenix(path: str) -> None:
    """Phoenix's schema (from the fixture a real Phoenix server made), one trace per 10 model calls
    without a cost, one of them of a model the price table does not know."""
    source = sqlite3.connect(f"file:{PHOENIX}?immutable=1", uri=True)
    schema = [
        r[0] for r in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
    ]
    source.close()
    db = sqlite3.connect(path)
    for sql in schema:
        db.execute(sql)
    db.execute("INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'p', '2026-01-01', '2026-01-01')")
    traces = CALLS // 10
    db.executemany(
        "INSERT INTO traces (id, project_rowid, trace_id, start_time, end_time) VALUES (?, 1, ?, ?, ?)",
        [(t + 1, f"{t:032x}", "2026-01-01 00:00:00.000000", "2026-01-01 00:00:09.000000") for t in range(traces)],
    )

    def span(n: int) -> tuple:
        model = UNKNOWN if n == CALLS - 1 else "gpt-4o-mini"
        attrs = {"llm": {"model_name": model, "provider": "openai", "token_count": {"prompt": 900 + n % 97}}}
        return (
            n + 1,
            n // 10 + 1,
            f"{n + 1:016x}",
            None if n % 10 == 0 else f"{n - n % 10 + 1:016x}",
            "call",
            "LLM",
            "2026-01-01 00:00:01.000000",
            "2026-01-01 00:00:02.000000",
            json.dumps(attrs),
            "[]",
            "OK",
            "",
            900 + n % 97,
            40,
        )

    db.executemany(
        "INSERT INTO spans (id, trace_rowid, span_id, parent_id, name, span_kind, start_time, end_time, attributes,"
        " events, status_code, status_message, cumulative_error_count, cumulative_llm_token_count_prompt,"
        " cumulative_llm_token_count_completion, llm_token_count_prompt, llm_token_count_completion)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,?,?)",
        [span(n) for n in range(CALLS)],
    )
    db.commit()
    db.close()


async def soon(pilot, condition) -> None:
    """Turn the event loop until condition() holds, without waiting for the workers (as until() does)."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < PATIENCE_S, "the viewer never reached the state wanted"
        await pilot.pause(0.01)


def counting(app: TraceApp) -> bool:
    return any(w.group == "problem-count" and w.state == WorkerState.RUNNING for w in app.workers)


async def test_keys_work_while_the_problems_of_a_big_in_place_file_are_counted(tmp_path):
    path = str(tmp_path / "phoenix.db")
    big_phoenix(path)
    app = TraceApp(prepare(path))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.runs_screen
        await soon(pilot, lambda: screen.run_list.display and counting(app))
        first = screen.run_list.cursor
        # As a terminal sends them. (Pilot.press waits up to 2 s a key for the process to go idle,
        # which it does not while a worker computes: it would measure Pilot, not the viewer.)
        for key in ("j", "j", "k"):
            app.post_message(events.Key(key, key))
        await soon(pilot, lambda: screen.run_list.cursor == first + 1)  # the keys were handled…
        assert counting(app) and not screen.query("#warnings")  # …while the count was still being found
        await until(pilot, lambda: "1 problem while reading" in shown_text(screen, "warnings"))


async def test_the_count_takes_in_the_odd_values_of_runs_not_opened_yet(tmp_path):
    path = str(tmp_path / "phoenix.db")
    big_phoenix(path)
    db = sqlite3.connect(path)  # two spans of the oldest traces (far below the first screen) hold odd values
    db.execute("UPDATE spans SET name = CAST(x'6f6b20ff' AS TEXT) WHERE id = 2")
    db.execute("UPDATE spans SET llm_token_count_prompt = 'n/a' WHERE id = 13")
    db.commit()
    db.close()
    app = TraceApp(prepare(path))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.runs_screen
        await soon(pilot, lambda: screen.run_list.display and counting(app))
        first = screen.run_list.cursor
        for key in ("j", "j", "k"):
            app.post_message(events.Key(key, key))
        await soon(pilot, lambda: screen.run_list.cursor == first + 1)  # keys are handled while it counts
        await until(pilot, lambda: not counting(app))
        # The model the price table does not know, and the two rows no run shown so far has met
        assert "3 problems while reading" in str(screen.query_one("#warnings").render())
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ProblemsScreen))
        assert app.screen.query_one("#problems-title").render().plain.startswith("3 problems while reading")
        listed = app.screen.query_one("#problems-text").render().plain
        assert "span '0000000000000002': name: text that is not UTF-8, shown with \\xNN" in listed
        assert "span '000000000000000d': llm_token_count_prompt 'n/a' is not a number: shown as -" in listed
