"""OTLP/gRPC sink: writes received spans (and log records) as OTLP/JSON, one file per scenario.

    python otlp_sink.py --port 14317 --out ${FIXTURES}

The scenario is taken from the gRPC metadata header `x-fixture-scenario` (set it with the
exporter's headers=...), else from the resource attribute service.name.  Everything received
for a scenario is merged into <out>/<scenario>/otlp.json as {"resourceSpans": [...]}
(resource blocks with identical resource+schemaUrl are merged, and scope blocks likewise).
Log records (some GenAI instrumentations put message content in log events) go the same way
to <out>/<scenario>/otlp_logs.json as {"resourceLogs": [...]}.  Deleting a scenario's file
starts that scenario afresh.  JSON follows the OTLP/JSON rules: lowerCamelCase keys, hex
trace/span ids, integer enums, 64-bit integers as strings (as protobuf JSON prints them).
"""
import argparse
import base64
import json
import os
import threading
from concurrent import futures

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

ID_KEYS = {"traceId", "spanId", "parentSpanId"}
KINDS = {  # top-level key -> (scope list key, item list key, file name)
    "resourceSpans": ("scopeSpans", "spans", "otlp.json"),
    "resourceLogs": ("scopeLogs", "logRecords", "otlp_logs.json"),
}


def _hexify(obj):
    """OTLP/JSON wants hex ids; protobuf JSON prints bytes as base64."""
    if isinstance(obj, dict):
        return {k: (base64.b64decode(v).hex() if k in ID_KEYS and isinstance(v, str) else _hexify(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_hexify(v) for v in obj]
    return obj


def _key(d, field):
    return json.dumps([d.get(field, {}), d.get("schemaUrl", "")], sort_keys=True)


class Store:
    def __init__(self, out):
        self.out, self.lock, self.data = out, threading.Lock(), {}

    def add(self, kind, scenario, blocks):
        scope_key, items_key, fname = KINDS[kind]
        path = os.path.join(self.out, scenario, fname)
        with self.lock:
            if not os.path.exists(path):
                self.data.pop((kind, scenario), None)
            merged = self.data.setdefault((kind, scenario), [])
            for rb in blocks:
                tgt = next((m for m in merged if _key(m, "resource") == _key(rb, "resource")), None)
                if tgt is None:
                    merged.append(rb)
                    continue
                for sb in rb.get(scope_key, []):
                    s_tgt = next((s for s in tgt.setdefault(scope_key, []) if _key(s, "scope") == _key(sb, "scope")), None)
                    if s_tgt is None:
                        tgt[scope_key].append(sb)
                    else:
                        s_tgt.setdefault(items_key, []).extend(sb.get(items_key, []))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + ".tmp", "w") as f:
                json.dump({kind: merged}, f, indent=1)
            os.replace(path + ".tmp", path)
            n = sum(len(s.get(items_key, [])) for r in merged for s in r.get(scope_key, []))
            print(f"[sink] {scenario}: {n} {items_key} total", flush=True)

    def export(self, kind, request, context):
        meta = dict(context.invocation_metadata())
        d = _hexify(MessageToDict(request, use_integers_for_enums=True))
        by_scn = {}
        for rb in d.get(kind, []):
            scn = meta.get("x-fixture-scenario")
            if not scn:
                attrs = {a["key"]: a["value"] for a in rb.get("resource", {}).get("attributes", [])}
                scn = attrs.get("service.name", {}).get("stringValue", "unknown")
            by_scn.setdefault(scn, []).append(rb)
        for scn, lst in by_scn.items():
            self.add(kind, scn, lst)


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, store):
        self.store = store

    def Export(self, request, context):
        self.store.export("resourceSpans", request, context)
        return trace_service_pb2.ExportTraceServiceResponse()


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, store):
        self.store = store

    def Export(self, request, context):
        self.store.export("resourceLogs", request, context)
        return logs_service_pb2.ExportLogsServiceResponse()


def serve(port, out):
    store = Store(out)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(store), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(store), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"[sink] listening on 127.0.0.1:{port}, writing under {out}", flush=True)
    return server


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=14317)
    ap.add_argument("--out", default=os.environ.get("FIXTURES", "."))
    a = ap.parse_args()
    serve(a.port, a.out).wait_for_termination()
