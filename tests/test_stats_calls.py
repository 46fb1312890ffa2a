"""`stats --by model` and `--by tool` on a database read in place come from the format's SQL calls view
(sqlite_steps.install_calls), not from every run's tree built in Python: the same numbers as the trees
give, reported, estimated (fresh and from the estimates cache) and unpriced costs included."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from agents import MLFLOW, OPENCODE, PHOENIX, copied, opened

from tracetui import estimates
from tracetui.store import Store
from tracetui.store.reader import RunFilter
from tracetui.store.stats import CALL_COLUMNS

UNKNOWN = "acme-router-7b"

# Each fixture as it is, without the costs the source reported (every call estimated), and with a model
# the price table does not know (unpriced) or odd shapes of its calls.
VARIANTS = {
    "phoenix": (PHOENIX, []),
    "phoenix, no costs": (PHOENIX, ["DELETE FROM span_costs"]),
    "phoenix, unknown model": (
        PHOENIX,
        [
            "DELETE FROM span_costs WHERE span_rowid IN (SELECT id FROM spans WHERE id % 2 = 1)",
            f"UPDATE spans SET attributes = json_set(attributes, '$.llm.model_name', '{UNKNOWN}') WHERE id % 3 = 0"
            " AND json_extract(attributes, '$.llm.model_name') IS NOT NULL",
            "UPDATE spans SET span_kind = 'my-tool' WHERE span_kind = 'CHAIN'",
        ],
    ),
    "phoenix, odd values": (
        PHOENIX,
        [
            "UPDATE spans SET name = CAST(x'746f6f6cff' AS TEXT) WHERE span_kind = 'TOOL'",  # not UTF-8
            "UPDATE spans SET span_kind = 7 WHERE id = 4",
        ],
    ),
    # Keys spelled with \\u escapes (JSON means the same keys; the trees read them so): the model's,
    # a token count's, the span kind's, and MLflow's `attributes` itself.
    "phoenix, keys spelled with escapes": (
        PHOENIX,
        [
            "DELETE FROM span_costs WHERE span_rowid = 1",
            "UPDATE spans SET attributes = replace(replace(attributes, '\"model_name\"', '\"model\\u005fname\"'),"
            " '\"cache_read\"', '\"cache\\u005fread\"') WHERE id IN (1, 3, 5)",
        ],
    ),
    "mlflow": (MLFLOW, []),
    "mlflow, keys spelled with escapes": (
        MLFLOW,
        [
            "UPDATE spans SET model_name = NULL, total_cost = NULL WHERE rowid IN (7, 9)",
            "UPDATE spans SET content = json_remove(content, '$.attributes.\"mlflow.llm.cost\"') WHERE rowid = 9",
            'UPDATE spans SET content = replace(content, \'"attributes": {"mlflow.\', \'"\\u0061ttributes": {"mlflow.\')'
            " WHERE rowid IN (7, 8)",
            "UPDATE spans SET content = replace(replace(content, '\"mlflow.chat.tokenUsage\"',"
            " '\"mlflow.chat.token\\u0055sage\"'), '\"mlflow.llm.model\"', '\"mlflow.llm.mod\\u0065l\"') WHERE rowid = 9",
            "UPDATE spans SET type = NULL WHERE rowid = 8",
        ],
    ),
    "mlflow, odd values": (
        MLFLOW,
        [
            "UPDATE spans SET name = CAST(x'746f6f6cff' AS TEXT) WHERE type = 'TOOL'",
            "UPDATE spans SET content = 'not json' WHERE rowid = 1",
            "UPDATE spans SET model_name = 5 WHERE rowid = 7",
        ],
    ),
    "mlflow, a model and a tool not UTF-8": (
        MLFLOW,
        [
            "UPDATE spans SET total_cost = NULL WHERE rowid = 9",
            "UPDATE spans SET content = json_remove(content, '$.attributes.\"mlflow.llm.cost\"') WHERE rowid = 9",
            # (a JSON text whose bytes are not UTF-8 is none to the trees: the model column, not the attributes)
            "UPDATE spans SET model_name = CAST(x'636c617564652d736f6e6e65742d342d35ff' AS TEXT) WHERE rowid = 9",
            "UPDATE spans SET name = CAST(x'746f6f6cff' AS TEXT) WHERE type = 'TOOL'",
        ],
    ),
    "mlflow, no costs": (
        MLFLOW,
        [
            "UPDATE spans SET total_cost = NULL, input_cost = NULL, output_cost = NULL",
            "UPDATE spans SET content = json_remove(content, '$.attributes.\"mlflow.llm.cost\"')",
        ],
    ),
    "mlflow, unknown model": (
        MLFLOW,
        [
            "UPDATE spans SET total_cost = NULL",
            "UPDATE spans SET content = json_remove(content, '$.attributes.\"mlflow.llm.cost\"')",
            f"UPDATE spans SET model_name = '{UNKNOWN}' WHERE rowid = 9",
            "UPDATE spans SET end_time_unix_nano = NULL WHERE rowid = 3",
        ],
    ),
    "opencode": (OPENCODE, []),
    "opencode, keys spelled with escapes": (
        OPENCODE,
        [
            "UPDATE message SET data = replace(data, '\"modelID\"', '\"model\\u0049D\"') WHERE rowid % 2 = 0",
            "UPDATE part SET data = replace(data, '\"tool\"', '\"t\\u006fol\"') WHERE rowid % 2 = 1",
        ],
    ),
    "opencode, no costs": (OPENCODE, ["UPDATE part SET data = json_remove(data, '$.cost')"]),
    "opencode, odd values": (
        OPENCODE,
        [
            "UPDATE part SET data = 'not json' WHERE rowid = 4",
            "UPDATE message SET data = '[1]' WHERE rowid = 6",
            "UPDATE part SET data = json_set(data, '$.tool', 12) WHERE rowid = 5",
            "UPDATE part SET data = CAST(replace(data, 'grep', 'gr' || CAST(x'ff' AS TEXT)) AS TEXT) WHERE rowid = 8",
        ],
    ),
    "opencode, unknown model and unpaired steps": (
        OPENCODE,
        [
            "UPDATE part SET data = json_remove(data, '$.cost') WHERE rowid % 2 = 0",
            f"UPDATE message SET data = json_set(data, '$.modelID', '{UNKNOWN}') WHERE rowid % 3 = 0"
            " AND json_extract(data, '$.role') = 'assistant'",
            # a step-start that no step-finish closes, and a step-finish no step-start opened
            "DELETE FROM part WHERE rowid = (SELECT min(rowid) FROM part WHERE json_extract(data, '$.type') = 'step-finish')",
            "DELETE FROM part WHERE rowid = (SELECT max(rowid) FROM part WHERE json_extract(data, '$.type') = 'step-start')",
            "UPDATE part SET data = json_set(data, '$.state.status', 'error') WHERE rowid % 2 = 1"
            " AND json_extract(data, '$.type') = 'tool'",
        ],
    ),
}


def variant(name: str, folder) -> str:
    fixture, edits = VARIANTS[name]
    path = copied(fixture, folder)
    conn = sqlite3.connect(path)
    for sql in edits:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return path


def from_trees(path: str) -> Store:
    """The store of the file without its calls view: stats read the calls from every run's tree."""
    store = opened(path)
    store.conn.execute("DROP VIEW temp.calls")
    return store


def groups(store: Store, by: str, flt: RunFilter | None = None) -> list[dict]:
    return [dataclasses.asdict(g) for g in store.stats(by, flt)]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_calls_view_gives_what_the_trees_give(name, tmp_path):
    path = variant(name, tmp_path / "src")
    store = opened(path)
    assert store.conn.execute("SELECT count(*) FROM temp.calls").fetchone()[0] > 0
    trees = from_trees(path)
    # Call by call, as the trees hold them (sorted: the view's order is not the trees').
    columns = ", ".join(CALL_COLUMNS)
    # (As the store reads them: text that is not UTF-8 made visible.)
    calls = store._readable_rows(f"SELECT {columns} FROM temp.calls")
    steps = trees._readable_rows(f"SELECT {columns} FROM steps WHERE model IS NOT NULL OR kind = 'tool'")
    assert sorted(map(tuple, calls), key=repr) == sorted(map(tuple, steps), key=repr)
    for by in ("model", "tool"):
        assert groups(store, by) == groups(trees, by), by
    # A filter keeps the same calls either way.
    flt = RunFilter(ids=[store.run_ids()[0]])
    assert groups(store, "model", flt) == groups(trees, "model", flt)


@pytest.mark.parametrize(
    "name", ["phoenix, no costs", "mlflow, unknown model", "opencode, unknown model and unpaired steps"]
)
def test_the_variants_hold_estimated_and_unpriced_calls(name, tmp_path):
    models = {g["group"]: g for g in groups(opened(variant(name, tmp_path / "src")), "model")}
    assert any(g["cost_estimated_usd"] for g in models.values())
    if "unknown" in name:
        assert models[UNKNOWN]["unpriced"]


@pytest.mark.parametrize("name", ["phoenix, no costs", "mlflow, no costs", "opencode, no costs"])
def test_estimates_kept_in_the_cache_give_the_same_numbers(name, tmp_path):
    path = variant(name, tmp_path / "src")
    first = opened(path)
    expected = groups(first, "model")
    first.problems()  # every call priced and kept
    first.close()
    estimates._save_all()
    assert groups(opened(path), "model") == expected == groups(from_trees(path), "model")


def test_with_no_estimate_nothing_is_estimated_either_way(tmp_path):
    from tracetui.loading import prepare

    path = variant("phoenix, no costs", tmp_path / "src")
    store = prepare(path, estimate=False).connect()
    trees = prepare(path, estimate=False).connect()
    trees.conn.execute("DROP VIEW temp.calls")
    by_sql, by_trees = groups(store, "model"), groups(trees, "model")
    assert by_sql == by_trees and all(g["cost_usd"] is None and g["unpriced"] is None for g in by_sql)


@pytest.mark.parametrize(
    "name",
    [
        "phoenix, unknown model",
        "phoenix, odd values",
        "phoenix, keys spelled with escapes",
        "mlflow",
        "mlflow, keys spelled with escapes",
        "mlflow, a model and a tool not UTF-8",
        "mlflow, odd values",
        "opencode, unknown model and unpaired steps",
        "opencode, odd values",
        "opencode, keys spelled with escapes",
    ],
)
def test_filters_by_model_and_tool_keep_the_runs_the_trees_keep(name, tmp_path):
    path = variant(name, tmp_path / "src")
    store, trees = opened(path), from_trees(path)
    models = [g.group for g in store.stats("model")]
    tools = [g.group for g in store.stats("tool")]
    assert models and tools
    for flt in [*(RunFilter(model=m) for m in models), *(RunFilter(tool=t) for t in tools), RunFilter(tool="none")]:
        assert store.run_ids(flt) == trees.run_ids(flt), flt
        assert store.count_sessions(flt) == trees.count_sessions(flt), flt


def test_a_filter_by_a_name_that_is_not_utf8_asks_the_calls_view_not_the_trees(tmp_path, monkeypatch):
    """A model or tool shown with \\xNN (its bytes are not UTF-8) is found by its bytes in SQL, as any
    other: no run's tree is built to find it."""
    from tracetui.sources import sqlite_steps

    path = variant("mlflow, a model and a tool not UTF-8", tmp_path / "src")
    store = opened(path)
    models = {g.group: g.runs for g in store.stats("model")}
    tools = {g.group: g.runs for g in store.stats("tool")}
    model, tool = "claude-sonnet-4-5\\xff", "tool\\xff"
    assert models[model] and tools[tool]  # shown as the viewer and the CLI show them
    built = []
    real = sqlite_steps.build_safely
    monkeypatch.setattr(sqlite_steps, "build_safely", lambda *a: built.append(a[2]) or real(*a))
    by_model, by_tool = store.run_ids(RunFilter(model=model)), store.run_ids(RunFilter(tool=tool))
    assert built == []
    assert by_model and by_tool and by_model != store.run_ids()
    monkeypatch.undo()
    trees = from_trees(path)
    assert (by_model, by_tool) == (trees.run_ids(RunFilter(model=model)), trees.run_ids(RunFilter(tool=tool)))


@pytest.mark.parametrize("name", [name for name in VARIANTS if "escapes" in name])
def test_keys_spelled_with_escapes_are_read_in_the_run_list_as_in_the_trees(name, tmp_path):
    """The run list's sums and costs (SQL over the format's tables) are the trees' sums, estimates
    included, where a key (MLflow's `attributes` too) is spelled with \\u escapes; nothing is listed as odd."""
    from tracetui.model import DERIVED_RUN_FIELDS, TOKEN_PARTS, TOTAL_FIELDS, Run, finalize_run

    path = variant(name, tmp_path / "src")
    store = opened(path)
    for run_id in store.run_ids():
        listed = store.get_run(run_id)
        reported = {field: getattr(listed, field) for field in (*TOTAL_FIELDS, *TOKEN_PARTS)}
        summed = finalize_run(Run(id=run_id, started_at=listed.started_at, steps=store.steps(run_id), **reported))
        for field in DERIVED_RUN_FIELDS:
            assert getattr(listed, field) == pytest.approx(getattr(summed, field)), (run_id, field)
        assert listed.flags == summed.flags, run_id  # (a reported total checked against the same sums)
    assert [str(p) for p in store.problems()] == [
        str(p) for p in opened(copied(VARIANTS[name][0], tmp_path)).problems()
    ]
