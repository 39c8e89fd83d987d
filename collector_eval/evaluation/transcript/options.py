"""Options of the transcript (transcript.*): mappings for instrumentations no built-in reader knows, and
what to do with a transcript the readers could not make consistent."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from enum import StrEnum

from collector_eval.config.checks import ConfigError


class MessageShape(StrEnum):
    """How a mapped value holds its messages (transcript.mappings[].shape)."""

    OPENAI_CHAT = "openai_chat"  # [{role, content, tool_calls, tool_call_id}], or one such message
    GENAI_PARTS = "genai_parts"  # OTel GenAI JSON messages: [{role, parts: [{type, ...}]}]
    OPENINFERENCE = "openinference"  # flattened `<prefix>.N.message.role`, `.content`, `.tool_calls.M...`
    TEXT = "text"  # a plain string: the user's text as input, the assistant's as output


class OnDoubt(StrEnum):
    """What judge evaluators do with a doubtful transcript (transcript.on_doubt)."""

    JUDGE = "judge"  # judge it anyway; the results carry the warnings
    SKIP = "skip"  # skip them with reason doubtful_transcript


@dataclass
class SourceConfig:
    """Where one value is on a span: a span attribute, or an event (a span event or a log record of the
    span) by name, and in it an attribute or, with no `key`, the log record's body."""

    # A bare string is an attribute key: `input: acme.prompt`.
    shorthand: typing.ClassVar[str] = "attribute"
    attribute: str = ""
    event: str = ""
    key: str = ""  # with `event`: the event's attribute; empty: the log record's body

    @property
    def configured(self) -> bool:
        return bool(self.attribute or self.event)

    def validate(self, path: str) -> None:
        if self.attribute and self.event:
            raise ConfigError(f"{path}: give either attribute or event, not both")
        if self.key and not self.event:
            raise ConfigError(f"{path}.key: names an attribute of an event; set {path}.event too")


@dataclass
class ToolMappingConfig:
    """A tool execution span: which tool ran, the call it answers, and what it returned."""

    # A bare string is the attribute of the tool's name: `tool: acme.tool.name`.
    shorthand: typing.ClassVar[str] = "name"
    name: SourceConfig = field(default_factory=SourceConfig)
    # The id of the call the run answers, which pairs the run with that call.
    id: SourceConfig = field(default_factory=SourceConfig)
    # The call's arguments: with no ids, a tool called twice is paired with its runs by them.
    arguments: SourceConfig = field(default_factory=SourceConfig)
    # What the tool returned, as the model saw it.
    result: SourceConfig = field(default_factory=SourceConfig)

    def validate(self, path: str) -> None:
        for name in ("name", "id", "arguments", "result"):
            getattr(self, name).validate(f"{path}.{name}")
        others = [name for name in ("id", "arguments", "result") if getattr(self, name).configured]
        if others and not self.name.configured:
            # A run is paired with the model's call by its tool's name (and id): without one it pairs with nothing.
            raise ConfigError(f"{path}.name: required with {path}.{others[0]}")


@dataclass
class MatchConfig:
    """Which spans a mapping reads: both conditions given, a span must meet both."""

    # The instrumentation scope's name, or a glob of it (fnmatch, case-sensitive); empty: any scope.
    scope: str = ""
    # A span attribute key the span must carry; empty: any span of the scope.
    attribute: str = ""


@dataclass
class MappingConfig:
    match: MatchConfig = field(default_factory=MatchConfig)
    shape: str = "openai_chat"  # openai_chat | genai_parts | openinference | text
    input: SourceConfig = field(default_factory=SourceConfig)  # the messages sent to the model
    output: SourceConfig = field(default_factory=SourceConfig)  # the model's reply
    tool: ToolMappingConfig = field(default_factory=ToolMappingConfig)

    def validate(self, path: str) -> None:
        if not self.match.scope and not self.match.attribute:
            # A mapping is tried before the built-in readers: one matching every span would hide them all.
            raise ConfigError(f"{path}.match: give a scope, an attribute or both; a mapping must not match every span")
        if self.shape not in tuple(MessageShape):
            raise ConfigError(f"{path}.shape: {self.shape!r} is not one of {', '.join(MessageShape)}")
        for name in ("input", "output"):
            source = getattr(self, name)
            source.validate(f"{path}.{name}")
            if self.shape == MessageShape.OPENINFERENCE and source.event and not source.key:
                # Flattened keys live in attributes: the event's, under a prefix.
                raise ConfigError(f"{path}.{name}.key: the openinference shape needs the prefix of the event's keys")
        self.tool.validate(f"{path}.tool")
        if not (self.input.configured or self.output.configured or self.tool.name.configured):
            raise ConfigError(f"{path}: reads nothing; give input, output or tool.name")


@dataclass
class TranscriptConfig:
    # Readers for instrumentations that are not built in, tried in order before the built-in readers
    # on the spans they match.
    mappings: list[MappingConfig] = field(default_factory=list)
    # A transcript the readers could not make consistent (its results carry the warnings): judge it
    # anyway ("judge"), or skip the session's judge evaluators with reason doubtful_transcript ("skip").
    on_doubt: str = "judge"

    def validate(self, path: str) -> None:
        if self.on_doubt not in tuple(OnDoubt):
            raise ConfigError(f"{path}.on_doubt: {self.on_doubt!r} is not one of {', '.join(OnDoubt)}")
        for i, mapping in enumerate(self.mappings):
            mapping.validate(f"{path}.mappings[{i}]")
