"""Session router: which session each span belongs to, and which spans end a session.

Spans are grouped per trace because real instrumentations often put the session id only on the root
span, which ends (and is exported) last: a trace joins a session when any of its spans carries the id.
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


@dataclass
class TraceChunk:
    """The spans of one trace from one request, as the request's own encoded bytes."""

    trace_id: bytes
    # (resource fields, scope fields, encoded span fields): one group per ScopeSpans the trace appears in.
    groups: list[tuple[bytes, bytes, list[bytes]]] = field(default_factory=list)
    span_count: int = 0
    session: SessionKey | None = None
    id_attribute: str = ""
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
class Rejected:
    count: int = 0
    message: str = ""

    def add(self, message: str) -> None:
        self.count += 1
        if not self.message:
            self.message = message


@dataclass
class Routed:
    chunks: dict[bytes, TraceChunk]
    rejected: Rejected


class SessionRouter:
    def __init__(self, cfg: SessionConfig):
        self._cfg = cfg
        self._id_rank = {key: i for i, key in enumerate(cfg.id_attributes)}
        self._end_attr = cfg.end.attribute
        self._end_value = cfg.end.value
        self._end_tag = f"{cfg.end.attribute}:{cfg.end.value}"
        self._tag_attrs = frozenset(cfg.end.tag_attributes)
        # Only a span whose bytes contain one of these keys needs its attributes read: a substring
        # search costs far less than walking every span's attributes.
        self._id_markers = _minimal_markers(cfg.id_attributes)
        self._end_markers = _minimal_markers([cfg.end.attribute, *cfg.end.tag_attributes])

    def route(self, request: ExportTraceServiceRequest, raw: bytes) -> Routed:
        """Split a decoded request (raw: its bytes) into per-trace chunks with their sessions."""
        chunks: dict[bytes, TraceChunk] = {}
        rejected = Rejected()
        id_markers = self._id_markers
        max_id_length = self._cfg.max_id_length
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
                # This scope's spans of each trace, in the group appended to that trace's chunk.
                targets: dict[bytes, list[bytes]] = {}
                for span_index, (start, value, end) in enumerate(span_ranges):
                    # trace_id, encoded first by every SDK
                    if end - value >= 18 and raw[value] == 0x0A and raw[value + 1] == 16:
                        trace_id = raw[value + 2 : value + 18]
                    else:
                        trace_id = pb_spans[span_index].trace_id
                    chunk = chunks.get(trace_id)
                    # Read a span's attributes only when its bytes hold a key that matters: its id
                    # while its trace has no session yet, or an end marker.
                    marked = False
                    if chunk is None or chunk.session is None:
                        for m in id_markers:
                            if raw.find(m, value, end) >= 0:
                                marked = True
                                break
                    if not marked:
                        for m in end_markers:
                            if raw.find(m, value, end) >= 0:
                                marked = True
                                break
                    sid, id_attr, is_end = None, "", False
                    if marked:
                        found = self._inspect(pb_spans[span_index].attributes)
                        if found:
                            sid, id_attr, is_end = found
                    if sid is None and res_id is not None:
                        sid, id_attr = res_id
                    if len(trace_id) != 16 or (sid is not None and len(sid) > max_id_length):
                        rejected.add(
                            f"{self._problem(sid, id_attr, trace_id)} (span {pb_spans[span_index].span_id.hex()})"
                        )
                        continue
                    if chunk is None:
                        chunk = chunks[trace_id] = TraceChunk(trace_id)
                    spans = targets.get(trace_id)
                    if spans is None:
                        spans = targets[trace_id] = []
                        chunk.groups.append((res_fields, scope_fields, spans))
                    spans.append(raw[start:end])
                    chunk.span_count += 1
                    if sid is not None and chunk.session is None:
                        chunk.session = SessionKey(tenant, sid)
                        chunk.id_attribute = id_attr
                    if is_end:
                        chunk.end_spans.append(EndSpan(trace_id, pb_spans[span_index].span_id))
        return Routed(chunks, rejected)

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
    sessions: dict[SessionKey, list[ResourceSpans]] = {}
    for chunk in routed.chunks.values():
        if chunk.session is not None:
            sessions.setdefault(chunk.session, []).extend(chunk.resource_spans())
    return sessions
