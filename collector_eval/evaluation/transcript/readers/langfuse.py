"""Langfuse SDK v3 (`langfuse.observation.*`): every Langfuse span says its observation type. Generations
hold the request as JSON `langfuse.observation.input` (the OpenAI chat messages, alone or as
`{messages, tools, ...}`) and the reply as `langfuse.observation.output` (one message); tool observations
are tool runs. Span, agent, chain ... observations wrap the generations and repeat what they say, so
they are claimed as holding nothing new.

Langfuse stores a str value as it is and JSON-encodes anything else, so an output that is not JSON is
plain text. `chat_messages` (the OpenAI chat format) is shared with the MLflow reader."""

from __future__ import annotations

import json
from typing import Any

from collector_eval.evaluation.transcript.messages import Call, Message, SpanRecord, ToolRun, as_text, parse_arguments


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    """None: not this convention's span. ([], []): its span, with nothing to read (a wrapper span)."""
    attrs = span.attributes
    kind = attrs.get("langfuse.observation.type")
    if kind is None:
        return None
    if kind != "generation":
        return [], []
    request = _loads(attrs.get("langfuse.observation.input"))
    if isinstance(request, dict):
        request = request.get("messages")
    raw = attrs.get("langfuse.observation.output")
    reply = _loads(raw)
    if isinstance(reply, list):  # several choices: the first, as every other reader takes
        reply = next(iter(reply), None)
    if isinstance(reply, dict):
        outputs = chat_messages([reply])
    else:  # a str output (a streamed reply's text) was stored as it is
        outputs = [] if raw is None else [Message("assistant", as_text(raw))]
    return chat_messages(request), outputs


def tool_run(span: SpanRecord) -> ToolRun:
    """A tool observation is named after the tool; it records no call id."""
    attrs = span.attributes
    if attrs.get("langfuse.observation.type") != "tool":
        return ToolRun("", None, None)
    result = attrs.get("langfuse.observation.output")
    return ToolRun(span.name, None, None if result is None else as_text(result))


def chat_messages(raw: Any) -> list[Message]:
    """OpenAI chat-completions messages: content a string or text parts (or a refusal instead),
    `tool_calls: [{id, function: {name, arguments (a JSON string)}}]` (or the legacy `function_call`),
    a tool result as role `tool` with `tool_call_id`. Anything that is not a message (no role) gives none."""
    if not isinstance(raw, list):
        return []
    out: list[Message] = []
    for m in raw:
        if not isinstance(m, dict) or not m.get("role"):
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(as_text(p.get("text")) for p in content if isinstance(p, dict) and "text" in p)
        elif content is None:
            content = m.get("refusal")
        calls = [
            {**c["function"], "id": c.get("id")}
            for c in m.get("tool_calls") or []
            if isinstance(c, dict) and isinstance(c.get("function"), dict)
        ]
        if isinstance(m.get("function_call"), dict):
            calls.append(m["function_call"])
        out.append(
            Message(
                as_text(m["role"]),
                as_text(content),
                tuple(Call(c.get("id"), as_text(c.get("name")), parse_arguments(c.get("arguments"))) for c in calls),
                m.get("tool_call_id"),
            )
        )
    return out


def _loads(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None
