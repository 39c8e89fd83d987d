"""OpenInference: flattened `llm.input_messages.{i}.message.*` / `llm.output_messages.{i}.message.*`
(with `message.contents.{k}.message_content.*` and `message.tool_calls.{j}.tool_call.*`), and TOOL spans
(`tool.name`, `output.value`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector_eval.evaluation.transcript.messages import (
    Call,
    Message,
    SpanRecord,
    ToolRun,
    as_text,
    indexed,
    parse_arguments,
)


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    attrs = span.attributes
    inputs = flattened(attrs, "llm.input_messages", "user")
    # Every output message: for the Responses API they are a reply's items, not alternative choices.
    outputs = flattened(attrs, "llm.output_messages", "assistant")
    if not inputs and not outputs:
        return None
    return inputs, outputs


def flattened(attrs: Mapping[str, Any], prefix: str, default_role: str) -> list[Message]:
    """The messages of `{prefix}.{i}.message.*` keys, in index order (the shape transcript.mappings call
    `openinference` too, under a prefix of their own)."""
    return [_openinference_message(m, default_role) for m in indexed(attrs, prefix)]


def tool_run(span: SpanRecord) -> ToolRun:
    attrs = span.attributes
    name = attrs.get("tool.name") if attrs.get("openinference.span.kind") == "TOOL" else None
    result = attrs.get("output.value")
    return ToolRun(as_text(name), attrs.get("tool_call.id"), None if result is None else as_text(result))


def _openinference_message(m: Mapping[str, Any], default_role: str) -> Message:
    content = m.get("message.content")
    if content is None:  # Responses-API history carries text only as message.contents
        content = "\n".join(
            as_text(c["message_content.text"]) for c in indexed(m, "message.contents") if "message_content.text" in c
        )
    calls = tuple(
        Call(
            c.get("tool_call.id"),
            as_text(c.get("tool_call.function.name")),
            parse_arguments(c.get("tool_call.function.arguments")),
        )
        for c in indexed(m, "message.tool_calls")
    )
    role = as_text(m.get("message.role") or default_role)
    return Message(role, as_text(content), calls, m.get("message.tool_call_id"))
