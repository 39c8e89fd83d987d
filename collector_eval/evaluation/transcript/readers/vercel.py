"""Vercel AI SDK telemetry (`experimental_telemetry`): every span carries `ai.operationId`. The model calls
(`ai.generateText.doGenerate`, `ai.streamText.doStream`, ...) hold the provider-level prompt as JSON
`ai.prompt.messages` and the reply as `ai.response.text` / `ai.response.toolCalls`; `ai.toolCall` spans are
tool runs. The call-level spans (`ai.generateText`, `ai.streamText`, ...) repeat the app's own prompt and the
final answer, so they are claimed as holding nothing new."""

from __future__ import annotations

import json
from typing import Any

from collector_eval.evaluation.transcript.messages import (
    Call,
    Message,
    SpanRecord,
    ToolRun,
    as_text,
    json_value,
    parse_arguments,
)


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    """None: not this convention's span. ([], []): its span, with nothing to read (a wrapper span)."""
    attrs = span.attributes
    operation = attrs.get("ai.operationId")
    if not isinstance(operation, str):
        return None
    if not operation.endswith((".doGenerate", ".doStream")):
        return [], []  # a call-level wrapper, a tool run, an embedding: nothing the model calls do not show
    inputs = [m for message in json_value(attrs.get("ai.prompt.messages")) or [] for m in _prompt_message(message)]
    return inputs, _reply(attrs)


def tool_run(span: SpanRecord) -> ToolRun:
    attrs = span.attributes
    if attrs.get("ai.operationId") != "ai.toolCall":
        return ToolRun("", None, None)
    raw = attrs.get("ai.toolCall.result")
    # JSON.stringify of what the tool returned; the model is sent a string result bare, anything else as this JSON.
    result = json_value(raw)
    text = result if isinstance(result, str) else raw
    name = as_text(attrs.get("ai.toolCall.name"))
    return ToolRun(name, attrs.get("ai.toolCall.id"), None if text is None else as_text(text))


def _reply(attrs: dict[str, Any]) -> list[Message]:
    # ai.response.object: generateObject's reply (JSON text); toolCalls' input is the model's JSON text verbatim.
    text = attrs.get("ai.response.text", attrs.get("ai.response.object"))
    calls = tuple(
        Call(c.get("toolCallId"), as_text(c.get("toolName")), parse_arguments(c.get("input", c.get("args"))))
        for c in json_value(attrs.get("ai.response.toolCalls")) or []
        if isinstance(c, dict)
    )
    if text is None and not calls:
        return []
    return [Message("assistant", as_text(text), calls)]


def _prompt_message(message: Any) -> list[Message]:
    """One provider-level prompt message: content a string or a part array ({type: text | tool-call |
    tool-result | image | file | reasoning ...}); a tool message gives one message per tool result."""
    if not isinstance(message, dict):
        return []
    role = as_text(message.get("role"))
    content = message.get("content")
    if isinstance(content, str):
        return [Message(role, content)]
    parts = [p for p in content or [] if isinstance(p, dict)]
    # Text parts are joined without a separator, as the SDK does for ai.response.text and for the provider.
    text = "".join(as_text(p.get("text")) for p in parts if p.get("type") == "text")
    calls = tuple(
        Call(p.get("toolCallId"), as_text(p.get("toolName")), parse_arguments(p.get("input", p.get("args"))))
        for p in parts
        if p.get("type") == "tool-call"
    )
    if role == "tool":
        results = [p for p in parts if p.get("type") == "tool-result"]
        return [Message("tool", _result_text(p), answers=p.get("toolCallId")) for p in results]
    return [Message(role, text, calls)]


def _result_text(part: dict[str, Any]) -> str:
    """A tool result as the provider sends it: text outputs verbatim, the denial reason, anything else as
    compact JSON (JSON.stringify). AI SDK 4 had `result` instead of `output` and always stringified it."""
    output = part.get("output")
    if not isinstance(output, dict):
        return _stringify(part.get("result"))
    kind, value = output.get("type"), output.get("value")
    if kind in ("text", "error-text"):
        return as_text(value)
    if kind == "execution-denied":
        return as_text(output.get("reason") or "Tool call execution denied.")
    return _stringify(value)


def _stringify(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
