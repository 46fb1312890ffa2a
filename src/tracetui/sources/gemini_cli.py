"""Gemini CLI chats: `~/.gemini/tmp/<project>/chats/session-*.json` and `.jsonl`.

One run per chat file. The `.json` layout is one object with the session's fields and `messages`;
the `.jsonl` layout is a metadata line, then message lines (a message written again when it
changes: the last copy wins, in its first place), `{"$set": {…}}` lines that update the metadata
(a `messages` array among them replaces the messages) and `{"$rewindTo": id}` lines, which drop that
message and every later one (all of them when the id is unknown), as Gemini CLI itself does.

A user message starts a turn; each `gemini` message is a model call with its `toolCalls` as tool
steps (status `error` failed, `cancelled` skipped); `error` messages are failed steps, `info` and
`warning` messages are notes. Tokens: Gemini's `input` already holds the `cached` part and `tool`
is input read for tool use (tokens_in = input + tool); `output` leaves out `thoughts`
(tokens_out = output + thoughts).
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
from .sessions import (
    RecordTypes,
    as_dict,
    as_list,
    ended_in_failure,
    fill_durations,
    project_name,
    prompt_name,
    text_of,
)

NAME = "gemini-cli"
DESCRIPTION = "Gemini CLI chats (~/.gemini/tmp/*/chats/session-*.json or .jsonl)"
DETECTION = (
    'a JSON object, or JSON Lines whose first line is one, with "sessionId", "projectHash" and'
    ' "startTime" (and "messages" in the .json layout)'
)
PRIORITY = 65

PROVIDER = "google"
SESSION_KEYS = ("sessionId", "projectHash", "startTime")
MESSAGE_TYPES = frozenset({"user", "gemini", "error", "info", "warning"})
TOOL_STATUS = {
    "success": "completed",
    "error": "failed",
    "cancelled": "skipped",  # the user stopped it: it did not run
    "validating": "pending",
    "scheduled": "pending",
    "awaiting_approval": "pending",
    "executing": "running",
}
_HASH = re.compile(r"[0-9a-f]{64}")


# -- detection ------------------------------------------------------------------------------------


def _is_session(rec: Any) -> bool:
    return isinstance(rec, dict) and all(isinstance(rec.get(k), str) for k in ("sessionId", "projectHash"))


def sniff(head: Head) -> bool:
    if head.is_sqlite:
        return False
    if head.json_document:
        return set(SESSION_KEYS) <= set(head.top_keys) and head.array_key == "messages"
    return _is_session(head.first_record) and "startTime" in head.first_record


# -- reading --------------------------------------------------------------------------------------


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    first = head.first_record if isinstance(head.first_record, dict) else {}
    if head.json_document or isinstance(first.get("messages"), list):
        session, messages = _document(head, report, source)
    else:
        session, messages = _lines(head, report, source)
    if not session:
        raise UnusableInput(head.path, "looks like a Gemini CLI chat, but its session fields cannot be read")
    yield _Chat(head.path, report).run(session, messages)


def _document(head: Head, report: ProblemSink, source: SourceFile) -> tuple[dict, list[tuple[int | None, Any]]]:
    """The .json layout: the whole object (Gemini CLI rewrites the file whole; it is not streamed)."""
    with source.open() as f:
        data = f.read()
    try:
        value, repairs = jsonsafe.loads(data)  # lone surrogates, bytes not UTF-8, NaN: repaired, said
    except ValueError as exc:
        return _salvage(head, report, str(exc))
    for note in repairs:
        report(Problem(f"read with a repair: {note}"))
    if not isinstance(value, dict):
        raise UnusableInput(head.path, "a Gemini CLI chat file must hold one JSON object")
    messages = value.get("messages")
    if not isinstance(messages, list):
        report(Problem('the chat has no "messages" list; read without messages'))
        messages = []
    return value, list(enumerate(messages, 1))


def _salvage(head: Head, report: ProblemSink, why: str) -> tuple[dict, list[tuple[int | None, Any]]]:
    """A .json chat cut off while being written: the fields and messages before the break."""
    import ijson

    session: dict[str, Any] = {}
    messages: list[tuple[int | None, Any]] = []
    try:
        with open(head.path, "rb") as f:
            for key, value in ijson.kvitems(f, "", use_float=True):
                if key != "messages":
                    session[key] = value
    except (ijson.JSONError, ValueError, OSError):  # ValueError: text ijson cannot decode
        pass
    try:
        with open(head.path, "rb") as f:
            for index, item in enumerate(ijson.items(f, "messages.item", use_float=True), 1):
                messages.append((index, item))
    except (ijson.JSONError, ValueError, OSError):  # ValueError: text ijson cannot decode
        pass
    report(Problem(f"the JSON document breaks off ({why[:200]}): read the {len(messages)} messages before the break"))
    for key in SESSION_KEYS:
        if key not in session and isinstance(head.first_record, dict) and key in head.first_record:
            session[key] = head.first_record[key]
    return session, messages


def _lines(head: Head, report: ProblemSink, source: SourceFile) -> tuple[dict, list[tuple[int | None, Any]]]:
    """The .jsonl layout: metadata, messages (the last copy of each wins, in its first place), $set, $rewindTo."""
    chat = _ChatLines(report)
    for number, rec in json_lines(source, report):
        chat.line(number, rec)
    return chat.result()


class _ChatLines:
    """The session and its messages as the .jsonl lines so far leave them."""

    def __init__(self, report: ProblemSink) -> None:
        self.report = report
        self.session: dict[str, Any] = {}
        self.order: list[str] = []
        self.latest: dict[str, tuple[int, dict]] = {}
        self.rewound = 0

    def line(self, number: int, rec: dict) -> None:
        report = self.report
        if not self.session:
            if _is_session(rec):
                self.session = dict(rec)
            else:
                report(Problem("skipped: a Gemini CLI chat starts with its session line", line=number))
            return
        if "$set" in rec:
            update = rec["$set"]
            if not isinstance(update, dict):
                report(Problem('skipped: "$set" must be an object', line=number))
                return
            if isinstance(update.get("messages"), list):
                self.order, self.latest = [], {}
                for m in update["messages"]:
                    if isinstance(m, dict) and isinstance(m.get("id"), str):
                        if m["id"] not in self.latest:
                            self.order.append(m["id"])
                        self.latest[m["id"]] = (number, m)
            self.session.update({k: v for k, v in update.items() if k != "messages"})
        elif "$rewindTo" in rec:
            target = rec["$rewindTo"]
            keep = self.order.index(target) if target in self.order else 0
            self.rewound += len(self.order) - keep
            for gone in self.order[keep:]:
                del self.latest[gone]
            self.order = self.order[:keep]
        elif isinstance(rec.get("id"), str):
            if rec["id"] not in self.latest:
                self.order.append(rec["id"])
            self.latest[rec["id"]] = (number, rec)
        else:
            report(Problem("skipped: neither a message (no string id), $set nor $rewindTo", line=number))

    def result(self) -> tuple[dict, list[tuple[int | None, Any]]]:
        session = dict(self.session)
        if self.rewound:
            session["rewound_messages"] = self.rewound
        return session, [self.latest[i] for i in self.order]


# -- following a chat as it is written ------------------------------------------------------------


def resumable(head: Head) -> bool:
    """The .jsonl layout only: a .json chat is rewritten whole by Gemini CLI, and read again whole."""
    first = head.first_record if isinstance(head.first_record, dict) else {}
    return not (head.json_document or isinstance(first.get("messages"), list))


def resume(head: Head, report: ProblemSink) -> _Resumed:
    """The chat's session and messages kept between reads; the run is built again from them."""
    return _Resumed(head, report)


class _Resumed:
    whole = True

    def __init__(self, head: Head, report: ProblemSink) -> None:
        self.head, self.chat = head, _ChatLines(report)

    def read(self, source: SourceFile) -> None:
        for number, rec in json_lines(source, self.chat.report):
            self.chat.line(number, rec)

    def runs(self, report: ProblemSink) -> list[Run]:
        session, messages = self.chat.result()
        if not session:
            raise UnusableInput(self.head.path, "looks like a Gemini CLI chat, but its session fields cannot be read")
        return [_Chat(self.head.path, report).run(session, messages)]


# -- steps ----------------------------------------------------------------------------------------


class _Chat:
    def __init__(self, path: str, report: ProblemSink) -> None:
        self.path, self.report = path, report
        self.steps: list[Step] = []
        self.turn: Step | None = None
        self.types = RecordTypes("message type")
        self.prev_ts: str | None = None

    def _add(self, step: Step) -> Step:
        step.seq = len(self.steps)
        self.steps.append(step)
        return step

    def run(self, session: dict, messages: list[tuple[int | None, Any]]) -> Run:
        for number, message in messages:
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                self.report(Problem("skipped: a message must be an object with a type", line=number))
                continue
            self._message(number, message)
        self.types.report_unknown(self.report)
        return self._run(session)

    def _message(self, number: int | None, message: dict) -> None:
        kind = message["type"]
        ts = normalize.timestamp(message.get("timestamp"))
        step_id = str(message.get("id") or f"message-{number}")
        text = text_of(message.get("content"))
        if kind == "user":
            self.turn = self._add(
                Step(
                    id=step_id,
                    name=prompt_name(text),
                    kind="other",
                    raw_type="turn",
                    started_at=ts,
                    ended_at=ts,
                    input=text,
                )
            )
        elif kind == "gemini":
            self._model_call(step_id, message, text, ts)
        elif kind in ("error", "info", "warning"):
            self._add(
                Step(
                    id=step_id,
                    parent_id=self.turn.id if self.turn else None,
                    name=kind,
                    kind="llm" if kind == "error" else "other",
                    raw_type=kind,
                    status="failed" if kind == "error" else "completed",
                    started_at=ts,
                    ended_at=ts,
                    output=None if kind == "error" else text,
                    error=(text or "error") if kind == "error" else None,
                )
            )
        else:
            self.types.count(kind, number, known=False)
            return
        if self.turn is not None and ts is not None:
            self.turn.ended_at = max(self.turn.ended_at or ts, ts)
        self.prev_ts = ts or self.prev_ts

    def _model_call(self, step_id: str, message: dict, text: str | None, ts: str | None) -> None:
        model = message.get("model") if isinstance(message.get("model"), str) else None
        call = self._add(
            Step(
                id=step_id,
                parent_id=self.turn.id if self.turn else None,
                name=model or "model call",
                kind="llm",
                raw_type="gemini",
                started_at=self.prev_ts or ts,
                ended_at=ts,
                output=text or None,
                model=model,
                provider=PROVIDER,
            )
        )
        call.duration_ms = normalize.duration_between(call.started_at, call.ended_at)
        _tokens(call, message.get("tokens"))
        thoughts = message.get("thoughts")
        if isinstance(thoughts, list) and thoughts:
            call.extra["thoughts"] = thoughts
        for i, record in enumerate(as_list(message.get("toolCalls")), 1):
            if isinstance(record, dict):
                self._add(_tool(record, call, i))

    def _run(self, session: dict) -> Run:
        first = next((s.input for s in self.steps if s.raw_type == "turn" and s.input), None)
        title = session.get("summary") if isinstance(session.get("summary"), str) else first
        metadata: dict[str, Any] = {"tool": "gemini-cli"}
        if title:
            metadata["title"] = title
        for key, name in (("projectHash", "project_hash"), ("kind", "kind"), ("directories", "directories")):
            if session.get(key) is not None:
                metadata[name] = session[key]
        started = normalize.timestamp(session.get("startTime"))
        ended = normalize.timestamp(session.get("lastUpdated"))
        times = [s.ended_at for s in self.steps if s.ended_at]
        run = Run(
            id=str(session.get("sessionId")),
            agent=self._project(session),
            session=str(session.get("sessionId")),
            started_at=started or min((s.started_at for s in self.steps if s.started_at), default=None),
            ended_at=max([t for t in (ended, *times) if t], default=None),
            input=first,
            output=next((s.output for s in reversed(self.steps) if s.raw_type == "gemini" and s.output), None),
            metadata=metadata,
            steps=self.steps,
            source_line=1,
        )
        run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
        fill_durations(self.steps)
        failure = ended_in_failure(self.steps)
        if failure is not None:
            run.status, run.error = "failed", failure.error
        extra: dict[str, Any] = {}
        if session.get("rewound_messages"):
            extra["rewound_messages"] = session["rewound_messages"]
        if self.types.counts:
            extra["message_types"] = self.types.counts
        run.extra = extra
        return run

    def _project(self, session: dict) -> str | None:
        """The project: its first directory, else the chats folder's project id when it is a name, not a hash."""
        directories = session.get("directories")
        if isinstance(directories, list) and directories:
            name = project_name(directories[0])
            if name:
                return name
        chats = os.path.dirname(os.path.abspath(self.path))
        project = os.path.basename(os.path.dirname(chats))
        if os.path.basename(chats) == "chats" and project and not _HASH.fullmatch(project):
            return project
        return None


def _tokens(call: Step, tokens: Any) -> None:
    if not isinstance(tokens, dict):
        return
    fresh, tool = normalize.integer(tokens.get("input")), normalize.integer(tokens.get("tool"))
    # Gemini's input (promptTokenCount) holds the cached part; tool (toolUsePromptTokenCount) is input
    # read for tool use, beside it; output (candidatesTokenCount) leaves the thoughts out. Its total is
    # not passed: documented as prompt + candidates, it is seen to hold the thoughts too.
    usage.counted(
        None if fresh is None and tool is None else (fresh or 0) + (tool or 0),
        tokens.get("output"),
        cache_read=tokens.get("cached"),
        reasoning=tokens.get("thoughts"),
        input_has_cache=True,
        output_has_reasoning=False,
    ).apply(call)
    if tool:
        call.extra["tool_use_prompt_tokens"] = tool


def _tool(record: dict, call: Step, index: int) -> Step:
    raw = record.get("status")
    status = TOOL_STATUS.get(raw, "completed") if isinstance(raw, str) else "completed"
    output, error = _result(record)
    ts = normalize.timestamp(record.get("timestamp"))
    tool = Step(
        id=str(record.get("id") or f"{call.id}.tool-{index}"),
        parent_id=call.id,
        name=str(record.get("displayName") or record.get("name") or "tool"),
        kind="tool",
        raw_type="tool_call",
        status=status,
        started_at=ts,
        ended_at=call.ended_at if ts and call.ended_at and call.ended_at >= ts else ts,
        input=normalize.text(record.get("args")),
        output=output,
        error=(error or output or "tool error") if status == "failed" else None,
    )
    tool.duration_ms = normalize.duration_between(tool.started_at, tool.ended_at)
    if raw != status:
        tool.extra["raw_status"] = raw
    if record.get("name") != tool.name and record.get("name") is not None:
        tool.extra["tool"] = record["name"]
    if record.get("agentId") is not None:
        tool.extra["agent_id"] = record["agentId"]
    return tool


def _result(record: dict) -> tuple[str | None, str | None]:
    """(output, error) of a tool call: its functionResponse's output / error, else what it displayed."""
    output = error = None
    result = record.get("result")
    for part in as_list(result):
        response = as_dict(as_dict(part).get("functionResponse")).get("response")
        if isinstance(response, dict):
            output = normalize.text(response.get("output")) if response.get("output") is not None else output
            error = normalize.text(response.get("error")) if response.get("error") is not None else error
    display = record.get("resultDisplay")
    if output is None and error is None and display is not None:
        output = normalize.text(display)
    return output, error
