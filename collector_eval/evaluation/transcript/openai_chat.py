"""The OpenAI chat-completions message shape, as frameworks record the request they sent (Langfuse's
observation input, MLflow's span inputs): not a convention of its own, a shape their readers share."""

from __future__ import annotations

from typing import Any

from collector_eval.evaluation.transcript.messages import Call, Message, as_text, json_value, parse_arguments


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


def recorded_messages(raw: Any, reply: bool = False) -> list[Message]:
    """Chat messages as a library records them (transcript.mappings' `openai_chat` shape): JSON text or
    a value, a list of messages or one; a reply that leaves out its role is the assistant's."""
    value = json_value(raw)
    if isinstance(value, dict):
        value = [value]
    if reply and isinstance(value, list):
        value = [{"role": "assistant", **m} if isinstance(m, dict) else m for m in value]
    return chat_messages(value)
