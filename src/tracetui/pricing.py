"""Estimated costs: model calls priced from the price table bundled with the installed genai-prices.

A step with a model name and token counts but no cost the source reported gets `cost_usd` computed
from pydantic's genai-prices table and `cost_estimated = True`; a reported cost is never touched.
Models are matched the way genai-prices matches them (`DataSnapshot.find_provider_model`): with the
step's provider when it has one (an unknown provider — a local runtime such as ollama — leaves the
call unpriced rather than priced as someone else's model), else by the model name alone, else split
as "provider/model". The call's own start time picks the price in force then.

No network: tracetui builds its own snapshot of the data bundled in the package and never starts
genai-prices' updater (`UpdatePrices`), which is the only thing in it that fetches. New prices come
with a newer genai-prices (pip install -U genai-prices); the import cache keys on its version.

Speed: genai-prices takes ~250 µs a call, minutes for a million model calls. Within one price
(a `ModelPrice` and, for tiered prices, one tier) the cost is an affine function of the five token
counts, so its coefficients are read off the library's own results for a few probe usages and
checked against the library's result for the first real call; every later call in that price is
five Decimal multiplications. Anything the check does not confirm goes to the library every time.
The same coefficients, as integers over a power of ten (`Pricer.rates`, per model and UTC day), let
SQL price the calls of a database read in place exactly as this does (`sql_cost`).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import sqlite3
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from . import jsonsafe
from .model import Problem, Run, finalized

if TYPE_CHECKING:
    from decimal import Decimal

    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, Provider

PACKAGE = "genai-prices"
_SQL_PRICER = "tracetui_pricer"  # which Pricer a connection has: see pricer_of()

Counts = tuple[int, int, int, int, int]  # tokens in, out, cache read, cache write, reasoning
TokenCounts = tuple[int | None, int | None, int | None, int | None, int | None]  # as a step holds them


@functools.cache
def data_version() -> str | None:
    """The installed genai-prices version (the version of its bundled price data), without importing it.

    Read from the name of its .dist-info directory beside the package: every open of a file that is
    imported asks (the cache keys on it), and importlib.metadata alone takes ~45 ms to import.
    """
    spec = importlib.util.find_spec("genai_prices")
    if spec is None or not spec.origin:
        return None
    site = os.path.dirname(os.path.dirname(spec.origin))
    prefix, suffix = "genai_prices-", ".dist-info"
    found = [name for name in os.listdir(site) if name.startswith(prefix) and name.endswith(suffix)]
    if len(found) == 1:
        return found[0][len(prefix) : -len(suffix)]
    from importlib import metadata  # an unusual layout: ask the slow, sure way

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def data_dated() -> str | None:
    """The latest date a price in the bundled data takes effect (some are announced ahead). Imports the
    table (~0.5 s), so only `--version` and the help screen ask."""
    try:
        from genai_prices.data import providers
    except ImportError:
        return None
    dates = []
    for provider in providers:
        for model in provider.models:
            conditions = [*(model.prices if isinstance(model.prices, list) else ()), *(model.price_variants or ())]
            for condition in conditions:
                start = getattr(condition.constraint, "start_date", None)
                if start is not None:
                    dates.append(start)
    return max(dates).isoformat() if dates else None


def describe(*, dated: bool = True) -> str:
    """ "genai-prices 0.2.5 (bundled data, prices dated up to 2027-03-01)", for --version and help."""
    version = data_version()
    if version is None:
        return f"{PACKAGE} is not installed: no costs are estimated"
    when = data_dated() if dated else None
    return f"{PACKAGE} {version} (bundled data{f', prices dated up to {when}' if when else ''})"


def cache_tag(estimate: bool) -> str:
    """What the import cache keys on besides the file: estimated costs change with the price data."""
    return f"prices={data_version()}" if estimate else "prices=off"


def _when(iso_text: str | None) -> datetime | None:
    if not iso_text:
        return None
    try:
        when = datetime.fromisoformat(iso_text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@dataclass
class _Affine:
    """cost = const + Σ coefficient × count, for counts in one price (and tier); None until checked."""

    const: Decimal
    coefficients: tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
    checked: bool = False

    def at(self, counts: Counts) -> Decimal:
        total = self.const
        for k, n in zip(self.coefficients, counts, strict=True):
            if n:
                total += k * n
        return total


class Pricer:
    """Prices model calls, remembering the models it found and their prices' coefficients. One per
    import (or worker process block, or in-place connection)."""

    def __init__(self) -> None:
        self._snapshot: DataSnapshot | None = None
        self._found: dict[tuple[str, str | None], tuple[Provider, ModelInfo] | None] = {}
        # Keyed on id(ModelPrice), which the table's objects keep for the whole process (held in the values).
        self._affine: dict[tuple[int, int], tuple[ModelPrice, _Affine | None]] = {}
        self._starts: dict[int, list[int]] = {}
        self._rates: dict[int, tuple[ModelPrice, DayRates]] = {}  # by id(ModelPrice), as _affine

    # -- finding the model ------------------------------------------------------------------------
    def _data(self) -> DataSnapshot:
        if self._snapshot is None:
            from genai_prices.data import providers
            from genai_prices.data_snapshot import DataSnapshot

            # Our own snapshot of the bundled data: an updater someone else started in this process
            # (genai_prices.UpdatePrices) swaps the library's global one, never this.
            self._snapshot = DataSnapshot(providers=providers, from_auto_update=False)
        return self._snapshot

    def find(self, model: str, provider: str | None) -> tuple[Provider, ModelInfo] | None:
        """The price table's provider and model for a model name as a source wrote it (None: not there)."""
        key = (model, provider)
        if key not in self._found:
            self._found[key] = next(self._lookups(model, provider), None)
        return self._found[key]

    def _lookups(self, model: str, provider: str | None) -> Iterator[tuple[Provider, ModelInfo]]:
        data = self._data()
        prefix, slash, rest = model.partition("/")
        attempts: list[tuple[str, str | None]]
        if provider:
            attempts = [(model, provider), *([(rest, provider)] if slash and rest else [])]
        else:
            attempts = [(model, None), *([(rest, prefix)] if slash and rest and prefix else [])]
        for ref, provider_id in attempts:
            try:
                yield data.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue

    # -- pricing ----------------------------------------------------------------------------------
    def cost(
        self,
        model: str | None,
        provider: str | None,
        counts: TokenCounts,
        when: str | None = None,
    ) -> float | None:
        """USD for one model call, or None (unknown model, no token counts, counts the table cannot use).

        `counts` are tokens in, out, cache read, cache write, reasoning in tracetui's convention: the
        cache inside the input, the reasoning inside the output (as genai-prices counts them too).
        """
        tin, tout, read, write, thought = counts
        if not model or (tin is None and tout is None):
            return None
        found = self.find(model, provider)
        if found is None:
            return None  # reported once per model when the import ends (unpriced_messages)
        read, write, thought = read or 0, write or 0, thought or 0
        tin = tin if tin is not None else read + write
        usage: Counts = (tin, tout or 0, read, write, thought)
        if min(usage) < 0 or read + write > tin or thought > usage[1]:
            return None  # the library refuses such counts; so do we
        try:
            total = self._total(found, usage, _when(when) or datetime.now(tz=UTC))
        except (ValueError, ArithmeticError, LookupError):
            return None
        return float(total)

    def _total(self, found: tuple[Provider, ModelInfo], usage: Counts, when: datetime) -> Decimal:
        provider, info = found
        price = info.get_prices(when)
        starts = self._starts.get(id(price))
        if starts is None:
            starts = self._starts[id(price)] = _tier_starts(price)
        region = sum(1 for start in starts if usage[0] > start)  # genai-prices: a tier applies above its start
        key = (id(price), region)
        entry = self._affine.get(key)
        if entry is None:
            entry = self._affine[key] = (price, _probe(info, provider, starts, region, when))
        affine = entry[1]
        if affine is None:
            return _library(info, provider, usage, when)
        if not affine.checked:
            exact = _library(info, provider, usage, when)
            if affine.at(usage) != exact:
                self._affine[key] = (price, None)
                return exact
            affine.checked = True
        return affine.at(usage)

    # -- rates: one price for many calls, applied by SQL ------------------------------------------
    def rates(self, model: str, provider: str | None, day: str) -> DayRates:
        """The rates of a model's calls made on one UTC day (ISO date), for SQL to apply (sql_cost).

        None: the model is not in the price table (its calls are unpriced). BY_CALL: the price cannot be
        applied as rates × counts (a price that changes with the time of day, as DeepSeek's off-peak
        one, or one the library does not compute as an affine function of the counts): each call
        is priced by cost(). Else (tier starts, rates of each tier region as RATES_JSON).
        """
        found = self.find(model, provider)
        if found is None:
            return None
        provider_info, info = found
        if isinstance(info.prices, list) and any(_by_time(c.constraint) for c in info.prices):
            return BY_CALL
        try:
            when = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
            price = info.get_prices(when)
        except (ValueError, LookupError):
            return BY_CALL
        key = id(price)
        if key not in self._rates:
            self._rates[key] = (price, self._price_rates(info, provider_info, price, when))
        return self._rates[key][1]

    def _price_rates(self, info: ModelInfo, provider: Provider, price: ModelPrice, when: datetime) -> DayRates:
        starts = _tier_starts(price)
        regions = []
        for region in range(len(starts) + 1):
            affine = _probe(info, provider, starts, region, when)
            if affine is None or not _affine_holds(affine, info, provider, starts, region, when):
                return BY_CALL
            scaled = _scaled((affine.const, *affine.coefficients))
            if scaled is None:
                return BY_CALL
            regions.append(scaled)
        return tuple(starts), tuple(regions)


def _usage(counts: Counts) -> Any:
    from genai_prices import Usage

    tin, tout, read, write, thought = counts
    return Usage(
        input_tokens=tin,
        output_tokens=tout,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_reasoning_tokens=thought,
    )


def _library(info: ModelInfo, provider: Provider, counts: Counts, when: datetime) -> Decimal:
    """What genai_prices.calc_price gives, from the provider and model already found."""
    return info.calc_price(_usage(counts), provider, genai_request_timestamp=when).total_price


def _tier_starts(price: ModelPrice) -> list[int]:
    from genai_prices.types import TieredPrices

    starts = {tier.start for value in vars(price).values() if isinstance(value, TieredPrices) for tier in value.tiers}
    return sorted(starts)


def _probe(info: ModelInfo, provider: Provider, starts: list[int], region: int, when: datetime) -> _Affine | None:
    """The affine coefficients of a price within one tier (`region` of the tier `starts`), from the
    library's results for usages in that tier."""
    low = max(1, starts[region - 1] + 1 if region else 0)
    high = starts[region] if region < len(starts) else None
    if high is not None and low + 1 > high:
        return None
    try:
        base = _library(info, provider, (low, 0, 0, 0, 0), when)
        per_in = _library(info, provider, (low + 1, 0, 0, 0, 0), when) - base
        with_out = _library(info, provider, (low, 1, 0, 0, 0), when)
        per_out = with_out - base
        per_read = _library(info, provider, (low, 0, 1, 0, 0), when) - base
        per_write = _library(info, provider, (low, 0, 0, 1, 0), when) - base
        per_thought = _library(info, provider, (low, 1, 0, 0, 1), when) - with_out
    except (ValueError, ArithmeticError):
        return None
    return _Affine(base - per_in * low, (per_in, per_out, per_read, per_write, per_thought))


BY_CALL = "by call"  # Pricer.rates: a price SQL cannot apply as rates × counts
DayRates = tuple[tuple[int, ...], tuple[str, ...]] | str | None
"""Pricer.rates: (tier starts, RATES_JSON of each tier region), BY_CALL, or None (not in the price table)."""
RATES_JSON = "[divisor, constant, per token in, out, cache read, cache write, reasoning]"
"""The rates of one price and tier region as JSON integers: cost = (constant + Σ rate × count) / divisor
exactly (every rate a multiple of 1/divisor, a power of ten), as the library's Decimal result is."""
_MAX_EXACT = 2**53  # integers a float holds exactly: an integer sum up to it divided by a power of ten
# up to 10**22 (exact floats both) is the correctly rounded float of the Decimal, as float(Decimal) is


def _by_time(constraint: object) -> bool:
    from genai_prices.types import TimeOfDateConstraint

    return isinstance(constraint, TimeOfDateConstraint)


def _scaled(values: Sequence[Decimal]) -> str | None:
    """RATES_JSON of (constant, rates), or None when they need a divisor beyond 10**22."""
    places = 0
    for value in values:
        if not value.is_finite():
            return None
        exponent = value.normalize().as_tuple().exponent
        places = max(places, -exponent if isinstance(exponent, int) else 0)
    if places > 22:
        return None
    ints = [int(value.scaleb(places)) for value in values]
    return "[" + ",".join(map(str, [10**places, *ints])) + "]"


def _affine_holds(
    affine: _Affine, info: ModelInfo, provider: Provider, starts: list[int], region: int, when: datetime
) -> bool:
    """Whether the coefficients the probes gave are the library's result for a usage unlike the probes
    (every part non-zero), in the same tier region: else the price is not rates × counts."""
    low = starts[region - 1] + 1 if region else 1
    high = starts[region] if region < len(starts) else None
    tin = low + 12_345 if high is None else max(low, min(high, low + 12_345))
    usage: Counts = (tin, 777, tin // 3, tin // 5, 77)
    try:
        return affine.at(usage) == _library(info, provider, usage, when)
    except (ValueError, ArithmeticError, LookupError):
        return False


def rated(rates: DayRates, counts: TokenCounts) -> float | None | str:
    """The cost of one call from its day's rates as SQL computes it (sql_cost), in Python: for step
    trees priced from kept rates. BY_CALL where only Pricer.cost can tell (as the SQL asks it)."""
    if rates is None:
        return None
    if isinstance(rates, str):
        return BY_CALL
    usage = _usage_counts(counts)
    if usage is None:
        return None
    starts, regions = rates
    divisor, const, *per = orjson.loads(regions[sum(1 for start in starts if usage[0] > start)])
    total = const + sum(k * n for k, n in zip(per, usage, strict=True))
    if abs(total) > _MAX_EXACT:
        return BY_CALL
    return total / divisor


def utc_day(when: str | None) -> str | None:
    """The UTC day (ISO date) whose prices Pricer.cost takes for a call made at `when` (none: today)."""
    moment = _when(when) or datetime.now(tz=UTC)
    try:
        return moment.astimezone(UTC).date().isoformat()
    except (OverflowError, ValueError):
        return None


def _usage_counts(counts: TokenCounts) -> Counts | None:
    """The counts as Pricer.cost hands them to the library, or None where it refuses them (as sql_cost)."""
    tin, tout, read, write, thought = counts
    if tin is None and tout is None:
        return None
    read, write, thought = read or 0, write or 0, thought or 0
    usage: Counts = (tin if tin is not None else read + write, tout or 0, read, write, thought)
    if min(usage) < 0 or read + write > usage[0] or thought > usage[1]:
        return None
    return usage


def sql_cost(rates_function: str, call_function: str, call: Sequence[str]) -> str:
    """SQL of one model call's estimated cost (NULL: not priced), as Pricer.cost gives it, from SQL of
    its model, provider, token counts (in, out, cache read, cache write, reasoning) and time, each a
    column of a subquery (each is named several times). The rates of its model and UTC day come from
    `rates_function` (Pricer.rates, one Python call that looks them up); SQL applies them; a call they
    cannot price exactly (BY_CALL, or a sum beyond the exact integers) goes to `call_function`.
    Model and provider are handed over as bytes (sqlite3 calls no function with text that is not UTF-8)."""
    model, provider, tin, tout, read, write, thought, when = call
    r0, w0, t0, out = (f"coalesce({x}, 0)" for x in (read, write, thought, tout))
    tin_all = f"coalesce({tin}, {r0} + {w0})"
    refused = (
        f"({tin_all} < 0 OR {out} < 0 OR {r0} < 0 OR {w0} < 0 OR {t0} < 0 OR {r0} + {w0} > {tin_all} OR {t0} > {out})"
    )
    names = f"{_blob(model)}, {_blob(provider)}"
    by_call = f"{call_function}({names}, {tin}, {tout}, {read}, {write}, {thought}, {when})"
    parts = [tin_all, out, r0, w0, t0]
    total = " + ".join(["(r ->> 1)", *(f"(r ->> {i}) * {x}" for i, x in enumerate(parts, start=2))])
    rated = f"r != '{BY_CALL}'"
    # The sum once a call (LIMIT -1: not put back into each place that names it), its rates read once.
    return (
        f"(CASE WHEN {model} IS NULL OR ({tin} IS NULL AND {tout} IS NULL) OR {refused} THEN NULL ELSE ("
        f"SELECT CASE WHEN r IS NULL THEN NULL WHEN r = '{BY_CALL}' THEN {by_call}"
        f" WHEN typeof(t) = 'integer' AND abs(t) <= {_MAX_EXACT} THEN CAST(t AS REAL) / d ELSE {by_call} END"
        f" FROM (SELECT r, CASE WHEN {rated} THEN {total} END AS t, CASE WHEN {rated} THEN r ->> 0 END AS d FROM"
        f" (SELECT {rates_function}({names}, date(coalesce({when}, 'now')), {tin_all}) AS r LIMIT -1) LIMIT -1)) END)"
    )


def _blob(sql: str) -> str:
    return f"(CASE WHEN typeof({sql}) = 'text' THEN CAST({sql} AS BLOB) ELSE {sql} END)"


# -- runs and stores --------------------------------------------------------------------------------


Remembered = dict[tuple[str, str | None, TokenCounts, str], float | None]


def apply(run: Run, pricer: Pricer | None, remembered: Remembered | None = None) -> Run:
    """Price the run's model calls that have no reported cost (`pricer`), or, with estimation off
    (None), drop the estimated costs a tracetui export carries. Before finalize_run, which sums them.

    remembered: the costs of calls priced before (a followed file's run, priced again at every look),
    by everything a cost depends on; a call seen before is not priced again."""
    for step in run.steps:
        if step.cost_estimated:
            if pricer is None:
                step.cost_usd, step.cost_estimated = None, False
            else:
                step.cost_estimated = True  # a stored 1 read back as a bool
            continue
        step.cost_estimated = False
        if pricer is None or step.cost_usd is not None or not step.model:
            continue
        counts = (
            step.tokens_in,
            step.tokens_out,
            step.tokens_cache_read,
            step.tokens_cache_write,
            step.tokens_reasoning,
        )
        when = step.started_at or run.started_at
        if remembered is None or when is None:  # no time: priced at today's prices, never remembered
            cost = pricer.cost(step.model, step.provider, counts, when)
        else:
            key = (step.model, step.provider, counts, when)
            cost = remembered[key] if key in remembered else remembered.setdefault(key, pricer.cost(*key))
        if cost is not None:
            step.cost_usd, step.cost_estimated = cost, True
    return run


def needs_table(run: Run) -> bool:
    """Whether pricing the run may look something up in the price table (a model call with no cost)."""
    return any(step.model and step.cost_usd is None and not step.cost_estimated for step in run.steps)


class PricedLater:
    """An import's first run, stored before it is priced and priced once a viewer has drawn it.

    A viewer waits for an import's first run, and loading genai-prices' table (pydantic and all) takes
    about 0.3 s of CPU: pricing the first run first put that in front of the first rows. So an import
    stores its first run as read (committed at once, as every first run is) and, once it has reported
    it, prices a copy taken before finalize_run and writes the costs that changed. The finished store
    is the one pricing the run first would have written; a problem only the pricing raises is reported then.
    """

    def __init__(self, run: Run, report: Callable[[Problem], None]) -> None:
        self._run = copy.deepcopy(run)  # as read: finalize_run sums the costs the stored one has not yet
        self._report = report
        self._told: list[Problem] = []

    def report(self, problem: Problem) -> None:
        """Report a problem of the unpriced run (the priced one must not report it again)."""
        self._told.append(problem)
        self._report(problem)

    def store(self, conn: sqlite3.Connection, stored: Run, pricer: Pricer) -> None:
        """Price the run and write the costs that changed over the rows of `stored` (the run as stored)."""
        from .store.schema import RUN_COLUMNS, STEP_COLUMNS, run_row, step_row, storable

        priced, problems = self._run, list[Problem]()
        if not finalized(priced, problems.append, functools.partial(apply, pricer=pricer)):
            return  # (not when the unpriced one was finalized: finalize_run does not look at costs)
        told = Counter((p.message, p.line, p.run_id) for p in self._told)
        for problem in problems:
            key = (problem.message, problem.line, problem.run_id)
            if told[key]:
                told[key] -= 1
            else:
                self._report(problem)
        priced.id = stored.id  # (as StoreWriter.add left it)
        _rewrite(conn, "runs", list(RUN_COLUMNS), ["id"], [(run_row(stored), run_row(priced))], storable)
        pairs: list[tuple[Sequence[Any], Sequence[Any]]] = []
        for before, after in zip(stored.steps, priced.steps, strict=True):
            after.run_id = stored.id
            pairs.append((step_row(before), step_row(after)))
        _rewrite(conn, "steps", list(STEP_COLUMNS), ["run_id", "id"], pairs, storable)


def _rewrite(
    conn: sqlite3.Connection,
    table: str,
    columns: list[str],
    key: list[str],
    rows: list[tuple[Sequence[Any], Sequence[Any]]],
    storable: Callable[[Any], tuple[Any, str | None]],
) -> None:
    """UPDATE the values that differ between each (stored row, new row) of `table`, by its key columns."""
    at = [columns.index(k) for k in key]
    for before, after in rows:
        changed = [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new]
        if not changed:
            continue
        sets = ", ".join(f"{columns[i]} = ?" for i in changed)
        where = " AND ".join(f"{k} = ?" for k in key)
        values = [storable(after[i])[0] for i in changed] + [before[i] for i in at]
        conn.execute(f"UPDATE {table} SET {sets} WHERE {where}", values)


def unpriced_calls(conn: sqlite3.Connection) -> list[tuple[str, str | None, int]]:
    """(model, provider, calls) of the store's model calls with token counts and no cost."""
    return conn.execute(
        "SELECT model, provider, count(*) FROM steps WHERE model IS NOT NULL AND cost_usd IS NULL"
        " AND (tokens_in IS NOT NULL OR tokens_out IS NOT NULL) GROUP BY model, provider ORDER BY model, provider"
    ).fetchall()


class UnpricedTally:
    """unpriced_calls() of several stores (the blocks of one import) summed, given in its order."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[Any, Any]] = Counter()

    def add(self, rows: list[tuple[str, str | None, int]]) -> None:
        for model, provider, calls in rows:
            self.calls[model, provider] += calls

    def rows(self) -> list[tuple[str, str | None, int]]:
        """ORDER BY model, provider: as SQLite orders them (NULL, numbers, text, blobs)."""
        ordered = sorted(self.calls, key=lambda key: (_sql_order(key[0]), _sql_order(key[1])))
        return [(model, provider, self.calls[model, provider]) for model, provider in ordered]


def _sql_order(value: Any) -> tuple[int, Any]:
    if value is None:
        return 0, 0
    if isinstance(value, int | float):
        return 1, value
    if isinstance(value, str):
        return 2, value
    return 3, bytes(value)


def unpriced_messages(rows: list[tuple[str, str | None, int]], pricer: Pricer) -> list[str]:
    """The warning about each model of unpriced_calls(): not in the price table, or its counts unusable."""
    return [unpriced_message(pricer, model, provider, calls) for model, provider, calls in rows]


def unpriced_message(pricer: Pricer, model: str, provider: str | None, calls: int) -> str:
    """What the user is told about `calls` model calls of one model (and provider) left without a cost."""
    calls_text = f"{calls} call{'' if calls == 1 else 's'}"
    by = f" from provider {jsonsafe.quoted(provider)}" if provider else ""
    if pricer.find(model, provider) is None:
        return f"model {jsonsafe.quoted(model)}{by} is not in the price table ({PACKAGE} {data_version()}): {calls_text} not priced"
    return f"model {jsonsafe.quoted(model)}{by}: {calls_text} with token counts the price table cannot use, not priced"


def register(conn: sqlite3.Connection, estimate: bool) -> None:
    """Give the connection a Pricer for its in-place views (pricer_of), or none with estimation off. The
    views price in SQL (sqlite_steps.ModelCalls: the rates of each model and day, sql_cost), and the Python
    that builds their step trees prices with the same Pricer. The table is loaded when first needed, not here."""
    pricer = Pricer() if estimate else None
    if pricer is not None:
        _LIVE[id(pricer)] = pricer

    def handle() -> int:  # (it holds the Pricer: the Pricer lives as long as the connection)
        return 0 if pricer is None else id(pricer)

    conn.create_function(_SQL_PRICER, 0, handle, deterministic=True)


# The Pricer of each connection register() was given, by its id; a connection's own functions keep its
# Pricer alive (a sqlite3.Connection takes neither attributes nor weak references).
_LIVE: weakref.WeakValueDictionary[int, Pricer] = weakref.WeakValueDictionary()


def pricer_of(conn: sqlite3.Connection) -> Pricer | None:
    """The Pricer of a connection register() was given, for Python code that makes its in-place views:
    None with estimation off, or on a connection register() never saw (then nothing is priced)."""
    try:
        handle = conn.execute(f"SELECT {_SQL_PRICER}()").fetchone()[0]
    except sqlite3.OperationalError:  # no such function
        return None
    return _LIVE.get(handle)
