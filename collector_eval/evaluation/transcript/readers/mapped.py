"""transcript.mappings: readers a user configures for an instrumentation no built-in reader knows.

A mapping names the spans it reads (scope and/or an attribute key) and where their conversation is,
in one of the shapes the built-in readers already parse; so it reads with their parsers, not a copy
of them. It is tried before the built-in readers; a span it matches but finds no messages in (a tool
span, say) still goes on to them.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from collector_eval.evaluation.transcript.messages import Event, Message, SpanRecord, ToolRun, as_text, parse_arguments
from collector_eval.evaluation.transcript.openai_chat import recorded_messages
from collector_eval.evaluation.transcript.options import MappingConfig, MessageShape, SourceConfig
from collector_eval.evaluation.transcript.readers import genai, openinference

_NO_RUN = ToolRun("", None, None)


class MappedReader:
    """One transcript.mappings entry, with the interface of a reader module."""

    def __init__(self, config: MappingConfig) -> None:
        self.config = config
        self.shape = MessageShape(config.shape)

    def matches(self, span: SpanRecord) -> bool:
        match = self.config.match
        if match.scope and not fnmatchcase(span.scope, match.scope):
            return False
        return not match.attribute or match.attribute in span.attributes

    def messages(self, span: SpanRecord) -> tuple[list[Message], list[Message]] | None:
        if not self.matches(span):
            return None
        inputs = self._messages(span, self.config.input, output=False)
        outputs = self._messages(span, self.config.output, output=True)
        return (inputs, outputs) if inputs or outputs else None

    def tool_run(self, span: SpanRecord) -> ToolRun:
        tool = self.config.tool
        if not tool.name.configured or not self.matches(span):
            return _NO_RUN
        name, call_id, arguments, result = (
            _first(span, source) for source in (tool.name, tool.id, tool.arguments, tool.result)
        )
        return ToolRun(
            as_text(name),
            None if call_id is None else as_text(call_id),
            None if result is None else as_text(result),
            None if arguments is None else parse_arguments(arguments),
        )

    def _messages(self, span: SpanRecord, source: SourceConfig, output: bool) -> list[Message]:
        role = "assistant" if output else "user"
        if self.shape is MessageShape.OPENINFERENCE:
            # Flattened keys under a prefix: the span's own, or those of the events named.
            if source.attribute:
                return openinference.flattened(span.attributes, source.attribute, role)
            return [
                m
                for event in _events(span, source)
                for m in openinference.flattened(event.attributes, source.key, role)
            ]
        out: list[Message] = []
        # Every value found, in time order: one event may hold all messages, or one event each.
        for raw in _values(span, source):
            out += self._parse(raw, output, role)
        return out

    def _parse(self, raw: Any, output: bool, role: str) -> list[Message]:
        if self.shape is MessageShape.TEXT:
            text = as_text(raw)
            return [Message(role, text)] if text else []
        if self.shape is MessageShape.GENAI_PARTS:
            return genai.parse_messages(raw, output)
        return recorded_messages(raw, reply=output)


def _events(span: SpanRecord, source: SourceConfig) -> list[Event]:
    if not source.event:
        return []
    return sorted((e for e in [*span.events, *span.logs] if e.name == source.event), key=lambda e: e.time)


def _values(span: SpanRecord, source: SourceConfig) -> list[Any]:
    if source.attribute:
        value = span.attributes.get(source.attribute)
        return [] if value is None else [value]
    values = (event.attributes.get(source.key) if source.key else event.body for event in _events(span, source))
    return [value for value in values if value is not None]


def _first(span: SpanRecord, source: SourceConfig) -> Any:
    if not source.configured:
        return None
    return next(iter(_values(span, source)), None)
