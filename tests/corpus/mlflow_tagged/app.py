"""mlflow_tagged / mlflow_genai: MLflow Tracing 3.x (mlflow-tracing) exporting over OTLP/gRPC.

The scenario is this folder's name: mlflow_tagged (MLflow's native span attributes, mlflow.*) or mlflow_genai
(the same app with MLFLOW_ENABLE_OTEL_GENAI_SEMCONV=true, which makes MLflow's OTLP span processor translate
its mlflow.* attributes to OpenTelemetry GenAI semantic conventions before export). The two folders hold
identical copies of this file.

MLflow exports to an OpenTelemetry collector (instead of a tracking server) when
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (protocol from OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, default grpc);
the exporter's headers come from OTEL_EXPORTER_OTLP_TRACES_HEADERS. No tracking server or tracking URI is used.
`mlflow.openai.autolog()` traces the openai client (pointed at the scripted fake server); each user turn is an
`@mlflow.trace(name="chat_turn", span_type=AGENT)` function (root span of its own trace), the tool an
`@mlflow.trace(name="get_weather", span_type=TOOL)` function. The session id is given to MLflow both ways it
offers: as a trace TAG (`mlflow.update_current_trace(tags={"session_id": SID})`, which MLflow's OTLP processor
emits as the root-span attribute mlflow.traceTag.session_id) and through MLflow 3's documented session
mechanism (`update_current_trace(session_id=SID)`, stored as trace metadata "mlflow.trace.session").
The session ends with `@mlflow.trace(name="session end")`, which sets the same tags plus
tag session_status=completed, and the span attribute session_status=completed (set through the OTel API on the
current span: see SESSION_STATUS_VIA below).

Versions (requirements.txt): mlflow-skinny 3.18.0 (the newest MLflow; the lighter mlflow-tracing 3.17.2 failed every
autologged span with "No module named 'sqlparse'", a dependency it does not declare). openai 2.47.0: the newest
release inside MLflow 3.18's supported autologging range (openai 2.7.0 - 2.47.0). opentelemetry-sdk 1.42.1: with
opentelemetry-sdk >= 1.43 (attributes made immutable when a span ends) MLflow's OTLP processor fails
("Failed to end span ...: Cannot mutate immutable BoundedAttributes") when it adds mlflow.traceTag.* to a root span,
and every root span that has a trace tag (all chat_turn spans and the session end span) is never exported.

Reproduce (from this folder):
    python3 -m venv /work/venvs/rec-d/mlf
    /work/venvs/rec-d/mlf/bin/pip install -r requirements.txt
    PORT=$(/work/venvs/rec-d/mlf/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
    /work/venvs/rec-d/mlf/bin/python ../recording/otlp_sink.py --port $PORT --out /work/main/tests/corpus &
    FIXTURES=/work/main/tests/corpus FIXTURE_SINK=127.0.0.1:$PORT /work/venvs/rec-d/mlf/bin/python app.py
    python ../recording/show.py otlp.json 200 > tree.txt
"""
import json
import os
import sys
import time
from pathlib import Path

NAME = sys.argv[1] if len(sys.argv) > 1 else "mlflow_tagged"  # mlflow_tagged | mlflow_genai
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
from common import SINK, lib_version, start_fake, write_expected  # noqa: E402

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"http://{SINK}"
os.environ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "grpc"
os.environ["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = f"x-fixture-scenario={NAME}"
os.environ["OTEL_SERVICE_NAME"] = NAME
if NAME == "mlflow_genai":
    os.environ["MLFLOW_ENABLE_OTEL_GENAI_SEMCONV"] = "true"
# session_status on the end span: MLflow's own LiveSpan.set_attribute JSON-encodes every value (it would arrive as
# the string '"completed"', quotes included; SESSION_STATUS_VIA=mlflow reproduces that), so by default it is set
# with the OTel API on the current span, which MLflow exposes to the OTel context when
# MLFLOW_TRACE_PROPAGATE_TO_OTEL_CONTEXT=true (a documented MLflow setting; spans are otherwise unchanged).
SESSION_STATUS_VIA = os.environ.get("SESSION_STATUS_VIA", "otel")
if SESSION_STATUS_VIA == "otel":
    os.environ["MLFLOW_TRACE_PROPAGATE_TO_OTEL_CONTEXT"] = "true"

import mlflow  # noqa: E402
import openai  # noqa: E402
from mlflow.entities import SpanType  # noqa: E402

SID = f"sess-{NAME.replace('_', '-')}-0001"
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
mlflow.openai.autolog()
client = openai.OpenAI(base_url=base_url, api_key="test")
history = [{"role": "system", "content": SYSTEM}]
turns = []


@mlflow.trace(name="get_weather", span_type=SpanType.TOOL)
def get_weather(city):
    return f"{city}: sunny, 24 °C, wind 10 km/h from the north-west, humidity 55%"


@mlflow.trace(name="chat_turn", span_type=SpanType.AGENT)
def chat_turn(text):
    mlflow.update_current_trace(tags={"session_id": SID}, session_id=SID)
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


# In mlflow_genai the GenAI translator renames a span after its operation (from mlflow.spanType): with the
# default span type UNKNOWN the end span was exported as "UNKNOWN" (gen_ai.operation.name=UNKNOWN), losing its
# name. span_type=None leaves mlflow.spanType null, so the translator passes the span through under its own name.
END_SPAN_TYPE = None if NAME == "mlflow_genai" else SpanType.UNKNOWN


@mlflow.trace(name="session end", span_type=END_SPAN_TYPE)
def session_end():
    mlflow.update_current_trace(tags={"session_id": SID, "session_status": "completed"}, session_id=SID)
    if SESSION_STATUS_VIA == "mlflow":
        mlflow.get_current_active_span().set_attribute("session_status", "completed")
    else:
        from opentelemetry import trace
        trace.get_current_span().set_attribute("session_status", "completed")


for text in USER:
    print(chat_turn(text))
    time.sleep(0.05)
session_end()
# No explicit flush: MLflow's TracerProvider (OTel SDK) shuts down - and so flushes its BatchSpanProcessor -
# at interpreter exit.
COMMON = (
    "All spans: one scope 'mlflow.tracing.provider', kind INTERNAL, status OK, resource service.name from "
    "OTEL_SERVICE_NAME plus telemetry.sdk.name=mlflow. One trace per turn: root 'chat_turn' (span type AGENT) > one "
    "span per chat completion (openai autolog, span type CHAT_MODEL) and, in turn 2, 'get_weather' (span type TOOL); "
    "'session end' is a trace of its own. SESSION ID: only as the trace tag, emitted by MLflow's OTLP processor as "
    "the attribute mlflow.traceTag.session_id (plain string, not JSON-encoded) on the ROOT span of each trace; child "
    "spans (completions, tool) do not carry it (take it from their root via trace id). MLflow 3's own session "
    "mechanism (update_current_trace(session_id=...) = trace metadata 'mlflow.trace.session', also called here) is "
    "NOT exported over OTLP at all: no attribute carries it (MLflow copies it to session.id only for Databricks/UC "
    "table export). Every other user tag lands the same way (mlflow.traceTag.session_status=completed on the end "
    "span); tags whose key starts with 'mlflow.' are not emitted. 'session end' root span: session_status='completed' "
    "(plain string, set with the OTel API on the current span: MLflow's own LiveSpan.set_attribute JSON-encodes and "
    "would give '\"completed\"' with the quotes) and the tags above. ")
if NAME == "mlflow_tagged":
    notes = COMMON + (
        "ENCODING: MLflow writes EVERY mlflow.* attribute value as a JSON-encoded string (mlflow.spanType = '\"AGENT\"' "
        "with quotes, mlflow.spanLogLevel = '20', mlflow.traceRequestId = '\"tr-<otel trace id>\"'), so decode once "
        "with json.loads; mlflow.traceTag.* values are NOT encoded. Root chat_turn: mlflow.spanInputs = JSON of the "
        "function arguments {\"text\": user text}; mlflow.spanOutputs = JSON-encoded string of the answer (quoted). "
        "Completions spans (span name 'Completions', mlflow.spanType CHAT_MODEL, mlflow.message.format 'openai'): "
        "mlflow.spanInputs = JSON of the request kwargs {model, messages, tools} where messages is the WHOLE history as "
        "sent (system prompt included; earlier assistant tool calls as {role:assistant, tool_calls:[{id, function:"
        "{arguments: JSON STRING (so a string inside the JSON: double-encoded), name}, type}]}; tool results as {role:"
        "tool, tool_call_id, content}); mlflow.spanOutputs = JSON of the whole ChatCompletion object (id, choices[0]."
        "message {content, role, tool_calls (arguments a JSON string), refusal:null, ...}, finish_reason, usage); also "
        "mlflow.chat.tools, mlflow.llm.model, mlflow.chat.tokenUsage {input_tokens, output_tokens, total_tokens}, and "
        "the other request kwargs as plain-named JSON attributes ('model', 'tools'). Tool span get_weather: "
        "mlflow.spanInputs = {\"city\": \"Lisbon\"} (the function's kwargs), mlflow.spanOutputs = JSON-encoded result "
        "string; no tool call id. Each user message appears on its turn's root (spanInputs.text) and again in every "
        "later completion's messages; each answer on the completion output and again on the root's spanOutputs. "
        "'session end': mlflow.spanType '\"UNKNOWN\"', mlflow.spanInputs '{}', mlflow.spanOutputs 'null', "
        "mlflow.spanLogLevel '10' (the others '20').")
else:
    notes = COMMON + (
        "MLFLOW_ENABLE_OTEL_GENAI_SEMCONV=true (the exact name in mlflow/environment_variables.py): before export, "
        "MLflow's OTLP processor translates each span: ALL mlflow.* attributes are dropped (except mlflow.traceTag.*), "
        "GenAI attributes are added, spans are renamed '{operation} {model|tool|agent}' and chat spans get kind CLIENT. "
        "Root turn spans become 'invoke_agent chat_turn' (gen_ai.operation.name=invoke_agent, gen_ai.agent.name) and "
        "carry NO content at all (the user text and answer are gone with mlflow.spanInputs/Outputs). Completion spans "
        "become 'chat gpt-4o-mini-2024-07-18' (kind CLIENT) with JSON strings gen_ai.input.messages (WHOLE history "
        "WITHOUT the system prompt: [{role, parts:[{type:text, content} | {type:tool_call, id, name, arguments "
        "(object)} | {type:tool_call_response, id, response}]}], tool results under role 'tool'), "
        "gen_ai.system_instructions ([{type:text, content}]), gen_ai.output.messages ([{role:assistant, parts, "
        "finish_reason}]; finish_reason 'tool_calls' or 'stop'), gen_ai.tool.definitions, gen_ai.request.model (= the "
        "RESPONSE model), gen_ai.response.id/.model/.finish_reasons, gen_ai.usage.input_tokens/.output_tokens; the "
        "leftover raw request kwargs 'model' and 'tools' stay as JSON-encoded attributes. Tool span becomes "
        "'execute_tool get_weather' (gen_ai.operation.name=execute_tool, gen_ai.tool.name, gen_ai.tool.call.arguments = "
        "JSON object string, gen_ai.tool.call.result = the result JSON-ENCODED (a quoted JSON string with \\u00b0 "
        "escapes), no tool call id). So the transcript must come from the chat spans (the last one holds the whole "
        "history except its own output). QUIRK: with the default span type (UNKNOWN) the end span is renamed 'UNKNOWN' "
        "(gen_ai.operation.name=UNKNOWN) and its name 'session end' is lost; here it was created with span_type=None "
        "so that the translator passes it through: name 'session end', attributes session_status and the two "
        "mlflow.traceTag.* only.")
write_expected(NAME, SID, lib_version("mlflow-skinny", "openai", "opentelemetry-sdk",
                                      "opentelemetry-exporter-otlp-proto-grpc"), turns, notes)
print("ok", NAME)
