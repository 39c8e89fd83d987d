"""The wire check (collector_eval/otlp/check.py, _check.c) against protobuf's own parser: a trace
request is acknowledged on the check alone, so it must accept exactly the bytes
ExportTraceServiceRequest.FromString accepts, and the router must then split whatever it accepted."""

from __future__ import annotations

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector_eval.otlp.check import Problem, schema
from collector_eval.sessions.options import SessionConfig
from collector_eval.sessions.router import SessionRouter
from tests.support.spans import request, span, trace_id
from tests.support.wire import encode_varint, length_delimited

SCHEMA = schema(ExportTraceServiceRequest)
ROUTER = SessionRouter(SessionConfig())


def decodes(raw: bytes) -> bool:
    try:
        ExportTraceServiceRequest.FromString(raw)
    except DecodeError:
        return False
    return True


def agrees(raw: bytes) -> None:
    problem = SCHEMA.problem(raw)
    assert (problem is None) == decodes(raw), problem
    if problem is None:
        ROUTER.route(raw)  # splits anything the check let through


def tag(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


# Where crafted fields go: the fields of a message nested along known fields (Request > ResourceSpans
# > ScopeSpans > Span > KeyValue > AnyValue > ArrayValue ...), so known numbers meet every kind there.
PATHS = [(), (1,), (1, 1), (1, 2), (1, 2, 1), (1, 2, 2), (1, 2, 2, 9), (1, 2, 2, 9, 2), (1, 2, 2, 9, 2, 5)]
PATHS += [(1, 2, 2, 11), (1, 2, 2, 13), (1, 2, 2, 15), (1, 1, 3), (1, 1, 1, 2, 6, 1)]

numbers = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 16, 17, 99, 2**29 - 1])
texts = st.sampled_from(
    [b"", b"ok", "h\u00e9".encode(), b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"a" * 9]
)
varints = st.one_of(
    st.integers(0, 2**64 - 1).map(encode_varint),
    st.sampled_from([b"\xff" * 9 + b"\x7f", b"\xff" * 10 + b"\x01", b"\x80", b"\x85\x80\x80\x80\x80\x00"]),
)


def fields_of(inner: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    field = st.one_of(
        st.builds(lambda n, v: tag(n, 0) + v, numbers, varints),
        st.builds(lambda n, b: tag(n, 1) + b, numbers, st.binary(min_size=7, max_size=8)),
        st.builds(lambda n, b: tag(n, 5) + b, numbers, st.binary(min_size=3, max_size=4)),
        st.builds(lambda n, t: tag(n, 2) + encode_varint(len(t)) + t, numbers, texts),
        st.builds(lambda n, b: tag(n, 2) + encode_varint(len(b)) + b, numbers, inner),
        st.builds(
            lambda n, b, close: tag(n, 3) + b + tag(close or n, 4), numbers, inner, st.sampled_from([0, 0, 0, 7])
        ),
        st.builds(tag, numbers, st.sampled_from([4, 6, 7])),
        st.sampled_from([b"\x00", b"\x80\x80\x80\x80\x80\x01", b"\xf8\xff\xff\xff\x0f", b"\x0a\x05ab"]),
    )
    return st.lists(field, max_size=4).map(b"".join)


crafted = st.recursive(st.just(b""), fields_of, max_leaves=12)


def nest(path: tuple[int, ...], body: bytes) -> bytes:
    for number in reversed(path):
        body = length_delimited(number, [body])
    return body


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(PATHS), crafted)
def test_crafted_fields_anywhere_are_accepted_as_protobuf_accepts_them(path, body) -> None:
    agrees(nest(path, body))


VALID = request(
    span(trace_id(), "turn", **{"session.id": "s1", "input.value": "h\u00e9llo", "n": 3, "tags": ["a", "b"]}),
    span(trace_id(), "orphan"),
).SerializeToString()


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(VALID)), st.integers(0, 255), st.sampled_from("sid")), min_size=1, max_size=3)
)
def test_a_real_request_mutated_is_accepted_as_protobuf_accepts_it(edits) -> None:
    raw = bytearray(VALID)
    for at, byte, how in edits:  # set a byte, insert one, or cut the rest
        at = min(at, len(raw))
        if how == "s" and at < len(raw):
            raw[at] = byte
        elif how == "i":
            raw.insert(at, byte)
        else:
            del raw[at:]
    agrees(bytes(raw))


def nested_values(kinds: str) -> bytes:
    """A request whose one span has an attribute valued by AnyValues nested through arrays ("a") and
    key-value lists ("k"), innermost a string."""
    value = length_delimited(1, [b"x"])
    for kind in reversed(kinds):
        if kind == "a":
            value = length_delimited(5, [length_delimited(1, [value])])
        else:
            value = length_delimited(
                6, [length_delimited(1, [length_delimited(1, [b"k"]), length_delimited(2, [value])])]
            )
    attribute = length_delimited(1, [b"k"]) + length_delimited(2, [value])
    return nest((1, 2, 2), length_delimited(1, [b"\x01" * 16]) + length_delimited(9, [attribute]))


@pytest.mark.parametrize("kinds", ["a" * 47, "a" * 48, "k" + "a" * 46, "k" + "a" * 47, "kk" + "a" * 45, "k" * 32])
def test_nesting_is_refused_where_protobuf_refuses_it(kinds) -> None:
    agrees(nested_values(kinds))


@pytest.mark.parametrize("depth", [99, 100, 101])
def test_groups_nest_as_deep_as_protobuf_lets_them(depth) -> None:
    groups = b""
    for _ in range(depth):
        groups = tag(20, 3) + groups + tag(20, 4)
    agrees(groups)
    agrees(nest((1, 2), groups))


@pytest.mark.parametrize(
    "raw, problem, where",
    [
        (nest((1, 2, 2), length_delimited(5, [b"\xffname"])), Problem.BAD_UTF8, "in Span.name"),
        (VALID[:-3], Problem.TRUNCATED, "ExportTraceServiceRequest.resource_spans"),
        (tag(1, 0) + b"\xff" * 10 + b"\x01", Problem.BAD_VARINT, "ExportTraceServiceRequest.resource_spans"),
        (b"\x80\x80\x80\x80\x80\x01", Problem.BAD_TAG, "ExportTraceServiceRequest"),
        (nest((1,), b"\x00"), Problem.FIELD_ZERO, "in ResourceSpans"),
        (nest((1, 2), tag(9, 7)), Problem.BAD_WIRE_TYPE, "in ScopeSpans field 9"),
        (nest((1,), tag(3, 4)), Problem.BAD_END_GROUP, "in ResourceSpans.schema_url"),
        (tag(9, 3) + tag(1, 0) + b"\x01", Problem.UNCLOSED_GROUP, "at byte 3"),
        (nested_values("a" * 48), Problem.TOO_DEEP, "in ArrayValue.values"),
    ],
)
def test_each_kind_of_bad_request_is_named(raw, problem, where) -> None:
    assert not decodes(raw)
    found = SCHEMA.problem(raw)
    assert found is not None and found.startswith(problem.text) and where in found, found


def test_a_message_with_fields_the_check_cannot_read_is_refused_by_name() -> None:
    # Metrics' histograms hold packed repeated numbers, which the check does not read: it must say
    # so when built, never check such requests wrong.
    with pytest.raises(ValueError, match=r"^opentelemetry.proto.metrics.v1.HistogramDataPoint.bucket_counts: the wire"):
        schema(ExportMetricsServiceRequest)
