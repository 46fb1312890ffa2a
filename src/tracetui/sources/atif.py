"""ATIF trajectories (Agent Trajectory Interchange Format, `schema_version: "ATIF-v1.x"`).

Written by Harbor, NeMo Agent Toolkit and others: one JSON document per trajectory (also read as
JSON Lines, one trajectory per line). A run is a trajectory. Its steps in order: system and user
messages, and each agent step as a model call with its `tool_calls` under it, each call's result
found in `observation.results` by `source_call_id` (never by position). Embedded
`subagent_trajectories` nest as an agent step under the call whose result references them
(`subagent_trajectory_ref`), or at the top of the run when none does.

Tokens: `prompt_tokens` counts every input token (the cached ones are `cached_tokens`, a part of
it) and `completion_tokens` every generated one: tracetui's convention as they stand; the parts
`metrics.extra.cache_creation_input_tokens` and `reasoning_tokens` are kept where given. A step's
`cost_usd` is a reported cost. `final_metrics` gives the run's reported totals: Harbor counts a
trajectory's tokens over its own steps and its cost with its subagents', so the run's reported
tokens are the trajectory's plus its subagents' (their steps' sum where they report none). When
they disagree with the steps, both are kept and the run is flagged `total_mismatch`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from .. import jsonsafe, normalize, usage
from ..errors import UnusableInput
from ..model import Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .records import json_lines
from .sqlite_steps import count, dig, money, obj

NAME = "atif"
DESCRIPTION = "ATIF agent trajectories (Harbor, NeMo Agent Toolkit): steps, tool calls, observations, subagents"
DETECTION = 'a JSON object whose "schema_version" starts with "ATIF-v" (a document, an array of them, or one per line)'
PRIORITY = 60

_MARK = re.compile(rb'"schema_version"\s*:\s*"ATIF-v')
_FINAL = {  # run field: final_metrics key
    "tokens_in": "total_prompt_tokens",
    "tokens_out": "total_completion_tokens",
    "tokens_cache_read": "total_cached_tokens",
}
_METRICS = {  # step field: where in metrics
    "tokens_in": ("prompt_tokens",),
    "tokens_out": ("completion_tokens",),
    "tokens_cache_read": ("cached_tokens",),
    "tokens_cache_write": ("extra", "cache_creation_input_tokens"),
    "tokens_reasoning": ("extra", "reasoning_tokens"),
    "cost_usd": ("cost_usd",),
}
_STEP_KNOWN = frozenset(
    {"step_id", "timestamp", "source", "model_name", "message", "tool_calls", "observation", "metrics"}
)


def is_trajectory(value: Any) -> bool:
    return isinstance(value, dict) and str(value.get("schema_version", "")).startswith("ATIF-v")


def sniff(head: Head) -> bool:
    if head.is_sqlite:
        return False
    if isinstance(head.first_record, dict):
        return is_trajectory(head.first_record)
    if head.json_document and not head.top_keys and head.array_key is None:
        return is_trajectory(head.first_item)  # a JSON array of trajectories
    keys = set(head.top_keys)
    return head.json_document and bool(keys & {"schema_version", "steps"}) and bool(_MARK.search(head.data))


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    if isinstance(head.first_record, dict) and not head.json_document:
        for number, record in json_lines(source, report):
            if is_trajectory(record):
                yield _Trajectories(record, report, number).run()
            else:
                report(Problem("skipped: not an ATIF trajectory (no ATIF schema_version)", line=number))
        return
    with source.open() as f:
        data = f.read()
    try:
        document, repairs = jsonsafe.loads(data)  # lone surrogates, bytes not UTF-8, NaN: repaired, said
    except ValueError as exc:
        document = _salvage(head.path, report, exc)
    else:
        for note in repairs:
            report(Problem(f"read with a repair: {note}"))
    if isinstance(document, list):
        for number, item in enumerate(document, 1):
            if is_trajectory(item):
                yield _Trajectories(item, report, number).run()
            else:
                report(Problem(f"item {number} skipped: not an ATIF trajectory (no ATIF schema_version)"))
        return
    if not is_trajectory(document):
        raise UnusableInput(head.path, "not an ATIF trajectory (no ATIF schema_version at the top)")
    yield _Trajectories(document, report, None).run()


def _salvage(path: str, report: ProblemSink, exc: Exception) -> dict:
    """What a cut-off document still holds: its top-level fields and the steps before the break."""
    import ijson

    found: dict[str, Any] = {}
    with open(path, "rb") as f:
        try:
            for key, value in ijson.kvitems(f, "", use_float=True):
                found[key] = value
        except (ijson.JSONError, ValueError):  # ValueError: text ijson cannot decode (UnicodeDecodeError)
            pass
    if "steps" not in found:
        steps: list[Any] = []
        with open(path, "rb") as f:
            try:
                for item in ijson.items(f, "steps.item", use_float=True):
                    steps.append(item)
            except (ijson.JSONError, ValueError):
                pass
        found["steps"] = steps
    if is_trajectory(found):
        report(Problem(f"the JSON document breaks off ({exc}); the steps before the break are shown"))
    return found


class _Trajectories:
    """One trajectory and its embedded subagents, as one run."""

    def __init__(self, root: dict, report: ProblemSink, line: int | None):
        self.root = root
        self.report = report
        self.line = line
        self.steps: list[Step] = []
        self.embedded: dict[str, dict] = {}
        self._collect(root)
        self.built: set[str] = set()
        # Per trajectory (by id()): its own steps' sums and the subagent trajectories built inside it.
        self.own: dict[int, list[Step]] = {}
        self.inside: dict[int, list[dict]] = {}

    def _collect(self, trajectory: dict) -> None:
        subs = trajectory.get("subagent_trajectories")
        for sub in subs if isinstance(subs, list) else []:
            tid = sub.get("trajectory_id") if isinstance(sub, dict) else None
            if isinstance(tid, str) and tid not in self.embedded:
                self.embedded[tid] = sub
                self._collect(sub)

    def problem(self, message: str) -> None:
        self.report(Problem(message, line=self.line, run_id=self.run_id))

    @property
    def run_id(self) -> str:
        root = self.root
        return (
            normalize.ident(root.get("session_id"))
            or normalize.ident(root.get("trajectory_id"))
            or (f"trajectory-{self.line}" if self.line is not None else "trajectory")
        )

    def run(self) -> Run:
        root = self.root
        agent = obj(root.get("agent"))
        self.trajectory(root, None, "")
        for tid, sub in self.embedded.items():
            if tid not in self.built:  # referenced by no tool result: at the top of the run
                self.subagent(sub, None, root)
        times = [s.started_at for s in self.steps if s.started_at]
        users = [s.input for s in self.steps if s.raw_type == "user" and s.input and s.parent_id is None]
        answers = [s.output for s in self.steps if s.raw_type == "agent" and s.output and s.parent_id is None]
        run = Run(
            id=self.run_id,
            agent=normalize.ident(agent.get("name")),
            session=normalize.ident(root.get("session_id")),
            started_at=min(times) if times else None,
            ended_at=max(times) if times else None,
            input=users[0] if users else None,
            output=answers[-1] if answers else None,
            metadata={
                k: v
                for k, v in {
                    "schema_version": root.get("schema_version"),
                    "trajectory_id": root.get("trajectory_id"),
                    "agent_version": agent.get("version"),
                    "model": agent.get("model_name"),
                    "agent_extra": agent.get("extra"),
                }.items()
                if v is not None
            },
            extra={
                k: root[k]
                for k in ("notes", "final_metrics", "continued_trajectory_ref", "extra")
                if root.get(k) is not None
            },
            source_line=self.line,
            steps=self.steps,
        )
        run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
        for field in _FINAL:
            setattr(run, field, self.reported(root, field))
        final = obj(root.get("final_metrics"))
        run.cost_usd = money(final.get("total_cost_usd"))
        return run

    def reported(self, trajectory: dict, field: str) -> int | None:
        """A trajectory's reported total of `field` with its subagents' (their steps' where unreported)."""
        own = count(obj(trajectory.get("final_metrics")).get(_FINAL[field]))
        if own is None:
            if trajectory is self.root:
                return None
            own = sum(getattr(s, field) or 0 for s in self.own.get(id(trajectory), []))
        for sub in self.inside.get(id(trajectory), []):
            own += self.reported(sub, field) or 0
        return own

    # -- steps ------------------------------------------------------------------------------------
    def add(self, step: Step) -> Step:
        step.seq = len(self.steps)
        self.steps.append(step)
        return step

    def subagent(self, trajectory: dict, parent: str | None, owner: dict) -> None:
        tid = str(trajectory.get("trajectory_id"))
        self.built.add(tid)
        self.inside.setdefault(id(owner), []).append(trajectory)
        agent = obj(trajectory.get("agent"))
        step = self.add(
            Step(
                id=f"subagent/{tid}",
                parent_id=parent,
                name=normalize.text(agent.get("name")) or tid,
                kind="agent",
                raw_type="subagent",
            )
        )
        step.extra = {
            k: v
            for k, v in {
                "trajectory_id": tid,
                "session_id": trajectory.get("session_id"),
                "agent_version": agent.get("version"),
                "model": agent.get("model_name"),
                "final_metrics": trajectory.get("final_metrics"),
                "notes": trajectory.get("notes"),
            }.items()
            if v is not None
        }
        self.trajectory(trajectory, step.id, f"{tid}/")

    def trajectory(self, trajectory: dict, parent: str | None, prefix: str) -> None:
        steps = trajectory.get("steps")
        if not isinstance(steps, list):
            self.problem(f"trajectory {prefix or 'root'}: steps is not a list; no steps shown")
            return
        default_model = normalize.ident(obj(trajectory.get("agent")).get("model_name"))
        own = self.own.setdefault(id(trajectory), [])
        for n, raw in enumerate(steps, 1):
            if not isinstance(raw, dict):
                self.problem(f"{prefix}step {n}: not a JSON object; left out")
                continue
            step = self.add(self.step(raw, n, parent, prefix, default_model))
            own.append(step)
            self.calls(raw, step, prefix, trajectory)

    def step(self, raw: dict, n: int, parent: str | None, prefix: str, default_model: str | None) -> Step:
        source = normalize.ident(raw.get("source")) or "step"
        number = raw.get("step_id", n)
        message = _text(raw.get("message"))
        step = Step(
            id=f"{prefix}step-{number}",
            parent_id=parent,
            raw_type=source,
            started_at=normalize.timestamp(raw.get("timestamp")),
        )
        step.extra = {k: v for k, v in raw.items() if k not in _STEP_KNOWN and v is not None}
        if source == "agent":
            step.kind = "other" if raw.get("llm_call_count") == 0 else "llm"
            named = normalize.ident(raw.get("model_name")) or default_model
            step.name = named or "agent"
            if step.kind == "llm":
                step.provider, step.model = usage.split_model(named)
            step.output = message
            self.metrics(raw, step)
        else:
            step.kind = "other"
            step.name = source if source != "user" else ((message or "").strip().splitlines() or ["user"])[0]
            step.input = message
        return step

    def metrics(self, raw: dict, step: Step) -> None:
        metrics = raw.get("metrics")
        if metrics is None:
            return
        if not isinstance(metrics, dict):
            self.problem(f"{step.id}: metrics is not an object; left out")
            return
        if raw.get("is_copied_context"):  # copied from an earlier trajectory: already counted there
            step.extra["copied_metrics"] = metrics
            return
        found = {}
        for field, path in _METRICS.items():
            value = dig(metrics, *path)
            found[field] = money(value) if field == "cost_usd" else count(value)
            if value is not None and found[field] is None:
                self.problem(f"{step.id}: metrics.{'.'.join(path)} is not a number; left out")
        # ATIF's prompt count holds the cached tokens, its completion count the reasoning.
        usage.counted(
            found["tokens_in"],
            found["tokens_out"],
            cache_read=found["tokens_cache_read"],
            cache_write=found["tokens_cache_write"],
            reasoning=found["tokens_reasoning"],
            input_has_cache=True,
            output_has_reasoning=True,
        ).apply(step)
        step.cost_usd = found["cost_usd"]
        rest = {
            k: v
            for k, v in metrics.items()
            if k not in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd")
        }
        if rest:
            step.extra["metrics"] = rest

    def calls(self, raw: dict, step: Step, prefix: str, trajectory: dict) -> None:
        calls = raw.get("tool_calls")
        results = dig(raw, "observation", "results")
        if calls is not None and not isinstance(calls, list):
            self.problem(f"{step.id}: tool_calls is not a list; left out")
            calls = []
        if results is not None and not isinstance(results, list):
            self.problem(f"{step.id}: observation.results is not a list; left out")
            results = []
        by_call: dict[str, list[dict]] = {}
        loose: list[dict] = []
        for result in results or []:
            if not isinstance(result, dict):
                continue
            call_id = result.get("source_call_id")
            (by_call.setdefault(str(call_id), []) if call_id is not None else loose).append(result)
        step_error = bool(step.extra.get("tool_result_is_error"))
        for call in calls or []:
            if not isinstance(call, dict):
                self.problem(f"{step.id}: a tool call is not an object; left out")
                continue
            call_id = normalize.ident(call.get("tool_call_id"))
            tool = self.add(
                Step(
                    id=f"{prefix}{call_id}" if call_id else f"{step.id}/call-{len(self.steps)}",
                    parent_id=step.id,
                    name=normalize.text(call.get("function_name")) or "tool",
                    kind="tool",
                    raw_type="tool_call",
                    input=normalize.text(call.get("arguments")),
                    started_at=step.started_at,
                )
            )
            if call.get("extra") is not None:
                tool.extra["call_extra"] = call["extra"]
            mine = by_call.pop(str(call_id), []) if call_id else []
            self.results(tool, mine, step_error, trajectory)
        for leftover in [*loose, *(r for rs in by_call.values() for r in rs)]:
            observation = self.add(
                Step(
                    id=f"{step.id}/observation-{len(self.steps)}",
                    parent_id=step.id,
                    name="observation",
                    kind="other",
                    raw_type="observation",
                    output=_text(leftover.get("content")),
                )
            )
            if leftover.get("source_call_id") is not None:
                observation.extra["source_call_id"] = leftover["source_call_id"]
            self.results(observation, [], False, trajectory, refs_from=leftover)

    def results(
        self, tool: Step, results: list[dict], step_error: bool, trajectory: dict, refs_from: dict | None = None
    ) -> None:
        texts = [t for t in (_text(r.get("content")) for r in results) if t is not None]
        if texts:
            tool.output = "\n\n".join(texts)
        failed = step_error or any(
            dig(r, "extra", "tool_result_metadata", "is_error") is True or dig(r, "extra", "is_error") is True
            for r in results
        )
        if failed:
            tool.status = "failed"
            tool.error = tool.output or "the tool reported an error"
        extras = [r["extra"] for r in results if r.get("extra") is not None]
        if extras:
            tool.extra["result_extra"] = extras[0] if len(extras) == 1 else extras
        for result in [*results, *([refs_from] if refs_from else [])]:
            refs = result.get("subagent_trajectory_ref")
            for ref in refs if isinstance(refs, list) else [refs] if isinstance(refs, dict) else []:
                tid = ref.get("trajectory_id") if isinstance(ref, dict) else None
                if isinstance(tid, str) and tid in self.embedded and tid not in self.built:
                    self.subagent(self.embedded[tid], tool.id, trajectory)
                else:
                    tool.extra.setdefault("subagent_trajectory_ref", []).append(ref)


def _text(message: Any) -> str | None:
    """A message or content: text as it is; a list of content parts as their text, images named."""
    if message is None or isinstance(message, str):
        return message
    if isinstance(message, list):
        pieces = []
        for part in message:
            if isinstance(part, dict) and part.get("type") == "text":
                pieces.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image":
                where = dig(part, "source", "path") or dig(part, "source", "url") or ""
                pieces.append(f"[image {os.path.basename(str(where))}]".replace(" ]", "]"))
            else:
                pieces.append(normalize.text(part) or "")
        return "\n".join(pieces)
    return normalize.text(message)
