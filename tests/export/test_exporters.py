"""Exporters: OTLP/HTTP, a file of OTLP/JSON lines, the console, and several at once."""

from __future__ import annotations

import json
import time

from collector_eval.otlp.json_format import load_otlp_json
from tests.support.app import goal_answer, make_provider, send_session, span_attrs
from tests.support.http_sink import HttpSink


def wait_until(predicate, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


def test_otlp_http_exporter_delivers_spans_and_verdicts_retrying_503(service, judge):
    judge.default = goal_answer(["a"], [])
    http = HttpSink(refuse_first=2).start()
    try:
        svc = service(
            exporters={
                "otlp": {"endpoint": ""},
                "otlp_http": {"endpoint": http.url, "compression": "gzip", "headers": {"x-team": "evals"}},
            }
        )
        send_session(make_provider("chat-app", svc.endpoint), "sess-http-out")
        wait_until(lambda: any(s.name == "evaluate_session" for s in http.spans()))
        names = [s.name for s in http.spans()]
        assert names.count("ChatCompletion") == 3 and names.count("evaluate_session") == 1
        assert http.refused == 2  # retried after the 503s, honouring Retry-After
        assert all(h.get("x-team") == "evals" and h.get("Content-Encoding") == "gzip" for h in http.headers)
    finally:
        http.stop()


def test_file_exporter_writes_otlp_json_lines_that_read_back(service, judge, tmp_path):
    judge.default = goal_answer(["a"], ["b"])
    path = tmp_path / "out.jsonl"
    svc = service(exporters={"otlp": {"endpoint": ""}, "file": {"path": str(path)}})
    send_session(make_provider("chat-app", svc.endpoint), "sess-file-out")
    wait_until(lambda: path.exists() and "evaluate_session" in path.read_text())
    lines = path.read_text().splitlines()
    assert all(json.loads(line)["resourceSpans"] for line in lines)
    request = load_otlp_json(str(path))
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.name for s in spans).count("ChatCompletion") == 3
    (carrier,) = [s for s in spans if s.name == "evaluate_session"]
    assert span_attrs(carrier)["session.id"] == "sess-file-out"


def test_several_exporters_at_once_each_get_everything(service, sink, judge, tmp_path, capsys):
    judge.default = goal_answer(["a"], [])
    path = tmp_path / "both.jsonl"
    svc = service(exporters={"file": {"path": str(path)}, "console": {"enabled": True}})
    send_session(make_provider("chat-app", svc.endpoint), "sess-fanout")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    wait_until(lambda: path.exists() and "evaluate_session" in path.read_text())
    in_file = [s for rs in load_otlp_json(str(path)).resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sorted(s.span_id for s in in_file if s.name != "evaluate_session") == sorted(
        s.span_id for _, _, s in sink.spans() if s.name != "evaluate_session"
    )
    time.sleep(0.3)  # the console line is written before the exporters are sent to; this is slack
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [v["session_id"] for v in printed] == ["sess-fanout"]
