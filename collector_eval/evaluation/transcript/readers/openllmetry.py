"""OpenLLMetry (Traceloop) before the GenAI JSON attributes: flattened `gen_ai.prompt.{i}.*` /
`gen_ai.completion.{i}.*`, and Traceloop tool tasks (`traceloop.span.kind` = tool)."""

from __future__ import annotations

import json
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
    prompts = indexed(attrs, "gen_ai.prompt")
    completions = indexed(attrs, "gen_ai.completion")[:1]  # the others are alternative choices
    if not prompts and not completions:
        return None
    return [_flat_message(m, "user") for m in prompts], [_flat_message(m, "assistant") for m in completions]


def tool_run(span: SpanRecord) -> ToolRun:
    attrs = span.attributes
    if attrs.get("traceloop.span.kind") != "tool":
        return ToolRun("", None, None)
    output = attrs.get("traceloop.entity.output")
    result = _traceloop_output(output) if isinstance(output, str) else None
    return ToolRun(as_text(attrs.get("traceloop.entity.name")), None, result)


def _flat_message(m: Mapping[str, Any], default_role: str) -> Message:
    """OpenLLMetry's `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` (before the JSON attributes)."""
    content = m.get("content")
    if content is None:
        content = m.get("refusal")
    calls = tuple(
        Call(c.get("id"), as_text(c.get("name")), parse_arguments(c.get("arguments"))) for c in indexed(m, "tool_calls")
    )
    role = as_text(m.get("role") or default_role)
    return Message(role, _flat_content(content), calls, m.get("tool_call_id"))


def _flat_content(content: Any) -> str:
    # Multi-part content (text plus images) is recorded as the JSON of the parts list.
    if isinstance(content, str) and content.startswith("[{"):
        try:
            parts = json.loads(content)
        except json.JSONDecodeError:
            return content
        if isinstance(parts, list) and all(isinstance(p, dict) and "type" in p for p in parts):
            return "\n".join(as_text(p.get("text")) for p in parts if p["type"] == "text")
    return as_text(content)


def _traceloop_output(raw: str) -> str:
    # Traceloop JSON-encodes the task's return value; a returned string is what the model saw.
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return value if isinstance(value, str) else raw
