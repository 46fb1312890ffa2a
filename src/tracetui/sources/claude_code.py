"""Claude Code sessions: `~/.claude/projects/<project-slug>/<sessionId>.jsonl`, with the session's subagents.

One run per session file. A user prompt starts a turn; within it each model response is one model
call (a response is written as one line per content block, all with the same `message.id`, and its
usage is rewritten while streaming: one step per id, the last line's usage), its `tool_use` blocks
are tool calls paired with their `tool_result` by `tool_use_id` (results come in any order), and a
`compact_boundary` is a compaction step between turns. Anthropic's `input_tokens` leaves out the
cache: tokens_in adds `cache_creation_input_tokens` and `cache_read_input_tokens`.

Subagents are subtrees under the tool call that started them. Three generations are read: the
`<sessionId>/subagents/agent-<id>.jsonl` files with a `.meta.json` naming the spawning tool call
(`toolUseId`), flat `agent-<id>.jsonl` files beside the session (linked by the result's agentId),
and `isSidechain: true` lines inline (linked by the Task prompt). When a subagent's file is missing,
the `agent_progress` lines that mirrored it into the session are read instead.

Lines form a tree through `uuid` / `parentUuid`. An edited or rewound prompt gives one parent two
prompts: the branch the session went on with is chosen, the others are shown skipped, like the
branches of an if/else. Records that are not conversation are counted in the run's extra; types
this reader does not know are reported once each.
"""

from __future__ import annotations

import copy
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
    ended_in_failure,
    fill_durations,
    first_line,
    head_lines,
    head_values,
    listdir,
    project_name,
    prompt_name,
    skip_subtrees,
    text_of,
)

NAME = "claude-code"
DESCRIPTION = "Claude Code sessions (~/.claude/projects/*/<session>.jsonl) with their subagents"
DETECTION = 'JSON Lines whose records carry "sessionId", "uuid", "parentUuid" and a "type" of user, assistant or system'
PRIORITY = 65

PROVIDER = "anthropic"
SPAWNING_TOOLS = frozenset({"Task", "Agent"})
CONVERSATION = frozenset({"user", "assistant", "system"})
# Records that are not conversation; known, so counted without a warning.
NOT_STEPS = frozenset(
    {
        "attachment",
        "file-history-snapshot",
        "progress",
        "queue-operation",
        "permission-mode",
        "last-prompt",
        "summary",
        "ai-title",
        "custom-title",
        "agent-name",
        "agent-setting",
        "pr-link",
        "attribution-snapshot",
        "tag",
    }
)
INTERRUPTED = "[Request interrupted by user"
ABANDONED = "abandoned"  # extra mark on the steps of an abandoned fork branch
_AGENT_ID_TAIL = re.compile(r"agentId: ([A-Za-z0-9_-]+)")
# Line envelope keys kept in the conversation's meta (the first line that has one sets it).
_ENVELOPE = (
    ("cwd", "cwd"),
    ("gitBranch", "git_branch"),
    ("version", "version"),
    ("slug", "slug"),
    ("sessionId", "sessionId"),
    ("agentId", "agentId"),
)
_MAY_BE_EMPTY = frozenset({"cwd", "git_branch", "version", "slug"})  # kept even when "" (the ids are not)


# -- detection ------------------------------------------------------------------------------------


def _type(rec: dict) -> str | None:
    kind = rec.get("type")
    return kind if isinstance(kind, str) else None


def _is_conversation_line(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and _type(rec) in CONVERSATION
        and isinstance(rec.get("sessionId"), str)
        and "uuid" in rec
        and "parentUuid" in rec
    )


def _is_claude_record(rec: Any) -> bool:
    """A record of a known non-conversation type that carries a Claude Code field."""
    return (
        isinstance(rec, dict)
        and _type(rec) in NOT_STEPS
        and any(key in rec for key in ("sessionId", "leafUuid", "snapshot"))
    )


def sniff(head: Head) -> bool:
    if head.is_sqlite:
        return False
    if not isinstance(head.first_record, dict):
        # A first line longer than the head (a huge pasted prompt) cannot be parsed here.
        return head.json_document and head.data.startswith(b'{"parentUuid":') and b'"sessionId":"' in head.data
    if not isinstance(head.first_record.get("type"), str):
        return False
    records = head_lines(head.data)
    if any(_is_conversation_line(r) for r in records):
        return True
    # The head holds only records around the conversation (summaries, file snapshots): read says
    # so when the file has no conversation at all.
    return any(_is_claude_record(r) for r in records) and all(
        isinstance(r, dict) and _type(r) in NOT_STEPS for r in records
    )


# -- companions -----------------------------------------------------------------------------------


def _session_of(head: Head) -> tuple[str | None, str | None]:
    """(sessionId, agentId) of the file: agentId set for a subagent's own file."""
    return _session_in(head.data)


@functools.lru_cache(maxsize=16)
def _session_in(data: bytes) -> tuple[str | None, str | None]:
    # Cached: detection, the companions and the run each ask, once per file in a folder import.
    records = []
    for rec in head_values(data):  # (parsed only as far as the first conversation line)
        if _is_conversation_line(rec):
            agent = rec.get("agentId") if rec.get("isSidechain") is True else None
            return rec["sessionId"], agent if isinstance(agent, str) and agent else None
        records.append(rec)
    session = next(
        (r["sessionId"] for r in records if isinstance(r, dict) and isinstance(r.get("sessionId"), str)), None
    )
    return session, None


def companions(head: Head) -> list[str]:
    """The subagent files of a main session file: its `subagents/` folder and flat `agent-*.jsonl` beside it."""
    session, agent = _session_of(head)
    if session is None or agent is not None:
        return []
    folder = os.path.dirname(os.path.abspath(head.path))
    nested = os.path.join(folder, session, "subagents")
    found = [
        os.path.join(nested, name)
        for name in listdir(nested)
        if name.startswith("agent-") and name.endswith((".jsonl", ".meta.json"))
    ]
    found += _flat_agent_files(folder, _mtime(folder)).get(session, [])
    return sorted(found)


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=64)
def _flat_agent_files(folder: str, mtime: int) -> dict[str, list[str]]:
    """sessionId -> the flat agent-*.jsonl files of a project folder (Claude Code 2.0), by their first line.

    Cached per folder and its mtime: a folder import asks once per session file.
    """
    out: dict[str, list[str]] = {}
    for name in listdir(folder):
        if name.startswith("agent-") and name.endswith(".jsonl"):
            path = os.path.join(folder, name)
            rec = first_line(path)
            if isinstance(rec, dict) and isinstance(rec.get("sessionId"), str):
                out.setdefault(rec["sessionId"], []).append(path)
    return out


# -- one conversation -----------------------------------------------------------------------------


class _Conversation:
    """The steps of one conversation (the session, or one subagent), built line by line.

    `steps` are in the order they started; parent links say the tree. Model calls are keyed by
    message id, tool calls by tool_use id, and `owner` maps each line's uuid to its step, so the
    fork resolution at the end can mark whole branches.
    """

    def __init__(self, report: ProblemSink, source_file: str | None, *, sidechains: bool, dag: bool = True) -> None:
        self.report, self.source_file = report, source_file
        self.take_sidechains, self.dag = sidechains, dag
        self.steps: list[Step] = []
        self.turn: Step | None = None
        self.calls: dict[str, Step] = {}
        self.tools: dict[str, Step] = {}
        self.early_results: dict[str, tuple[dict, dict, str | None]] = {}
        self.retries: list[dict[str, Any]] = []
        self.compaction: Step | None = None
        self.parent: dict[str, str | None] = {}
        self.order: dict[str, int] = {}
        self.prompts: dict[str | None, list[str]] = {}
        self.owner: dict[str, Step] = {}
        self.types = RecordTypes("line type")
        self.meta: dict[str, Any] = {}
        self.titles: dict[str, str] = {}
        self.leaf: str | None = None
        self.summaries: list[tuple[str, str]] = []
        self.progress: dict[str, list[tuple[int, dict, str | None]]] = {}
        self.tool_agents: dict[str, str] = {}  # tool_use id -> the agentId its result names
        self.sidechains: list[_Conversation] = []
        self._sidechain_of: dict[str, _Conversation] = {}
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self._prev_ts: str | None = None
        self.conversation_lines = 0
        # The envelope keys not met yet: once a session's cwd, branch, … are known, lines are not asked.
        self._unmet: tuple[tuple[str, str], ...] = _ENVELOPE
        # A model call's usage, as its latest line has it (applied at finish: a response is rewritten
        # line by line while streaming, and only the last line's counts are kept).
        self.usage: dict[int, tuple[Step, dict]] = {}
        # Following (grown()): each step by id, and the lowest index of a step the lines read since the
        # last build added or changed: the steps before the turn it is in are built as they were.
        self.by_id: dict[str, Step] = {}
        self.low: int | None = None

    def __setstate__(self, state: dict) -> None:
        # `usage` is keyed by id(step), which another process (a Tail kept in the cache) does not share.
        self.__dict__.update(state)
        self.usage = {id(step): (step, counts) for step, counts in self.usage.values()}

    # -- lines ----------------------------------------------------------------------------------

    def line(self, number: int, rec: dict) -> None:
        kind = rec.get("type")
        if not isinstance(kind, str):
            self._problem('skipped: not a Claude Code record (no "type")', number)
            return
        if self.take_sidechains and rec.get("isSidechain") is True and kind in CONVERSATION:
            self._sidechain(number, rec)
            return
        uuid = rec.get("uuid") if isinstance(rec.get("uuid"), str) else None
        if uuid is not None:
            if uuid in self.order:
                self.types.count("duplicate line")
                return
            parent = rec.get("parentUuid")
            if parent is None and isinstance(rec.get("logicalParentUuid"), str):
                parent = rec["logicalParentUuid"]  # a compaction boundary restarts the chain
            self.parent[uuid] = parent if isinstance(parent, str) else None
            self.order[uuid] = number
        if kind in CONVERSATION:
            self._envelope(rec)
            ts = normalize.timestamp(rec.get("timestamp"))
            if kind == "assistant":
                handler = self._assistant
            else:
                handler = self._user if kind == "user" else self._system
            if handler(number, rec, uuid, ts):
                self.conversation_lines += 1
            if ts is not None:
                self._prev_ts = ts
                self.first_ts = self.first_ts or ts
                self.last_ts = ts
                if self.turn is not None:
                    self.turn.ended_at = ts
                    self._touch(self.turn)
            return
        self.types.count(kind, number, known=kind in NOT_STEPS)
        self._not_conversation(kind, rec, number)

    def _problem(self, message: str, number: int | None) -> None:
        self.report(Problem(message, line=number, source_file=self.source_file))

    def snapshot(self, report: ProblemSink) -> _Conversation:
        """A copy to finish and nest (which change its steps) while this conversation reads on: its
        steps copied, what points at them pointed at the copies; problems of finishing go to `report`."""
        copies = {id(step): step.copy() for step in self.steps}

        def same(step: Step) -> Step:
            return copies.get(id(step), step)

        new = copy.copy(self)
        new.report = report
        new.steps = [copies[id(step)] for step in self.steps]
        new.turn = same(self.turn) if self.turn is not None else None
        new.compaction = same(self.compaction) if self.compaction is not None else None
        new.calls = {key: same(step) for key, step in self.calls.items()}
        new.tools = {key: same(step) for key, step in self.tools.items()}
        new.owner = {key: same(step) for key, step in self.owner.items()}
        new.retries = list(self.retries)
        new.usage = {id(same(step)): (same(step), counts) for step, counts in self.usage.values()}
        sidechains = {id(c): c.snapshot(report) for c in self.sidechains}
        new.sidechains = [sidechains[id(c)] for c in self.sidechains]
        new._sidechain_of = {key: sidechains[id(c)] for key, c in self._sidechain_of.items()}
        return new

    def _envelope(self, rec: dict) -> None:
        unmet = self._unmet
        if not unmet:
            return
        for key, name in unmet:
            value = rec.get(key)
            if isinstance(value, str) and (value or name in _MAY_BE_EMPTY):
                self.meta[name] = value
                self._unmet = tuple(pair for pair in self._unmet if pair[1] != name)

    def _not_conversation(self, kind: str, rec: dict, number: int) -> None:
        if kind in ("ai-title", "custom-title", "agent-name"):
            value = rec.get({"ai-title": "aiTitle", "custom-title": "customTitle", "agent-name": "agentName"}[kind])
            if isinstance(value, str) and value.strip():
                self.titles[kind] = value.strip()  # the last one wins
        elif kind == "summary":
            if isinstance(rec.get("summary"), str) and isinstance(rec.get("leafUuid"), str):
                self.summaries.append((rec["leafUuid"], rec["summary"]))
        elif kind == "last-prompt":
            if isinstance(rec.get("leafUuid"), str):
                self.leaf = rec["leafUuid"]
        elif kind == "progress":
            data = rec.get("data")
            if isinstance(data, dict) and data.get("type") == "agent_progress":
                agent, message = data.get("agentId"), data.get("message")
                if isinstance(agent, str) and isinstance(message, dict):
                    tool = rec.get("parentToolUseID")
                    self.progress.setdefault(agent, []).append(
                        (number, message, tool if isinstance(tool, str) else None)
                    )

    def _sidechain(self, number: int, rec: dict) -> None:
        """An inline subagent line (Claude Code 1.0): into the conversation its parent line is in."""
        parent = rec.get("parentUuid")
        conversation = self._sidechain_of.get(parent) if isinstance(parent, str) else None
        if conversation is None:
            conversation = _Conversation(self.report, self.source_file, sidechains=False)
            self.sidechains.append(conversation)
        conversation.line(number, rec)
        if isinstance(rec.get("uuid"), str):
            self._sidechain_of[rec["uuid"]] = conversation

    def _add(self, step: Step) -> Step:
        step.seq = len(self.steps)
        self.steps.append(step)
        self.by_id.setdefault(step.id, step)
        self._touch(step)
        return step

    def _touch(self, step: Step) -> None:
        """The step (its seq: its index in steps) was added or changed by the line being read."""
        if self.low is None or step.seq < self.low:
            self.low = step.seq

    def take_low(self) -> int | None:
        """The lowest index of a step changed since the last build (None: none), and start over. Retries
        no model call took yet are put on the current turn's copy (finish): it is built again now, and
        at the next build, when a model call may have taken them."""
        low = self.low
        pending = self.turn.seq if self.retries and self.turn is not None else None
        if pending is not None:
            low = pending if low is None else min(low, pending)
        self.low = pending
        return low

    def root_index(self, index: int) -> int:
        """The index of the top-level step the step at `index` is under (itself when it is one)."""
        step, seen = self.steps[index], set()
        while step.parent_id is not None and step.parent_id in self.by_id and step.id not in seen:
            seen.add(step.id)
            step = self.by_id[step.parent_id]
        return step.seq

    def forked(self) -> bool:
        return any(len(prompts) > 1 for prompts in self.prompts.values())

    def tail_snapshot(self, start: int, report: ProblemSink) -> _Conversation | None:
        """snapshot() of the steps from `start` on only, for a conversation without forks or sidechains
        (what finish() does then touches only the copies); None when the retries no model call took
        belong to a turn before `start`."""
        copies = {id(step): step.copy() for step in self.steps[start:]}
        new = _Conversation.__new__(_Conversation)  # (not copy.copy: __setstate__ goes over every usage)
        new.__dict__.update(self.__dict__)
        new.report = report
        new.steps = list(copies.values())
        new.turn = copies.get(id(self.turn)) if self.turn is not None else None
        if self.retries and new.turn is None:
            return None
        new.compaction = copies.get(id(self.compaction)) if self.compaction is not None else None
        new.calls, new.tools, new.owner, new.prompts = {}, {}, {}, {}
        new.retries = list(self.retries)
        new.usage = {}
        for step in self.steps[start:]:
            counted = self.usage.get(id(step))
            if counted is not None:
                new.usage[id(copies[id(step)])] = (copies[id(step)], counted[1])
        new.sidechains, new._sidechain_of = [], {}
        return new

    # -- user lines -----------------------------------------------------------------------------

    def _user(self, number: int, rec: dict, uuid: str | None, ts: str | None) -> bool:
        message = rec.get("message")
        if not isinstance(message, dict):
            self._problem("skipped: a user line without a message object", number)
            return False
        content = message.get("content")
        if not isinstance(content, (str, list)):
            self._problem("skipped: a user line whose content is neither text nor a list of blocks", number)
            return False
        if rec.get("isCompactSummary") is True:
            if self.compaction is not None:
                self.compaction.output = text_of(content)
                self._touch(self.compaction)
                if uuid is not None:
                    self.owner[uuid] = self.compaction
            return True
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        for block in results:
            self._result(block, rec, ts, uuid)
        others = [b for b in blocks if not (isinstance(b, dict) and b.get("type") == "tool_result")]
        text = content if isinstance(content, str) else text_of(others)
        if not text or not text.strip():
            return bool(results)
        if text.startswith(INTERRUPTED):
            if self.turn is not None:
                self.turn.extra["interrupted"] = True
                self._touch(self.turn)
            return True
        if rec.get("isMeta") is True:
            self.types.count("meta user line")
            return True
        self._prompt(text, uuid, ts, rec, number)
        return True

    def _prompt(self, text: str, uuid: str | None, ts: str | None, rec: dict, number: int) -> None:
        self._flush_retries()
        self.turn = self._add(
            Step(
                id=uuid or f"line-{number}",
                name=prompt_name(text),
                kind="other",
                raw_type="turn",
                started_at=ts,
                ended_at=ts,
                input=text,
                extra={k: rec[k] for k in ("promptId", "permissionMode") if k in rec},
            )
        )
        self.compaction = None
        if uuid is not None:
            self.owner[uuid] = self.turn
            self.prompts.setdefault(self.parent.get(uuid), []).append(uuid)

    def _result(self, block: dict, rec: dict, ts: str | None, uuid: str | None) -> None:
        tool_id = block.get("tool_use_id")
        if not isinstance(tool_id, str):
            return
        structured = rec.get("toolUseResult")
        if isinstance(structured, dict) and isinstance(structured.get("agentId"), str):
            self.tool_agents[tool_id] = structured["agentId"]
        tool = self.tools.get(tool_id)
        if tool is None:
            self.early_results[tool_id] = (block, rec, ts)
            return
        self._apply_result(tool, block, rec, ts)
        if uuid is not None:
            self.owner[uuid] = tool

    def _apply_result(self, tool: Step, block: dict, rec: dict, ts: str | None) -> None:
        self._touch(tool)
        text = text_of(block.get("content"))
        if tool.name in SPAWNING_TOOLS and text and tool.id not in self.tool_agents:
            tail = _AGENT_ID_TAIL.search(text)
            if tail:
                self.tool_agents[tool.id] = tail.group(1)
        if block.get("is_error") is True:
            tool.status, tool.error = "failed", text or "tool error"
        else:
            tool.status, tool.output = "completed", text
        tool.extra.pop("result", None)
        tool.ended_at = ts or tool.ended_at
        tool.duration_ms = normalize.duration_between(tool.started_at, tool.ended_at)
        structured = rec.get("toolUseResult")
        if isinstance(structured, dict):
            kept = {
                k: structured[k] for k in ("status", "agentId", "totalTokens", "totalDurationMs") if k in structured
            }
            if kept:
                tool.extra["tool_use_result"] = kept

    # -- assistant lines ------------------------------------------------------------------------

    def _assistant(self, number: int, rec: dict, uuid: str | None, ts: str | None) -> bool:
        message = rec.get("message")
        if not isinstance(message, dict):
            self._problem("skipped: an assistant line without a message object", number)
            return False
        message_id = message.get("id") if isinstance(message.get("id"), str) and message.get("id") else None
        call = self.calls.get(message_id or "")
        if call is None:
            call = self._call(message_id or uuid or f"line-{number}", message, rec, ts)
            if message_id:
                self.calls[message_id] = call
        self._touch(call)
        call.ended_at = ts or call.ended_at  # its duration: fill_durations, when the run is made
        counts = message.get("usage")
        if isinstance(counts, dict):
            self.usage[id(call)] = (call, counts)
        stop = message.get("stop_reason")
        if stop is not None:
            call.extra["stop_reason"] = stop
        content = message.get("content")
        for block in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            if isinstance(block, dict):
                self._block(call, block, ts)
        if uuid is not None:
            self.owner[uuid] = call
        return True

    def _call(self, step_id: str, message: dict, rec: dict, ts: str | None) -> Step:
        model = message.get("model") if isinstance(message.get("model"), str) else None
        failed = rec.get("isApiErrorMessage") is True
        call = Step(
            id=step_id,
            parent_id=self.turn.id if self.turn else None,
            name="API error" if failed else (model or "model call"),
            kind="llm",
            raw_type="api_error" if failed else "message",
            status="failed" if failed else "completed",
            started_at=self._prev_ts or ts,  # the request went out after the line before it
            model=None if model == "<synthetic>" else model,
            provider=PROVIDER,
        )
        if isinstance(rec.get("requestId"), str):
            call.extra["request_id"] = rec["requestId"]
        if failed:
            for key in ("error", "apiErrorStatus"):
                if key in rec:
                    call.extra[key] = rec[key]
        if self.retries:
            call.events, call.extra["retries"] = self.retries, len(self.retries)
            self.retries = []
        return self._add(call)

    def _count_usage(self) -> None:
        """Each model call's tokens, from the usage its last line gave."""
        for call, counts in self.usage.values():
            self._usage(call, counts)
        self.usage = {}

    def _usage(self, call: Step, counts: dict) -> None:
        # The Anthropic Messages usage: input_tokens leaves the cache out, output_tokens holds the thinking.
        usage.counted(
            counts.get("input_tokens"),
            counts.get("output_tokens"),
            cache_read=counts.get("cache_read_input_tokens"),
            cache_write=counts.get("cache_creation_input_tokens"),
            input_has_cache=False,
            output_has_reasoning=True,
        ).apply(call)

    def _block(self, call: Step, block: dict, ts: str | None) -> None:
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            if call.status == "failed" and call.error is None:
                call.error = block["text"]
            else:
                call.output = block["text"] if not call.output else f"{call.output}\n\n{block['text']}"
        elif kind in ("thinking", "redacted_thinking"):
            thought = block.get("thinking")
            call.extra.setdefault("thinking", []).append(thought if isinstance(thought, str) else "[redacted]")
        elif kind in ("tool_use", "server_tool_use") and isinstance(block.get("id"), str):
            tool_id = block["id"]
            if tool_id in self.tools:
                self.tools[tool_id].input = normalize.text(block.get("input"))  # rewritten while streaming
                self._touch(self.tools[tool_id])
                return
            tool = self._add(
                Step(
                    id=tool_id,
                    parent_id=call.id,
                    name=str(block.get("name") or "tool"),
                    kind="tool",
                    raw_type=kind,
                    status="running",  # until its result arrives
                    started_at=ts,
                    input=normalize.text(block.get("input")),
                    extra={"result": "none recorded"},
                )
            )
            self.tools[tool_id] = tool
            early = self.early_results.pop(tool_id, None)
            if early is not None:
                self._apply_result(tool, *early)

    # -- system lines ---------------------------------------------------------------------------

    def _system(self, number: int, rec: dict, uuid: str | None, ts: str | None) -> bool:
        subtype = rec.get("subtype")
        if subtype == "api_error":
            self.retries.append(_retry(rec, ts))
            return True
        if subtype == "compact_boundary":
            self._flush_retries()
            metadata = rec.get("compactMetadata")
            trigger = metadata.get("trigger") if isinstance(metadata, dict) else None
            self.turn = None
            self.compaction = self._add(
                Step(
                    id=uuid or f"line-{number}",
                    name=f"compaction ({trigger})" if isinstance(trigger, str) else "compaction",
                    kind="other",
                    raw_type="compaction",
                    started_at=ts,
                    ended_at=ts,
                    input=text_of(rec.get("content")),
                    extra={"compact_metadata": metadata} if isinstance(metadata, dict) else {},
                )
            )
            if uuid is not None:
                self.owner[uuid] = self.compaction
            return True
        self.types.count(f"system/{subtype}" if isinstance(subtype, str) else "system")
        return False

    def _flush_retries(self) -> None:
        """Retries no model call followed (the session moved on or was cut): kept on their turn."""
        if self.retries and self.turn is not None:
            self._touch(self.turn)
            self.turn.events.extend(self.retries)
            self.turn.extra["retries"] = self.turn.extra.get("retries", 0) + len(self.retries)
        self.retries = []

    # -- the end --------------------------------------------------------------------------------

    def finish(self) -> None:
        for conversation in (self, *self.sidechains):  # (sidechains are not finished otherwise)
            conversation._count_usage()
        self._flush_retries()
        self.report_early()
        if self.dag:
            self._resolve_forks()

    def report_early(self, report: ProblemSink | None = None) -> None:
        """The results of tool calls not in the conversation (when it ends), to `report` (None: its own)."""
        for tool_id in self.early_results:
            (report or self.report)(
                Problem(
                    f"a tool result names tool call {jsonsafe.quoted(tool_id)}, which is not in the conversation",
                    source_file=self.source_file,
                )
            )

    def _resolve_forks(self) -> None:
        """One parent, several prompts: the branch leading to the session's leaf is chosen, the others skipped."""
        forks = {parent: prompts for parent, prompts in self.prompts.items() if len(prompts) > 1}
        if not forks:
            return
        live = self._live_path()
        children: dict[str, list[str]] = {}
        for uuid, parent in self.parent.items():
            if parent is not None:
                children.setdefault(parent, []).append(uuid)
        by_id = {s.id: s for s in self.steps}
        abandoned: set[str] = set()
        for parent, prompts in forks.items():
            chosen = next((p for p in reversed(prompts) if p in live), prompts[-1])
            for i, prompt in enumerate(prompts, 1):
                self.owner[prompt].branch = f"attempt {i}"
                if prompt != chosen:
                    abandoned |= {self.owner[u].id for u in _descendants(prompt, children) if u in self.owner}
            host = self._turn_of(parent, by_id)
            if host is not None:
                host.chosen_branch = f"attempt {prompts.index(chosen) + 1}"
        skip_subtrees(self.steps, abandoned, ABANDONED)

    def _live_path(self) -> set[str]:
        """The lines from the session's leaf back to its root: what the session went on with."""
        leaf = self.leaf if self.leaf in self.parent else None
        if leaf is None:
            leaf = max(self.owner, key=lambda u: self.order.get(u, 0), default=None)
        path: set[str] = set()
        while leaf is not None and leaf not in path:
            path.add(leaf)
            leaf = self.parent.get(leaf)
        return path

    def _turn_of(self, uuid: str | None, by_id: dict[str, Step]) -> Step | None:
        """The top-level step (turn or compaction) the line `uuid` belongs to."""
        seen: set[str] = set()
        while uuid is not None and uuid not in self.owner and uuid not in seen:
            seen.add(uuid)
            uuid = self.parent.get(uuid)
        step = self.owner.get(uuid) if uuid is not None else None
        while step is not None and step.parent_id is not None and step.parent_id in by_id:
            step = by_id[step.parent_id]
        return step

    # -- what the run says about it -------------------------------------------------------------

    def title(self) -> str | None:
        for kind in ("custom-title", "ai-title"):
            if kind in self.titles:
                return self.titles[kind]
        for leaf, summary in self.summaries:
            if leaf in self.parent:  # summaries of other sessions can head a file too
                return summary
        return self.first_prompt()

    def first_prompt(self) -> str | None:
        return next((s.input for s in self.steps if s.raw_type == "turn" and s.parent_id is None), None)


def _retry(rec: dict, ts: str | None) -> dict[str, Any]:
    error = rec.get("error")
    event: dict[str, Any] = {"type": "api_error", "at": ts}
    if isinstance(error, dict):
        event["status"] = error.get("status")
        inner = error.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("error"), dict):
            inner = inner["error"]  # {"error": {"type": "error", "error": {"type", "message"}}}
        if isinstance(inner, dict):
            event["message"] = inner.get("message")
        elif isinstance(error.get("cause"), dict):
            event["message"] = error["cause"].get("code")
    for key, name in (("retryAttempt", "attempt"), ("maxRetries", "max_retries"), ("retryInMs", "retry_in_ms")):
        if key in rec:
            event[name] = rec[key]
    return event


def _descendants(root: str, children: dict[str, list[str]]) -> Iterator[str]:
    todo, seen = [root], set()
    while todo:
        uuid = todo.pop()
        if uuid in seen:
            continue
        seen.add(uuid)
        yield uuid
        todo.extend(children.get(uuid, ()))


# -- the run --------------------------------------------------------------------------------------


class _Subagent:
    """A subagent's conversation and what links it to the tool call that started it."""

    def __init__(self, conversation: _Conversation, agent_id: str | None, tool_id: str | None, meta: dict, file: str):
        self.conversation, self.agent_id, self.tool_id, self.meta, self.file = (
            conversation,
            agent_id,
            tool_id,
            meta,
            file,
        )


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    session, agent = _session_of(head)
    main = _Conversation(report, None, sidechains=agent is None)
    for number, rec in json_lines(source, report):
        main.line(number, rec)
    _must_converse(head, main)
    main.finish()
    yield _session_run(head, main, _subagent_files(head, report), report)


def _must_converse(head: Head, main: _Conversation) -> None:
    if not main.conversation_lines:
        raise UnusableInput(
            head.path, "looks like a Claude Code session, but holds no conversation (only summaries or other records)"
        )


def _session_run(head: Head, main: _Conversation, files: list[_Subagent], report: ProblemSink) -> Run:
    """The run of a finished session conversation and its subagents' files."""
    session, agent = _session_of(head)
    have_file = {sub.agent_id for sub in files}
    subagents = files + _inline_subagents(main) + _progress_subagents(main, have_file, report)
    steps = list(main.steps)
    _nest(steps, main, subagents, report)
    return _run(main, steps, session, agent, subagents, report)


# -- following a session as it is written ---------------------------------------------------------


def resumable(head: Head) -> bool:
    """Always: a session is JSON Lines, appended to as the conversation goes on."""
    return True


def resume(head: Head, report: ProblemSink) -> _Resumed:
    """The session's conversation kept between reads; appended lines go on from where it was."""
    return _Resumed(head, report)


class _Resumed:
    """A session read on as it grows. Its conversation (and each subagent file's) takes appended lines
    as a whole read takes them; the run is built from a snapshot of each, finished and nested, so a
    model call streamed over several lines (one message.id) ends with the usage of its last line."""

    whole = True

    def __init__(self, head: Head, report: ProblemSink) -> None:
        self.head = head
        _, agent = _session_of(head)
        self.main = _Conversation(report, None, sidechains=agent is None)
        self.files = Companions(functools.partial(_Conversation, sidechains=False))
        # Each subagent file as the last build nested it: where its reader was, its meta, its tool call.
        self.nested: dict[str, tuple[Any, dict, str]] = {}

    def read(self, source: SourceFile) -> None:
        for number, rec in json_lines(source, self.main.report):
            self.main.line(number, rec)

    def runs(self, report: ProblemSink) -> list[Run]:
        _must_converse(self.head, self.main)
        self.main.take_low()
        main = self.main.snapshot(report)
        main.finish()
        return [_session_run(self.head, main, self._subagents(report), report)]

    def grown(self, report: ProblemSink) -> tuple[Run, str | None] | None:
        """The run as runs() gives it, but with only the steps of the top-level steps (turns, compactions)
        that the lines read since the last build added or changed (a subagent file's lines: the turn
        of the tool call that started it), and those after them (copies, finished, not finalized),
        and the id of the first of them (None: no step changed). Only for a session without sidechains,
        agent_progress lines or forks whose subagent files all hang under its own tool calls; None for
        the others (build it whole)."""
        main = self.main
        _must_converse(self.head, main)
        low = main.take_low()
        files = companions(self.head)
        self.files.keep_only(files)
        if main.sidechains or main.progress or main.forked():
            return None
        subs, moved = [], []
        for path in files:
            if not path.endswith(".jsonl"):
                continue
            was = self.files.where(path)
            conversation = self.files.caught_up(path, report)
            if conversation is not None:
                subs.append(_subagent(path, conversation, files, report))
                moved.append(was is None or was != self.files.where(path))
        nested = {}
        for sub, tool, changed in zip(subs, _links(main, subs), moved, strict=True):
            if tool is None or main.by_id.get(tool.id) is not tool:
                return None  # at the root, or under another subagent's tool call
            nested[sub.file] = (self.files.where(sub.file), sub.meta, tool.id)
            if changed or self.nested.get(sub.file) != nested[sub.file]:
                low = tool.seq if low is None else min(low, tool.seq)
        for path, (_, _, tool_id) in self.nested.items():
            moved_from = path not in nested or nested[path][2] != tool_id  # gone, or under another call now
            if moved_from and tool_id in main.by_id:
                seq = main.by_id[tool_id].seq
                low = seq if low is None else min(low, seq)
        self.nested = nested
        start = len(main.steps) if low is None else main.root_index(low)
        tail = main.tail_snapshot(start, report)
        if tail is None:
            return None
        tail.finish()
        copies = {step.id: step for step in tail.steps}
        steps = list(tail.steps)
        for sub in subs:
            tool = main.by_id[nested[sub.file][2]]
            if tool.seq < start or main.root_index(tool.seq) < start:
                sub.conversation.report_early(functools.partial(report_located, report, sub.file))
                continue  # kept as built
            conversation = sub.conversation.snapshot(functools.partial(report_located, report, sub.file))
            conversation.finish()
            sub = _Subagent(conversation, sub.agent_id, sub.tool_id, sub.meta, sub.file)
            _nest(steps, main, [sub], report, links=[copies[tool.id]])
        session, agent = _session_of(self.head)
        run = _run(main, steps, session, agent, subs, report)
        return run, main.steps[start].id if start < len(main.steps) else None

    def _subagents(self, report: ProblemSink) -> list[_Subagent]:
        """_subagent_files(), reading only what was appended to each file since the last time."""
        files = companions(self.head)
        self.files.keep_only(files)
        out = []
        for path in files:
            if not path.endswith(".jsonl"):
                continue
            conversation = self.files.caught_up(path, report)
            if conversation is None:
                continue  # gone since it was listed
            conversation = conversation.snapshot(functools.partial(report_located, report, path))
            conversation.finish()
            out.append(_subagent(path, conversation, files, report))
        return out


def _read_conversation(path: str, report: ProblemSink) -> _Conversation:
    located = functools.partial(report_located, report, path)
    conversation = _Conversation(located, path, sidechains=False)
    for number, rec in json_lines(SourceFile(path), located):
        conversation.line(number, rec)
    conversation.finish()
    return conversation


def _subagent_files(head: Head, report: ProblemSink) -> list[_Subagent]:
    files = companions(head)
    return [_subagent(p, _read_conversation(p, report), files, report) for p in files if p.endswith(".jsonl")]


def _subagent(path: str, conversation: _Conversation, files: list[str], report: ProblemSink) -> _Subagent:
    """A subagent's file, read and finished, with what its meta file says."""
    meta_file = path[: -len(".jsonl")] + ".meta.json"
    meta = _meta(meta_file, report) if meta_file in files else {}
    agent_id = conversation.meta.get("agentId") or os.path.basename(path)[len("agent-") : -len(".jsonl")]
    tool_id = meta.get("toolUseId") if isinstance(meta.get("toolUseId"), str) else None
    return _Subagent(conversation, agent_id, tool_id, meta, path)


def _meta(path: str, report: ProblemSink) -> dict:
    try:
        with open(path, "rb") as f:
            value = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        report(Problem(f"the subagent's meta file cannot be read ({exc}); linked by its agentId", source_file=path))
        return {}
    return value if isinstance(value, dict) else {}


def _inline_subagents(main: _Conversation) -> list[_Subagent]:
    """Sidechain conversations inline in the session (Claude Code 1.0): linked through the Task prompt."""
    return [_Subagent(c, None, None, {}, main.source_file or "") for c in main.sidechains if c.steps]


def _progress_subagents(main: _Conversation, have_file: set[str | None], report: ProblemSink) -> list[_Subagent]:
    """Subagents only the session's agent_progress lines tell of: their own file is missing.

    When the file was read, the progress lines only mirror it and are never counted again.
    """
    out = []
    for agent_id, records in main.progress.items():
        if agent_id in have_file:
            continue
        conversation = _Conversation(report, None, sidechains=False, dag=False)
        for number, message, _ in records:
            conversation.line(number, message)
        conversation.finish()
        tool_id = next((tool for _, _, tool in records if tool), None)
        out.append(_Subagent(conversation, agent_id, tool_id, {"from": "agent_progress lines"}, ""))
    return out


def _nest(
    steps: list[Step],
    main: _Conversation,
    subagents: list[_Subagent],
    report: ProblemSink,
    links: list[Step | None] | None = None,
) -> None:
    """Each subagent's steps under an agent step under the tool call that started it (links: each
    one's, when known)."""
    for sub, tool in zip(subagents, _links(main, subagents) if links is None else links, strict=True):
        agent = _agent_step(sub, tool)
        if tool is None:
            agent.flags.append(FLAG_ORPHAN)
            report(
                Problem(
                    f"subagent {jsonsafe.quoted(sub.agent_id or agent.name)}: the tool call that started it is not in the session;"
                    " shown at the root",
                    source_file=sub.file or None,
                )
            )
        steps.append(agent)
        for step in sub.conversation.steps:
            if step.parent_id is None:
                step.parent_id = agent.id
            steps.append(step)
        if tool is not None and tool.extra.get(ABANDONED):
            skip_subtrees(steps, {agent.id}, ABANDONED)


def _links(main: _Conversation, subagents: list[_Subagent]) -> list[Step | None]:
    """The tool call each subagent was started by (None: not found)."""
    tools: dict[str, Step] = dict(main.tools)
    for sub in subagents:
        tools.update(sub.conversation.tools)
    by_agent = {agent: tool for tool, agent in main.tool_agents.items()}
    for sub in subagents:
        by_agent.update({agent: tool for tool, agent in sub.conversation.tool_agents.items()})
    linked: set[str] = set()
    out = []
    for sub in subagents:
        tool_id = sub.tool_id or by_agent.get(sub.agent_id or "") or _by_prompt(sub, tools, linked)
        tool = tools.get(tool_id or "")
        if tool is not None:
            linked.add(tool.id)
        out.append(tool)
    return out


def _arguments(tool: Step | None) -> dict[str, Any]:
    """A tool call's input, as the object it was."""
    try:
        value = orjson.loads(tool.input or "null") if tool is not None else None
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _by_prompt(sub: _Subagent, tools: dict[str, Step], linked: set[str]) -> str | None:
    """The Task call whose prompt started an inline sidechain: the last one before it, not yet taken."""
    prompt = sub.conversation.first_prompt()
    started = sub.conversation.first_ts or ""
    best = None
    for tool in tools.values():
        if tool.name not in SPAWNING_TOOLS or tool.id in linked:
            continue
        if _arguments(tool).get("prompt") == prompt and (tool.started_at or "") <= started:
            best = tool.id
    return best


def _agent_step(sub: _Subagent, tool: Step | None) -> Step:
    conversation = sub.conversation
    asked = _arguments(tool)
    name = sub.meta.get("agentType") or asked.get("subagent_type") or asked.get("description") or "subagent"
    extra: dict[str, Any] = {k: v for k, v in sub.meta.items() if k != "toolUseId"}
    if sub.agent_id:
        extra["agent_id"] = sub.agent_id
    if conversation.source_file:
        extra["file"] = conversation.source_file
    if conversation.types.counts:
        extra["line_types"] = conversation.types.counts
    step = Step(
        id=f"agent-{sub.agent_id}" if sub.agent_id else f"agent-{conversation.steps[0].id}",
        parent_id=tool.id if tool is not None else None,
        name=str(name),
        kind="agent",
        raw_type="subagent",
        started_at=conversation.first_ts,
        ended_at=conversation.last_ts,
        duration_ms=normalize.duration_between(conversation.first_ts, conversation.last_ts),
        input=conversation.first_prompt(),
        extra=extra,
        seq=-1,  # before anything else the tool call has
    )
    failure = ended_in_failure(conversation.steps)
    if failure is not None:
        step.status, step.error = "failed", failure.error
    return step


def _run(
    main: _Conversation,
    steps: list[Step],
    session: str | None,
    agent: str | None,
    subs: list[_Subagent],
    report: ProblemSink,
) -> Run:
    cwd = main.meta.get("cwd")
    session = session or main.meta.get("sessionId")
    run_id = agent or session or "claude-code-session"
    metadata: dict[str, Any] = {"tool": "claude-code"}
    title = main.title()
    if title:
        metadata["title"] = title
    if cwd:
        metadata["project"] = cwd
    for key in ("git_branch", "version", "slug"):
        if key in main.meta:
            metadata[key] = main.meta[key]
    if agent:
        metadata["parent_session"] = session
    starts = [t for t in [main.first_ts, *(s.conversation.first_ts for s in subs)] if t]
    ends = [t for t in [main.last_ts, *(s.conversation.last_ts for s in subs)] if t]
    run = Run(
        id=str(run_id),
        agent=project_name(cwd) or main.meta.get("slug"),
        session=session,
        started_at=min(starts, default=None),
        ended_at=max(ends, default=None),
        input=main.first_prompt(),
        output=next(
            (s.output for s in reversed(main.steps) if s.kind == "llm" and s.output and s.status != "skipped"), None
        ),
        metadata=metadata,
        steps=steps,
        source_line=1,
    )
    run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
    fill_durations(steps)
    failure = ended_in_failure(main.steps)
    if failure is not None:
        run.status, run.error = "failed", failure.error
    extra: dict[str, Any] = {"line_types": main.types.counts}
    if subs:
        extra["subagents"] = len([s for s in subs if s.conversation.steps])
    run.extra = extra
    main.types.report_unknown(report)
    for sub in subs:
        if sub.file:
            sub.conversation.types.report_unknown(report, sub.file)
    return run
