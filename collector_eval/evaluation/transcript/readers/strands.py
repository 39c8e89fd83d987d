"""Strands Agents (scope `strands.telemetry.tracer`): Bedrock-style content blocks (`{text}`,
`{toolUse: {toolUseId, name, input}}`, `{toolResult: {toolUseId, content: [{text}]}}`).

Only `chat` spans are read: `invoke_agent` holds just the current turn (its answer with a trailing
newline), each `execute_event_loop_cycle` repeats its chat span's history, and `execute_tool` records
the tool's arguments as if they were a message; those spans are claimed with nothing to add.

A chat span records its messages in one of three ways, by the conventions Strands was told to follow:
- default (legacy): span events `gen_ai.{system,user,assistant,tool}.message` whose `content` is the
  JSON block list, and `gen_ai.choice` whose `message` is the reply's block list;
- latest: OTel GenAI `gen_ai.input.messages` / `gen_ai.output.messages` on operation-details events,
  or as span attributes; a tool result part's `response` is the toolResult content block list.
Tool results are messages of role user in Strands' history; they are tool turns here."""

from __future__ import annotations

import json
from typing import Any

from collector_eval.evaluation.transcript.messages import (
    Call,
    Event,
    Message,
    SpanRecord,
    ToolRun,
    as_text,
    json_or_text,
)
from collector_eval.evaluation.transcript.readers import genai

SCOPE = "strands.telemetry.tracer"
PROVIDER = "strands-agents"
_EVENT_ROLES = {
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "user",
    "gen_ai.system.message": "system",
}


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    if not _is_strands(span):
        return None
    if _operation(span) != "chat":
        return [], []
    found = genai.details(span)
    if found is not None:
        return (
            genai.parse_messages(found[0], output=False, response_text=_blocks_text),
            genai.parse_messages(found[1], output=True, response_text=_blocks_text),
        )
    inputs: list[Message] = []
    outputs: list[Message] = []
    for event in sorted(span.events, key=lambda e: e.time):
        if event.name in _EVENT_ROLES:
            inputs += _block_messages(_EVENT_ROLES[event.name], event.attributes.get("content"))
        elif event.name == "gen_ai.choice" and not outputs:
            outputs += _block_messages("assistant", event.attributes.get("message"))
    return inputs, outputs


def tool_run(span: SpanRecord) -> ToolRun:
    if not _is_strands(span) or _operation(span) != "execute_tool":
        return ToolRun("", None, None)
    attrs = span.attributes
    return ToolRun(as_text(attrs.get("gen_ai.tool.name")), attrs.get("gen_ai.tool.call.id"), _tool_result(span))


def _is_strands(span: SpanRecord) -> bool:
    # The scope, else the provider Strands names on each of its spans (a span may come without its scope).
    attrs = span.attributes
    return span.scope == SCOPE or PROVIDER in (attrs.get("gen_ai.system"), attrs.get("gen_ai.provider.name"))


def _operation(span: SpanRecord) -> str:
    name = span.attributes.get("gen_ai.operation.name")
    return as_text(name) if name else span.name.split(" ")[0]


def _tool_result(span: SpanRecord) -> str | None:
    """What the tool returned, as the model saw it: `gen_ai.tool.call.result` (latest conventions), the
    output message's tool_call_response, or (default) the `gen_ai.choice` event's block list. The
    `gen_ai.tool.message` event of a tool span holds the ARGUMENTS, not the result."""
    result = span.attributes.get("gen_ai.tool.call.result")
    if result is not None:
        return _blocks_text(json_or_text(result))
    found = genai.details(span)
    if found is not None:
        outputs = genai.parse_messages(found[1], output=True, response_text=_blocks_text)
        answers = [m for m in outputs if m.role == "tool"]
        if answers:
            return answers[0].content
    choice: Event | None = next((e for e in span.events if e.name == "gen_ai.choice"), None)
    if choice is not None and "message" in choice.attributes:
        return _blocks_text(json_or_text(choice.attributes["message"]))
    return None


def _block_messages(role: str, raw: Any) -> list[Message]:
    """One message's content block list: toolResult blocks become tool messages (before the rest),
    text blocks the message's text, toolUse blocks its calls."""
    blocks = json_or_text(raw)
    if not isinstance(blocks, list):  # e.g. the invoke_agent answer, a plain string
        return [Message(role, as_text(blocks))]
    texts: list[str] = []
    calls: list[Call] = []
    out: list[Message] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(as_text(block["text"]))
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append(Call(use.get("toolUseId"), as_text(use.get("name")), use.get("input") or {}))
        elif isinstance(block.get("toolResult"), dict):
            result = block["toolResult"]
            out.append(Message("tool", _blocks_text(result.get("content")), answers=result.get("toolUseId")))
    if texts or calls or not out:
        out.append(Message(role, "\n".join(texts), tuple(calls)))
    return out


def _blocks_text(value: Any) -> str:
    """A toolResult's content blocks as the text the model got: text blocks (json blocks as JSON) joined
    by newlines; anything else as text."""
    if isinstance(value, list) and value and all(isinstance(b, dict) and ("text" in b or "json" in b) for b in value):
        return "\n".join(as_text(b["text"]) if "text" in b else json.dumps(b["json"]) for b in value)
    return as_text(value)
