"""langfuse_v3: Langfuse Python SDK v3 (OpenTelemetry-based) recording a 3-turn chat session.

Each user turn is an `@observe(name="chat_turn")` function (the root span of its own trace); inside it
`propagate_attributes(session_id=SID)` (Langfuse v3's documented session mechanism, the one its Sessions
docs show for @observe; `update_current_trace(session_id=...)` is its older, "see also" alternative and is
not used) puts the session id on the turn span and every span started inside it. The model is called
through the Langfuse OpenAI drop-in (`from langfuse.openai import openai`), so each completion is a
Langfuse "generation" span; the tool runs in an `@observe(name="get_weather", as_type="tool")` span.
The session ends with an `@observe(name="session end")` function, also under
propagate_attributes(session_id=SID); Langfuse has no setter for a plain span attribute (update_current_span
only writes its own input/output/metadata keys), so `session_status=completed` is set with the OTel API on
the current span (opentelemetry.trace.get_current_span().set_attribute).

Langfuse exports through its own TracerProvider + BatchSpanProcessor + OTLP/HTTP protobuf exporter to
<host>/api/public/otel/v1/traces with Basic auth (pk-lf-test:sk-lf-test); host is the local sink below.

Reproduce (from this folder):
    python3 -m venv /work/venvs/rec-d/lf
    /work/venvs/rec-d/lf/bin/pip install -r requirements.txt   # grpcio, opentelemetry-proto: for the sink
    /work/venvs/rec-d/lf/bin/python otlp_http_sink.py --port 0 --port-file /tmp/lf_sink_port \\
        --out /work/main/tests/corpus --default-scenario langfuse_v3 &
    FIXTURES=/work/main/tests/corpus FIXTURE_SINK=127.0.0.1:$(cat /tmp/lf_sink_port) \\
        /work/venvs/rec-d/lf/bin/python app.py
    python ../recording/show.py otlp.json 200 > tree.txt
"""
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LANGFUSE_TRACING_ENABLED", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import SINK, lib_version, start_fake, write_expected  # noqa: E402
from langfuse import Langfuse, observe, propagate_attributes  # noqa: E402
from langfuse.openai import openai  # noqa: E402  (the Langfuse drop-in)
from opentelemetry import trace  # noqa: E402

NAME = "langfuse_v3"
SID = "sess-langfuse-v3-0001"
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
SYSTEM = "You are a concise travel assistant."
USER = [
    "What is a good museum to visit in Lisbon?",
    "What is the weather like in Lisbon right now?",
    "Great. Please book me a table for two at a seafood restaurant tonight.",
]
REPLIES = [
    {"text": "The Calouste Gulbenkian Museum is a great choice: a superb art collection from antiquity to the "
             "20th century, set in a quiet garden.", "expect": "Lisbon"},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}], "expect": "weather"},
    {"text": "It is sunny in Lisbon right now, 24 °C with a light breeze: a good afternoon for a walk.",
     "expect": "24"},
    {"text": "Sorry, I can't make restaurant bookings: I have no access to reservation systems. You could call "
             "the restaurant or use a booking site.", "expect": "book me a table"},
]

base_url = start_fake(NAME, REPLIES)
langfuse = Langfuse(public_key="pk-lf-test", secret_key="sk-lf-test", host=f"http://{SINK}")
client = openai.OpenAI(base_url=base_url, api_key="test")
history = [{"role": "system", "content": SYSTEM}]
turns = []


@observe(name="get_weather", as_type="tool")
def get_weather(city):
    return f"{city}: sunny, 24 °C, wind 10 km/h from the north-west, humidity 55%"


@observe(name="chat_turn")
def chat_turn(text):
    with propagate_attributes(session_id=SID):
        history.append({"role": "user", "content": text})
        turns.append({"role": "user", "content": text})
        while True:
            msg = client.chat.completions.create(model="gpt-4o-mini", messages=history,
                                                 tools=TOOLS).choices[0].message
            history.append(msg.model_dump(exclude_none=True))
            if not msg.tool_calls:
                turns.append({"role": "assistant", "content": msg.content})
                return msg.content
            turns.append({"role": "assistant", "content": msg.content or "",
                          "tool_calls": [{"name": tc.function.name, "arguments": json.loads(tc.function.arguments)}
                                         for tc in msg.tool_calls]})
            for tc in msg.tool_calls:
                result = get_weather(**json.loads(tc.function.arguments))
                history.append({"role": "tool", "tool_call_id": tc.id, "content": result})
                turns.append({"role": "tool", "content": result})


@observe(name="session end")
def session_end():
    with propagate_attributes(session_id=SID):
        trace.get_current_span().set_attribute("session_status", "completed")


for text in USER:
    print(chat_turn(text))
    time.sleep(0.05)
session_end()
langfuse.flush()
langfuse.shutdown()

notes = (
    "All spans come from ONE instrumentation scope 'langfuse-sdk' (scope attribute public_key=pk-lf-test), span kind "
    "INTERNAL, resource service.name='unknown_service:python' (Langfuse sets no service name). Exported by Langfuse's "
    "own OTLP/HTTP protobuf exporter to /api/public/otel/v1/traces with Basic auth; nothing else was called. "
    "No gen_ai.* attributes at all: everything is in langfuse.observation.* keys. "
    "One trace per turn: root span 'chat_turn' (langfuse.observation.type=span; langfuse.observation.input = JSON "
    "{args:[user text], kwargs:{}}; langfuse.observation.output = the answer as a PLAIN string, not JSON-encoded, "
    "because Langfuse stores str values as-is and JSON-encodes everything else) > 'OpenAI-generation' spans (one per "
    "completion, langfuse.observation.type=generation) and, in turn 2, a 'get_weather' span "
    "(langfuse.observation.type=tool, input JSON {args:[], kwargs:{city}}, output = the tool's plain string result; "
    "no tool call id on it). "
    "Session id: attribute 'session.id' on EVERY span (chat_turn, generations, tool, session end), set by "
    "propagate_attributes(session_id=...) (Langfuse 3.x names it session.id, not langfuse.trace.session_id or "
    "langfuse.session.id). "
    "Generation spans: langfuse.observation.input = JSON {tools:[OpenAI tool defs], messages:[...]} where messages is "
    "the WHOLE history in OpenAI chat format as the app sent it (system prompt included; roles system/user/assistant/"
    "tool; earlier assistant tool calls as tool_calls:[{id, type:function, function:{name, arguments: JSON STRING}}] "
    "with no content key; tool results as {role:tool, tool_call_id, content}); langfuse.observation.output = JSON of "
    "the ONE reply message {role:assistant, content} or {role:assistant, tool_calls:[{id, function:{arguments "
    "(JSON string), name}, type}], content:null}; also langfuse.observation.model.name, .model.parameters, "
    ".usage_details (JSON). So each user message appears in its turn's chat_turn input and again in every later "
    "generation's input (history repeated), and each answer appears twice (generation output and chat_turn output). "
    "'session end' is its own trace: a root span (langfuse.observation.type=span, input {args:[],kwargs:{}}, no "
    "output) with session.id and session_status='completed' (set through the OTel API on the current span: Langfuse "
    "has no plain-attribute setter).")
write_expected(NAME, SID, lib_version("langfuse", "openai", "opentelemetry-sdk"), turns, notes)
print("ok", NAME)
