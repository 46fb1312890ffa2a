"""Reading JSON records: one bad value or record costs itself, never the rest of the file."""

import io

import pytest

from tracetui.model import Problem
from tracetui.sources import SourceFile
from tracetui.sources.jsondoc import Document, JsonSyntaxError
from tracetui.sources.records import json_document_items, json_lines, json_values

TRICKY = b'\xef\xbb\xbf [1, "a\\"]b", {"x": [1, {"y": "]"}]}, NaNx , {"a": 1} {"b": 2}, "\\udfff" ]'
TRICKY_ITEMS = [b"1", b'"a\\"]b"', b'{"x": [1, {"y": "]"}]}', b"NaNx", b'{"a": 1}', b'{"b": 2}', b'"\\udfff"']


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 1 << 20])
def test_document_finds_the_same_items_whatever_the_read_size(chunk):
    doc = Document(io.BytesIO(TRICKY), chunk=chunk)
    assert [doc.raw() for _ in doc.items()] == TRICKY_ITEMS


def test_document_members_values_and_lines():
    doc = Document(io.BytesIO(b'{"a": {"skip": [1]},\n "b": "x",\n "c": [1,\n 2]}\n{"next": 1}'), chunk=4)
    seen = []
    for key in doc.members():
        if key == "b":
            seen.append((key, doc.raw(), doc.line))
        elif key == "c":
            seen.append((key, [doc.raw() for _ in doc.items()], doc.line))
    assert seen == [("b", b'"x"', 2), ("c", [b"1", b"2"], 4)]
    assert [doc.raw() for _ in doc.values()] == [b'{"next": 1}']


def test_document_end_inside_a_string_is_a_syntax_error_with_its_place():
    doc = Document(io.BytesIO(b'[1, {"a": "never closed}, 2]'), chunk=3)
    items = doc.items()
    next(items)
    doc.raw()
    next(items)
    with pytest.raises(JsonSyntaxError) as caught:
        doc.raw()
    assert caught.value.offset == 10 and caught.value.line == 1  # where the string opens


def write(tmp_path, data: bytes) -> SourceFile:
    path = tmp_path / "doc.json"
    path.write_bytes(data)
    return SourceFile(str(path))


def read_items(source, key=None):
    problems: list[Problem] = []
    return list(json_document_items(source, key, problems.append)), [str(p) for p in problems]


def test_one_bad_token_in_a_document_costs_only_its_item(tmp_path):
    source = write(tmp_path, b'{"runs": [\n{"n": 1},\n{"n": 2, "bad": NaNx},\n{"n": 3},\n{"n": 4}\n]}')
    items, problems = read_items(source, "runs")
    assert items == [(1, {"n": 1}), (3, {"n": 3}), (4, {"n": 4})]
    assert len(problems) == 1 and problems[0].startswith("line 3: item 2: skipped: invalid JSON")


def test_document_values_ijson_refuses_are_read_with_a_repair_or_as_they_are(tmp_path):
    deep = b"[" * 3000 + b"]" * 3000
    source = write(
        tmp_path,
        b'\xef\xbb\xbf[{"n": 1}, {"s": "x\\udfffy"}, {"big": 18446744073709551615}, {"deep": ' + deep + b"}, {}]",
    )
    items, problems = read_items(source)
    assert [index for index, _ in items] == [1, 2, 3, 4, 5]
    assert items[1][1] == {"s": "x\\udfffy"} and items[2][1] == {"big": 18446744073709551615}
    assert problems == ["line 1: item 2: read with a repair: unpaired surrogate escapes kept as the text \\udXXX"]


def test_a_cut_off_document_keeps_every_item_before_the_cut(tmp_path):
    source = write(tmp_path, b'[{"n": 1}, {"n": 2}, {"n": 3, "s": "cut')
    items, problems = read_items(source)
    assert [index for index, _ in items] == [1, 2]
    assert problems == [
        "line 1: the JSON document breaks off after item 2: the document ends inside a string at byte 35;"
        " later items skipped"
    ]


def test_json_values_reads_records_in_a_row(tmp_path):
    source = write(tmp_path, b'{\n "n": 1\n}\n{"n": 2, "x": NaN}\n[3]')
    problems: list[Problem] = []
    assert list(json_values(source, problems.append)) == [(1, {"n": 1}), (2, {"n": 2, "x": "NaN"}), (3, [3])]
    assert [str(p) for p in problems] == [
        "line 4: value 2: read with a repair: NaN, Infinity or numbers too large for a double kept as strings"
    ]


def test_json_lines_repairs_or_skips_each_line_alone(tmp_path):
    deep = b"[" * 1500 + b"]" * 1500
    data = b'\xef\xbb\xbf{"n": 1}\n{"s": "\\udfff"}\n\n{"n": NaNx}\n{"deep": ' + deep + b'}\n[1]\n{"n": 6}'
    source = write(tmp_path, data)
    problems: list[Problem] = []
    lines = list(json_lines(source, problems.append))
    assert [number for number, _ in lines] == [1, 2, 5, 7]
    assert lines[1][1] == {"s": "\\udfff"}
    assert [str(p).split(" (")[0] for p in problems] == [
        "line 2: read with a repair: unpaired surrogate escapes kept as the text \\udXXX",
        "line 4: skipped: invalid JSON",
        "line 6: skipped: expected a JSON object, got list",
    ]


def test_a_bom_and_good_documents_take_the_fast_reader(tmp_path, monkeypatch):
    import tracetui.sources.records as records

    def careful(*args, **kwargs):
        raise AssertionError("the careful reader is for documents ijson refuses")

    monkeypatch.setattr(records, "_careful_document", careful)
    source = write(tmp_path, b'\xef\xbb\xbf{"runs": [{"n": 1}, {"n": 2}]}')
    assert read_items(source, "runs") == ([(1, {"n": 1}), (2, {"n": 2})], [])
