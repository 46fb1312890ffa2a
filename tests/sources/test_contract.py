"""Every format keeps the contract of sources/contract.py, and the registry is found, not listed."""

from __future__ import annotations

import inspect
import pkgutil
import re
import sys
from importlib import import_module
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracetui import sources
from tracetui.cli import main
from tracetui.sources import contract

ROOT = Path(__file__).resolve().parents[2]
FORMATS = sources.formats()
OPTIONAL = (
    contract.InPlace,
    contract.LinesInParallel,
    contract.GroupsInParallel,
    contract.Companions,
    contract.InDatabase,
    contract.Resumable,
)
DATA = {"NAME": str, "DESCRIPTION": str, "DETECTION": str, "PRIORITY": int}


def hooks(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if inspect.isfunction(value) and not name.startswith("_")]


def parameters(function) -> list[str]:
    """The parameters as the contract sees them: their number, and where the Head goes (names are free)."""
    names = [p.name for p in inspect.signature(function).parameters.values() if p.name != "self"]
    return [name if name in ("head", "known_sort_keys") else "_" for name in names]


def by_name(source) -> str:
    return source.NAME


def test_every_module_of_the_package_is_a_format_or_a_marked_helper():
    modules = [import_module(f"tracetui.sources.{m.name}") for m in pkgutil.iter_modules(sources.__path__)]
    helpers = [m for m in modules if getattr(m, "HELPER", False)]
    assert sorted(m.__name__ for m in modules if m not in helpers) == sorted(s.__name__ for s in FORMATS)
    assert helpers and not any(isinstance(m, contract.Source) for m in helpers)


def test_a_module_that_is_neither_a_format_nor_a_helper_is_refused(tmp_path, monkeypatch):
    (tmp_path / "half_done.py").write_text('NAME = "half-done"\n')
    monkeypatch.setattr(sources, "__path__", [*sources.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "tracetui.sources.half_done", raising=False)
    with pytest.raises(TypeError, match="half_done is neither a format"):
        sources.formats()
    sys.modules.pop("tracetui.sources.half_done", None)


@pytest.mark.parametrize("source", FORMATS, ids=by_name)
def test_format_keeps_the_source_contract(source):
    assert isinstance(source, contract.Source)
    for name, kind in DATA.items():
        assert type(getattr(source, name)) is kind, name
    assert source.NAME and source.DESCRIPTION and source.DETECTION
    for hook in hooks(contract.Source):
        assert parameters(getattr(source, hook)) == parameters(getattr(contract.Source, hook)), hook


@pytest.mark.parametrize("source", FORMATS, ids=by_name)
def test_an_optional_protocol_is_offered_whole_or_not_at_all(source):
    for protocol in OPTIONAL:
        offered = [hook for hook in hooks(protocol) if hasattr(source, hook)]
        if not offered:
            assert not isinstance(source, protocol)
            continue
        assert offered == hooks(protocol), f"{source.NAME} offers only {offered} of {protocol.__name__}"
        assert isinstance(source, protocol)
        for hook in offered:
            assert parameters(getattr(source, hook)) == parameters(getattr(protocol, hook)), hook
    assert not (isinstance(source, contract.LinesInParallel) and isinstance(source, contract.GroupsInParallel))


def test_what_each_format_offers():
    offers = {
        s.NAME: [p.__name__ for p in OPTIONAL if isinstance(s, p)]
        for s in FORMATS
        if any(isinstance(s, p) for p in OPTIONAL)
    }
    assert offers == {
        "tracetui-sqlite": ["InPlace"],
        "agent-traces": ["InPlace", "InDatabase"],
        "phoenix": ["InPlace", "InDatabase"],
        "tracetui-postgres": ["InDatabase"],
        "mlflow": ["InPlace"],
        "opencode": ["InPlace"],
        "tracetui-jsonl": ["LinesInParallel"],
        "export": ["LinesInParallel"],
        "otlp": ["GroupsInParallel", "Resumable"],
        "langsmith": ["GroupsInParallel", "Resumable"],
        "openai-agents": ["GroupsInParallel", "Resumable"],
        "langfuse": ["GroupsInParallel", "Resumable"],
        "events": ["GroupsInParallel", "Resumable"],
        "claude-code": ["Companions", "Resumable"],
        "codex": ["Companions", "Resumable"],
        "gemini-cli": ["Resumable"],
    }


def test_detection_order_is_by_priority_then_name():
    assert FORMATS == sorted(FORMATS, key=lambda s: (-s.PRIORITY, s.NAME))
    assert len({s.NAME for s in FORMATS}) == len(FORMATS)
    # The loose catch-alls are asked last.
    assert [s.NAME for s in FORMATS][-2:] == ["export", "events"]


@pytest.mark.parametrize("source", FORMATS, ids=by_name)
def test_by_name_finds_every_format(source):
    assert sources.by_name(source.NAME) is source


def test_by_name_of_an_unknown_format_is_a_key_error():
    with pytest.raises(KeyError):
        sources.by_name("no-such-format")


# -- every format is documented where users look, with nothing listed by hand -----------------------


@pytest.mark.parametrize("source", FORMATS, ids=by_name)
def test_format_is_listed_by_tracetui_formats(source):
    out = CliRunner().invoke(main, ["formats"]).stdout
    assert f"{source.NAME}\n  {source.DESCRIPTION}\n  detected by: {source.DETECTION}\n" in out


@pytest.mark.parametrize("source", FORMATS, ids=by_name)
def test_format_has_a_section_in_docs_formats(source):
    text = (ROOT / "docs" / "formats.md").read_text()
    assert re.search(rf"^## {re.escape(source.NAME)}( |$)", text, re.M), f"no '## {source.NAME}' in docs/formats.md"


@pytest.mark.parametrize("source", FORMATS, ids=by_name)
def test_format_has_a_bullet_in_the_readme(source):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Formats\n", 1)[1].split("\n## ", 1)[0]
    assert f"\n- `{source.NAME}`: " in section, f"no '- `{source.NAME}`:' under README's Formats"
