"""The C span scanner (collector_eval/otlp/_spans.c) against the decoded spans: whatever protobuf
encodes, the scan finds each span where it is, names the session the decoded attributes name (or
says it cannot read it), and never reads outside the bytes it was given."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, TracesData

from collector_eval.otlp import wire
from collector_eval.otlp._spans import chunk_payload, scan_scope
from tests.support.wire import encode_varint, length_delimited

ID_KEYS = ("session.id", "gen_ai.conversation.id", "thread_id")
MARKERS = ("session_status", "tags")
UNREADABLE = object()

# Keys an attribute may have: the id keys, the markers, their prefixes and extensions, others.
attr_keys = st.sampled_from([*ID_KEYS, *MARKERS, "session.i", "session.idx", "llm.model", "x", ""])
values = st.one_of(
    st.builds(lambda s: AnyValue(string_value=s), st.text(max_size=12)),
    st.builds(lambda i: AnyValue(int_value=i), st.integers(-(2**63), 2**63 - 1)),
    st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
    st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=8)),
    st.builds(lambda s: AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=s)])), st.text(max_size=6)),
    st.just(AnyValue()),
)
attributes = st.lists(st.builds(lambda k, v: KeyValue(key=k, value=v), attr_keys, values), max_size=6)


@st.composite
def spans(draw) -> Span:
    span = Span(
        trace_id=draw(st.sampled_from([b"", bytes(range(16)), b"\x01" * 16, b"short"])),
        span_id=draw(st.binary(min_size=8, max_size=8)),
        # A name holding an id attribute's encoded bytes is text, not an attribute.
        name=draw(st.sampled_from(["chat", "\x4a\x10\x0a\x0asession.id\x12\x03\x0a\x01x", ""])),
        attributes=draw(attributes),
    )
    for event_attributes in draw(st.lists(attributes, max_size=2)):  # ids on events name no session
        span.events.add(name="e", attributes=event_attributes)
    for link_attributes in draw(st.lists(attributes, max_size=1)):
        span.links.add(trace_id=b"\x02" * 16, span_id=b"\x03" * 8, attributes=link_attributes)
    return span


def expected_id(span: Span) -> tuple[str, str] | None | object:
    """The session id the decoded span names, as the router reads decoded spans; UNREADABLE where the
    best-ranked value is not a string (the router asks the decoded span then)."""
    best: tuple[int, KeyValue] | None = None
    for kv in span.attributes:
        if kv.key not in ID_KEYS:
            continue
        rank = ID_KEYS.index(kv.key)
        kind = kv.value.WhichOneof("value")
        if kind is None or (kind == "string_value" and not kv.value.string_value):
            continue  # empty: names nothing
        if best is None or rank < best[0]:
            best = rank, kv
    if best is None:
        return None
    if best[1].value.WhichOneof("value") != "string_value":
        return UNREADABLE
    return best[1].value.string_value, best[1].key


def scan(raw: bytes, start: int = 0, end: int | None = None):
    return scan_scope(
        raw,
        start,
        len(raw) if end is None else end,
        tuple(k.encode() for k in ID_KEYS),
        ID_KEYS,
        tuple(k.encode() for k in MARKERS),
        UNREADABLE,
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(spans(), max_size=5), st.booleans())
def test_the_scan_agrees_with_the_decoded_spans(span_list: list[Span], with_scope: bool) -> None:
    scope = ScopeSpans(spans=span_list, schema_url="https://s" if with_scope else "")
    if with_scope:
        scope.scope.CopyFrom(InstrumentationScope(name="openinference", version="1"))
    raw = b"junk" + scope.SerializeToString() + b"junk"  # the scope is read where it lies, nothing around
    scope_fields, scanned = scan(raw, 4, len(raw) - 4)

    assert len(scanned) == len(span_list)
    rebuilt = ScopeSpans.FromString(scope_fields + b"".join(raw[start:end] for start, end, *_ in scanned))
    assert rebuilt == scope
    for span, (start, end, trace_id, found, marked) in zip(span_list, scanned, strict=True):
        assert Span.FromString(wire_value(raw[start:end])) == span
        assert trace_id == (span.trace_id if len(span.trace_id) == 16 else None)
        assert found == expected_id(span)
        assert marked == any(kv.key in MARKERS for kv in span.attributes)


def wire_value(field: bytes) -> bytes:
    (_, _, value, end) = next(wire.fields(field, 0, len(field)))
    return field[value:end]


def test_an_attribute_in_an_unusual_encoding_is_left_to_the_decoded_span() -> None:
    # KeyValue with its value before its key: valid protobuf, no SDK writes it.
    value = AnyValue(string_value="s1").SerializeToString()
    kv = length_delimited(2, [value]) + length_delimited(1, [b"session.id"])
    span = length_delimited(1, [bytes(16)]) + length_delimited(9, [kv])
    raw = length_delimited(2, [span])
    assert KeyValue.FromString(kv).key == "session.id"
    (_, [(_, _, _, found, _)]) = scan(raw)
    assert found is UNREADABLE


def test_unknown_fields_and_groups_are_stepped_over() -> None:
    # field 99 as a group, holding a varint
    group = encode_varint(99 << 3 | 3) + b"\x08\x01" + encode_varint(99 << 3 | 4)
    span = Span(trace_id=bytes(16), attributes=[KeyValue(key="session.id", value=AnyValue(string_value="s1"))])
    raw = group + length_delimited(2, [group + span.SerializeToString()])
    scope_fields, [(_, _, trace_id, found, _)] = scan(raw)
    assert scope_fields == group
    assert trace_id is None  # the span does not begin with it: the decoded span has it
    assert found == ("s1", "session.id")


def test_an_id_that_is_not_utf8_is_left_to_the_decoded_span() -> None:
    value = length_delimited(1, [b"\xff\xfe"])
    kv = length_delimited(1, [b"session.id"]) + length_delimited(2, [value])
    raw = length_delimited(2, [length_delimited(9, [kv])])
    (_, [(_, _, _, found, _)]) = scan(raw)
    assert found is UNREADABLE


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\x12\x05ab", "a span longer than its scope"),
        (b"\x12", "a length missing"),
        (b"\x0a\x02ab\x1c", "an end tag without its group"),
        (b"\x0b\x08\x01", "a group never closed"),
        (b"\x0f", "wire type 7"),
        (b"\x12" + b"\xff" * 10 + b"\x01", "a length of eleven bytes"),
    ],
)
def test_bytes_that_are_not_protobuf_are_refused_naming_where(raw: bytes, why: str) -> None:
    with pytest.raises(ValueError, match="malformed field at byte"):
        scan(raw)


@settings(max_examples=300, deadline=None)
@given(spans(), st.data())
def test_damaged_bytes_never_read_outside_the_scope(span: Span, data) -> None:
    raw = bytearray(ScopeSpans(spans=[span, span]).SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    # Bytes that belong to the caller but not to the scope: a span must never reach into them.
    buffer = bytes(raw[:cut]) + b"\x12\x7f" + bytes(200)
    try:
        _, scanned = scan(buffer, 0, cut)
    except ValueError:
        return
    for start, end, *_ in scanned:
        assert 0 <= start < end <= cut


def test_bounds_outside_the_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="scope bounds"):
        scan(b"\x12\x00", 0, 3)


# Three resources' fields, as the router keeps them: one bytes object per resource of a request.
RESOURCES = [
    length_delimited(
        1, [Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=name))]).SerializeToString()]
    )
    for name in ("a", "b", "c" * 200)
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.text(max_size=150), st.lists(spans(), max_size=3)), max_size=5))
def test_a_chunk_payload_is_the_traces_data_of_its_groups(drawn) -> None:
    groups = []
    expected = TracesData()
    last = None
    for resource, scope_name, span_list in drawn:
        scope = InstrumentationScope(name=scope_name)
        groups.append(
            (
                RESOURCES[resource],
                length_delimited(1, [scope.SerializeToString()]) if scope_name else b"",
                [length_delimited(2, [span.SerializeToString()]) for span in span_list],
            )
        )
        if resource != last:  # consecutive groups of one resource share its ResourceSpans
            expected.resource_spans.append(ResourceSpans(resource=Resource.FromString(wire_value(RESOURCES[resource]))))
            last = resource
        expected.resource_spans[-1].scope_spans.append(ScopeSpans(scope=scope if scope_name else None, spans=span_list))
    assert chunk_payload(groups) == expected.SerializeToString()


def test_a_chunk_payload_refuses_groups_of_another_shape_naming_it() -> None:
    with pytest.raises(TypeError, match="resource fields, scope fields, spans"):
        chunk_payload([(b"", b"")])
    with pytest.raises(TypeError, match="spans must be bytes"):
        chunk_payload([(b"", b"", ["span"])])
