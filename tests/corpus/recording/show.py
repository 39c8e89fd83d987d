"""Print a span tree of an otlp.json: python show.py FILE [maxlen]"""
import json
import sys

d = json.load(open(sys.argv[1])); ml = int(sys.argv[2]) if len(sys.argv) > 2 else 120
spans = [(ss["scope"].get("name"), s) for rs in d["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
kids = {}
for sc, s in spans:
    kids.setdefault(s.get("parentSpanId"), []).append((sc, s))
def val(v):
    k, x = next(iter(v.items()))
    return x if k != "arrayValue" else [val(i) for i in x.get("values", [])]
def show(pid, depth):
    for sc, s in sorted(kids.get(pid, []), key=lambda p: int(p[1]["startTimeUnixNano"])):
        print("  " * depth + f"- {s['name']}  [{sc}] trace={s['traceId'][:8]} span={s['spanId'][:8]}")
        for a in s.get("attributes", []):
            print("  " * depth + f"    {a['key']} = {str(val(a['value']))[:ml]}")
        for e in s.get("events", []):
            print("  " * depth + f"    EVENT {e['name']} {str(e.get('attributes'))[:ml]}")
        show(s["spanId"], depth + 1)
show(None, 0)
