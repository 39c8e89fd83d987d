"""An app exporting all three signals through the standard environment variables only, to
collector-eval and on to a downstream: every span, log record and metric data point arrives there
unchanged, and the session is judged from its spans and log records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.app import goal_answer
from tests.support.spans import attrs_of, judge_prompt

APP = Path(__file__).resolve().parent / "apps" / "three_signals.py"


def _body(value) -> str:
    """A log body as the app recorded it: a string as it is, a map as sorted JSON."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    return json.dumps(_plain(value), sort_keys=True)


def _plain(value):
    kind = value.WhichOneof("value")
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [_plain(v) for v in value.array_value.values]
    return getattr(value, kind)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_app_configured_by_environment_sends_all_three_signals_through(protocol, service, sink, judge, tmp_path):
    judge.default = goal_answer(["river"], [])
    svc = service()
    endpoint = f"http://{svc.endpoint}" if protocol == "grpc" else f"http://127.0.0.1:{svc.service.http_port}"
    emitted_file = tmp_path / "emitted.json"
    sid = f"sess-three-signals-{protocol}"
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": "three-signals-app",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }
    subprocess.run([sys.executable, str(APP), str(emitted_file), sid], env=env, check=True, timeout=60)
    emitted = json.loads(emitted_file.read_text())
    assert len(emitted["span_ids"]) == 3 and len(emitted["logs"]) == 3 and len(emitted["points"]) == 3

    sink.wait_for(lambda s: len(s.carriers()) == 1)
    sink.wait_for(lambda s: len(s.log_records()) == 3 and s.metrics_requests)

    spans = {
        span.span_id.hex(): (resource, span) for resource, _, span in sink.spans() if span.name != "evaluate_session"
    }
    assert sorted(spans) == sorted(emitted["span_ids"])
    records = sink.log_records()
    assert sorted(
        [r.event_name, r.trace_id.hex() if r.trace_id else "0" * 32, _body(r.body)] for _, _, r in records
    ) == sorted(emitted["logs"])
    assert {attrs_of(resource)["service.name"] for resource, _, _ in records} == {"three-signals-app"}
    points = [
        [metric.name, attrs_of(point), float(point.as_int if metric.HasField("sum") else point.sum)]
        for _, _, metric in sink.metrics()
        for point in (metric.sum.data_points if metric.HasField("sum") else metric.histogram.data_points)
    ]
    assert sorted(map(json.dumps, points)) == sorted(map(json.dumps, emitted["points"]))

    # Judged from the spans (session id, end marker) and the log records (the conversation).
    _, _, carrier = sink.carriers()[0]
    assert attrs_of(carrier)["session.id"] == sid
    prompt = judge_prompt(judge)
    assert "Which river runs through Lisbon?" in prompt and "The Tagus runs through Lisbon." in prompt
