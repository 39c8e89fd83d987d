"""Check every scenario: otlp.json parses as an OTLP ExportTraceServiceRequest (after hex->base64),
ids are lowercase hex of the right length, a 'session end' span has session_status=completed,
and expected.json has the agreed shape. Prints one summary line per scenario.
Run with a Python that has opentelemetry-proto: python validate.py [FOLDER ...]."""
import base64
import glob
import json
import os
import re
import sys

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

HEX = {"traceId": 32, "spanId": 16, "parentSpanId": 16}


def unhex(obj, errors):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in HEX and isinstance(v, str):
                if not re.fullmatch(f"[0-9a-f]{{{HEX[k]}}}", v):
                    errors.append(f"bad {k} {v!r}")
                out[k] = base64.b64encode(bytes.fromhex(v)).decode()
            else:
                out[k] = unhex(v, errors)
        return out
    if isinstance(obj, list):
        return [unhex(v, errors) for v in obj]
    return obj


def attrs(span):
    return {a["key"]: next(iter(a["value"].values())) for a in span.get("attributes", [])}


ok = True
# Folders given on the command line, else every scenario beside this folder (tests/corpus/*).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = [os.path.join(d, "otlp.json") for d in sys.argv[1:]] or glob.glob(os.path.join(ROOT, "*", "otlp.json"))
for d in sorted(DIRS):
    scn, errors = os.path.basename(os.path.dirname(d)), []
    doc = json.load(open(d))
    ParseDict(unhex(doc, errors), ExportTraceServiceRequest())
    spans = [s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    traces = {s["traceId"] for s in spans}
    end = [s for s in spans if s["name"].startswith("session end") and attrs(s).get("session_status") == "completed"]
    if len(end) != 1:
        errors.append(f"{len(end)} session end spans")
    nlogs = 0
    lp = os.path.join(os.path.dirname(d), "otlp_logs.json")
    if os.path.exists(lp):
        ldoc = json.load(open(lp))
        ParseDict(unhex(ldoc, errors), ExportLogsServiceRequest())
        nlogs = sum(len(sl["logRecords"]) for rl in ldoc["resourceLogs"] for sl in rl["scopeLogs"])
    exp = json.load(open(os.path.join(os.path.dirname(d), "expected.json")))
    for key in ("session_id", "library", "turns", "end_marker", "notes"):
        if key not in exp:
            errors.append(f"expected.json lacks {key}")
    users = sum(t["role"] == "user" for t in exp["turns"])
    if users < 3:
        errors.append(f"only {users} user turns")
    for t in exp["turns"]:
        if t["role"] not in ("user", "assistant", "tool") or not isinstance(t["content"], str):
            errors.append(f"bad turn {t}")
    ntools = sum(len(t.get("tool_calls", [])) for t in exp["turns"])
    print(f"{scn:34s} spans={len(spans):3d} traces={len(traces):2d} logs={nlogs:3d} turns={len(exp['turns']):2d} "
          f"user={users} tool_calls={ntools} {'OK' if not errors else errors}")
    ok &= not errors
sys.exit(0 if ok else 1)
