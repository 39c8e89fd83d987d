"""otel_genai_v2_logs: opentelemetry-instrumentation-openai-v2 2.4b0 with opentelemetry-util-genai 0.4b0 (< 1.0),
in its DEFAULT (pre-"latest experimental") conventions mode with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true
and no OTEL_SEMCONV_STABILITY_OPT_IN: the chat spans carry no content, the messages go out as OTLP LOG RECORDS
(events gen_ai.system.message / gen_ai.user.message / gen_ai.assistant.message / gen_ai.tool.message / gen_ai.choice)
through the global LoggerProvider.  (With util-genai >= 1.0 the same instrumentation always takes the latest-experimental
path: see ../otel_genai_v2_latest and ../otel_genai_v2_default_nocontent.)

The app makes one root span 'chat_turn' per user turn carrying the session id (gen_ai.conversation.id and session.id,
as in ../otel_genai_v2_latest); the instrumentation's chat spans are its children; the tool runs inside
util-genai's TelemetryHandler.tool() (an 'execute_tool get_weather' span).  The session ends with a root span
'session end' (same two id attributes + session_status=completed).

Reproduce (from this folder):
    python3 -m venv /tmp/venv-genai-logs
    /tmp/venv-genai-logs/bin/pip install -r requirements.txt
    PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
    /tmp/venv-genai-logs/bin/python ../recording/otlp_sink.py --port $PORT --out .. &
    FIXTURES=$(cd .. && pwd) FIXTURE_SINK=127.0.0.1:$PORT /tmp/venv-genai-logs/bin/python app.py
    /tmp/venv-genai-logs/bin/python ../recording/show.py otlp.json 200 > tree.txt
"""
import json
import os
import sys
from pathlib import Path

os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "true"
os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)  # default (old) GenAI conventions: content in log events
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recording"))
import openai
from common import finish, lib_version, setup_tracing, start_fake, write_expected
from opentelemetry import trace
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.util.genai.handler import get_telemetry_handler

NAME = "otel_genai_v2_logs"
SID = "conv-otel-genai-v2-logs-0003"
SYSTEM = "You are a concise travel assistant."
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
USER = [
    "I'm planning a weekend in Lisbon. What neighbourhood should I stay in?",
    "What's the weather like in Lisbon right now?",
    "Perfect. Give me one must-try dish there.",
]
REPLIES = [
    {"text": "Stay in Chiado or Baixa: they're central, walkable and close to trams, viewpoints and the river.",
     "expect": "Lisbon"},
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Lisbon"}}], "expect": "weather"},
    {"text": "Lisbon is sunny and 22\u00b0C right now: great weather for walking around.", "expect": "sunny"},
    {"text": "Try a pastel de nata, ideally warm with a sprinkle of cinnamon.", "expect": "dish"},
]

base_url = start_fake(NAME, REPLIES)
tracer_provider, logger_provider = setup_tracing(NAME, logs=True)  # global TracerProvider + LoggerProvider first
OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
tracer = trace.get_tracer(NAME)
handler = get_telemetry_handler(tracer_provider=tracer_provider, logger_provider=logger_provider)
client = openai.OpenAI(base_url=base_url, api_key="test")
history, turns = [{"role": "system", "content": SYSTEM}], []


def get_weather(city):
    return json.dumps({"city": city, "condition": "sunny", "temperature_c": 22})  # a plain string for the model


def chat_turn(text):
    with tracer.start_as_current_span("chat_turn", attributes={"gen_ai.conversation.id": SID, "session.id": SID}):
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
                args = json.loads(tc.function.arguments)
                with handler.tool(tc.function.name, arguments=args, tool_call_id=tc.id, tool_type="function") as inv:
                    result = get_weather(**args)
                    inv.tool_result = result
                history.append({"role": "tool", "tool_call_id": tc.id, "content": result})
                turns.append({"role": "tool", "content": result})


for text in USER:
    print(chat_turn(text))
with tracer.start_as_current_span("session end", attributes={"gen_ai.conversation.id": SID, "session.id": SID,
                                                             "session_status": "completed"}):
    pass
finish(tracer_provider, logger_provider)

notes = (
    "One trace per user turn: root span 'chat_turn' (app-made) is the ONLY span with the session id "
    "(gen_ai.conversation.id and session.id); its children 'chat gpt-4o-mini' (scope opentelemetry.instrumentation.openai_v2, "
    "gen_ai.system=openai, gen_ai.operation.name=chat, old conventions: no gen_ai.provider.name) and "
    "'execute_tool get_weather' (scope opentelemetry.util.genai.handler: gen_ai.tool.name, gen_ai.tool.call.id, gen_ai.tool.type "
    "only; NO arguments/result in this mode) do not carry it, and neither do the log records. 'session end' is its own root "
    "span with gen_ai.conversation.id, session.id and session_status; it has no log records. "
    "NO CONTENT ON ANY SPAN: the messages are OTLP LOG RECORDS in otlp_logs.json (scope opentelemetry.instrumentation.openai_v2, "
    "schemaUrl 1.30.0), each linked to its chat span by traceId + spanId (flags=1). The event name is ONLY in the LogRecord "
    "field eventName (no event.name attribute); attributes = {gen_ai.system: openai}; no severity, no timeUnixNano (only "
    "observedTimeUnixNano). Bodies are structured AnyValue kvlists (not JSON strings). Per chat call, the WHOLE request "
    "history is re-emitted in order, one record per message: gen_ai.system.message {content}, gen_ai.user.message {content}, "
    "gen_ai.assistant.message {content} or, for the tool-calling assistant message, {tool_calls:[{id, type:function, "
    "function:{name, arguments}}]} with NO content key, gen_ai.tool.message {content, id} (id = tool call id; content = the "
    "exact tool result string); role is implied by the event name (no role key in these bodies). The response is "
    "gen_ai.choice {index, finish_reason ('stop' | 'tool_calls'), message:{role:assistant, content} or message:{role:assistant, "
    "tool_calls:[...]}}. Tool call arguments are JSON STRINGS inside the kvlist. So a transcript reader must de-duplicate: "
    "the last chat call of the session (or each call's choice) gives the conversation; earlier turns appear again in every "
    "later call's records (4 calls -> 24 records). The system prompt is a gen_ai.system.message record (left out of turns)."
)
write_expected(NAME, SID, lib_version("opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai", "openai"),
               turns, notes)
print("ok", NAME)
