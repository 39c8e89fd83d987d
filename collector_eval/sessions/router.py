"""Session router: which session each span belongs to, and which spans end a session.

A request's spans are grouped per session: what one session receives in a request is one chunk,
however many traces it spans. A trace joins a session when any of its spans carries the id (real
instrumentations often put it only on the root span, which ends and is exported last), so the spans of
a trace none of whose spans in the request names a session wait in a chunk of that trace.

The session id is read from the span's encoded bytes where it can be (the attribute's key, framed as
a span attribute, then its string value): that costs a substring search, where decoding a span's
attributes costs a walk over every one of them. Anything unusual takes the decoded span.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, TracesData

from collector_eval.model import EndSpan, SessionKey
from collector_eval.otlp import wire
from collector_eval.sessions.options import SessionConfig

UNKNOWN_TENANT = "unknown_service"
# ExportTraceServiceRequest.resource_spans, ResourceSpans.scope_spans, ScopeSpans.spans
RESOURCE_SPANS, SCOPE_SPANS, SPANS = wire.tag(1), wire.tag(2), wire.tag(2)
# Span.attributes; KeyValue.key and .value; AnyValue.string_value
SPAN_ATTRIBUTE, KEY, VALUE, STRING_VALUE = 0x4A, 0x0A, 0x12, 0x0A
# What _wire_id answers when the bytes are not the plain shape it reads: ask the decoded span.
UNREADABLE = object()


@dataclass
class Chunk:
    """Spans of one request, as the request's own encoded bytes."""

    # (resource fields, scope fields, encoded span fields): one group per ScopeSpans the spans are in.
    groups: list[tuple[bytes, bytes, list[bytes]]] = field(default_factory=list)
    span_count: int = 0
    end_spans: list[EndSpan] = field(default_factory=list)

    def payload(self) -> bytes:
        """The chunk as an encoded TracesData (wire-identical to an ExportTraceServiceRequest)."""
        out: list[bytes] = []
        resource: bytes | None = None
        scopes: list[bytes] = []
        for res, scope, spans in self.groups:
            if res is not resource:
                if resource is not None:
                    out.append(wire.length_delimited(1, [resource, *scopes]))
                resource, scopes = res, []
            scopes.append(wire.length_delimited(2, [scope, *spans]))
        if resource is not None:
            out.append(wire.length_delimited(1, [resource, *scopes]))
        return b"".join(out)

    def resource_spans(self) -> list[ResourceSpans]:
        return list(TracesData.FromString(self.payload()).resource_spans)


@dataclass
class SessionChunk(Chunk):
    """What one session receives in a request."""

    session: SessionKey = SessionKey("", "")
    id_attribute: str = ""  # the attribute its id was read from
    trace_ids: dict[bytes, None] = field(default_factory=dict)  # the traces its spans are in, in order


@dataclass
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
        # Each id attribute's key as it is encoded in a KeyValue, followed by the value's tag, in rank order.
        self._id_patterns = [
            (bytes([KEY]) + wire.encode_varint(len(k.encode())) + k.encode() + bytes([VALUE]), k)
            for k in cfg.id_attributes
        ]
        # Only a span whose bytes contain one of these keys can end a session: a substring search
        # costs far less than walking every span's attributes.
        self._end_markers = _minimal_markers([cfg.end.attribute, *cfg.end.tag_attributes])

    def route(self, request: ExportTraceServiceRequest, raw: bytes) -> Routed:
        """Split a decoded request (raw: its bytes) into per-session chunks, and per-trace chunks of
        the traces no span of the request ties to a session."""
        # By (tenant, id) while routing: a tuple of strings hashes in C, a SessionKey in Python.
        sessions: dict[tuple[str, str], SessionChunk] = {}
        orphans: dict[bytes, TraceChunk] = {}
        trace_sessions: dict[bytes, SessionChunk] = {}  # the session each trace of the request joined
        rejected = Rejected()
        max_id_length = self._cfg.max_id_length
        wire_id = self._wire_id
        # Most requests hold no end span: one scan of the request spares a scan of each span.
        end_markers = [m for m in self._end_markers if m in raw]
        resource_index = -1
        for key, _, rs_start, rs_end in wire.fields(raw, 0, len(raw)):
            if key != RESOURCE_SPANS:
                continue
            resource_index += 1
            rs = request.resource_spans[resource_index]
            tenant = _string_attr(rs.resource.attributes, self._cfg.tenant_attribute) or UNKNOWN_TENANT
            res_id = self._session_id(rs.resource.attributes)
            res_parts: list[bytes] = []
            scope_ranges: list[tuple[int, int]] = []
            for key, start, value, end in wire.fields(raw, rs_start, rs_end):
                if key == SCOPE_SPANS:
                    scope_ranges.append((value, end))
                else:
                    res_parts.append(raw[start:end])
            res_fields = b"".join(res_parts)
            for scope_index, (ss_start, ss_end) in enumerate(scope_ranges):
                pb_spans = rs.scope_spans[scope_index].spans
                scope_parts: list[bytes] = []
                span_ranges: list[tuple[int, int, int]] = []
                for key, start, value, end in wire.fields(raw, ss_start, ss_end):
                    if key == SPANS:
                        span_ranges.append((start, value, end))
                    else:
                        scope_parts.append(raw[start:end])
                scope_fields = b"".join(scope_parts)
                # This scope's spans of each chunk, in the group appended to that chunk.
                targets: dict[str | bytes, list[bytes]] = {}
                for span_index, (start, value, end) in enumerate(span_ranges):
                    # trace_id, encoded first by every SDK
                    if end - value >= 18 and raw[value] == 0x0A and raw[value + 1] == 16:
                        trace_id = raw[value + 2 : value + 18]
                    else:
                        trace_id = pb_spans[span_index].trace_id
                    joined = trace_sessions.get(trace_id)
                    sid: str | None = None
                    id_attr, is_end = "", False
                    if end_markers and any(raw.find(m, value, end) >= 0 for m in end_markers):
                        found = self._inspect(pb_spans[span_index].attributes)
                        if found:
                            sid, id_attr, is_end = found
                    elif joined is None:
                        # The trace's session is not known yet: look for an id on this span.
                        read = wire_id(raw, value, end)
                        if read is UNREADABLE:
                            found = self._inspect(pb_spans[span_index].attributes)
                            if found:
                                sid, id_attr, is_end = found
                        elif read is not None:
                            sid, id_attr = read
                    if sid is None and joined is None and res_id is not None:
                        sid, id_attr = res_id
                    if len(trace_id) != 16 or (sid is not None and len(sid) > max_id_length):
                        rejected.add(
                            f"{self._problem(sid, id_attr, trace_id)} (span {pb_spans[span_index].span_id.hex()})"
                        )
                        continue
                    chunk: Chunk
                    # Names the chunk in `targets` (an id() could be reused): a session by its id (one
                    # resource, one tenant), a trace by its trace id.
                    target: str | bytes
                    if joined is not None:
                        chunk, target = joined, joined.session.session_id
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
                        chunk, target = joined, sid
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

    def _wire_id(self, raw: bytes, start: int, end: int):
        """The session id a span's encoded bytes (raw[start:end]) carry, as (id, attribute key); None
        when they carry none; UNREADABLE when a key is there in a shape this does not read (an int or
        empty value, a key twice, bytes that only look like an attribute): the decoded span decides
        then, as it would have for every span."""
        for pattern, key in self._id_patterns:
            pos = raw.find(pattern, start, end)
            if pos < 0:
                continue
            after = pos + len(pattern)
            if after >= end:
                return UNREADABLE
            value_len = raw[after]  # an id's AnyValue: almost always under 128 bytes, one length byte
            if value_len < 0x80:
                value_start = after + 1
            else:
                value_len, value_start = wire.read_varint(raw, after)
            value_end = value_start + value_len
            # Framed as one of the span's own attributes (not an event's or a link's, nor text that
            # happens to hold these bytes): the KeyValue's tag and length right before the key, at
            # the start of one of the span's top-level fields.
            kv_len = value_end - pos
            if kv_len < 0x80:  # the usual: compared in place, no frame built
                kv_start = pos - 2
                framed = kv_start >= start and raw[kv_start] == SPAN_ATTRIBUTE and raw[pos - 1] == kv_len
            else:
                frame = bytes([SPAN_ATTRIBUTE]) + wire.encode_varint(kv_len)
                kv_start = pos - len(frame)
                framed = kv_start >= start and raw[kv_start:pos] == frame
            if (
                not framed
                or value_end > end
                or value_len < 2
                or raw[value_start] != STRING_VALUE
                or not _field_at(raw, start, end, kv_start)
            ):
                return UNREADABLE
            text_len = raw[value_start + 1]
            if text_len < 0x80:
                text_start = value_start + 2
            else:
                text_len, text_start = wire.read_varint(raw, value_start + 1)
            if text_len == 0 or text_start + text_len != value_end:
                return UNREADABLE
            try:
                return raw[text_start:value_end].decode(), key
            except UnicodeDecodeError:
                return UNREADABLE
        return None

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


def _field_at(raw: bytes, pos: int, end: int, at: int) -> bool:
    """Whether a top-level field of the message in raw[pos:end] starts at `at`. A span's fields
    before its attributes are few and short-tagged: skipped here without a generator, a field per
    few bytecodes; anything else goes the general way."""
    while pos < at:
        key = raw[pos]
        if key >= 0x80:
            return any(start == at for _, start, _, _ in wire.fields(raw, pos, end))
        wire_type = key & 7
        pos += 1
        if wire_type == wire.LEN:
            length = raw[pos]
            if length < 0x80:
                pos += 1 + length
            else:
                length, pos = wire.read_varint(raw, pos)
                pos += length
        elif wire_type == 1:
            pos += 8
        elif wire_type == 0:
            while raw[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire_type == 5:
            pos += 4
        else:
            return False
    return pos == at


def _minimal_markers(keys: list[str]) -> list[bytes]:
    """The keys as bytes, less those containing another (finding "tags" already finds "tag.tags")."""
    encoded = sorted({k.encode() for k in keys}, key=len)
    return [k for i, k in enumerate(encoded) if not any(m in k for m in encoded[:i])]


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
    routed = router.route(request, request.SerializeToString())
    return {session: chunk.resource_spans() for session, chunk in routed.sessions.items()}
