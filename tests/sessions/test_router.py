"""The session router against a reference that reads every span's decoded attributes: the bytes-level
id reading must route every span exactly as the decoded span says, whatever the attributes hold."""

from __future__ import annotations

import random

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from collector_eval.model import SessionKey
from collector_eval.sessions.options import SessionConfig
from collector_eval.sessions.router import UNKNOWN_TENANT, SessionRouter
from tests.support.spans import any_value, request, span

CFG = SessionConfig()
ID_KEYS = CFG.id_attributes
# Text that holds the very bytes the router searches for, framed or not.
TRICKY = [
    "\x0a\x0asession.id\x12\x05\x0a\x03abc",
    "J\x13\x0a\x0asession.id\x12\x05\x0a\x03abc",
    "session.id",
    "gen_ai.conversation.id=conv-9",
]


def _expected_id(attributes) -> str | None:
    """What the decoded span says: the best-ranked id attribute with a non-empty string or int value."""
    best = None
    for kv in attributes:
        if kv.key not in ID_KEYS:
            continue
        kind = kv.value.WhichOneof("value")
        value = (
            kv.value.string_value if kind == "string_value" else str(kv.value.int_value) if kind == "int_value" else ""
        )
        if value and (best is None or ID_KEYS.index(kv.key) < ID_KEYS.index(best[0])):
            best = (kv.key, value)
    return best[1] if best else None


def _random_span(rnd: random.Random, traces: list[bytes]) -> Span:
    attrs: list[KeyValue] = []
    for _ in range(rnd.randint(0, 6)):
        roll = rnd.random()
        if roll < 0.35:
            key = rnd.choice(ID_KEYS)
            value = rnd.choice(
                [f"sess-{rnd.randint(0, 5)}", "", rnd.randint(-3, 10**12), "sëss-ü", "x" * rnd.randint(100, 300)]
            )
            attrs.append(KeyValue(key=key, value=any_value(value)))
        elif roll < 0.5:
            attrs.append(KeyValue(key=rnd.choice(ID_KEYS), value=AnyValue(bool_value=True)))
        else:
            attrs.append(KeyValue(key=f"llm.note.{rnd.randint(0, 9)}", value=any_value(rnd.choice(TRICKY))))
    s = span(rnd.choice(traces), "s")
    s.attributes.extend(attrs)
    if rnd.random() < 0.3:  # an id on an event or a link only is not the span's
        s.events.add(name="e", attributes=[KeyValue(key="session.id", value=any_value("from-event"))])
    if rnd.random() < 0.2:
        s.links.add(
            trace_id=b"\x01" * 16,
            span_id=b"\x02" * 8,
            attributes=[KeyValue(key="session.id", value=any_value("from-link"))],
        )
    return s


def test_bytes_level_reading_routes_every_span_as_its_decoded_attributes_say():
    rnd = random.Random(11)
    router = SessionRouter(CFG)
    for _ in range(300):
        traces = [rnd.randbytes(16) for _ in range(rnd.randint(1, 6))]
        spans = [_random_span(rnd, traces) for _ in range(rnd.randint(1, 25))]
        req = request(*spans, service_name="tenant-a")
        routed = router.route(req.SerializeToString())

        # The reference, span by span in request order: a trace joins the session of its first span
        # with an id (its spans before that one join with it); a span with an id over the length
        # limit, in a trace not joined yet, is rejected.
        trace_session: dict[bytes, str] = {}
        rejected = 0
        for s in spans:
            if s.trace_id in trace_session:
                continue
            sid = _expected_id(s.attributes)
            if sid is not None and len(sid) > CFG.max_id_length:
                rejected += 1
                s.name = "rejected"
            elif sid is not None:
                trace_session[s.trace_id] = sid
        expected_sessions: dict[SessionKey, set[bytes]] = {}
        expected_orphans: dict[bytes, set[bytes]] = {}
        for s in spans:
            if s.name == "rejected":
                continue
            if s.trace_id in trace_session:
                expected_sessions.setdefault(SessionKey("tenant-a", trace_session[s.trace_id]), set()).add(s.span_id)
            else:
                expected_orphans.setdefault(s.trace_id, set()).add(s.span_id)

        got_sessions = {
            key: {x.span_id for rs in chunk.resource_spans() for ss in rs.scope_spans for x in ss.spans}
            for key, chunk in routed.sessions.items()
        }
        got_orphans = {
            tid: {x.span_id for rs in chunk.resource_spans() for ss in rs.scope_spans for x in ss.spans}
            for tid, chunk in routed.orphans.items()
        }
        assert got_sessions == expected_sessions
        assert got_orphans == expected_orphans
        assert routed.rejected.count == rejected
        for key, chunk in routed.sessions.items():
            assert set(chunk.trace_ids) == {t for t, sid in trace_session.items() if sid == key.session_id}


def test_a_trace_joins_the_session_one_of_its_later_spans_names():
    tid = b"\x07" * 16
    children = [span(tid, f"child-{i}") for i in range(3)]
    root = span(tid, "root", **{"gen_ai.conversation.id": "conv-1"})
    req = request(*children, root)
    routed = SessionRouter(CFG).route(req.SerializeToString())
    assert routed.orphans == {}
    (chunk,) = routed.sessions.values()
    assert chunk.session == SessionKey("receiver-test", "conv-1") and chunk.span_count == 4
    assert chunk.id_attribute == "gen_ai.conversation.id"


def test_an_id_on_the_resource_applies_to_spans_without_one_and_a_missing_tenant_is_named():
    req = request(span(b"\x08" * 16, "a"), span(b"\x09" * 16, "b", **{"session.id": "own"}))
    req.resource_spans[0].resource.attributes.clear()
    req.resource_spans[0].resource.attributes.append(KeyValue(key="session.id", value=any_value("from-resource")))
    routed = SessionRouter(CFG).route(req.SerializeToString())
    assert set(routed.sessions) == {SessionKey(UNKNOWN_TENANT, "from-resource"), SessionKey(UNKNOWN_TENANT, "own")}
