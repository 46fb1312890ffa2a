"""The export format lays out the step rows of plain runs itself (export.rows_from_line, used by the
parallel import); they must be the rows the usual way gives (run_from_line, finalize_run, step_row),
for plain runs and for every odd value, which sends its run the usual way."""

import copy
import random

import orjson
import pytest
from export_records import TIME, plain_run

from tracetui import normalize
from tracetui.model import finalized, run_problems
from tracetui.sources import export
from tracetui.store.schema import STEP_COLUMNS, run_row, step_row

ODD_VALUES = [
    None,
    "",
    0,
    -3,
    1,
    2.5,
    True,
    False,
    "x",
    "12",
    "nan",
    [],
    {},
    {"a": 1},
    [1, "b"],
    TIME,
    "2026-10-26T07:33:20.123456+02:00",
    "10000-01-01T00:00:00Z",
    "not a time",
    1.7e9,
    2**70,
    "completed",
    "COMPLETED",
    "failed",
    "skipped",
    "running",
    "none",
    "switch",
    "if_else",
    "tool_call",
    1e308,
]
STEP_FIELDS = [*sorted(export._PLAIN_STEP_FIELDS), "id", "model", "name", "error", "then_steps", "cases", "usage"]
CALL_FIELDS = [*sorted(export._PLAIN_CALL_FIELDS), "status", "started_at", "prompt_tokens", "cost"]


def odd(record: dict, rnd: random.Random) -> dict:
    """The record with a few of its steps' or calls' fields set to odd values."""
    steps = []

    def walk(items):
        for s in items if isinstance(items, list) else ():
            if isinstance(s, dict):
                steps.append(s)
                for call in s.get("tool_calls") or []:
                    if isinstance(call, dict):
                        steps.append(call)
                walk(s.get("child_steps"))

    walk(record["steps"])
    for _ in range(rnd.randint(1, 3)):
        if not steps:
            break
        target = rnd.choice(steps)
        fields = CALL_FIELDS if "function_name" in target else STEP_FIELDS
        target[rnd.choice(fields)] = copy.deepcopy(rnd.choice(ODD_VALUES))
    if rnd.random() < 0.2 and record["steps"]:
        record["steps"].append(copy.deepcopy(record["steps"][0]))  # the same ids again
    return record


def the_usual_way(number: int, record: dict) -> tuple:
    problems: list = []
    normalize.take_notes()
    run = export.run_from_line(number, copy.deepcopy(record), problems.append)
    if run is None:
        return None, None, problems, []
    assert finalized(run, problems.append)
    return run_row(run), [step_row(s) for s in run.steps], problems, run_problems(run)


def laid_out(number: int, record: dict) -> tuple:
    problems: list = []
    normalize.take_notes()
    got = export.rows_from_line(number, copy.deepcopy(record), problems.append, None)
    if got is None:
        return None, None, problems, [], False
    run, rows = got
    if rows is None:
        assert finalized(run, problems.append)
        rows, plain = [step_row(s) for s in run.steps], False
    else:
        rows, plain = [full_row(row) for row in rows], True
    return run_row(run), rows, problems, run_problems(run), plain


def full_row(row: list) -> list:
    """A row of export.STEP_ROW_COLUMNS as a row of every step column (the others NULL)."""
    values = dict(zip(export.STEP_ROW_COLUMNS, row, strict=True))
    return [values.get(name) for name in STEP_COLUMNS]


def as_text(value: tuple) -> list:
    """Problems as their text (Problem is a dataclass: compared by value anyway)."""
    run_values, rows, problems, notes = value
    return [run_values, rows, [str(p) for p in problems], [(str(n), n.run_id) for n in notes]]


def test_plain_runs_are_laid_out_as_the_usual_way_lays_them_out():
    rnd = random.Random(15)
    laid = 0
    for i in range(300):
        record = plain_run(i, rnd)
        *got, plain = laid_out(i + 1, record)
        assert as_text(tuple(got)) == as_text(the_usual_way(i + 1, record)), orjson.dumps(record).decode()
        laid += plain
    assert laid == 300  # every one of them the quick way


@pytest.mark.parametrize("seed", range(8))
def test_any_odd_value_gives_the_rows_and_problems_the_usual_way_gives(seed):
    rnd = random.Random(seed)
    laid = odd_ones = 0
    for i in range(250):
        record = odd(plain_run(i, rnd), rnd)
        *got, plain = laid_out(i + 1, record)
        assert as_text(tuple(got)) == as_text(the_usual_way(i + 1, record)), orjson.dumps(record).decode()
        laid += plain
        odd_ones += not plain
    assert laid > 10 and odd_ones > 100  # both ways were taken


def test_a_skipped_record_is_skipped_and_reported_as_before():
    for record in ({"run_id": None, "steps": []}, {"run_id": "r", "steps": "not a list"}):
        *got, plain = laid_out(7, record)
        assert as_text(tuple(got)) == as_text(the_usual_way(7, record))
        assert got[0] is None and got[2] and not plain


def general_way(number: int, record: dict, monkeypatch) -> tuple:
    """the_usual_way() with plain steps read by the walker's general code, not by _plain_step/_plain_call."""
    with monkeypatch.context() as patched:
        patched.setattr(export._StepWalker, "read_plain", False)
        return the_usual_way(number, record)


@pytest.mark.parametrize("seed", range(4))
def test_the_general_code_reads_plain_steps_as_the_plain_reading_does(seed, monkeypatch):
    # The one reading of a plain step (_plain_step, _plain_call) serves the walker and the rows; the
    # general code must give the same for them, with or without odd values elsewhere in the run.
    rnd = random.Random(100 + seed)
    for i in range(200):
        record = plain_run(i, rnd) if i % 2 else odd(plain_run(i, rnd), rnd)
        assert as_text(the_usual_way(i + 1, record)) == as_text(general_way(i + 1, record, monkeypatch)), orjson.dumps(
            record
        ).decode()
