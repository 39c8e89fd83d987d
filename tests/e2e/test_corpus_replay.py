"""Every recorded corpus session replayed through the running service over real gRPC, in batches the
way an SDK's BatchSpanProcessor would send them, its log records (where the library logs the
conversation) before its spans: every span and log record is forwarded unchanged, and the judge sees
the whole conversation (or, without content, the evaluation is skipped with its reason)."""

from __future__ import annotations

import json
import re

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from collector_eval.otlp.json_format import load_otlp_json, load_otlp_logs_json
from tests.support.corpus import CORPUS, service_name
from tests.support.spans import attrs_of

SESSIONS = sorted(p.parent.name for p in CORPUS.glob("*/otlp.json"))
NO_CONTENT = "otel_genai_v2_default_nocontent"
# OpenLIT puts the session id only on the spans its instrumentors make, so the app's own "session end"
# span carries none: such a session is judged when it goes idle.
IDLE_ENDED = {"openlit"}
BATCH = 5  # spans per Export request


def batches(request: trace_service_pb2.ExportTraceServiceRequest, size: int):
    """The request's spans in file order, cut into requests of at most `size` spans, each keeping its
    resource and scope."""
    current = trace_service_pb2.ExportTraceServiceRequest()
    count = 0
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                if count == size:
                    yield current
                    current, count = trace_service_pb2.ExportTraceServiceRequest(), 0
                out_rs = current.resource_spans[-1] if current.resource_spans else None
                if out_rs is None or out_rs.resource != rs.resource or out_rs.schema_url != rs.schema_url:
                    out_rs = current.resource_spans.add()
                    out_rs.CopyFrom(ResourceSpans(resource=rs.resource, schema_url=rs.schema_url))
                out_ss = out_rs.scope_spans[-1] if out_rs.scope_spans else None
                if out_ss is None or out_ss.scope != ss.scope or out_ss.schema_url != ss.schema_url:
                    out_ss = out_rs.scope_spans.add()
                    out_ss.CopyFrom(ScopeSpans(scope=ss.scope, schema_url=ss.schema_url))
                out_ss.spans.append(span)
                count += 1
    if count:
        yield current


def _all_spans(request) -> dict[bytes, tuple]:
    return {
        span.span_id: (rs.resource, ss.scope, span)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


def _transcript_block(judge_request: dict) -> str:
    users = [m["content"] for m in judge_request["messages"] if m["role"] == "user"]
    assert len(users) == 1
    match = re.search(r"<transcript>\n(.*)\n</transcript>", users[0], re.DOTALL)
    assert match, users[0]
    return match.group(1)


@pytest.mark.parametrize("folder", SESSIONS)
def test_corpus_session_replayed_through_the_service(folder, service, sink, judge):
    expected = json.loads((CORPUS / folder / "expected.json").read_text())
    request = load_otlp_json(CORPUS / folder / "otlp.json")
    sent = _all_spans(request)
    assert len(sent) >= 4

    logs_file = CORPUS / folder / "otlp_logs.json"
    logs = load_otlp_logs_json(logs_file) if logs_file.exists() else None
    svc = service(session={"idle_timeout_s": 1}) if folder in IDLE_ENDED else service()
    with grpc.insecure_channel(svc.endpoint) as channel:
        if logs is not None:
            logs_stub = logs_service_pb2_grpc.LogsServiceStub(channel)
            for resource_logs in logs.resource_logs:  # one request per resource, as a batch would be
                part = type(logs)(resource_logs=[resource_logs])
                assert not logs_stub.Export(part, timeout=10).HasField("partial_success")
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        parts = list(batches(request, BATCH))
        assert sum(len(_all_spans(p)) for p in parts) == len(sent)
        for part in parts:
            response = stub.Export(part, timeout=10)
            assert not response.HasField("partial_success"), response

    sink.wait_for(lambda s: len(s.carriers()) == 1)
    sink.wait_for(lambda s: sent.keys() <= {span.span_id for _, _, span in s.spans()})

    # Every original span arrived downstream, unchanged, with its resource and scope.
    received = {
        span.span_id: (res, scope, span) for res, scope, span in sink.spans() if span.name != "evaluate_session"
    }
    assert received == sent
    if logs is not None:
        # Every log record too, unchanged, with its resource and scope.
        sent_records = [
            (rl.resource, sl.scope, r) for rl in logs.resource_logs for sl in rl.scope_logs for r in sl.log_records
        ]
        sink.wait_for(lambda s: len(s.log_records()) >= len(sent_records))
        assert sink.log_records() == sent_records

    resource, _, carrier = sink.carriers()[0]
    carrier_attrs = attrs_of(carrier)
    assert carrier_attrs["session.id"] == expected["session_id"]
    assert attrs_of(resource)["service.name"] == service_name(CORPUS / folder)
    if folder not in IDLE_ENDED:
        # The carrier is a child of the recorded "session end" span, in its trace.
        end_span = sent[carrier.parent_span_id][2]
        assert end_span.name.startswith("session end")
        assert carrier.trace_id == end_span.trace_id
    (event,) = carrier.events
    ev = attrs_of(event)
    assert event.name == "gen_ai.evaluation.result"
    assert ev["gen_ai.evaluation.name"] == "goal_completeness"

    if folder == NO_CONTENT:
        assert ev["collector_eval.evaluation.status"] == "skipped"
        assert ev["collector_eval.evaluation.skip_reason"] == "no_content"
        assert "gen_ai.evaluation.score.value" not in ev and "gen_ai.evaluation.score.label" not in ev
        assert judge.requests == []
        return

    assert len(judge.requests) == 1
    block = _transcript_block(judge.requests[-1])
    for i, turn in enumerate(expected["turns"]):
        if turn["content"]:
            assert turn["content"] in block, f"turn {i} ({turn['role']}) missing from the judge's transcript"
        for call in turn.get("tool_calls", []):
            assert call["name"] in block, f"tool call {call['name']} of turn {i} missing"
    # The user turns appear in conversation order.
    positions = [block.index(t["content"]) for t in expected["turns"] if t["role"] == "user"]
    assert positions == sorted(positions)
    assert ev["gen_ai.evaluation.score.label"] == "complete"
