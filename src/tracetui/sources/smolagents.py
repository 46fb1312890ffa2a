"""smolagents run dumps: one run per JSON line, its memory steps as the library's own dict() gives them.

A line is what `agent.run(task, return_full_result=True).dict()` returns (output, state, steps from
agent.memory.get_full_steps(), token_usage, timing), usually with the agent's name, class, model id
and task added, and optionally "managed_runs": the memory of each managed (sub-)agent call in call
order, which is shown under the manager's tool call of the same name.

Each ActionStep is a model call (its token_usage) whose tool calls are its children; a
PlanningStep is a reasoning step; the first TaskStep is the run's input. A step error is put on
the tool call that raised it when the error names it (tool and code execution errors), otherwise
on the action step itself (parse errors, max steps). The run fails when its state says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import jsonsafe, normalize
from ..errors import UnusableInput
from ..model import Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .contract import one_record
from .records import json_document_items, json_lines, json_values

NAME = "smolagents"
DESCRIPTION = "smolagents run dumps: RunResult.dict() with the agent's memory steps, one run per JSON line"
DETECTION = 'JSON Lines (or a JSON array) of objects whose "steps" are smolagents memory steps (task, step_number + timing, plan)'
PRIORITY = 30

_RUN_KNOWN = frozenset(
    {
        "id",
        "run_id",
        "agent",
        "name",
        "agent_type",
        "model_id",
        "task",
        "output",
        "state",
        "steps",
        "token_usage",
        "timing",
        "error",
        "managed_runs",
    }
)
_ACTION_KNOWN = frozenset(
    {
        "step_number",
        "timing",
        "model_input_messages",
        "tool_calls",
        "error",
        "model_output_message",
        "model_output",
        "code_action",
        "observations",
        "observations_images",
        "action_output",
        "token_usage",
        "is_final_answer",
    }
)
_PLAN_KNOWN = frozenset({"model_input_messages", "model_output_message", "plan", "timing", "token_usage"})
# Errors raised while running a tool call (or the code of a CodeAgent): they belong to that call.
_TOOL_ERRORS = frozenset({"AgentToolExecutionError", "AgentToolCallError", "AgentExecutionError"})
_FAILED_STATES = frozenset({"max_steps_error", "error", "failed"})


def _is_memory_step(step: Any) -> bool:
    return isinstance(step, dict) and ("step_number" in step and "timing" in step or "plan" in step or "task" in step)


def _is_run(record: Any) -> bool:
    steps = record.get("steps") if isinstance(record, dict) else None
    return isinstance(steps, list) and bool(steps) and _is_memory_step(steps[0])


def sniff(head: Head) -> bool:
    if _is_run(head.first_record):
        return True
    if not head.json_document:
        return False
    if head.array_key == "steps":  # a run too long for the head, or one pretty-printed run
        return _is_memory_step(head.first_item)
    return head.array_key is None and not head.top_keys and _is_run(head.first_item)


def _records(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[tuple[int, Any]]:
    if head.first_record is not None:
        return json_lines(source, report)
    if head.json_document and head.array_key is None and not head.top_keys:
        return json_document_items(source, None, report)
    # Top-level values one after another: a pretty-printed run, or lines too long for the head.
    return json_values(source, report)


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    path = head.path
    yielded = skipped = 0
    for line, record in _records(head, report, source):
        if not _is_run(record):
            skipped += 1
            report(Problem('skipped: not a smolagents run (needs a list of memory steps under "steps")', line=line))
            continue
        run = one_record(report, "the run", line, _build_run, record, line, path, report)
        if run is not None:
            yield run
            yielded += 1
    if not yielded:
        what = f"none of its {skipped} records is usable" if skipped else "no run could be read"
        raise UnusableInput(path, f"looks like smolagents runs, but {what}")


def _build_run(record: dict, line: int, path: str, report: ProblemSink) -> Run:
    agent = normalize.text(record.get("agent") or record.get("name"))
    run_id = normalize.ident(record.get("id") or record.get("run_id")) or f"{agent or 'run'}-{line}"
    found = record.get("managed_runs")
    managed = [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []
    has_managed = bool(managed)
    steps: list[Step] = []
    task = _add_memory(steps, record["steps"], "", None, managed, record.get("model_id"))
    for leftover in managed:
        report(
            Problem(
                f"managed run of {jsonsafe.short(leftover.get('agent'))} matches no tool call; left out",
                line=line,
                run_id=run_id,
            )
        )
    run = Run(id=run_id, agent=agent, source_file=path, source_line=line, steps=steps)
    run.input = normalize.text(record.get("task")) or task
    run.output = normalize.text(record.get("output"))
    _times(run, record.get("timing"), steps)
    usage = found if isinstance(found := record.get("token_usage"), dict) else None
    if usage and not has_managed:  # a manager's usage leaves out its managed agents' own calls
        run.tokens_in, run.tokens_out = (
            normalize.integer(usage.get("input_tokens")),
            normalize.integer(usage.get("output_tokens")),
        )
    elif usage:
        run.extra["token_usage"] = usage
    state = record.get("state")
    if normalize.scalar(state) in _FAILED_STATES or record.get("error"):
        run.status = "failed"
        run.error = (
            _error_text(record.get("error"))
            or next((s.error for s in reversed(steps) if s.failed), None)
            or normalize.plain(state)
        )
        run.output = None if state == "error" else run.output
    elif state is None and any(s.status == "running" for s in steps):
        run.status = "running"
    run.metadata = {k: record[k] for k in ("agent_type", "model_id") if record.get(k) is not None}
    if state is not None:
        run.metadata["state"] = state
    run.extra.update({k: v for k, v in record.items() if k not in _RUN_KNOWN and v is not None})
    return run


def _add_memory(
    out: list[Step], memory: list, prefix: str, parent: str | None, managed: list, model_id: Any
) -> str | None:
    """Append the steps of one agent's memory; returns the first task (the run's input)."""
    first_task: str | None = None
    seen_task = False
    for index, entry in enumerate(memory):
        if not isinstance(entry, dict):
            out.append(
                Step(
                    id=f"{prefix}entry-{index}", parent_id=parent, seq=index, name="memory step", extra={"value": entry}
                )
            )
        elif "step_number" in entry:
            _add_action(out, entry, index, prefix, parent, managed, model_id)
        elif "plan" in entry:
            out.append(_planning(entry, index, prefix, parent, model_id))
        elif "task" in entry and not seen_task:
            seen_task, first_task = True, normalize.text(entry.get("task"))
        else:
            name = "task" if "task" in entry else "memory step"
            out.append(
                Step(
                    id=f"{prefix}{name.replace(' ', '-')}-{index}",
                    parent_id=parent,
                    seq=index,
                    name=name,
                    input=normalize.text(entry.get("task")),
                    extra={k: v for k, v in entry.items() if k != "task" and v is not None},
                )
            )
    return first_task


def _timed(step: Step, timing: Any) -> None:
    timing = timing if isinstance(timing, dict) else {}
    step.started_at = normalize.timestamp(timing.get("start_time"))
    step.ended_at = normalize.timestamp(timing.get("end_time"))
    seconds = normalize.number(timing.get("duration"))
    step.duration_ms = (
        seconds * 1000.0 if seconds is not None else normalize.duration_between(step.started_at, step.ended_at)
    )
    if step.started_at and timing.get("end_time") is None:
        step.status = "running"


def _usage(step: Step, usage: Any) -> None:
    # smolagents' TokenUsage has input and output only, as its model classes read them from the
    # provider's prompt and completion counts (cache and reasoning inside): nothing to add.
    if isinstance(usage, dict):
        step.tokens_in = normalize.integer(usage.get("input_tokens"))
        step.tokens_out = normalize.integer(usage.get("output_tokens"))


def _planning(entry: dict, index: int, prefix: str, parent: str | None, model_id: Any) -> Step:
    step = Step(
        id=f"{prefix}plan-{index}",
        parent_id=parent,
        seq=index,
        name="planning",
        kind="reasoning",
        raw_type="PlanningStep",
        input=normalize.text(entry.get("model_input_messages")),
        output=normalize.text(entry.get("plan")),
    )
    _timed(step, entry.get("timing"))
    _usage(step, entry.get("token_usage"))
    step.model = normalize.text(model_id)
    step.extra = {k: v for k, v in entry.items() if k not in _PLAN_KNOWN and v is not None}
    return step


def _calls(entry: dict) -> list[tuple[str, str, Any]]:
    """(id, name, arguments) of the step's tool calls; when a call raised, smolagents left tool_calls
    empty, so they are taken from the model's message instead."""
    calls = entry.get("tool_calls") or []
    if not calls and isinstance(entry.get("model_output_message"), dict):
        calls = entry["model_output_message"].get("tool_calls") or []
    out = []
    for i, call in enumerate(calls if isinstance(calls, list) else []):
        function = found if isinstance(call, dict) and isinstance(found := call.get("function"), dict) else {}
        call_id = (normalize.ident(call.get("id")) if isinstance(call, dict) else None) or str(i)
        out.append((call_id, normalize.text(function.get("name")) or "tool", function.get("arguments")))
    return out


def _add_action(
    out: list[Step], entry: dict, index: int, prefix: str, parent: str | None, managed: list, model_id: Any
) -> None:
    number = entry.get("step_number")
    step = Step(
        id=f"{prefix}step-{number}",
        parent_id=parent,
        seq=index,
        name=f"step {number}",
        kind="llm",
        raw_type="ActionStep",
        input=normalize.text(entry.get("model_input_messages")),
    )
    _timed(step, entry.get("timing"))
    _usage(step, entry.get("token_usage"))
    answer = normalize.text(entry.get("action_output"))
    step.output = normalize.text(entry.get("model_output")) or answer
    out.append(step)
    calls = _calls(entry)
    error = found if isinstance(found := entry.get("error"), dict) else None
    culprit = _culprit(error, calls) if error else None
    observations = normalize.text(entry.get("observations"))
    managed_names = {normalize.scalar(m.get("agent")) for m in managed if isinstance(m, dict)}
    for seq, (call_id, name, arguments) in enumerate(calls):
        child = Step(
            id=f"{step.id}/{call_id}",
            parent_id=step.id,
            seq=seq,
            name=name,
            kind="agent" if name in managed_names else "tool",
            raw_type="managed_agent"
            if name in managed_names
            else "code"
            if name == "python_interpreter"
            else "tool_call",
            input=normalize.text(arguments),
        )
        if len(calls) == 1:
            child.output = observations
        if seq == culprit:
            child.status, child.error = "failed", _error_text(error)
        out.append(child)
        if child.kind == "agent":
            sub = next((m for m in managed if m.get("agent") == name), None)
            if sub is not None:
                managed.remove(sub)
                steps = found if isinstance(found := sub.get("steps"), list) else []
                _add_memory(out, steps, f"{child.id}/", child.id, [], sub.get("model_id"))
    if error and culprit is None:
        step.status, step.error = "failed", _error_text(error)
    step.extra = {k: v for k, v in entry.items() if k not in _ACTION_KNOWN and v is not None}
    if len(calls) > 1 and observations:
        step.extra["observations"] = observations  # one text for all calls: smolagents does not split it
    if entry.get("code_action") and not calls:
        step.extra["code_action"] = entry["code_action"]
    if entry.get("is_final_answer"):
        step.extra["is_final_answer"] = True
    if step.output != answer and answer is not None:
        step.extra["action_output"] = entry.get("action_output")
    raw = entry["model_output_message"].get("raw") if isinstance(entry.get("model_output_message"), dict) else None
    if raw is not None:
        step.extra["raw"] = raw
    step.model = normalize.text(model_id)
    if error:
        step.extra["error_type"] = error.get("type")


def _culprit(error: dict, calls: list[tuple[str, str, Any]]) -> int | None:
    """Which tool call raised the step's error, or None when the error is the step's own."""
    if normalize.scalar(error.get("type")) not in _TOOL_ERRORS or not calls:
        return None
    message = normalize.plain(error.get("message") or "")
    named = [i for i, (_, name, _) in enumerate(calls) if f"'{name}'" in message]
    if named:
        return named[0]
    return 0 if len(calls) == 1 else None


def _error_text(error: Any) -> str | None:
    if not error:
        return None
    if isinstance(error, dict):
        message = normalize.text(error.get("message")) or ""
        kind = normalize.plain(error.get("type") or "")
        return f"{kind}: {message}" if kind else message or normalize.text(error)
    return normalize.text(error)


def _times(run: Run, timing: Any, steps: list[Step]) -> None:
    timing = timing if isinstance(timing, dict) else {}
    starts = [s.started_at for s in steps if s.started_at]
    ends = [s.ended_at for s in steps if s.ended_at]
    run.started_at = normalize.timestamp(timing.get("start_time")) or (min(starts) if starts else None)
    run.ended_at = normalize.timestamp(timing.get("end_time")) or (max(ends) if ends else None)
    seconds = normalize.number(timing.get("duration"))
    run.duration_ms = (
        seconds * 1000.0 if seconds is not None else normalize.duration_between(run.started_at, run.ended_at)
    )
