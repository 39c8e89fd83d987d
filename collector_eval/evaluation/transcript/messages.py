"""What readers make of a span: messages (role, content, tool calls, the call a tool message answers)
and tool runs, before the builder merges them into one conversation; and the attribute helpers every
reader shares."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span


@dataclass(frozen=True)
class Call:
    id: str | None
    name: str
    arguments: Any


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    calls: tuple[Call, ...] = ()
    answers: str | None = None  # a tool message: the id of the call it answers
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Identity across spans: ids are left out, as not every shape records them everywhere.
        calls = [[call.name, call.arguments] for call in self.calls]
        key = json.dumps([self.role, self.content, calls], sort_keys=True, default=str)
        object.__setattr__(self, "key", key)


@dataclass(frozen=True)
class ToolRun:
    name: str
    id: str | None
    result: str | None
    arguments: Any = None  # as far as the span records them: pairs a run with its call when ids are missing


def iter_spans(resource_spans: Iterable[ResourceSpans]) -> Iterator[Span]:
    for rs in resource_spans:
        for ss in rs.scope_spans:
            yield from ss.spans


def span_attributes(span: Span) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in span.attributes}


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def indexed(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Groups `{prefix}.{i}.{rest}` keys into one {rest: value} dict per i, in index order."""
    groups: dict[int, dict[str, Any]] = {}
    start = prefix + "."
    for key, value in attrs.items():
        if key.startswith(start):
            index, _, rest = key[len(start) :].partition(".")
            if index.isdigit() and rest:
                groups.setdefault(int(index), {})[rest] = value
    return [groups[i] for i in sorted(groups)]


def parse_arguments(raw: Any) -> Any:
    """Tool-call arguments as recorded (mostly a JSON string) as a value; unparseable text stays text."""
    # Missing arguments mean none (OpenInference leaves out "{}").
    if raw is None or raw == "":
        return {}
    return json_or_text(raw)


def json_or_text(raw: Any) -> Any:
    """A value that may arrive as JSON text, decoded; text that is not JSON stays text."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def json_value(raw: Any) -> Any:
    """A value that may arrive as JSON text, decoded; a str that is not JSON (cut by an attribute
    length limit, say) is unusable: None. Anything else is already a value."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return None


def as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class Event:
    """A span event or a log record, as plain values."""

    name: str
    attributes: dict[str, Any]
    body: Any = None  # log records only
    time: int = 0


@dataclass
class SpanRecord:
    """A span as the readers see it: plain attribute values, its events, its instrumentation scope,
    and the log records that belong to it (same trace and span id): some instrumentations put the
    conversation in span events or log records rather than attributes."""

    name: str
    scope: str  # the instrumentation scope's name
    attributes: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    logs: list[Event] = field(default_factory=list)
    trace_id: bytes = b""
    span_id: bytes = b""
    parent_span_id: bytes = b""
    start: int = 0
    end: int = 0
    scope_version: str = ""

    @property
    def scope_label(self) -> str:
        """Its scope as a user finds the library: name and version."""
        return f"{self.scope} {self.scope_version}" if self.scope_version else self.scope


def span_record(span: Span, scope: str = "", scope_version: str = "") -> SpanRecord:
    return SpanRecord(
        name=span.name,
        scope=scope,
        scope_version=scope_version,
        attributes=span_attributes(span),
        events=[
            Event(e.name, {kv.key: value_of(kv.value) for kv in e.attributes}, time=e.time_unix_nano)
            for e in span.events
        ],
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        start=span.start_time_unix_nano,
        end=span.end_time_unix_nano,
    )


def span_records(
    resource_spans: Iterable[ResourceSpans], resource_logs: Iterable[ResourceLogs] = ()
) -> list[SpanRecord]:
    """Every span as a SpanRecord, in start order, each with its log records; a log record of one of
    these traces whose span is not among them is a record of its own, at its time. Log records of
    other traces are not this session's."""
    records: dict[tuple[bytes, bytes], SpanRecord] = {}
    for rs in resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                records[(span.trace_id, span.span_id)] = span_record(span, ss.scope.name, ss.scope.version)
    orphans: list[SpanRecord] = []
    traces = {trace_id for trace_id, _ in records}
    for rl in resource_logs:
        for sl in rl.scope_logs:
            for log in sl.log_records:
                attributes = {kv.key: value_of(kv.value) for kv in log.attributes}
                time = log.time_unix_nano or log.observed_time_unix_nano
                event = Event(
                    log.event_name or as_text(attributes.get("event.name")), attributes, value_of(log.body), time
                )
                owner = records.get((log.trace_id, log.span_id))
                if owner is not None:
                    owner.logs.append(event)
                elif log.trace_id in traces:
                    scope = sl.scope
                    orphans.append(
                        SpanRecord(
                            "",
                            scope.name,
                            {},
                            [],
                            [event],
                            log.trace_id,
                            start=time,
                            end=time,
                            scope_version=scope.version,
                        )
                    )
    return sorted([*records.values(), *orphans], key=lambda r: (r.start, r.end))
