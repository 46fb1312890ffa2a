"""Codex CLI rollouts: `~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`, subagent rollouts nested.

One run per rollout (a thread). Lines are `{timestamp, type, payload}` (`session_meta`,
`turn_context`, `response_item`, `event_msg`, `compacted`); the 2025 layout has no envelope: a bare
meta line, bare response items and `{"record_type": "state"}` lines. A turn starts with a user
prompt (injected context such as `<environment_context>` is not one). The model's items between
two `token_count` events that advance the thread's cumulative total are one model call; its usage
is that event's `last_token_usage` (re-emitted events repeat the total and are not counted again;
totals are never summed). OpenAI counts already include cached input and reasoning output.

Tool calls (`function_call`, `custom_tool_call`, `local_shell_call`) pair with their output by
`call_id`. A call failed when its `exec_command_end` has a non-zero exit code or status failed, its
`patch_apply_end` says success false, or — in builds that do not persist those events — the output's
own exit code (`metadata.exit_code`, "Exit code: N", "Process exited with code N") or Codex's
failure text says so. An `error` event is a failed step; `stream_error` events are retries, kept on
what followed them (a failed step when nothing did).

A rollout whose `session_meta.source` names a `thread_spawn` parent is a subagent: found beside its
parent (the day folders the parent's life spans), it is nested under the parent's `spawn_agent` call
whose output names it. A forked rollout replays its parent's history first (a second `session_meta`
and the parent's items stamped with the fork time): the replay is counted, not shown, and the
cumulative token total continues from it.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
import re
from collections.abc import Iterator
from typing import Any

import orjson

from .. import jsonsafe, normalize, usage
from ..errors import UnusableInput
from ..model import FLAG_ORPHAN, Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .records import json_lines
from .resume import Companions, report_located
from .sessions import (
    RecordTypes,
    as_list,
    ended_in_failure,
    fill_durations,
    first_line,
    listdir,
    project_name,
    prompt_name,
    skip_subtrees,
    text_of,
)

NAME = "codex"
DESCRIPTION = "Codex CLI rollouts (~/.codex/sessions/**/rollout-*.jsonl), subagent rollouts nested"
DETECTION = (
    'JSON Lines whose first line is {"type": "session_meta", "payload": {"id": …}}, or a bare'
    ' {"id", "timestamp", "instructions"} line (the 2025 layout)'
)
PRIORITY = 65

TOP_LEVEL = frozenset({"session_meta", "turn_context", "response_item", "event_msg", "compacted"})
# Records that carry nothing shown as a step; known, so counted without a warning.
NOT_STEPS = frozenset(
    {
        "world_state",
        "inter_agent_communication",
        "inter_agent_communication_metadata",
        "state",
        "message/developer",
        "message/system",
        "message/context",
        "ghost_snapshot",
        "compaction",
        "compaction_summary",
        "task_complete",
        "turn_complete",
        "user_message",
        "agent_message",
        "agent_reasoning",
        "agent_reasoning_raw_content",
        "agent_reasoning_section_break",
        "token_count",
        "token_count/repeated",
        "exec_command_begin",
        "exec_command_output_delta",
        "patch_apply_begin",
        "mcp_tool_call_begin",
        "web_search_begin",
        "web_search_end",
        "item_started",
        "item_completed",
        "turn_diff",
        "plan_update",
        "background_event",
        "entered_review_mode",
        "exited_review_mode",
        "view_image_tool_call",
        "session_configured",
        "shutdown_complete",
        "warning",
        "deprecation_notice",
        "undo_started",
        "undo_completed",
        "context_compacted",
        "thread_rolled_back",
        "turn_aborted",
        "replayed",
    }
)
MODEL_ITEMS = frozenset({"reasoning", "function_call", "custom_tool_call", "local_shell_call", "web_search_call"})
TOOL_ITEMS = {
    "function_call": None,
    "custom_tool_call": None,
    "local_shell_call": "local_shell",
    "web_search_call": "web_search",
}
OUTPUT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output", "local_shell_call_output"})
CONTEXT_PREFIXES = (
    "<environment_context>",
    "<user_instructions>",
    "<permissions instructions>",
    "<developer_instructions>",
    "<INSTRUCTIONS>",
    "# AGENTS.md",
    "<user_shell_command>",
    "<turn_aborted>",
)
REQUEST_MARKER = "## My request for Codex:"  # the 2025 layout put the typed text after this
# Output text Codex writes when a call could not run (builds that do not persist exec_command_end).
FAILURE_TEXTS = (
    "execution error",
    "apply_patch verification failed",
    "failed to parse function arguments",
    "unsupported call",
)
_EXIT_CODE = re.compile(r"^(?:Exit code: |Process exited with code )(-?\d+)\s*$", re.M)
_CWD = re.compile(r"<cwd>(.*?)</cwd>", re.S)
_DAY = re.compile(r"(\d{4})[/\\](\d{2})[/\\](\d{2})$")
_MAX_DAYS = 62  # how far past its start a parent's subagents are looked for
_FEW_DAYS = 4  # day folders tried one by one; a longer window is listed
_NAME_TIME = re.compile(r"rollout-(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d)")
_NAME_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"


# -- detection ------------------------------------------------------------------------------------


def _meta_of(rec: Any) -> dict | None:
    """The session meta of a first line: the envelope's payload, or the bare 2025 line itself."""
    if not isinstance(rec, dict):
        return None
    if rec.get("type") == "session_meta" and isinstance(rec.get("payload"), dict):
        meta = rec["payload"]
    elif "type" not in rec and "payload" not in rec and "instructions" in rec and "timestamp" in rec:
        meta = rec
    else:
        return None
    return meta if isinstance(meta.get("id"), str) and meta["id"] else None


def sniff(head: Head) -> bool:
    if head.is_sqlite:
        return False
    if isinstance(head.first_record, dict):
        return _meta_of(head.first_record) is not None
    # A first line longer than the head (long base instructions) cannot be parsed here.
    start = head.data[:200]
    return head.json_document and start.startswith(b'{"timestamp":') and b'"type":"session_meta"' in start


def _head_meta(head: Head) -> dict | None:
    if isinstance(head.first_record, dict):
        return _meta_of(head.first_record)
    return _meta_of(first_line(head.path))


# -- companions -----------------------------------------------------------------------------------


def companions(head: Head) -> list[str]:
    """The rollouts of the thread's subagents (and theirs): those begun while it was being written.

    A rollout's name carries the local time it began; a subagent begins after its parent and before
    the parent's file was last written. Only rollouts named within that window (a day's slack for a
    changed time zone) in the day folders it spans have their first line read.
    """
    meta = _head_meta(head)
    if meta is None:
        return []
    own = os.path.abspath(head.path)
    began = _began(own)
    try:
        until = (dt.datetime.fromtimestamp(os.stat(own).st_mtime) + dt.timedelta(days=1)).strftime(_NAME_TIME_FORMAT)
    except (OSError, OverflowError, ValueError):
        until = None
    children: dict[str, list[tuple[str, str]]] = {}
    for folder in _day_folders(own):
        for name in listdir(folder):
            path = os.path.join(folder, name)
            if not (name.startswith("rollout-") and name.endswith(".jsonl")) or path == own:
                continue
            when = _began(path)
            if when is not None and ((began is not None and when < began) or (until is not None and when > until)):
                continue
            parent, child = _parent_of(path, _mtime(path))
            if parent is not None and child is not None:
                children.setdefault(parent, []).append((path, child))
    found: list[str] = []
    todo, seen = [meta["id"]], {meta["id"]}
    while todo:
        for path, child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                found.append(path)
                todo.append(child)
    return sorted(found)


def _began(path: str) -> str | None:
    """The local time a rollout began, from its name (rollout-2026-01-03T10-00-00-<id>.jsonl), as sortable text."""
    match = _NAME_TIME.match(os.path.basename(path))
    return match.group(1) if match else None


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _day_folders(path: str) -> list[str]:
    """The rollout's day folder and the next ones up to the day it was last written (sessions/YYYY/MM/DD)."""
    folder = os.path.dirname(path)
    match = _DAY.search(folder)
    if match is None:
        return [folder]
    root = folder[: match.start()]
    try:
        day = dt.date(*map(int, match.groups()))
        last = dt.date.fromtimestamp(os.stat(path).st_mtime) + dt.timedelta(days=1)
    except (ValueError, OSError, OverflowError):
        return [folder]
    end = min(last, day + dt.timedelta(days=_MAX_DAYS - 1))
    out = []
    if (end - day).days < _FEW_DAYS:  # the usual window (a rollout last written the day it began)
        while day <= end:
            candidate = os.path.join(root, f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}")
            if os.path.isdir(candidate):
                out.append(candidate)
            day += dt.timedelta(days=1)
        return out or [folder]
    # A longer window is listed, not tried day by day: a rollout written long after it began (a
    # resumed session) would otherwise cost _MAX_DAYS look-ups for every file of a folder.
    for year in _numbered(root, 4, day.year, end.year):
        for month in _numbered(os.path.join(root, year), 2, 1, 12):
            for name in _numbered(os.path.join(root, year, month), 2, 1, 31):
                try:
                    when = dt.date(int(year), int(month), int(name))
                except ValueError:
                    continue
                if day <= when <= end:
                    out.append(os.path.join(root, year, month, name))
    return out or [folder]


def _numbered(folder: str, digits: int, low: int, high: int) -> list[str]:
    """The folders in `folder` named with a number of `digits` digits from low to high, in order."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    names = []
    for entry in entries:
        name = entry.name
        if len(name) == digits and name.isdigit() and name.isascii() and low <= int(name) <= high:
            try:
                if entry.is_dir():
                    names.append(name)
            except OSError:
                continue
    return sorted(names)


@functools.lru_cache(maxsize=4096)
def _parent_of(path: str, mtime: int) -> tuple[str | None, str | None]:
    """(parent thread id, thread id) of a subagent rollout, from its first line; (None, None) for others.

    Cached per file and its mtime: a folder import asks about the same rollouts for every parent.
    """
    meta = _meta_of(first_line(path))
    parent = _spawn(meta).get("parent_thread_id") if meta is not None else None
    return (parent, meta["id"]) if meta is not None and isinstance(parent, str) else (None, None)


def _spawn(meta: dict) -> dict:
    """The `thread_spawn` of a subagent's session meta (parent_thread_id, depth, nickname, role), or {}."""
    source = meta.get("source")
    sub = source.get("subagent") if isinstance(source, dict) else None
    spawn = sub.get("thread_spawn") if isinstance(sub, dict) else None
    return spawn if isinstance(spawn, dict) else {}


# -- one rollout ----------------------------------------------------------------------------------


class _Rollout:
    """The steps of one rollout, built line by line."""

    def __init__(self, report: ProblemSink, source_file: str | None) -> None:
        self.report, self.source_file = report, source_file
        self.steps: list[Step] = []
        self.types = RecordTypes("record type")
        self.meta: dict[str, Any] = {}
        self.id: str | None = None
        self.bare = False
        self.turn: Step | None = None
        self.turns: list[Step] = []
        self.turn_id: str | None = None  # announced by task_started, for the turn its prompt opens
        self.call: Step | None = None  # the model call the items now arriving belong to
        self.unpriced: Step | None = None  # the last model call closed before its token_count arrived
        self.tools: dict[str, Step] = {}
        self.answered: set[str] = set()  # calls whose output arrived
        self.ends: dict[str, tuple[str, str | None, dict]] = {}  # call_id -> what its end event said
        self.retries: list[dict[str, Any]] = []
        self.model: str | None = None
        self.total: tuple[int, ...] | None = None
        self.baseline: tuple[int, ...] | None = None
        self.replay_at: Any = None  # the timestamp a replayed parent history is stamped with
        self.unpaired_compaction = False  # a compacted item whose context_compacted event is still to come
        self.turn_calls = 0
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self._prev_ts: str | None = None
        self._n = 0

    def _problem(self, message: str, number: int | None) -> None:
        self.report(Problem(message, line=number, source_file=self.source_file))

    def snapshot(self, report: ProblemSink) -> _Rollout:
        """A copy to finish and nest (which change its steps) while this rollout reads on: its steps
        copied, what points at them pointed at the copies; problems of finishing go to `report`."""
        copies = {id(step): step.copy() for step in self.steps}

        def same(step: Step | None) -> Step | None:
            return copies.get(id(step), step) if step is not None else None

        new = copy.copy(self)
        new.report = report
        new.steps = [copies[id(step)] for step in self.steps]
        new.turn, new.call, new.unpriced = same(self.turn), same(self.call), same(self.unpriced)
        new.turns = [copies.get(id(step), step) for step in self.turns]
        new.tools = {key: copies.get(id(step), step) for key, step in self.tools.items()}
        new.retries = list(self.retries)
        new.answered, new.ends = set(self.answered), dict(self.ends)
        return new

    def _new_id(self, what: str) -> str:
        self._n += 1
        return f"{what}-{self._n}"

    def _add(self, step: Step) -> Step:
        step.seq = len(self.steps)
        self.steps.append(step)
        return step

    # -- lines ----------------------------------------------------------------------------------

    def line(self, number: int, rec: dict) -> None:
        if self.id is None:
            meta = _meta_of(rec)
            if meta is None:
                self._problem("skipped: a Codex rollout starts with its session_meta line", number)
                return
            self.bare = "payload" not in rec
            ts = normalize.timestamp(rec.get("timestamp")) or normalize.timestamp(meta.get("timestamp"))
            self._session_meta(meta, ts)
            return
        kind = rec.get("type")
        if not self.bare and isinstance(kind, str) and isinstance(rec.get("payload"), dict):
            self._envelope(number, kind, rec["payload"], rec.get("timestamp"))
        elif self.bare and rec.get("record_type") == "state":
            self.types.count("state")
        elif self.bare and isinstance(kind, str):
            self._item(number, rec, None)
        else:
            self._problem("skipped: not a record of this Codex rollout's layout", number)

    def _envelope(self, number: int, kind: str, payload: dict, raw_ts: Any) -> None:
        ts = normalize.timestamp(raw_ts)
        if self.replay_at is not None:
            if raw_ts == self.replay_at and not (kind == "event_msg" and payload.get("type") == "task_started"):
                self._replayed(kind, payload)
                return
            self.replay_at = None
        if kind == "session_meta":
            if payload.get("id") != self.id:
                self.replay_at = raw_ts  # a fork or subagent replaying its parent's history
                self.types.count("replayed")
            else:
                self.types.count(kind)
            return
        if ts is not None:
            self.first_ts = self.first_ts or ts
            self.last_ts = ts
        if kind == "turn_context":
            if isinstance(payload.get("model"), str):
                self.model = payload["model"]
            if self.turn_id is None and isinstance(payload.get("turn_id"), str) and self.turn is None:
                self.turn_id = payload["turn_id"]
        elif kind == "response_item":
            self._item(number, payload, ts)
        elif kind == "event_msg":
            self._event(number, payload, ts)
        elif kind == "compacted":
            self._compaction(payload.get("message"), ts, payload)
            self.unpaired_compaction = True
        else:
            self.types.count(kind, number, known=kind in NOT_STEPS)
        if ts is not None:
            self._prev_ts = ts
            if self.turn is not None:
                self.turn.ended_at = ts

    def _replayed(self, kind: str, payload: dict) -> None:
        self.types.count("replayed")
        if kind == "event_msg" and payload.get("type") == "token_count":
            total = _total(payload)
            if total is not None:
                self.total = self.baseline = total

    def _session_meta(self, meta: dict, ts: str | None) -> None:
        self.id = meta["id"]
        self.meta = meta
        self.first_ts = ts
        self._prev_ts = ts

    # -- response items -------------------------------------------------------------------------

    def _item(self, number: int, item: dict, ts: str | None) -> None:
        kind = item.get("type") if isinstance(item.get("type"), str) else None
        if kind == "message":
            self._message(number, item, ts)
        elif kind is not None and kind in MODEL_ITEMS:
            call = self._model_call(ts)
            if kind == "reasoning":
                summary = [s.get("text") for s in as_list(item.get("summary")) if isinstance(s, dict)]
                call.extra.setdefault("reasoning", []).extend(t for t in summary if isinstance(t, str))
            else:
                self._tool_call(number, kind, item, call, ts)
        elif kind in OUTPUT_ITEMS:
            self._output(number, item, ts)
        else:
            self.types.count(str(kind), number, known=kind in NOT_STEPS)

    def _message(self, number: int, item: dict, ts: str | None) -> None:
        role = item.get("role")
        text = text_of(item.get("content")) or None
        if role == "assistant":
            call = self._model_call(ts)
            if text:
                call.output = text if not call.output else f"{call.output}\n\n{text}"
            phase = item.get("phase")
            if isinstance(phase, str):
                call.extra["phase"] = phase
        elif role == "user" and text and not text.lstrip().startswith(CONTEXT_PREFIXES):
            if REQUEST_MARKER in text:
                text = text.split(REQUEST_MARKER, 1)[1].strip()
            self._prompt(text, ts)
        else:
            if role == "user" and text and "cwd" not in self.meta:
                found = _CWD.search(text)
                if found:
                    self.meta["cwd"] = found.group(1).strip()
            self.types.count(f"message/{role if role in ('developer', 'system') else 'context'}")

    def _prompt(self, text: str, ts: str | None) -> None:
        if self.turn is not None and self.turn.input == text and not self.turn_calls:
            return  # the user_message event repeating the response item
        if self.turn is None or self.turn.input is not None:
            self._end_turn()
            self._start_turn(ts)
        assert self.turn is not None
        self.turn.input, self.turn.name = text, prompt_name(text)

    def _start_turn(self, ts: str | None) -> Step:
        self.turn = self._add(
            Step(
                id=self.turn_id or self._new_id("turn"),
                name="turn",
                kind="other",
                raw_type="turn",
                started_at=ts,
                ended_at=ts,
            )
        )
        self.turn_id = None
        self.turn_calls = 0
        self.turns.append(self.turn)
        return self.turn

    def _end_turn(self) -> None:
        self._close_call()
        if self.retries:
            last = self.retries[-1]
            self._failure("stream error", last.get("message"), last.get("at"), {})
        self.turn = None

    def _in_turn(self, ts: str | None) -> Step:
        return self.turn if self.turn is not None else self._start_turn(ts)

    def _model_call(self, ts: str | None) -> Step:
        if self.call is not None:
            self.call.ended_at = ts or self.call.ended_at
            return self.call
        turn = self._in_turn(ts)
        self.turn_calls += 1
        self.call = self._add(
            Step(
                id=self._new_id("model"),
                parent_id=turn.id,
                name=self.model or "model call",
                kind="llm",
                raw_type="response",
                started_at=self._prev_ts or ts,
                ended_at=ts,
                model=self.model,
                provider=self.meta.get("model_provider") if isinstance(self.meta.get("model_provider"), str) else None,
            )
        )
        self.unpriced = None
        self._retried(self.call)
        return self.call

    def _close_call(self) -> None:
        if self.call is not None:
            self.call.duration_ms = normalize.duration_between(self.call.started_at, self.call.ended_at)
            self.unpriced = self.call
        self.call = None

    def _retried(self, step: Step) -> None:
        if self.retries:
            step.events.extend(self.retries)
            step.extra["retries"] = len(self.retries)
            self.retries = []

    def _tool_call(self, number: int, kind: str, item: dict, call: Step, ts: str | None) -> None:
        call_id = item.get("call_id") or item.get("id")
        call_id = call_id if isinstance(call_id, str) and call_id else self._new_id("call")
        name = item["name"] if isinstance(item.get("name"), str) else (TOOL_ITEMS[kind] or kind)
        arguments = item.get("arguments", item.get("input", item.get("action")))
        status = item.get("status")
        tool = self._add(
            Step(
                id=call_id,
                parent_id=call.id,
                name=name,
                kind="tool",
                raw_type=kind,
                # A web search has no output item: its own status is all there is.
                status=normalize.status(status) if kind == "web_search_call" else "running",
                started_at=ts,
                ended_at=ts,
                input=normalize.text(arguments),
                extra={"action": item["action"]} if kind == "web_search_call" and "action" in item else {},
            )
        )
        self.tools[call_id] = tool
        self._settle(tool)

    def _output(self, number: int, item: dict, ts: str | None) -> None:
        call_id = item.get("call_id")
        tool = self.tools.get(call_id) if isinstance(call_id, str) else None
        if tool is None:
            self._problem(
                f"skipped: the output of call {jsonsafe.quoted(call_id)}, which is not in the rollout", number
            )
            return
        self._close_call()
        text, exit_code, extra = _call_output(item.get("output"))
        tool.output = text
        tool.extra.update(extra)
        if exit_code is not None:
            tool.extra["exit_code"] = exit_code
        self.answered.add(tool.id)
        tool.ended_at = ts or tool.ended_at
        tool.duration_ms = normalize.duration_between(tool.started_at, tool.ended_at)
        self._settle(tool)
        if isinstance(call_id, str) and tool.name == "spawn_agent":
            agent = _json(text).get("agent_id")
            if isinstance(agent, str):
                tool.extra["agent_id"] = agent

    def _settle(self, tool: Step) -> None:
        """A tool call's status: its end event's word when there is one, else what its output says."""
        end = self.ends.get(tool.id)
        if end is not None:
            tool.status, tool.error, extra = end[0], end[1], dict(end[2])
            measured = extra.pop("duration_ms", None)
            tool.duration_ms = measured if measured is not None else tool.duration_ms
            tool.extra.update(extra)
            return
        if tool.id not in self.answered:
            return
        text = tool.output or ""
        code = tool.extra.get("exit_code")
        if (isinstance(code, int) and code != 0) or text.lstrip().lower().startswith(FAILURE_TEXTS):
            tool.status, tool.error = "failed", text or f"exit code {code}"
        elif tool.status == "running":
            tool.status = "completed"

    # -- events ---------------------------------------------------------------------------------

    def _event(self, number: int, event: dict, ts: str | None) -> None:
        kind = event.get("type") if isinstance(event.get("type"), str) else None
        if kind in ("task_started", "turn_started"):
            self._end_turn()
            self.turn_id = event.get("turn_id") if isinstance(event.get("turn_id"), str) else None
            self.types.count(kind)
        elif kind in ("task_complete", "turn_complete"):
            if self.turn is not None and isinstance(event.get("last_agent_message"), str):
                self.turn.output = event["last_agent_message"]
            self._end_turn()
            self.types.count(kind)
        elif kind == "user_message":
            if isinstance(event.get("message"), str) and (self.turn is None or self.turn.input is None):
                self._prompt(event["message"], ts)
            self.types.count(kind)
        elif kind == "token_count":
            self._tokens(event, ts)
        elif kind in ("exec_command_end", "patch_apply_end", "mcp_tool_call_end"):
            self._end(kind, event)
        elif kind == "stream_error":
            self.retries.append(_event_detail(event, ts))
        elif kind == "error":
            detail = _event_detail(event, ts)
            self._failure("error", detail.get("message"), ts, detail)
        elif kind == "context_compacted":
            if not self.unpaired_compaction:
                self._compaction(None, ts, {})
            self.unpaired_compaction = False
            self.types.count(kind)
        elif kind == "turn_aborted":
            if self.turn is not None:
                self.turn.extra["aborted"] = event.get("reason")
            self.types.count(kind)
        elif kind == "thread_rolled_back":
            self._rolled_back(event.get("num_turns"))
            self.types.count(kind)
        else:
            self.types.count(str(kind), number, known=kind in NOT_STEPS)

    def _tokens(self, event: dict, ts: str | None) -> None:
        total = _total(event)
        if total is None:
            self.types.count("token_count")
            return
        if total == self.total:
            self.types.count("token_count/repeated")
            return
        self.types.count("token_count")
        last = event["info"].get("last_token_usage")
        if not isinstance(last, dict):
            before = self.total or (0, 0, 0, 0)
            last = dict(zip(_USAGE_KEYS, (a - b for a, b in zip(total, before, strict=True)), strict=True))
        self.total = total
        step = self.call or self.unpriced or self._model_call(ts)
        # OpenAI usage: input_tokens holds the cached input, output_tokens the reasoning.
        usage.counted(
            last.get("input_tokens"),
            last.get("output_tokens"),
            cache_read=last.get("cached_input_tokens"),
            reasoning=last.get("reasoning_output_tokens"),
            input_has_cache=True,
            output_has_reasoning=True,
            total=last.get("total_tokens"),
        ).apply(step)
        step.ended_at = ts or step.ended_at
        if step is self.call:
            self._close_call()
        self.unpriced = None

    def _end(self, kind: str, event: dict) -> None:
        call_id = event.get("call_id")
        if not isinstance(call_id, str):
            self.types.count(kind)
            return
        extra: dict[str, Any] = {}
        if kind == "exec_command_end":
            code = event.get("exit_code")
            status = event.get("status")
            extra["exit_code"] = code
            duration = event.get("duration")
            if isinstance(duration, dict):
                extra["duration_ms"] = (normalize.number(duration.get("secs")) or 0) * 1000 + (
                    normalize.number(duration.get("nanos")) or 0
                ) / 1e6
            failed = status == "failed" or (isinstance(code, int) and code != 0)
            shown = next((event[k] for k in ("aggregated_output", "stderr", "formatted_output") if event.get(k)), "")
            error = f"exit code {code}\n{shown}".rstrip() if failed else None
            word = "skipped" if status == "declined" else ("failed" if failed else "completed")
        elif kind == "patch_apply_end":
            failed = event.get("success") is False or event.get("status") == "failed"
            error = (event.get("stderr") or event.get("stdout") or "patch not applied") if failed else None
            word = "failed" if failed else "completed"
        else:
            result = event.get("result")
            err = result.get("Err") if isinstance(result, dict) else None
            ok = result.get("Ok") if isinstance(result, dict) else None
            failed = err is not None or (isinstance(ok, dict) and ok.get("is_error") is True)
            error = normalize.text(err if err is not None else ok) if failed else None
            word = "failed" if failed else "completed"
        self.ends[call_id] = (word, error, extra)
        tool = self.tools.get(call_id)
        if tool is not None:
            self._settle(tool)

    def _failure(self, name: str, message: Any, ts: str | None, detail: dict) -> None:
        self._close_call()
        turn = self._in_turn(ts)
        step = self._add(
            Step(
                id=self._new_id("error"),
                parent_id=turn.id,
                name=name,
                kind="llm",
                raw_type=name.replace(" ", "_"),
                status="failed",
                started_at=ts,
                ended_at=ts,
                error=normalize.text(message) or name,
                model=self.model,
                extra={k: v for k, v in detail.items() if k not in ("type", "message", "at")},
            )
        )
        self._retried(step)

    def _compaction(self, message: Any, ts: str | None, payload: dict) -> None:
        self._close_call()
        replaced = payload.get("replacement_history")
        self._add(
            Step(
                id=self._new_id("compaction"),
                parent_id=self.turn.id if self.turn is not None and self.turn.input is not None else None,
                name="compaction",
                kind="other",
                raw_type="compaction",
                started_at=ts,
                ended_at=ts,
                output=normalize.text(message),
                extra={"replacement_history": len(replaced)} if isinstance(replaced, list) else {},
            )
        )

    def _rolled_back(self, count: Any) -> None:
        """`thread_rolled_back`: the last turns were undone; shown skipped."""
        self._end_turn()
        n = normalize.integer(count) or 0
        undone = [t for t in self.turns if t.status != "skipped"][-n:] if n > 0 else []
        for turn in undone:
            turn.branch = "rolled back"
        skip_subtrees(self.steps, {t.id for t in undone}, "rolled_back")

    def finish(self) -> None:
        self._end_turn()
        for tool in self.tools.values():
            if tool.status == "running":
                tool.extra["result"] = "none recorded"


_USAGE_KEYS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_output_tokens")


def _total(event: dict) -> tuple[int, ...] | None:
    info = event.get("info")
    total = info.get("total_token_usage") if isinstance(info, dict) else None
    if not isinstance(total, dict):
        return None
    return tuple(normalize.integer(total.get(k)) or 0 for k in _USAGE_KEYS)


def _json(text: str | None) -> dict:
    if not text or not text.lstrip().startswith("{"):
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _call_output(output: Any) -> tuple[str | None, int | None, dict]:
    """(text, exit code, extra) of a call's output: plain text, or {"output", "metadata": {"exit_code"}} JSON."""
    extra: dict[str, Any] = {}
    if isinstance(output, dict):  # newer payloads: {"content": …, "success": …}
        if output.get("success") is False:
            extra["success"] = False
        text = normalize.text(output.get("content", output))
        return text, (1 if output.get("success") is False else None), extra
    text = normalize.text(output)
    wrapped = _json(text)
    if "output" in wrapped:
        metadata = wrapped.get("metadata")
        code = normalize.integer(metadata.get("exit_code")) if isinstance(metadata, dict) else None
        if isinstance(metadata, dict):
            extra["metadata"] = metadata
        return normalize.text(wrapped["output"]), code, extra
    match = _EXIT_CODE.search(text or "")
    return text, (int(match.group(1)) if match else None), extra


def _event_detail(event: dict, ts: str | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"type": event.get("type"), "at": ts, "message": event.get("message")}
    for key in ("codex_error_info", "additional_details"):
        if event.get(key) is not None:
            detail[key] = event[key]
    return detail


# -- the run --------------------------------------------------------------------------------------


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    main = _read_rollout(json_lines(source, report), report, None)
    _must_have_meta(head, main)
    children = [_child(path, report) for path in companions(head)]
    yield _thread_run(main, [c for c in children if c is not None], report)


def _must_have_meta(head: Head, main: _Rollout) -> None:
    if main.id is None:
        raise UnusableInput(head.path, "looks like a Codex rollout, but its session_meta line cannot be read")


def _thread_run(main: _Rollout, children: list[_Rollout], report: ProblemSink) -> Run:
    steps = list(main.steps)
    _nest(steps, main, children, report)
    return _run(main, steps, report)


# -- following a rollout as it is written ---------------------------------------------------------


def resumable(head: Head) -> bool:
    """Always: a rollout is JSON Lines, appended to as the thread goes on."""
    return True


def resume(head: Head, report: ProblemSink) -> _Resumed:
    """The rollout kept between reads; appended lines go on from where it was."""
    return _Resumed(head, report)


class _Resumed:
    """A rollout read on as it grows, with its subagents' rollouts: each takes appended lines as a whole
    read takes them, and the run is built from finished snapshots of them."""

    whole = True

    def __init__(self, head: Head, report: ProblemSink) -> None:
        self.head = head
        self.main = _Rollout(report, None)
        self.children = Companions(_Rollout)

    def read(self, source: SourceFile) -> None:
        for number, rec in json_lines(source, self.main.report):
            self.main.line(number, rec)

    def runs(self, report: ProblemSink) -> list[Run]:
        _must_have_meta(self.head, self.main)
        main = self.main.snapshot(report)
        main.finish()
        paths = companions(self.head)
        self.children.keep_only(paths)
        children = []
        for path in paths:
            child = self.children.caught_up(path, report)
            if child is None or child.id is None:
                continue  # gone since it was listed, or no rollout (its problems are reported)
            child = child.snapshot(functools.partial(report_located, report, path))
            child.finish()
            children.append(child)
        return [_thread_run(main, children, report)]


def _read_rollout(lines: Iterator[tuple[int, dict]], report: ProblemSink, source_file: str | None) -> _Rollout:
    rollout = _Rollout(report, source_file)
    for number, rec in lines:
        rollout.line(number, rec)
    rollout.finish()
    return rollout


def _child(path: str, report: ProblemSink) -> _Rollout | None:
    located = functools.partial(report_located, report, path)
    rollout = _read_rollout(json_lines(SourceFile(path), located), located, path)
    return rollout if rollout.id is not None else None


def _nest(steps: list[Step], main: _Rollout, children: list[_Rollout], report: ProblemSink) -> None:
    """Each subagent rollout under an agent step under the spawn call of its parent that names it.

    A subagent's step ids are prefixed with its thread id: two rollouts both have a "call_1".
    """
    rollouts = {r.id: r for r in [main, *children]}
    callers: list[tuple[_Rollout, Step, Step | None]] = []
    for child in children:
        spawn = _spawn(child.meta)
        parent = rollouts.get(spawn.get("parent_thread_id"))
        caller = _spawning_call(parent, child.id) if parent is not None else None
        agent = Step(
            id=f"agent-{child.id}",
            name=str(spawn.get("agent_nickname") or spawn.get("agent_role") or "subagent"),
            kind="agent",
            raw_type="subagent",
            started_at=child.first_ts,
            ended_at=child.last_ts,
            duration_ms=normalize.duration_between(child.first_ts, child.last_ts),
            input=next((t.input for t in child.turns if t.input), None),
            extra={
                "thread_id": child.id,
                "file": child.source_file,
                **{k: v for k, v in spawn.items() if v is not None},
            },
            seq=-1,
        )
        failure = ended_in_failure(child.steps)
        if failure is not None:
            agent.status, agent.error = "failed", failure.error
        if caller is None:
            agent.flags.append(FLAG_ORPHAN)
            report(
                Problem(
                    f"subagent thread {jsonsafe.quoted(child.id)}: no spawn call of its parent names it; shown at the root",
                    source_file=child.source_file,
                )
            )
        callers.append((child, agent, caller))
    for child, agent, _ in callers:
        prefix = f"{child.id}/"
        for step in child.steps:
            step.id = prefix + step.id
            step.parent_id = prefix + step.parent_id if step.parent_id is not None else agent.id
    for child, agent, caller in callers:
        agent.parent_id = caller.id if caller is not None else None
        steps.append(agent)
        steps.extend(child.steps)


def _spawning_call(parent: _Rollout, child: str | None) -> Step | None:
    named = [t for t in parent.tools.values() if t.extra.get("agent_id") == child]
    if named:
        return named[0]
    unnamed = [t for t in parent.tools.values() if t.name == "spawn_agent" and "agent_id" not in t.extra]
    return unnamed[0] if len(unnamed) == 1 else None


def _run(main: _Rollout, steps: list[Step], report: ProblemSink) -> Run:
    meta = main.meta
    cwd = meta.get("cwd")
    spawn = _spawn(meta)
    metadata: dict[str, Any] = {"tool": "codex"}
    title = next((t.input for t in main.turns if t.input), None)
    if title:
        metadata["title"] = title
    if isinstance(cwd, str):
        metadata["project"] = cwd
    for key in ("cli_version", "originator", "model_provider", "forked_from_id", "agent_nickname", "agent_role"):
        if isinstance(meta.get(key), str):
            metadata[key] = meta[key]
    if isinstance(meta.get("source"), str):
        metadata["source"] = meta["source"]
    if spawn.get("parent_thread_id"):
        metadata["parent_thread_id"] = spawn["parent_thread_id"]
    git = meta.get("git")
    if isinstance(git, dict):
        metadata["git"] = {k: v for k, v in git.items() if v is not None}
    run = Run(
        id=str(main.id),
        agent=project_name(cwd),
        session=spawn.get("parent_thread_id") or main.id,
        started_at=main.first_ts,
        ended_at=main.last_ts,
        input=title,
        output=next((s.output for s in reversed(main.steps) if s.kind == "llm" and s.output), None),
        metadata=metadata,
        steps=steps,
        source_line=1,
    )
    run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
    fill_durations(steps)
    failure = ended_in_failure(main.steps)
    if failure is not None:
        run.status, run.error = "failed", failure.error
    extra: dict[str, Any] = {"record_types": main.types.counts}
    if main.total is not None:
        own = tuple(a - b for a, b in zip(main.total, main.baseline or (0, 0, 0, 0), strict=True))
        extra["thread_token_total"] = dict(zip(_USAGE_KEYS, own, strict=True))
    run.extra = extra
    main.types.report_unknown(report)
    return run
