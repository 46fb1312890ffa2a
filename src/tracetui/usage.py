"""The token convention, in one place: what tokens_in and tokens_out count, whatever a source calls them.

tokens_in is every input token the model read, cache reads and cache writes included; tokens_out is
every token it generated, reasoning included (as the OpenTelemetry GenAI usage attributes count
them). The parts are kept beside them. Sources differ in what their own counts include: Anthropic's
input_tokens leaves the cache out, Gemini's candidates leave the thoughts out, OpenAI's counts hold
both. Each source says which (counted()), or hands over a usage mapping of a provider's own shape
(from_mapping()). Docs: docs/formats.md, "Tokens".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from . import normalize
from .model import Run, Step


class Tokens(NamedTuple):
    """Token counts in the convention, with the parts (None where the source did not say).

    A named tuple rather than a frozen dataclass: one is made for every step of an import, at a third the cost."""

    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_cache_read: int | None = None
    tokens_cache_write: int | None = None
    tokens_reasoning: int | None = None

    def apply(self, target: Step | Run) -> None:
        target.tokens_in, target.tokens_out = self.tokens_in, self.tokens_out
        target.tokens_cache_read, target.tokens_cache_write = self.tokens_cache_read, self.tokens_cache_write
        target.tokens_reasoning = self.tokens_reasoning

    @property
    def empty(self) -> bool:
        return all(
            v is None for v in (self.tokens_in, self.tokens_out, self.tokens_cache_read, self.tokens_cache_write)
        )


def _plus(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def plain(tokens_in: Any, tokens_out: Any) -> Tokens:
    """Counts without parts (cache, reasoning) in the convention: as they are, made integers.
    What counted() gives for them, whatever the source's counts include."""
    return Tokens(normalize.integer(tokens_in), normalize.integer(tokens_out))


def counted(
    tokens_in: Any,
    tokens_out: Any,
    *,
    cache_read: Any = None,
    cache_write: Any = None,
    reasoning: Any = None,
    input_has_cache: bool,
    output_has_reasoning: bool,
    total: Any = None,
) -> Tokens:
    """A source's counts in the convention: the cache added to the input, the reasoning to the output,
    unless the source's counts already hold them (`input_has_cache`, `output_has_reasoning`).

    `total`, where the source reports one, settles what the counts include when it says otherwise than
    the source usually does (older builds of a library, an instrumentation that deviates): the reading
    whose sum matches it is taken.
    """
    if cache_read is None and cache_write is None and reasoning is None:
        # No parts: nothing to add, and the total cannot choose a reading (read only for its note, if
        # it is a number out of range, as below).
        tokens = plain(tokens_in, tokens_out)
        if total is not None:
            normalize.integer(total)
        return tokens
    tin, tout = normalize.integer(tokens_in), normalize.integer(tokens_out)
    read, write, think = normalize.integer(cache_read), normalize.integer(cache_write), normalize.integer(reasoning)
    cache, thought = (read or 0) + (write or 0), think or 0
    reported = normalize.integer(total)
    if reported is not None and tin is not None and tout is not None and (cache or thought):
        both = tin + tout

        def implied(has_cache: bool, has_reasoning: bool) -> int:
            return both + (0 if has_cache else cache) + (0 if has_reasoning else thought)

        if implied(input_has_cache, output_has_reasoning) != reported:
            # Only the readings that differ: with no reasoning, whether the output holds it is moot.
            cache_readings = (True, False) if cache else (input_has_cache,)
            reasoning_readings = (True, False) if thought else (output_has_reasoning,)
            fits = [(c, r) for c in cache_readings for r in reasoning_readings if implied(c, r) == reported]
            if len(fits) == 1:
                input_has_cache, output_has_reasoning = fits[0]
    if not input_has_cache and cache:
        tin = _plus(tin, read, write)
    if not output_has_reasoning and thought:
        tout = _plus(tout, think)
    return Tokens(tin, tout, read, write, think)


# Where the usage mappings of the providers and libraries keep each count, and whether the part is
# already inside the input/output count beside it: (path, what, included).
_INPUT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count", "promptTokenCount")
_OUTPUT_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count", "candidatesTokenCount")
_PART_KEYS: tuple[tuple[tuple[str, ...], str, bool], ...] = (
    (("cache_read_input_tokens",), "cache_read", False),  # Anthropic Messages
    (("cache_creation_input_tokens",), "cache_write", False),  # Anthropic Messages
    (("prompt_tokens_details", "cached_tokens"), "cache_read", True),  # OpenAI Chat Completions
    (("prompt_tokens_details", "cache_write_tokens"), "cache_write", True),
    (("input_tokens_details", "cached_tokens"), "cache_read", True),  # OpenAI Responses, Agents SDK
    (("input_tokens_details", "cache_write_tokens"), "cache_write", True),
    (("cached_input_tokens",), "cache_read", True),  # Agents SDK totals on task and turn spans
    (("cache_write_input_tokens",), "cache_write", True),
    (("input_token_details", "cache_read"), "cache_read", True),  # LangChain usage_metadata
    (("input_token_details", "cache_creation"), "cache_write", True),
    (("cached_content_token_count",), "cache_read", True),  # Gemini
    (("cachedContentTokenCount",), "cache_read", True),
    (("completion_tokens_details", "reasoning_tokens"), "reasoning", True),  # OpenAI
    (("output_tokens_details", "reasoning_tokens"), "reasoning", True),
    (("output_token_details", "reasoning"), "reasoning", True),  # LangChain usage_metadata
    (("thoughts_token_count",), "reasoning", False),  # Gemini: thoughts are not in candidates
    (("thoughtsTokenCount",), "reasoning", False),
)
_TOTAL_KEYS = ("total_tokens", "total_token_count", "totalTokenCount")
_PART_FIRST_KEYS = frozenset(path[0] for path, _, _ in _PART_KEYS)


def _at(mapping: Mapping, path: tuple[str, ...]) -> Any:
    value: Any = mapping
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _first(mapping: Mapping, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def from_mapping(usage: Mapping) -> Tokens:
    """A usage mapping as a provider or library writes it (OpenAI, Anthropic, Gemini, LangChain, the
    Agents SDK), in the convention: the shape tells which parts its counts already hold."""
    parts: dict[str, int] = {}
    excluded = {"cache": False, "reasoning": False}
    # Most mappings hold no part at all (input and output only): one set operation, not 17 lookups.
    present = _PART_FIRST_KEYS.intersection(usage.keys()) if isinstance(usage, dict) else _PART_FIRST_KEYS
    for path, what, included in _PART_KEYS:
        if what in parts or path[0] not in present:
            continue
        value = normalize.integer(_at(usage, path))
        if value is None:
            continue
        parts[what] = value
        if not included:
            excluded["reasoning" if what == "reasoning" else "cache"] = True
    return counted(
        _first(usage, _INPUT_KEYS),
        _first(usage, _OUTPUT_KEYS),
        cache_read=parts.get("cache_read"),
        cache_write=parts.get("cache_write"),
        reasoning=parts.get("reasoning"),
        input_has_cache=not excluded["cache"],
        output_has_reasoning=not excluded["reasoning"],
        total=_first(usage, _TOTAL_KEYS),
    )


USAGE_KEYS = frozenset({*_INPUT_KEYS, *_OUTPUT_KEYS, *_TOTAL_KEYS, *(path[0] for path, _, _ in _PART_KEYS)})


def split_model(name: Any) -> tuple[str | None, str | None]:
    """(provider, model) from a "provider/model" name as Inspect AI writes it ("openai/gpt-4o",
    "openrouter/meta-llama/llama-3.1-8b"): the provider is the part before the first slash."""
    text = normalize.text(name)
    if not text:
        return None, None
    provider, slash, model = text.partition("/")
    return (provider, model) if slash and provider and model else (None, text)
