"""traceloop_legacy: Traceloop SDK (OpenLLMetry) 0.47.5 + its opentelemetry-instrumentation-openai 0.47.5 with
openai 1.x, i.e. the OLD flattened content attributes gen_ai.prompt.{i}.* / gen_ai.completion.{i}.*.
Each user turn is a @workflow; the session id is an association property (session_id); the tool runs in a
@tool span. Spans go to the sink through Traceloop.init(exporter=OTLPSpanExporter(grpc)).
Copy of ../traceloop/app.py (same conversation), only the import path of the recording tools differs.

Reproduce (from this folder):
    python3 -m venv /tmp/venv-tl-legacy
    /tmp/venv-tl-legacy/bin/pip install -r requirements.txt
    PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
    /tmp/venv-tl-legacy/bin/python ../recording/otlp_sink.py --port $PORT --out .. &
    FIXTURES=$(cd .. && pwd) FIXTURE_SINK=127.0.0.1:$PORT /tmp/venv-tl-legacy/bin/python app.py traceloop_legacy
    /tmp/venv-tl-legacy/bin/python ../recording/show.py otlp.json 200 > tree.txt
"""
import json
import os
import sys
from pathlib import Path

os.environ["TRACELOOP_TELEMETRY"] = "false"
os.environ["TRACELOOP_METRICS_ENABLED"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
import openai
from common import SINK, lib_version, start_fake, write_expected
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from traceloop.sdk import Traceloop
from traceloop.sdk.decorators import tool, workflow
from traceloop.sdk.instruments import Instruments

NAME = sys.argv[1] if len(sys.argv) > 1 else "traceloop_legacy"
SID = f"sess-{NAME.replace('_', '-')}-0004"
TOOLS = [{"type": "function", "function": {"name": "convert_currency", "description": "Convert an amount between currencies",
          "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "from": {"type": "string"},
                                                          "to": {"type": "string"}}, "required": ["amount", "from", "to"]}}}]
USER = [
    "Can you recommend a day trip from Barcelona?",
    "How much is 120 euros in US dollars?",
    "Thanks! Can you also buy me a train ticket to Montserrat for Saturday?",
]
REPLIES = [
    {"text": "Montserrat is a great day trip: a mountain monastery about an hour away by train, with hiking trails "
             "and views over Catalonia.", "expect": "Barcelona"},
    {"tool_calls": [{"name": "convert_currency", "arguments": {"amount": 120, "from": "EUR", "to": "USD"}}], "expect": "120 euros"},
    {"text": "120 euros is about 130.43 US dollars.", "expect": "130.43"},
    {"text": "Sorry, I can't buy tickets for you: I have no access to booking or payment systems. You can buy them "
             "on the Renfe/FGC websites or at Plaça d'Espanya station.", "expect": "train ticket"},
]

base_url = start_fake(NAME, REPLIES)
Traceloop.init(app_name=NAME, exporter=OTLPSpanExporter(endpoint=f"http://{SINK}", insecure=True,
                                                        headers={"x-fixture-scenario": NAME}),
               instruments={Instruments.OPENAI}, telemetry_enabled=False)
client = openai.OpenAI(base_url=base_url, api_key="test")
history, turns = [], []


def set_session(sid):
    try:
        from traceloop.sdk.associations import AssociationProperty, Associations
        Associations.set([(AssociationProperty.SESSION_ID, sid)])
    except ImportError:  # older traceloop-sdk
        Traceloop.set_association_properties({"session_id": sid})


@tool(name="convert_currency")
def convert_currency(amount, **kw):
    return {"amount": amount, "from": kw["from"], "to": kw["to"], "rate": 1.0869, "result": round(amount * 1.0869, 2)}


@workflow(name="chat_turn")
def chat_turn(text):
    set_session(SID)
    history.append({"role": "user", "content": text})
    turns.append({"role": "user", "content": text})
    while True:
        msg = client.chat.completions.create(model="gpt-4o-mini", messages=history, tools=TOOLS).choices[0].message
        history.append(msg.model_dump(exclude_none=True))
        if not msg.tool_calls:
            turns.append({"role": "assistant", "content": msg.content})
            return msg.content
        turns.append({"role": "assistant", "content": msg.content or "",
                      "tool_calls": [{"name": tc.function.name, "arguments": json.loads(tc.function.arguments)}
                                     for tc in msg.tool_calls]})
        for tc in msg.tool_calls:
            result = json.dumps(convert_currency(**json.loads(tc.function.arguments)))
            history.append({"role": "tool", "tool_call_id": tc.id, "content": result})
            turns.append({"role": "tool", "content": result})


@workflow(name="session end")
def session_end():
    set_session(SID)
    trace.get_current_span().set_attribute("session_status", "completed")


for text in USER:
    print(chat_turn(text))
session_end()
trace.get_tracer_provider().force_flush()
COMMON = ("One trace per turn: root span 'chat_turn.workflow' (traceloop.span.kind=workflow, traceloop.entity.input = "
          "JSON {args:[user text], kwargs:{}}, traceloop.entity.output = JSON-encoded answer string) > 'openai.chat' LLM "
          "spans and a 'convert_currency.tool' span (traceloop.span.kind=tool, traceloop.entity.input = JSON {args, kwargs}, "
          "traceloop.entity.output = result JSON; no tool call id). The session id is on EVERY span as "
          "traceloop.association.properties.session_id (association property session_id). 'session end.workflow' root "
          "span carries the session id and session_status='completed'. ")
if NAME == "traceloop":
    notes = COMMON + ("openai.chat spans carry JSON-encoded gen_ai.input.messages (whole history: [{role, parts:[{type:text,"
                      "content} | {type:tool_call,id,name,arguments(object)} | {type:tool_call_response,id,response}]}]), "
                      "gen_ai.output.messages ([{role, parts, finish_reason}]) and gen_ai.tool.definitions; the tool span also "
                      "has gen_ai.tool.name. Finish reasons are 'tool_call' (singular) / 'stop'.")
else:
    notes = COMMON + ("openai.chat spans carry the legacy flattened attributes: gen_ai.prompt.{i}.role / .content (whole "
                      "history), assistant tool calls as gen_ai.prompt.{i}.tool_calls.{j}.id/.name/.arguments (JSON string), "
                      "tool results as role 'tool' with gen_ai.prompt.{i}.tool_call_id; output as gen_ai.completion.0.role / "
                      ".content / .finish_reason ('tool_calls' or 'stop') / .tool_calls.{j}.id/.name/.arguments; offered tools "
                      "as llm.request.functions.{k}.name/.description/.parameters. Assistant tool-call message in the "
                      "prompt has NO .content key (only .role and .tool_calls.*). Tool call arguments are JSON strings. "
                      "Quirks: llm.headers is the string 'None', gen_ai.request.reasoning_effort an empty array, "
                      "gen_ai.system='openai' (no gen_ai.provider.name / gen_ai.operation.name); the 'session end.workflow' "
                      "span has traceloop.entity.output = 'null'. No log records.")
write_expected(NAME, SID, lib_version("traceloop-sdk", "opentelemetry-instrumentation-openai", "openai"), turns, notes)
print("ok", NAME)
