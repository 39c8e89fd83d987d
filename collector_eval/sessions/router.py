"""Session router: which session each span belongs to, and which spans end a session.

A request's spans are grouped per session: what one session receives in a request is one chunk,
however many traces it spans. A trace joins a session when any of its spans carries the id (real
instrumentations often put it only on the root span, which ends and is exported last), so the spans of
a trace none of whose spans in the request names a session wait in a chunk of that trace.

The session id is read from the span's encoded bytes (collector_eval.otlp._spans, in C): walking
decoded attributes in Python cost more than everything else the ingest path did per span. Anything
unusual (an id that is not a string, a marker of a session's end) takes the decoded span, its scope
decoded then; the request itself is never decoded (it was checked: collector_eval.otlp.check).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, TracesData

from collector_eval.model import EndSpan, SessionKey
from collector_eval.otlp import wire
from collector_eval.otlp._spans import chunk_payload, group_scope, scan_scope
from collector_eval.sessions.options import SessionConfig

UNKNOWN_TENANT = "unknown_service"
# ExportTraceServiceRequest.resource_spans, ResourceSpans.resource and .scope_spans
RESOURCE_SPANS, RESOURCE, SCOPE_SPANS = wire.tag(1), wire.tag(1), wire.tag(2)


class _Read(Enum):
    """What the scan answers for an id attribute it does not read: the decoded span says."""

    UNREADABLE = "unreadable"


@dataclass(slots=True)
class Chunk:
    """Spans of one request, as the request's own encoded bytes."""

    # (resource fields, scope fields, encoded span fields): one group per ScopeSpans the spans are in.
    groups: list[tuple[bytes, bytes, list[bytes]]] = field(default_factory=list)
    span_count: int = 0
    end_spans: list[EndSpan] = field(default_factory=list)

    def payload(self) -> bytes:
        """The chunk as an encoded TracesData (wire-identical to an ExportTraceServiceRequest)."""
        return chunk_payload(self.groups)

    def resource_spans(self) -> list[ResourceSpans]:
        return list(TracesData.FromString(self.payload()).resource_spans)


@dataclass(slots=True)
class SessionChunk(Chunk):
    """What one session receives in a request."""

    session: SessionKey = SessionKey("", "")
    id_attribute: str = ""  # the attribute its id was read from
    trace_ids: dict[bytes, None] = field(default_factory=dict)  # the traces its spans are in, in order


@dataclass(slots=True)
class TraceChunk(Chunk):
    """Spans of a trace that no span in the request tied to a session (yet)."""

    trace_id: bytes = b""


@dataclass
class Rejected:
    count: int = 0
    message: str = ""

    def add(self, message: str) -> None:
        self.count += 1
        if not self.message:
            self.message = message


@dataclass
class Routed:
    sessions: dict[SessionKey, SessionChunk]
    orphans: dict[bytes, TraceChunk]  # by trace id
    rejected: Rejected

    def chunks(self) -> list[Chunk]:
        return [*self.sessions.values(), *self.orphans.values()]

    @property
    def span_count(self) -> int:
        return sum(c.span_count for c in self.chunks())


class SessionRouter:
    def __init__(self, cfg: SessionConfig):
        self._cfg = cfg
        self._id_rank = {key: i for i, key in enumerate(cfg.id_attributes)}
        self._end_attr = cfg.end.attribute
        self._end_value = cfg.end.value
        self._end_tag = f"{cfg.end.attribute}:{cfg.end.value}"
        self._tag_attrs = frozenset(cfg.end.tag_attributes)
        self._id_keys = tuple(k.encode() for k in cfg.id_attributes)
        self._id_names = tuple(cfg.id_attributes)
        # Only a span with one of these attributes can end a session: the scan finds them.
        self._end_keys = tuple(k.encode() for k in [cfg.end.attribute, *cfg.end.tag_attributes])

    def route(self, raw: bytes) -> Routed:
        """Split a request (its bytes, checked to be an ExportTraceServiceRequest) into per-session
        chunks, and per-trace chunks of the traces no span of the request ties to a session."""
        # By (tenant, id) while routing: a plain tuple is made faster than a SessionKey.
        sessions: dict[tuple[str, str], SessionChunk] = {}
        orphans: dict[bytes, TraceChunk] = {}
        trace_sessions: dict[bytes, SessionChunk] = {}  # the session each trace of the request joined
        rejected = Rejected()
        max_id_length = self._cfg.max_id_length
        for key, _, rs_start, rs_end in wire.fields(raw, 0, len(raw)):
            if key != RESOURCE_SPANS:
                continue
            res_parts: list[bytes] = []
            resource: list[bytes] = []  # the values of its Resource field: protobuf merges them
            scope_ranges: list[tuple[int, int]] = []
            for key, start, value, end in wire.fields(raw, rs_start, rs_end):
                if key == SCOPE_SPANS:
                    scope_ranges.append((value, end))
                else:
                    res_parts.append(raw[start:end])
                    if key == RESOURCE:
                        resource.append(raw[value:end])
            res_fields = b"".join(res_parts)
            attributes = Resource.FromString(b"".join(resource)).attributes
            tenant = _string_attr(attributes, self._cfg.tenant_attribute) or UNKNOWN_TENANT
            res_id = self._session_id(attributes)
            for ss_start, ss_end in scope_ranges:
                pb_spans = _DecodedSpans(raw, ss_start, ss_end)
                scope_fields, scanned = scan_scope(
                    raw, ss_start, ss_end, self._id_keys, self._id_names, self._end_keys, _Read.UNREADABLE
                )
                # Most scopes are plain (no end span, no id to decode, no trace seen in another scope):
                # grouped in C, per session, where the loop below goes span by span.
                grouped = group_scope(raw, scanned, res_id, max_id_length, trace_sessions, orphans)
                if grouped is not None:
                    self._add_grouped(grouped, tenant, res_fields, scope_fields, sessions, orphans, trace_sessions)
                    continue
                # This scope's spans of each chunk, in the group appended to that chunk.
                targets: dict[int | bytes, list[bytes]] = {}
                for span_index, (start, end, span_trace_id, read, marked) in enumerate(scanned):
                    # None where the span does not begin with its trace id, as every SDK encodes it
                    trace_id = span_trace_id if span_trace_id is not None else pb_spans[span_index].trace_id
                    joined = trace_sessions.get(trace_id)
                    sid: str | None = None
                    id_attr, is_end = "", False
                    if marked or (joined is None and read is _Read.UNREADABLE):
                        found = self._inspect(pb_spans[span_index].attributes)
                        if found:
                            is_end = found[2]
                            if joined is None:  # else the trace's session is known: its id is moot
                                sid, id_attr = found[0], found[1]
                    elif joined is None and isinstance(read, tuple):
                        # The trace's session is not known yet: this span names it.
                        sid, id_attr = read
                    if sid is None and joined is None and res_id is not None:
                        sid, id_attr = res_id
                    if len(trace_id) != 16 or (sid is not None and len(sid) > max_id_length):
                        rejected.add(
                            f"{self._problem(sid, id_attr, trace_id)} (span {pb_spans[span_index].span_id.hex()})"
                        )
                        continue
                    chunk: Chunk
                    # Names the chunk in `targets`: a session's by its id() (every session chunk lives as
                    # long as the request's routing; its id alone would not do, since a trace joined in
                    # another resource brings its session of another tenant), a trace's by its trace id.
                    target: int | bytes
                    if joined is not None:
                        chunk, target = joined, id(joined)
                    elif sid is not None:
                        joined = sessions.get((tenant, sid))
                        if joined is None:
                            joined = sessions[(tenant, sid)] = SessionChunk(
                                session=SessionKey(tenant, sid), id_attribute=id_attr
                            )
                        trace_sessions[trace_id] = joined
                        joined.trace_ids[trace_id] = None
                        waiting = orphans.pop(trace_id, None)
                        if waiting is not None:  # its earlier spans in this request join with it
                            joined.groups += waiting.groups
                            joined.span_count += waiting.span_count
                            joined.end_spans += waiting.end_spans
                            targets.pop(trace_id, None)
                        chunk, target = joined, id(joined)
                    else:
                        orphan = orphans.get(trace_id)
                        if orphan is None:
                            orphan = orphans[trace_id] = TraceChunk(trace_id=trace_id)
                        chunk, target = orphan, trace_id
                    spans = targets.get(target)
                    if spans is None:
                        spans = targets[target] = []
                        chunk.groups.append((res_fields, scope_fields, spans))
                    spans.append(raw[start:end])
                    chunk.span_count += 1
                    if is_end:
                        chunk.end_spans.append(EndSpan(trace_id, pb_spans[span_index].span_id))
        return Routed({chunk.session: chunk for chunk in sessions.values()}, orphans, rejected)

    @staticmethod
    def _add_grouped(
        grouped: tuple[list[tuple[str, str, list[bytes], list[bytes]]], list[tuple[bytes, list[bytes]]]],
        tenant: str,
        res_fields: bytes,
        scope_fields: bytes,
        sessions: dict[tuple[str, str], SessionChunk],
        orphans: dict[bytes, TraceChunk],
        trace_sessions: dict[bytes, SessionChunk],
    ) -> None:
        """A plain scope's groups (group_scope's) into the request's chunks."""
        for sid, id_attr, trace_ids, spans in grouped[0]:
            chunk = sessions.get((tenant, sid))
            if chunk is None:
                chunk = sessions[(tenant, sid)] = SessionChunk(session=SessionKey(tenant, sid), id_attribute=id_attr)
            for trace_id in trace_ids:
                trace_sessions[trace_id] = chunk
                chunk.trace_ids[trace_id] = None
            chunk.groups.append((res_fields, scope_fields, spans))
            chunk.span_count += len(spans)
        for trace_id, spans in grouped[1]:
            orphan = orphans[trace_id] = TraceChunk(trace_id=trace_id, span_count=len(spans))
            orphan.groups.append((res_fields, scope_fields, spans))

    def _problem(self, sid: str | None, id_attr: str, trace_id: bytes) -> str:
        if len(trace_id) != 16:
            return f"trace id of {len(trace_id)} bytes, not 16"
        if sid is not None and len(sid) > self._cfg.max_id_length:
            return f"session id in {id_attr!r} is {len(sid)} characters, over the limit of {self._cfg.max_id_length}"
        return ""

    def _inspect(self, attributes) -> tuple[str | None, str, bool] | None:
        best_rank = len(self._id_rank)
        sid: str | None = None
        id_attr = ""
        is_end = False
        for kv in attributes:
            key = kv.key
            rank = self._id_rank.get(key)
            if rank is not None and rank < best_rank:
                value = _as_string(kv.value)
                if value:
                    best_rank, sid, id_attr = rank, value, key
            elif key == self._end_attr:
                is_end = is_end or _as_string(kv.value) == self._end_value
            elif key in self._tag_attrs:
                is_end = is_end or self._end_tag in _as_strings(kv.value)
        if sid is None and not is_end:
            return None
        return sid, id_attr, is_end

    def _session_id(self, attributes) -> tuple[str, str] | None:
        found = self._inspect(attributes)
        if found is None or found[0] is None:
            return None
        return found[0], found[1]


class _DecodedSpans:
    """A scope's decoded spans, for the few spans the scan leaves to them: decoded on first use."""

    __slots__ = ("_raw", "_start", "_end", "_spans")

    def __init__(self, raw: bytes, start: int, end: int):
        self._raw, self._start, self._end = raw, start, end
        self._spans: Sequence[Span] | None = None

    def __getitem__(self, index: int) -> Span:
        if self._spans is None:
            self._spans = ScopeSpans.FromString(self._raw[self._start : self._end]).spans
        return self._spans[index]


def _string_attr(attributes, key: str) -> str | None:
    for kv in attributes:
        if kv.key == key:
            return _as_string(kv.value) or None
    return None


def _as_string(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    return ""


def _as_strings(value: AnyValue) -> list[str]:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [v.string_value for v in value.array_value.values if v.WhichOneof("value") == "string_value"]
    if kind == "string_value":
        # Some SDKs flatten tag lists into one comma-separated string.
        return [t.strip() for t in value.string_value.split(",")]
    return []


def group_sessions(request: ExportTraceServiceRequest, router: SessionRouter) -> dict[SessionKey, list[ResourceSpans]]:
    """All spans of a request grouped per session (offline use: the `transcript` command)."""
    routed = router.route(request.SerializeToString())
    return {session: chunk.resource_spans() for session, chunk in routed.sessions.items()}
