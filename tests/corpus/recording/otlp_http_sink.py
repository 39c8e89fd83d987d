"""OTLP/HTTP (protobuf) companion of tools/fixtures/otlp_sink.py, for exporters that only speak OTLP/HTTP (Langfuse).

    python otlp_http_sink.py --port 14318 --out DIR [--default-scenario NAME]

Accepts POST <any path ending in /v1/traces> with an ExportTraceServiceRequest protobuf body (gzip allowed) and hands
it to otlp_sink.Store, so the files it writes are the same as the gRPC sink's (<out>/<scenario>/otlp.json). Scenario:
header x-fixture-scenario, else --default-scenario, else resource service.name. Every other request is logged to
stdout and answered 404 (so one can see what else a library tries to reach)."""
import argparse
import gzip
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.environ.get("FIXTURE_TOOLS", os.path.dirname(os.path.abspath(__file__))))
from google.protobuf.json_format import MessageToDict  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otlp_sink import Store, _hexify  # noqa: E402


def make_handler(store, default_scenario):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.split("?")[0].rstrip("/").endswith("/v1/traces"):
                print(f"[http-sink] unexpected POST {self.path} ({len(body)} bytes)", flush=True)
                self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            d = _hexify(MessageToDict(req, use_integers_for_enums=True))
            scn = self.headers.get("x-fixture-scenario") or default_scenario
            by_scn = {}
            for rb in d.get("resourceSpans", []):
                s = scn
                if not s:
                    attrs = {a["key"]: a["value"] for a in rb.get("resource", {}).get("attributes", [])}
                    s = attrs.get("service.name", {}).get("stringValue", "unknown")
                by_scn.setdefault(s, []).append(rb)
            for s, lst in by_scn.items():
                store.add("resourceSpans", s, lst)
            out = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self):
            print(f"[http-sink] unexpected GET {self.path}", flush=True)
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()

    return H


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=14318)
    ap.add_argument("--out", default=os.environ.get("FIXTURES", "."))
    ap.add_argument("--default-scenario")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(Store(a.out), a.default_scenario))
    print(f"[http-sink] listening on 127.0.0.1:{a.port}, writing under {a.out}", flush=True)
    srv.serve_forever()
