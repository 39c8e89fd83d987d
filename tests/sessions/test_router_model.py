"""The router against a plain model of what it must do, on generated requests: every span in the
session the first span of its trace that names one names (its own id, else its resource's), the
traces none of whose spans in the request names a session kept apart, a span whose trace id or
session id is unusable refused, and each end span found. Read from decoded spans, span by span, the
slow and obvious way."""

from __future__ import annotations

from collections import defaultdict
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, TracesData

from collector_eval.sessions import router as router_module
from collector_eval.sessions.options import SessionConfig
from collector_eval.sessions.router import UNKNOWN_TENANT, SessionRouter

CFG = SessionConfig(max_id_length=8)
TRACES = [bytes([n]) * 16 for n in range(1, 5)] + [b"\x09" * 8]  # the last one is not 16 bytes
IDS = ["s1", "s2", "", "a-long-session-id"]  # the last one is over max_id_length


def value_of(v):
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=x) for x in v]))
    return AnyValue(string_value=v)


attribute = st.one_of(
    st.tuples(st.sampled_from(["session.id", "gen_ai.conversation.id", "langfuse.session.id"]), st.sampled_from(IDS)),
    st.tuples(st.just("session.id"), st.integers(0, 3)),
    st.tuples(st.just("session_status"), st.sampled_from(["completed", "running"])),
    st.tuples(st.just("tag.tags"), st.sampled_from([["session_status:completed"], ["x"]])),
    st.tuples(st.just("llm.model_name"), st.just("m")),
)
spans = st.builds(
    lambda trace, attrs: Span(trace_id=trace, attributes=[KeyValue(key=k, value=value_of(v)) for k, v in attrs]),
    st.sampled_from(TRACES),
    st.lists(attribute, max_size=3),
)
resource = st.tuples(
    st.sampled_from(["svc-a", "svc-b", None]),  # service.name, the tenant
    st.sampled_from([None, "s1", "s3"]),  # a session id on the resource
    st.lists(st.lists(spans, max_size=5), min_size=1, max_size=2),  # scopes
)


def build(resources) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for service, session, scopes in resources:
        rs = request.resource_spans.add()
        if service is not None:
            rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
        if session is not None:
            rs.resource.attributes.add(key="session.id", value=AnyValue(string_value=session))
        for i, scope_spans in enumerate(scopes):
            ss = rs.scope_spans.add()
            ss.scope.name = f"scope-{i}"
            for span in scope_spans:
                ss.spans.add().CopyFrom(span)
                ss.spans[-1].span_id = (
                    sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
                ).to_bytes(8, "big")
    return request


def named_id(attributes) -> str | None:
    """The best-ranked id attribute with a non-empty value (an int as its digits)."""
    found: dict[str, str] = {}
    for kv in attributes:
        kind = kv.value.WhichOneof("value")
        text = (
            kv.value.string_value if kind == "string_value" else str(kv.value.int_value) if kind == "int_value" else ""
        )
        if kv.key in CFG.id_attributes and text and kv.key not in found:
            found[kv.key] = text
    return next((found[k] for k in CFG.id_attributes if k in found), None)


def is_end(attributes) -> bool:
    for kv in attributes:
        if kv.key == "session_status" and kv.value.string_value == "completed":
            return True
        if kv.key == "tag.tags" and "session_status:completed" in [v.string_value for v in kv.value.array_value.values]:
            return True
    return False


def model(request: ExportTraceServiceRequest):
    sessions: dict[tuple[str, str], set] = defaultdict(set)
    orphans: dict[bytes, set] = defaultdict(set)
    ends: dict[object, set] = defaultdict(set)
    joined: dict[bytes, tuple[str, str]] = {}
    rejected = 0
    for rs in request.resource_spans:
        tenant = named_attr(rs.resource.attributes, "service.name") or UNKNOWN_TENANT
        res_id = named_id(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                sid = None if span.trace_id in joined else (named_id(span.attributes) or res_id)
                if len(span.trace_id) != 16 or (sid is not None and len(sid) > CFG.max_id_length):
                    rejected += 1
                    continue
                if span.trace_id not in joined and sid is not None:
                    joined[span.trace_id] = (tenant, sid)
                    sessions[joined[span.trace_id]] |= orphans.pop(span.trace_id, set())
                    ends[joined[span.trace_id]] |= ends.pop(span.trace_id, set())
                target = joined.get(span.trace_id)
                (sessions[target] if target else orphans[span.trace_id]).add(span.span_id)
                if is_end(span.attributes):
                    ends[target or span.trace_id].add(span.span_id)
    return dict(sessions), dict(orphans), {k: v for k, v in ends.items() if v}, rejected


def named_attr(attributes, key: str) -> str | None:
    return next((kv.value.string_value for kv in attributes if kv.key == key and kv.value.string_value), None)


def span_ids(resource_spans: list[ResourceSpans]) -> set:
    return {span.span_id for rs in resource_spans for ss in rs.scope_spans for span in ss.spans}


@settings(max_examples=500, deadline=None)
@given(st.lists(resource, min_size=1, max_size=3))
def test_the_router_routes_as_the_model_does(resources) -> None:
    request = build(resources)
    routed = SessionRouter(CFG).route(request.SerializeToString())
    sessions, orphans, ends, rejected = model(request)

    assert {(k.tenant, k.session_id): span_ids(c.resource_spans()) for k, c in routed.sessions.items()} == sessions
    assert {t: span_ids(c.resource_spans()) for t, c in routed.orphans.items()} == orphans
    routed_ends = {
        **{(k.tenant, k.session_id): {e.span_id for e in c.end_spans} for k, c in routed.sessions.items()},
        **{t: {e.span_id for e in c.end_spans} for t, c in routed.orphans.items()},
    }
    assert {k: v for k, v in routed_ends.items() if v} == ends
    assert routed.rejected.count == rejected
    # Each chunk's spans keep their resource and scope, and the counts add up.
    by_id = {
        span.span_id: (rs.resource, ss.scope)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    for chunk in routed.chunks():
        data = TracesData.FromString(chunk.payload())
        assert chunk.span_count == sum(len(ss.spans) for rs in data.resource_spans for ss in rs.scope_spans)
        for rs in data.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    assert by_id[span.span_id] == (rs.resource, ss.scope)


def test_a_trace_joined_in_another_tenants_resource_keeps_the_sessions_apart() -> None:
    # Both tenants have a session "s1": the span of svc-b's own trace goes to svc-b's, not to the
    # session of svc-a that trace 1 joined first (they once shared a list keyed by the id alone).
    t1, t2 = TRACES[0], TRACES[1]
    request = build([("svc-a", "s1", [[Span(trace_id=t1)]]), ("svc-b", "s1", [[Span(trace_id=t1), Span(trace_id=t2)]])])
    routed = SessionRouter(CFG).route(request.SerializeToString())
    got = {(k.tenant, k.session_id): span_ids(c.resource_spans()) for k, c in routed.sessions.items()}
    assert got == {
        ("svc-a", "s1"): {(1).to_bytes(8, "big"), (2).to_bytes(8, "big")},
        ("svc-b", "s1"): {(3).to_bytes(8, "big")},
    }


def test_an_end_span_of_a_joined_trace_is_not_refused_for_an_id_it_does_not_need() -> None:
    t1 = TRACES[0]
    end = Span(trace_id=t1, attributes=[KeyValue(key="session.id", value=value_of("a-long-session-id"))])
    end.attributes.add(key="session_status", value=value_of("completed"))
    request = build([("svc-a", "s1", [[Span(trace_id=t1), end]])])
    routed = SessionRouter(CFG).route(request.SerializeToString())
    assert routed.rejected.count == 0
    [chunk] = routed.sessions.values()
    assert chunk.span_count == 2 and [e.span_id for e in chunk.end_spans] == [(2).to_bytes(8, "big")]


def _chunks(routed) -> tuple:
    sessions = {
        (k.tenant, k.session_id): (span_ids(c.resource_spans()), list(c.trace_ids), c.id_attribute, c.span_count)
        for k, c in routed.sessions.items()
    }
    orphans = {t: (span_ids(c.resource_spans()), c.span_count) for t, c in routed.orphans.items()}
    return sessions, orphans, routed.rejected.count


@settings(max_examples=500, deadline=None)
@given(st.lists(resource, min_size=1, max_size=3))
def test_scopes_grouped_in_c_route_as_the_span_loop_routes_them(resources) -> None:
    # The same requests with group_scope answering None for every scope: the span loop does it all.
    request = build(resources)
    raw = request.SerializeToString()
    grouped = _chunks(SessionRouter(CFG).route(raw))
    with mock.patch.object(router_module, "group_scope", return_value=None):
        looped = _chunks(SessionRouter(CFG).route(raw))
    assert grouped == looped


def test_a_plain_scope_is_grouped_in_c() -> None:
    t1, t2 = TRACES[0], TRACES[1]
    named = [KeyValue(key="session.id", value=value_of("s1"))]
    request = build(
        [
            (
                "svc-a",
                None,
                [[Span(trace_id=t1), Span(trace_id=t2, attributes=named), Span(trace_id=t1, attributes=named)]],
            )
        ]
    )
    answers = []

    def spy(*args):
        answers.append(real(*args))
        return answers[-1]

    real = router_module.group_scope
    with mock.patch.object(router_module, "group_scope", spy):
        routed = SessionRouter(CFG).route(request.SerializeToString())
    assert len(answers) == 1 and answers[0] is not None  # not left to the span loop
    [chunk] = routed.sessions.values()
    assert list(chunk.trace_ids) == [t2, t1] and chunk.span_count == 3 and not routed.orphans
