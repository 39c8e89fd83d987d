"""Langfuse SDK v3 (`langfuse.observation.*`): every Langfuse span says its observation type. Generations
hold the request as JSON `langfuse.observation.input` (the OpenAI chat messages, alone or as
`{messages, tools, ...}`) and the reply as `langfuse.observation.output` (one message); tool observations
are tool runs. Span, agent, chain ... observations wrap the generations and repeat what they say, so
they are claimed as holding nothing new.

Langfuse stores a str value as it is and JSON-encodes anything else, so an output that is not JSON is
plain text."""

from __future__ import annotations

from collector_eval.evaluation.transcript.messages import Message, SpanRecord, ToolRun, as_text, json_value
from collector_eval.evaluation.transcript.openai_chat import chat_messages


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    """None: not this convention's span. ([], []): its span, with nothing to read (a wrapper span)."""
    attrs = span.attributes
    kind = attrs.get("langfuse.observation.type")
    if kind is None:
        return None
    if kind != "generation":
        return [], []
    request = json_value(attrs.get("langfuse.observation.input"))
    if isinstance(request, dict):
        request = request.get("messages")
    raw = attrs.get("langfuse.observation.output")
    reply = json_value(raw)
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
