"""Strands Agents (Bedrock-style content blocks in GenAI span events)."""
from __future__ import annotations

from collector_eval.evaluation.transcript.messages import Message, SpanRecord, ToolRun


def messages(span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
    """None: not this convention's span. ([], []): its span, with nothing to read (a wrapper span)."""
    return None


def tool_run(span: SpanRecord) -> ToolRun:
    return ToolRun("", None, None)
