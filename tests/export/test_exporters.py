"""Exporters: OTLP/HTTP, a file of OTLP/JSON lines, the console, and several at once."""

from __future__ import annotations

import asyncio
import json
import threading
import time

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector_eval.otlp.json_format import load_otlp_json
from tests.support.app import goal_answer, make_provider, send_session, span_attrs


class HttpSink:
    """A real OTLP/HTTP receiver: POST /v1/traces, protobuf bodies, gzip or not; it can answer 503
    with Retry-After a given number of times first."""

    def __init__(self, refuse_first: int = 0):
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict] = []
        self.refused = 0
        self._refuse_first = refuse_first
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.refused < self._refuse_first:
            self.refused += 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        # aiohttp has already undone Content-Encoding: gzip by the time the body is read.
        self.headers.append(dict(request.headers))
        self.requests.append(ExportTraceServiceRequest.FromString(body))
        return web.Response(body=b"", content_type="application/x-protobuf")

    def start(self) -> HttpSink:
        self._thread.start()

        async def serve():
            app = web.Application()
            app.router.add_post("/v1/traces", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return site._server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def spans(self) -> list:
        return [s for r in list(self.requests) for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]


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
