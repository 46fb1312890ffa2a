"""jsonsafe: JSON in and out for untrusted values, never an exception, never a Python repr."""

import json

import orjson
import pytest

from tracetui import jsonsafe

INDENT = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def nested(depth: int, leaf=None) -> list:
    root: list = []
    node = root
    for _ in range(depth - 1):
        child: list = []
        node.append(child)
        node = child
    if leaf is not None:
        node.append(leaf)
    return root


def test_dumps_is_orjson_for_ordinary_values():
    value = {"a": [1, 2.5, None, True], "b": {"c": "text"}, 3: "non-str key"}
    assert jsonsafe.dumps(value) == orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


@pytest.mark.parametrize("depth", [255, 300, 990, 5000])
def test_dumps_writes_json_at_any_depth_never_a_python_repr(depth):
    text = jsonsafe.dumps({"payload": nested(depth, "leaf")})
    assert text.startswith('{"payload":[[[')
    assert text.count("[") == depth and '"leaf"' in text


def test_indented_dumps_of_any_depth_is_what_orjson_indents_until_the_indentation_stops_growing():
    from tracetui.display import MAX_NESTING

    value = {"a": [1, {"b": None, "c": []}, {}], "d": "x\u202e", 3: [2.5, True]}
    assert jsonsafe.dumps(value, indent=True) == orjson.dumps(value, option=INDENT).decode()
    # The careful writer (what orjson refuses goes there) lays out the same text as orjson would.
    assert jsonsafe._careful_dumps(value, indent=True) == orjson.dumps(value, option=INDENT).decode()
    shallow = nested(2 * MAX_NESTING - 2, {"leaf": [1]})  # the leaf 1 is 2 * MAX_NESTING levels deep
    assert jsonsafe._careful_dumps(shallow, indent=True) == orjson.dumps(shallow, option=INDENT).decode()
    deep = nested(5000, {"leaf": "x\udfff"})  # deeper than orjson writes, a lone surrogate
    text = jsonsafe.dumps(deep, indent=True)
    assert '"leaf": "x\\\\udfff"' in text
    read, repairs = jsonsafe.loads(text)
    assert not repairs and jsonsafe.dumps(read) == jsonsafe.dumps(deep)  # (== on the values would recurse)
    assert max(len(line) - len(line.lstrip(" ")) for line in text.splitlines()) == 2 * (2 * MAX_NESTING)


def test_dumps_keeps_big_integers_and_shows_lone_surrogates():
    text = jsonsafe.dumps({"big": 2**70, "neg": -(2**64), "s": "a\udfffb", "k\ud800": 1})
    assert text == '{"big":1180591620717411303424,"neg":-18446744073709551616,"s":"a\\\\udfffb","k\\\\ud800":1}'
    assert orjson.loads(text)["s"] == "a\\udfffb"  # valid JSON: the surrogate is now visible text


def test_for_output_escapes_del_and_c1_like_c0_but_keeps_bidi_and_zero_width():
    data = jsonsafe.for_output({"id": "a\x1b[31m\x9b\x85\x7fz\u202e\u200b"})
    assert data == b'{"id":"a\\u001b[31m\\u009b\\u0085\\u007fz\xe2\x80\xae\xe2\x80\x8b"}'
    assert orjson.loads(data) == {"id": "a\x1b[31m\x9b\x85\x7fz\u202e\u200b"}
    assert jsonsafe.for_output({"a": [1]}, indent=True) == b'{\n  "a": [\n    1\n  ]\n}'


def test_loads_fast_path_has_no_notes():
    assert jsonsafe.loads(b'{"a": 1}') == ({"a": 1}, [])


@pytest.mark.parametrize(
    ("raw", "value", "note"),
    [
        (b'{"a": "x\\udfffy"}', {"a": "x\\udfffy"}, "unpaired surrogate"),
        (b'{"a": "\\ud800 then \\ud83d\\ude00"}', {"a": "\\ud800 then \U0001f600"}, "unpaired surrogate"),
        (b'{"a": "caf\xe9"}', {"a": "caf\\xe9"}, "not UTF-8"),
        (b'{"a": "tab\x01"}', {"a": "tab\x01"}, "control characters"),
        (b'{"a": NaN, "b": -Infinity, "c": 1e400, "d": "NaN 1e400"}', None, "NaN, Infinity"),
    ],
)
def test_loads_repairs_what_orjson_refuses_and_says_so(raw, value, note):
    got, notes = jsonsafe.loads(raw)
    if value is not None:
        assert got == value
    else:
        assert got == {"a": "NaN", "b": "-Infinity", "c": "1e400", "d": "NaN 1e400"}
    assert len(notes) == 1 and note in notes[0]


def test_an_escaped_backslash_before_u_is_not_a_surrogate_escape():
    value, notes = jsonsafe.loads(b'{"a": "\\\\udfff", "b": NaN}')  # NaN: so that the repairs run
    assert value == {"a": "\\udfff", "b": "NaN"}
    assert not any("surrogate" in note for note in notes)


@pytest.mark.parametrize("depth", [1100, 20_000])
def test_loads_reads_values_deeper_than_orjson_without_recursion(depth):
    value, notes = jsonsafe.loads(("[" * depth + "1" + "]" * depth).encode())
    assert notes == []
    node, levels = value, 1
    while node != [1]:
        node, levels = node[0], levels + 1
    assert levels == depth


def test_loads_keeps_what_lies_below_max_depth_as_json_text(monkeypatch):
    monkeypatch.setattr(jsonsafe, "MAX_DEPTH", 1030)
    value, notes = jsonsafe.loads(("[" * 1040 + '"x"' + "]" * 1040).encode())
    node = value
    for _ in range(1029):
        node = node[0]
    assert node == ["[" * 10 + '"x"' + "]" * 10]
    assert "nested deeper than 1030 levels" in notes[0]


@pytest.mark.parametrize("raw", [b"[1,]", b'{"a" 1}', b"[1] 2", b"[", b"", b"nope", b"[" * 1100 + b"]" * 1099])
def test_loads_raises_the_orjson_error_for_what_is_not_json(raw):
    with pytest.raises(orjson.JSONDecodeError):
        jsonsafe.loads(raw)


def test_build_agrees_with_json_on_ordinary_documents():
    text = '{"a": [1, -2.5e3, true, false, null, "s\\n\\u00e9"], "b": {}, "c": [], "d": {"e": [{"f": 1}]}}'
    assert jsonsafe._build(text) == json.loads(text)


def test_hidden_bytes_undoes_what_visible_surrogates_showed_of_text_that_is_not_utf8():
    for raw in (b"bad\xe9", b"caf\xc3\xa9 \xff\x80z", b"\xe9"):
        shown = jsonsafe.visible_surrogates(raw.decode("utf-8", "surrogateescape"))
        assert "\\x" in shown and jsonsafe.hidden_bytes(shown) == raw
    assert jsonsafe.hidden_bytes("plain") is None
    assert jsonsafe.hidden_bytes("\\x41 is ASCII, never escaped") is None


def test_unshown_gives_back_what_the_viewer_showed_escaped():
    from tracetui import display

    for text in ("run\x1b1", "id\u202egnp\u200b", "c1\x85", "tab\x7f"):
        assert jsonsafe.unshown(display.safe(text))[0] == text
    raw = b"bad\xff\x1b"  # not UTF-8, with a control character: shown as bad\xff\x1b
    shown = display.safe(jsonsafe.visible_surrogates(raw.decode("utf-8", "surrogateescape")))
    assert shown == "bad\\xff\\x1b" and raw in jsonsafe.unshown(shown)
    assert jsonsafe.unshown("C:\\runs\\x") == [] and jsonsafe.unshown("plain") == []
    assert jsonsafe.unshown("\\x41 and \\u00e9 are never escaped") == []
