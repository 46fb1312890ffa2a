"""Staging: records grouped by key in a temporary SQLite file, read back one group at a time."""

from __future__ import annotations

import os

import pytest

from tracetui.errors import UnusableInput
from tracetui.sources import Head
from tracetui.sources.staging import Staging, stage_records


def test_staging_groups_in_first_seen_order_and_removes_its_file():
    with Staging() as staging:
        for i in range(5000):
            staging.add(f"t{i % 3}", {"i": i}, line=i + 1)
        groups = [(g, [rec["i"] for _, rec in records][:2], len(records)) for g, records in staging.groups()]
        path = staging.path
    assert groups == [("t0", [0, 3], 1667), ("t1", [1, 4], 1667), ("t2", [2, 5], 1666)]
    assert not os.path.exists(path)


def group_of(line, record):
    return (record["key"], record) if "key" in record else None


def test_stage_records_stages_each_record_under_its_key():
    head = Head(path="runs.jsonl", data=b"")
    with Staging() as staging:
        stage_records(staging, [(1, {"key": "a"}), (2, {}), (3, {"key": "b"}), (4, {"key": "a"})], group_of, head, "x")
        assert [(key, [line for line, _ in records]) for key, records in staging.groups()] == [
            ("a", [1, 4]),
            ("b", [3]),
        ]


def test_stage_records_refuses_a_file_with_nothing_usable_unless_told_not_to():
    head = Head(path="runs.jsonl", data=b"")
    with (
        Staging() as staging,
        pytest.raises(UnusableInput, match="looks like things, but none of its 2 records is usable"),
    ):
        stage_records(staging, [(1, {}), (2, {"other": 1})], group_of, head, "things")
    with Staging() as staging:
        stage_records(staging, [(1, {})], group_of, head, None)
        assert list(staging.groups()) == []
