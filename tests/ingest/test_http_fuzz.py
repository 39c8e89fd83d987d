"""Property-based fuzzing of the OTLP/HTTP receiver (issue 16), as tests/faults fuzzes gRPC: random
bodies, valid protobuf bodies with bytes flipped, inserted and deleted, and valid OTLP/JSON documents
with values swapped for others of any type, for all three signals, plain or gzip, under a few
content types. Every answer is 200, 400, 413 or 415 (never a 500), none logs a traceback, and a
session sent afterwards is still accepted and judged. Prints one JSON line of figures (pytest -s).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector_eval.otlp.json_format import request_to_otlp_json
from collector_eval.otlp.signals import SPECS, Signal
from tests.ingest.hostile import deep_json_value, deep_value, key_value, with_attribute
from tests.ingest.test_http_receiver import JSON, PROTOBUF, post
from tests.support.fault_helpers import figures
from tests.support.signals import log_record, logs_request, metrics_request
from tests.support.spans import end_span, llm_span, request, span, trace_id

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,  # nothing written into the checkout
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ANSWERS = {200, 400, 413, 415}
NEST = "__NESTED__"
LIMIT_MIB = 0.05  # about 52 KB: insertions and gzip reach 413 too


def _valid(signal: Signal) -> Message:
    """A request with something of each kind to break: ids, nested values, numbers, strings."""
    if signal == Signal.TRACES:
        root = span(trace_id(), "root", **{"session.id": "fuzz", "tags": ["a", "b"], "n": 3, "ok": True})
        return request(root, llm_span(root.trace_id, "question", "answer", parent=root.span_id))
    if signal == Signal.LOGS:
        return logs_request(
            log_record({"content": "hi", "list": [1, "two"]}, trace_id(), b"s" * 8, "gen_ai.user.message")
        )
    return metrics_request(3, 4, exemplar_trace_id=trace_id())


BASES = {signal: _valid(signal) for signal in Signal}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(doc, at=()):
    """Every place in a JSON document: (path, value)."""
    yield at, doc
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from _paths(value, (*at, key))


def _mutate_bytes(raw: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    """edits: (operation, position, operand): flip bits, insert, delete, or repeat a slice."""
    out = bytearray(raw)
    for op, pos, operand in edits:
        pos = pos % (len(out) + 1)
        if op == 0 and pos < len(out):
            out[pos] ^= operand or 1
        elif op == 1:
            out[pos:pos] = bytes([operand])
        elif op == 2:
            del out[pos : pos + operand % 16 + 1]
        else:  # a slice repeated: lengths stop matching what they frame, and bodies grow past the limit
            out[pos:pos] = bytes(out[pos : pos + 8]) * (operand * 50)
    return bytes(out)


edits = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=6)
framing = st.sampled_from(["plain", "plain", "gzip", "gzip-header-only", "other-type"])


@pytest.mark.fault
def test_fuzz_http_receiver_both_encodings(service, sink, judge, caplog):
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"max_request_size_mib": LIMIT_MIB}})
    answers: dict[str, Counter] = {
        "random": Counter(),
        "protobuf": Counter(),
        "json": Counter(),
        "json-text": Counter(),
    }
    wrong: list[str] = []

    def send(kind: str, signal: Signal, body: bytes, content_type: str, how: str) -> None:
        headers = {}
        if how == "gzip":
            body, headers = gzip.compress(body), {"Content_Encoding": "gzip"}
        elif how == "gzip-header-only":
            headers = {"Content_Encoding": "gzip"}
        elif how == "other-type":
            content_type = "text/plain"
        reply = post(svc, body, content_type, path=SPECS[signal].path, **headers)
        answers[kind][reply.status] += 1
        if reply.status not in ANSWERS:
            wrong.append(f"{kind} {signal} {how}: {reply.status} {body[:64]!r}")
        assert reply.status in ANSWERS, wrong[-1]
        # Every answer decodes in the request's encoding: the signal's response, or a google.rpc.Status.
        expected = SPECS[signal].response() if reply.status == 200 else status_pb2.Status()
        if reply.headers["content-type"].startswith(JSON):
            json_format.Parse(reply.body, expected)
        else:
            expected.ParseFromString(reply.body)

    @FUZZ
    @given(st.sampled_from(list(Signal)), st.binary(max_size=1024), st.sampled_from([PROTOBUF, JSON]), framing)
    def random_bodies(signal, body, content_type, how):
        send("random", signal, body, content_type, how)

    @FUZZ
    @given(st.sampled_from(list(Signal)), edits, framing)
    def mutated_protobuf(signal, changes, how):
        send("protobuf", signal, _mutate_bytes(BASES[signal].SerializeToString(), changes), PROTOBUF, how)

    @FUZZ
    @given(st.sampled_from(list(Signal)), st.data(), framing)
    def mutated_json(signal, data, how):
        doc = request_to_otlp_json(BASES[signal])
        deep = ""
        for _ in range(data.draw(st.integers(1, 3))):
            places = [path for path, _ in _paths(doc) if path]
            if not places:  # every key deleted: "{}" is an empty request
                break
            path = data.draw(st.sampled_from(places))
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            change = data.draw(st.sampled_from(["value", "value", "delete", "nest"]))
            if change == "value":
                parent[path[-1]] = data.draw(json_values)
            elif change == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif not deep:  # nested too deep for json.dumps (and json.loads): spliced in as text
                parent[path[-1]] = NEST
                deep = deep_json_value(data.draw(st.integers(1, 6000)), data.draw(st.sampled_from(["array", "kvlist"])))
        send("json", signal, json.dumps(doc).replace(json.dumps(NEST), deep).encode(), JSON, how)

    @FUZZ
    @given(st.sampled_from(list(Signal)), edits, framing)
    def mutated_json_text(signal, changes, how):
        text = json.dumps(request_to_otlp_json(BASES[signal])).encode()
        send("json-text", signal, _mutate_bytes(text, changes), JSON, how)

    caplog.set_level(logging.WARNING)
    errors = []
    for run in (random_bodies, mutated_protobuf, mutated_json, mutated_json_text):
        try:
            run()
        except Exception as exc:  # report after checking the service still serves
            errors.append(exc)
    tracebacks = [r.getMessage()[:200] for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]

    # Still serving: a hostile-looking but valid body, then a session that is judged.
    deep = with_attribute(Signal.TRACES, key_value(b"nested", deep_value(20)))
    assert post(svc, deep).status == 200
    sid = "sess-after-http-fuzz"
    assert (
        post(
            svc, request(llm_span(trace_id(), "q", "a", **{"session.id": sid}), end_span(sid)).SerializeToString()
        ).status
        == 200
    )
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    figures(
        "fuzz_http_receiver",
        requests_sent=sum(sum(c.values()) for c in answers.values()),
        answers={kind: dict(sorted(c.items())) for kind, c in answers.items()},
        wrong_answers=len(wrong),
        first_wrong_answers=wrong[:3],
        tracebacks_logged=len(tracebacks),
    )
    assert not errors, errors[0]
    assert not tracebacks, tracebacks[:3]
    for kind in answers:  # each strategy reached both sides: accepted and refused
        assert answers[kind][400] + answers[kind][413] + answers[kind][415] > 0, (kind, answers[kind])
    assert answers["json"][200] > 0 and answers["protobuf"][200] > 0, answers
