"""The JSON of a run: `tracetui show --format json` and the viewer's JSON export (`x`).

The run's fields and totals, its models, its first failed step, and its step tree nested (tree_json,
which never recurses); for a subtree, the same with the steps under one step.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from . import jsonsafe
from .model import ROLLED_UP_FIELDS, Run, Step
from .tree_json import dumps_with_tree


def dumps(value: Any) -> str:
    """--json output: indented, with C0, DEL and C1 escaped (jsonsafe.for_output), whatever the values."""
    return jsonsafe.for_output(value, indent=True).decode()


_STEP_JSON_SKIP = {"children"}


def step_dict(step: Step) -> dict[str, Any]:
    """A step's own fields (the children are nested by tree_json, which never recurses)."""
    return {f.name: getattr(step, f.name) for f in fields(Step) if f.name not in _STEP_JSON_SKIP}


def run_dict(run: Run) -> dict[str, Any]:
    out = {f.name: getattr(run, f.name) for f in fields(Run) if f.name != "steps"}
    out["totals"] = {name: run.total(name) for name in ROLLED_UP_FIELDS}
    out["totals"]["cost_estimated"] = run.cost_estimated
    out["cost_estimated"] = run.cost_estimated
    out["mismatches"] = {k: {"run": a, "steps": b} for k, (a, b) in run.mismatches.items()}
    return out


def run_json(run: Run, roots: list[Step], *, models: list[str], first_failed: Step | None, subtree: bool) -> str:
    """The run with `roots` nested under "steps": its root steps, or (subtree) one step and what is
    under it, named by "subtree_of"."""
    out = run_dict(run)
    out["models"] = models
    if subtree:
        out["subtree_of"] = roots[0].id if roots else None
    out["steps"] = []
    out["first_failed_step"] = None if first_failed is None else step_dict(first_failed)
    return dumps_with_tree(out, "steps", roots, step_dict, dumps)
