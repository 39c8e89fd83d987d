"""One reader per instrumentation convention. Each reader module gives `messages(span)` (a span's
input and output messages, or None when the span is not in its convention) and `tool_run(span)`
(a tool execution, as far as its keys say). A span's messages come from the first reader that
recognises them; a tool run takes each field from the first reader that has it. Framework readers
come first: they know their wrapper spans, which repeat what the model calls hold. The user's
transcript.mappings (readers/mapped.py) come before them all, on the spans they match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from collector_eval.evaluation.transcript.messages import Message, SpanRecord, ToolRun
from collector_eval.evaluation.transcript.options import MappingConfig
from collector_eval.evaluation.transcript.readers import (
    genai,
    langfuse,
    mlflow,
    openinference,
    openllmetry,
    smolagents,
    strands,
    vercel,
)
from collector_eval.evaluation.transcript.readers.mapped import MappedReader


class Reader(Protocol):
    """A reader module, or a configured mapping."""

    def messages(self, span: SpanRecord) -> tuple[list[Message], list[Message]] | None: ...

    def tool_run(self, span: SpanRecord) -> ToolRun: ...


# In order of precedence: a span carrying the GenAI JSON attributes is read by them, whatever else it has.
READERS: tuple[Reader, ...] = (vercel, langfuse, mlflow, strands, smolagents, genai, openinference, openllmetry)


def with_mappings(mappings: Sequence[MappingConfig]) -> tuple[Reader, ...]:
    """The readers with the user's mappings first."""
    return (*(MappedReader(m) for m in mappings), *READERS)


def llm_messages(span: SpanRecord, readers: Sequence[Reader] = READERS) -> tuple[list[Message], list[Message]]:
    """A span's input messages and output messages (none for a span that is not an LLM call)."""
    for reader in readers:
        found = reader.messages(span)
        if found is not None:
            return found
    return [], []


def tool_run(span: SpanRecord, readers: Sequence[Reader] = READERS) -> ToolRun | None:
    """A tool execution span: OTel GenAI execute_tool, OpenInference TOOL, a Traceloop tool task, or a mapped one."""
    runs = [reader.tool_run(span) for reader in readers]
    name = next((run.name for run in runs if run.name), "")
    if not name:
        return None
    result = next((run.result for run in runs if run.result is not None), None)
    arguments = next((run.arguments for run in runs if run.arguments is not None), None)
    return ToolRun(name, next((run.id for run in runs if run.id), None), result, arguments)
