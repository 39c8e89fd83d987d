"""Copy of ../recording/otlp_http_sink.py adapted for Langfuse v3: accepts POST .../v1/traces as protobuf
(application/x-protobuf) or OTLP/JSON (application/json), gzip allowed; every other request (Langfuse's
other API endpoints, if any) is logged to stdout and answered 200 `{}` instead of 404.

    python otlp_http_sink.py --port 0 --out DIR --default-scenario langfuse_v3 [--port-file F]

With --port 0 the OS picks a free port; it is printed and, with --port-file, written to that file."""
import argparse
import gzip
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
import base64  # noqa: E402

from google.protobuf.json_format import MessageToDict, ParseDict  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from otlp_sink import Store, _hexify  # noqa: E402


def _b64ids(obj):
    if isinstance(obj, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId")
                    and isinstance(v, str) else _b64ids(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_b64ids(v) for v in obj]
    return obj


def make_handler(store, default_scenario):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _ok_json(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.split("?")[0].rstrip("/").endswith("/v1/traces"):
                print(f"[http-sink] other POST {self.path} ({len(body)} bytes) -> 200 {{}}", flush=True)
                return self._ok_json()
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            ctype = self.headers.get("Content-Type", "")
            req = ExportTraceServiceRequest()
            if "json" in ctype:
                # OTLP/JSON carries hex ids; json_format wants base64 for bytes
                ParseDict(_b64ids(json.loads(body)), req)
            else:
                req.ParseFromString(body)
            print(f"[http-sink] POST {self.path} {ctype} {len(body)} bytes "
                  f"auth={'yes' if self.headers.get('Authorization') else 'no'}", flush=True)
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
            if "json" in ctype:
                return self._ok_json()
            out = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self):
            print(f"[http-sink] other GET {self.path} -> 200 {{}}", flush=True)
            self._ok_json()

    return H


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", default=os.environ.get("FIXTURES", "."))
    ap.add_argument("--default-scenario")
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(Store(a.out), a.default_scenario))
    port = srv.server_address[1]
    if a.port_file:
        Path(a.port_file).write_text(str(port))
    print(f"[http-sink] listening on 127.0.0.1:{port}, writing under {a.out}", flush=True)
    srv.serve_forever()
