"""Session router: which session each span belongs to, and which spans end a session.

Spans are grouped per trace because real instrumentations often put the session id only on the root
span, which ends (and is exported) last: a trace joins a session when any of its spans carries the id.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, TracesData

from collector_eval.config import SessionConfig

UNKNOWN_TENANT = "unknown_service"


@dataclass(frozen=True)
class SessionKey:
    tenant: str
    session_id: str


@dataclass
class EndSpan:
    trace_id: bytes
    span_id: bytes


@dataclass
class TraceChunk:
    """The spans of one trace from one request, kept with their resource and scope."""

    trace_id: bytes
    data: TracesData = field(default_factory=TracesData)
    span_count: int = 0
    session: SessionKey | None = None
    id_attribute: str = ""
    end_spans: list[EndSpan] = field(default_factory=list)


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
        # Any of these bytes in a request means some attribute must be read; most requests of an
        # untagged app contain none, and then no span needs an attribute scan at all.
        self._markers = [k.encode() for k in (*cfg.id_attributes, cfg.end.attribute, *cfg.end.tag_attributes)]

    def route(self, request: ExportTraceServiceRequest, raw: bytes | None = None) -> Routed:
        chunks: dict[bytes, TraceChunk] = {}
        rejected = Rejected()
        scan = raw is None or any(m in raw for m in self._markers)
        for rs in request.resource_spans:
            tenant = _string_attr(rs.resource.attributes, self._cfg.tenant_attribute) or UNKNOWN_TENANT
            res_id = self._session_id(rs.resource.attributes) if scan else None
            for ss in rs.scope_spans:
                # Each trace's spans of this scope go to one ScopeSpans of that trace's chunk.
                targets: dict[bytes, object] = {}
                for span in ss.spans:
                    trace_id = span.trace_id
                    found = self._inspect(span.attributes) if scan else None
                    sid, id_attr, is_end = found if found else (None, "", False)
                    if sid is None and res_id is not None:
                        sid, id_attr = res_id
                    if sid is not None and len(sid) > self._cfg.max_id_length:
                        rejected.add(
                            f"session id in {id_attr!r} is {len(sid)} characters, over the limit of "
                            f"{self._cfg.max_id_length} (span {span.span_id.hex()})"
                        )
                        continue
                    if len(trace_id) != 16:
                        rejected.add(f"span {span.span_id.hex()} has a trace id of {len(trace_id)} bytes, not 16")
                        continue
                    chunk = chunks.get(trace_id)
                    if chunk is None:
                        chunk = chunks[trace_id] = TraceChunk(trace_id)
                    target = targets.get(trace_id)
                    if target is None:
                        target = targets[trace_id] = _scope_target(chunk, rs, ss)
                    target.spans.append(span)
                    chunk.span_count += 1
                    if sid is not None and chunk.session is None:
                        chunk.session = SessionKey(tenant, sid)
                        chunk.id_attribute = id_attr
                    if is_end:
                        chunk.end_spans.append(EndSpan(trace_id, span.span_id))
        # An end span without a session id cannot end anything: it stays a plain span.
        for chunk in chunks.values():
            if chunk.session is None:
                chunk.end_spans.clear()
        return Routed(chunks, rejected)

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


def _scope_target(chunk: TraceChunk, rs: ResourceSpans, ss):
    # Consecutive scopes of the same resource share one ResourceSpans in the chunk.
    data = chunk.data
    if data.resource_spans and data.resource_spans[-1].resource == rs.resource:
        out_rs = data.resource_spans[-1]
    else:
        out_rs = data.resource_spans.add()
        out_rs.resource.CopyFrom(rs.resource)
        out_rs.schema_url = rs.schema_url
    out_ss = out_rs.scope_spans.add()
    out_ss.scope.CopyFrom(ss.scope)
    out_ss.schema_url = ss.schema_url
    return out_ss


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
    routed = router.route(request)
    sessions: dict[SessionKey, list[ResourceSpans]] = {}
    for chunk in routed.chunks.values():
        if chunk.session is not None:
            sessions.setdefault(chunk.session, []).extend(chunk.data.resource_spans)
    return sessions

