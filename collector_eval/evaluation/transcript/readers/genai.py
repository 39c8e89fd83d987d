"""OTel GenAI semantic conventions, in their three recorded forms:

- JSON `gen_ai.input.messages` / `gen_ai.output.messages` (`[{role, parts}]`) as span attributes, or
  (latest conventions, events mode) on `gen_ai.client.inference.operation.details` span events or log
  records, as JSON strings or structured values;
- the older events mode: one event per message (`gen_ai.user.message`, `gen_ai.assistant.message`,
  `gen_ai.tool.message`, `gen_ai.choice`, ...) whose body holds `{content, tool_calls, id}` or, for a
  choice, `{index, finish_reason, message}`; emitted as log records tied to the span (or span events);
- tool spans (`gen_ai.tool.name`, `gen_ai.tool.call.id`, `gen_ai.tool.call.result`).

OpenLLMetry's current releases, Pydantic AI, MLflow's GenAI export and OpenLIT write the same keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from collector_eval.evaluation.transcript.messages import (
    Call,
    Event,
    Message,
    SpanRecord,
    ToolRun,
    as_text,
    parse_arguments,
)

INPUT, OUTPUT = "gen_ai.input.messages", "gen_ai.output.messages"
DETAILS = "gen_ai.client.inference.operation.details"
# Older events mode: the role each per-message event stands for (a body may still name its own role).
_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE = "gen_ai.choice"


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    found = details(span)
    if found is not None:
        return parse_messages(found[0], output=False), parse_messages(found[1], output=True)
    return _event_messages([*span.events, *span.logs])


def tool_run(span: SpanRecord) -> ToolRun:
    attrs = span.attributes
    # OpenLIT also names the tools a model called (comma-joined) on its chat span: that is no tool run.
    if attrs.get("gen_ai.operation.name", "execute_tool") != "execute_tool":
        return ToolRun("", None, None)
    result = attrs.get("gen_ai.tool.call.result")
    return ToolRun(
        as_text(attrs.get("gen_ai.tool.name")),
        attrs.get("gen_ai.tool.call.id"),
        None if result is None else as_text(result),
    )


def details(span: SpanRecord) -> tuple[Any, Any] | None:
    """The raw input and output messages of a span: its attributes, else its operation-details events
    or log records (which may repeat the attributes: then the attributes alone are read). The first
    value of each key wins; None when the span has neither."""
    attrs = span.attributes
    if INPUT in attrs or OUTPUT in attrs:
        return attrs.get(INPUT), attrs.get(OUTPUT)
    found: dict[str, Any] = {}
    for event in [*span.events, *span.logs]:
        if event.name != DETAILS:
            continue
        body = _body(event.body)
        for key in (INPUT, OUTPUT):
            value = event.attributes.get(key, body.get(key))
            if value is not None:
                found.setdefault(key, value)
    return (found.get(INPUT), found.get(OUTPUT)) if found else None


def parse_messages(raw: Any, output: bool, response_text: Callable[[Any], str] = as_text) -> list[Message]:
    """OTel GenAI `[{role, parts: [...]}]` (a JSON string or the structured value); output messages are
    alternative choices: the first only. `response_text` turns a tool result into the text the model saw."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:  # e.g. cut by an attribute length limit: nothing usable
            return []
    if not isinstance(raw, list):
        return []
    out: list[Message] = []
    for message in raw[:1] if output else raw:
        if not isinstance(message, dict):
            continue
        texts: list[str] = []
        calls: list[Call] = []
        responses: list[Message] = []
        for part in message.get("parts") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(as_text(part.get("content")))
            elif kind == "tool_call":
                # arguments: an object per the conventions, a JSON string in Pydantic AI
                calls.append(Call(part.get("id"), as_text(part.get("name")), parse_arguments(part.get("arguments"))))
            elif kind == "tool_call_response":
                # `response` per the conventions; Pydantic AI writes `result`
                result = part.get("response", part.get("result"))
                responses.append(Message("tool", response_text(result), answers=part.get("id")))
        # Tool results may come under role user (Pydantic AI format 5, Strands): they are tool turns.
        out += responses
        if texts or calls or not responses:
            role = message.get("role") or ("assistant" if output else "")
            out.append(Message(as_text(role), "\n".join(texts), tuple(calls)))
    return out


def _event_messages(events: list[Event]) -> tuple[list[Message], list[Message]] | None:
    """The older events mode: the request's history one event per message, then `gen_ai.choice` per
    choice (the first continues the conversation). None when the span has no such events."""
    mine = sorted((e for e in events if e.name in _EVENT_ROLES or e.name == CHOICE), key=lambda e: e.time)
    if not mine:
        return None
    inputs: list[Message] = []
    outputs: list[Message] = []
    for event in mine:
        body = _event_body(event)
        if event.name == CHOICE:
            if not outputs and body.get("index", 0) in (0, "0", None):
                message = _body(body.get("message"))
                outputs.append(_event_message(message, "assistant"))
        else:
            inputs.append(_event_message(body, _EVENT_ROLES[event.name]))
    return inputs, outputs


def _event_message(body: dict[str, Any], role: str) -> Message:
    calls = []
    for call in body.get("tool_calls") or []:
        if isinstance(call, dict):
            function = _body(call.get("function"))
            arguments = parse_arguments(function.get("arguments"))
            calls.append(Call(call.get("id"), as_text(function.get("name")), arguments))
    answers = body.get("id") if role == "tool" else None
    return Message(as_text(body.get("role") or role), _content_text(body.get("content")), tuple(calls), answers)


def _content_text(content: Any) -> str:
    # Chat-completions content may be a list of parts ({type: text, text}); the text parts are what was said.
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return "\n".join(as_text(p.get("text", p.get("content"))) for p in content if p.get("type", "text") == "text")
    return as_text(content)


def _event_body(event: Event) -> dict[str, Any]:
    # A log record holds the message in its body; a span event can only hold it in its attributes.
    body = _body(event.body)
    return body or {k: v for k, v in event.attributes.items() if not k.startswith(("gen_ai.system", "event."))}


def _body(value: Any) -> dict[str, Any]:
    """A structured body as a dict (a kvlist, or a JSON string of one); anything else as empty."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}
