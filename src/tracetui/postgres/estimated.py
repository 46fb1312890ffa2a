"""Estimated costs of the model calls a database read in place reported none for, for the stats.

A call a source gave no cost (Phoenix's span_costs has no row for it) is priced by tracetui, as the
SQLite reader of the same format prices it (sqlite_steps.ModelCalls): read by the format's own reader
(DatabaseSource.priced_calls), priced from the price table, marked estimated. The server cannot run
tracetui's Python, so the calls are read here (only what a price needs: the model and the counts) and
priced here. Each result is kept in tracetui's cache (estimates.EstimateCache), never in the database:
one file per database and place read (named by its label, which holds no password) and per version
of the price data, each call with a fingerprint of what was read for it, so that the next command
prices only the calls that are new or changed.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import estimates, pricing
from ..sources.contract_db import PricedCalls

KEPT_IN_MEMORY = 200_000  # calls of the cache loaded at once; beyond, each is looked up when met


@dataclass(frozen=True)
class Estimated:
    """A call tracetui priced: its run, the model and name the stats group it by, and the cost."""

    run_id: str
    model: str | None
    name: str | None
    kind: str | None
    cost: float


def cache_for(label: str, fmt: str) -> estimates.EstimateCache | None:
    """The kept estimates of the database `label` read as `fmt` (None: no usable cache directory)."""
    from ..loading import usable_cache_dir

    try:
        directory = usable_cache_dir()
    except OSError:
        return None
    identity = ["postgresql", label, fmt, estimates.VERSION, f"prices={pricing.data_version()}"]
    name = hashlib.sha256("\0".join(map(str, identity)).encode("utf-8", "surrogateescape")).hexdigest()
    return estimates.EstimateCache(os.path.join(directory, f"estimates-{name[:32]}.db"))


class Estimator:
    """Prices the unpriced calls of one database opening (its stores share it; any thread)."""

    def __init__(self, label: str, fmt: str, pricer: pricing.Pricer) -> None:
        self.pricer = pricer
        self.cache = cache_for(label, fmt)
        self._lock = threading.Lock()
        self._kept: dict[Any, tuple[int, estimates.Result]] | None = None  # None: not loaded, or too many
        self._loaded = False
        # The calls met that have token counts but no price: (model, provider) -> their keys (few, as a rule).
        self._unpriced: dict[tuple[str, str | None], set[Any]] = {}

    def unpriced_messages(self) -> list[str]:
        """What the user is told (under `w`, after a command) about each model whose calls met so far
        could not be priced, as the SQLite reader tells it (pricing.unpriced_message)."""
        with self._lock:
            found = sorted(((m, p or "", len(keys)) for (m, p), keys in self._unpriced.items()))
        return [pricing.unpriced_message(self.pricer, model, provider or None, n) for model, provider, n in found]

    def priced(self, calls: PricedCalls, rows: Iterable[tuple]) -> list[Estimated]:
        """The calls of `rows` (calls.calls' columns: key, run_id, model, name, kind, then calls.values)
        that the price table prices, with their costs."""
        with self._lock:
            if not self._loaded:
                self._kept = self.cache.load(KEPT_IN_MEMORY) if self.cache is not None else {}
                self._loaded = True
            out = [found for row in rows if (found := self._one(calls, row)) is not None]
            if self.cache is not None:
                self.cache.save()
        return out

    def _one(self, calls: PricedCalls, row: tuple) -> Estimated | None:
        key, run_id, model, name, kind, *values = row
        fp = estimates.fingerprint(tuple(values))
        found = self._found(key)
        if found is not None and found[0] == fp:
            result = found[1]
        else:
            try:
                call = calls.read(*values)
            except Exception:  # an odd value the reader trips on prices nothing (as in SQLite)
                call = None
            result = None
            digest = None
            if call is not None and call[0]:
                called, provider, counts, when = call
                cost = self.pricer.cost(called, provider, counts, when)
                result = (cost, called, provider, counts[0] is not None or counts[1] is not None)
                digest = estimates.call_digest(called, provider, counts, when)
            if self._kept is not None:
                self._kept[key] = (fp, result)
            if self.cache is not None:
                self.cache.add(key, fp, result, digest)
        if result is None:
            return None
        if result[0] is None:
            if result[3]:  # token counts, yet no price: a model the table does not know, or odd counts
                self._unpriced.setdefault((result[1], result[2]), set()).add(key)
            return None
        return Estimated(run_id, model, name, kind, result[0])

    def _found(self, key: Any) -> tuple[int, estimates.Result] | None:
        if self._kept is not None:
            return self._kept.get(key)
        return None if self.cache is None else self.cache.lookup(key)
